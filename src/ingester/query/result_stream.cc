#include "ingester/query/result_stream.h"

#include <arrow/io/interfaces.h>
#include <arrow/ipc/writer.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include <utility>

#include "ingester/common/error.h"
#include "ingester/query/value_format.h"

namespace ingester::query {

namespace {

// Collects what the encoders write until the stream hands it out.
class PendingBytes final : public arrow::io::OutputStream {
 public:
  arrow::Status Close() override {
    closed_ = true;
    return arrow::Status::OK();
  }
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override { return position_; }
  arrow::Status Write(const void* data, int64_t nbytes) override {
    if (closed_) return arrow::Status::Invalid("result stream: write after close");
    bytes_.append(static_cast<const char*>(data), static_cast<size_t>(nbytes));
    position_ += nbytes;
    return arrow::Status::OK();
  }
  void Append(std::string_view text) {
    bytes_ += text;
    position_ += static_cast<int64_t>(text.size());
  }
  std::string Take() { return std::exchange(bytes_, {}); }

 private:
  std::string bytes_;
  int64_t position_ = 0;
  bool closed_ = false;
};

// Writes a result into `out`: Begin() once, Write() per non-empty batch, Finish() once.
class Encoder {
 public:
  explicit Encoder(std::shared_ptr<PendingBytes> out) : out_(std::move(out)) {}
  virtual ~Encoder() = default;
  virtual arrow::Status Begin(const std::shared_ptr<arrow::Schema>& schema) = 0;
  virtual arrow::Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) = 0;
  virtual arrow::Status Finish() = 0;

 protected:
  const std::shared_ptr<PendingBytes> out_;
};

// A text format: an optional header from the schema, then the rows of each batch
// (value_format.h), one chunk per batch.
class TextEncoder final : public Encoder {
 public:
  using HeaderFn = void (*)(const arrow::Schema&, std::string*);
  using RowsFn = void (*)(const arrow::RecordBatch&, std::string*);
  TextEncoder(std::shared_ptr<PendingBytes> out, HeaderFn header, RowsFn rows)
      : Encoder(std::move(out)), header_(header), rows_(rows) {}
  arrow::Status Begin(const std::shared_ptr<arrow::Schema>& schema) override {
    if (header_ == nullptr) return arrow::Status::OK();
    text_.clear();
    header_(*schema, &text_);
    out_->Append(text_);
    return arrow::Status::OK();
  }
  arrow::Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    text_.clear();
    rows_(*batch, &text_);
    out_->Append(text_);
    return arrow::Status::OK();
  }
  arrow::Status Finish() override { return arrow::Status::OK(); }

 private:
  const HeaderFn header_;
  const RowsFn rows_;
  std::string text_;
};

class ArrowEncoder final : public Encoder {
 public:
  ArrowEncoder(std::shared_ptr<PendingBytes> out, arrow::MemoryPool* pool)
      : Encoder(std::move(out)), pool_(pool) {}
  arrow::Status Begin(const std::shared_ptr<arrow::Schema>& schema) override {
    auto options = arrow::ipc::IpcWriteOptions::Defaults();
    options.memory_pool = pool_;
    // The stream format allows a dictionary to be replaced between batches, which the
    // buffer's per-batch tag dictionaries need.
    ARROW_ASSIGN_OR_RAISE(writer_, arrow::ipc::MakeStreamWriter(out_, schema, options));
    return arrow::Status::OK();
  }
  arrow::Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    return writer_->WriteRecordBatch(*batch);
  }
  arrow::Status Finish() override { return writer_->Close(); }

 private:
  arrow::MemoryPool* const pool_;
  std::shared_ptr<arrow::ipc::RecordBatchWriter> writer_;
};

class ParquetEncoder final : public Encoder {
 public:
  ParquetEncoder(std::shared_ptr<PendingBytes> out, arrow::MemoryPool* pool,
                 int64_t row_group_rows)
      : Encoder(std::move(out)), pool_(pool), row_group_rows_(row_group_rows) {}
  arrow::Status Begin(const std::shared_ptr<arrow::Schema>& schema) override {
    parquet::WriterProperties::Builder builder;
    builder.memory_pool(pool_)
        ->compression(arrow::Compression::ZSTD)
        ->max_row_group_length(row_group_rows_)
        ->created_by("ingester (Apache Arrow parquet-cpp)");
    // ARROW:schema keeps the exact Arrow types (dictionary tags) for Arrow readers;
    // other engines read the Parquet logical types.
    parquet::ArrowWriterProperties::Builder arrow_builder;
    arrow_builder.store_schema();
    ARROW_ASSIGN_OR_RAISE(
        writer_, parquet::arrow::FileWriter::Open(*schema, pool_, out_, builder.build(),
                                                  arrow_builder.build()));
    return arrow::Status::OK();
  }
  // Batches go into a buffered row group; the writer writes it out and starts the next
  // once it holds row_group_rows rows.
  arrow::Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    return writer_->WriteRecordBatch(*batch);
  }
  arrow::Status Finish() override { return writer_->Close(); }

 private:
  arrow::MemoryPool* const pool_;
  const int64_t row_group_rows_;
  std::unique_ptr<parquet::arrow::FileWriter> writer_;
};

}  // namespace

arrow::Result<ResultFormat> ParseResultFormat(std::string_view name) {
  for (auto format : {ResultFormat::kJsonl, ResultFormat::kCsv, ResultFormat::kArrow,
                      ResultFormat::kParquet}) {
    if (name == ResultFormatName(format)) return format;
  }
  return InvalidInput("unknown format '" + std::string(name) +
                      "' (known: jsonl, csv, arrow, parquet)");
}

std::string_view ResultFormatName(ResultFormat format) {
  switch (format) {
    case ResultFormat::kJsonl:
      return "jsonl";
    case ResultFormat::kCsv:
      return "csv";
    case ResultFormat::kArrow:
      return "arrow";
    case ResultFormat::kParquet:
      return "parquet";
  }
  return "?";
}

std::string_view ContentTypeOf(ResultFormat format) {
  switch (format) {
    case ResultFormat::kJsonl:
      return "application/jsonl";
    case ResultFormat::kCsv:
      return "text/csv; charset=utf-8";
    case ResultFormat::kArrow:
      return "application/vnd.apache.arrow.stream";
    case ResultFormat::kParquet:
      return "application/vnd.apache.parquet";
  }
  return "application/octet-stream";
}

bool IsBinaryFormat(ResultFormat format) {
  return format == ResultFormat::kArrow || format == ResultFormat::kParquet;
}

arrow::Status ResultStreamOptions::Validate() const {
  if (pool == nullptr) return arrow::Status::Invalid("result stream: no memory pool");
  if (parquet_row_group_rows < 1) {
    return arrow::Status::Invalid("result stream: parquet_row_group_rows must be >= 1");
  }
  return arrow::Status::OK();
}

struct ResultStream::Impl {
  std::unique_ptr<QueryResponse> response;
  std::unique_ptr<PartitionResponse> partition;
  std::shared_ptr<arrow::Schema> schema;
  std::shared_ptr<PendingBytes> out;
  std::unique_ptr<Encoder> encoder;
  bool begun = false;
  bool finished = false;
  arrow::Status error;

  // One step: begin, or move to the next partition, or encode one batch, or finish.
  arrow::Status Advance() {
    if (!begun) {
      begun = true;
      return encoder->Begin(schema);
    }
    if (partition == nullptr) {
      ARROW_ASSIGN_OR_RAISE(partition, response->NextPartition());
      if (partition == nullptr) {
        response.reset();  // releases what the query holds before the trailer is written
        finished = true;
        return encoder->Finish();
      }
      return arrow::Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(auto batch, partition->Next());
    if (batch == nullptr) {
      partition.reset();
      return arrow::Status::OK();
    }
    if (batch->num_rows() == 0) return arrow::Status::OK();
    return encoder->Write(batch);
  }
};

arrow::Result<std::unique_ptr<ResultStream>> ResultStream::Make(
    std::unique_ptr<QueryResponse> response, const ResultStreamOptions& options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  if (response == nullptr) return arrow::Status::Invalid("result stream: no response");
  auto impl = std::make_unique<Impl>();
  impl->schema = response->schema();
  impl->response = std::move(response);
  impl->out = std::make_shared<PendingBytes>();
  switch (options.format) {
    case ResultFormat::kJsonl:
      impl->encoder = std::make_unique<TextEncoder>(impl->out, nullptr, AppendJsonLines);
      break;
    case ResultFormat::kCsv:
      impl->encoder =
          std::make_unique<TextEncoder>(impl->out, AppendCsvHeader, AppendCsvRows);
      break;
    case ResultFormat::kArrow:
      impl->encoder = std::make_unique<ArrowEncoder>(impl->out, options.pool);
      break;
    case ResultFormat::kParquet:
      impl->encoder = std::make_unique<ParquetEncoder>(impl->out, options.pool,
                                                       options.parquet_row_group_rows);
      break;
  }
  return std::unique_ptr<ResultStream>(new ResultStream(std::move(impl)));
}

ResultStream::ResultStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ResultStream::~ResultStream() = default;

arrow::Result<std::optional<std::string>> ResultStream::Next() {
  Impl& s = *impl_;
  while (s.error.ok()) {
    std::string bytes = s.out->Take();
    if (!bytes.empty()) return bytes;
    if (s.finished) return std::nullopt;
    if (auto status = s.Advance(); !status.ok()) {
      s.partition.reset();
      s.response.reset();
      s.error = std::move(status);
    }
  }
  return s.error;
}

}  // namespace ingester::query
