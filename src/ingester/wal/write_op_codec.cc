#include "ingester/wal/write_op_codec.h"

#include <arrow/io/interfaces.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>

#include <cstring>
#include <string_view>

#include "ingester/dml/well_formed.h"
#include "ingester/wal/payload_codec.h"

namespace ingester::wal {

namespace {

// Appends the IPC stream to a string without an intermediate buffer.
class StringOutputStream final : public arrow::io::OutputStream {
 public:
  explicit StringOutputStream(std::string* out) : out_(out) {}
  arrow::Status Close() override {
    closed_ = true;
    return arrow::Status::OK();
  }
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override {
    return static_cast<int64_t>(out_->size());
  }
  arrow::Status Write(const void* data, int64_t nbytes) override {
    out_->append(static_cast<const char*>(data), static_cast<size_t>(nbytes));
    return arrow::Status::OK();
  }
  using arrow::io::OutputStream::Write;

 private:
  std::string* out_;
  bool closed_ = false;
};

void PutU8(std::string* out, uint8_t v) { out->push_back(static_cast<char>(v)); }
void PutU32(std::string* out, uint32_t v) {
  uint8_t b[4];
  EncodeFixed32(b, v);
  out->append(reinterpret_cast<const char*>(b), 4);
}
void PutU64(std::string* out, uint64_t v) {
  uint8_t b[8];
  EncodeFixed64(b, v);
  out->append(reinterpret_cast<const char*>(b), 8);
}
arrow::Status PutStr(std::string* out, std::string_view s) {
  if (s.size() > kMaxBodySize) return arrow::Status::CapacityError("string too long");
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
  return arrow::Status::OK();
}
void PadTo8(std::string* out, size_t base) {
  while ((out->size() - base) % 8 != 0) out->push_back('\0');
}

// Appends the body of `op` to `*out`; `base` is where the body starts in it (padding is
// counted from there).
arrow::Status EncodeBody(const WriteOp& op, std::string* out, size_t base) {
  std::string& body = *out;
  PutU8(&body, kBodyVersion);
  PutU64(&body, static_cast<uint64_t>(op.namespace_id.value()));
  ARROW_RETURN_NOT_OK(PutStr(&body, op.namespace_name));
  PutU32(&body, static_cast<uint32_t>(op.writes.size()));
  for (const auto& w : op.writes) {
    if (w.batch == nullptr) {
      return arrow::Status::Invalid("partition write for table '", w.table_name,
                                    "' has no record batch");
    }
    PutU64(&body, static_cast<uint64_t>(w.table_id.value()));
    ARROW_RETURN_NOT_OK(PutStr(&body, w.table_name));
    ARROW_RETURN_NOT_OK(PutStr(&body, w.partition_key));
    PutU64(&body, w.sequence_number);
    PutU64(&body, static_cast<uint64_t>(w.batch->num_rows()));
    size_t length_at = body.size();
    PutU32(&body, 0);
    PadTo8(&body, base);
    size_t start = body.size();
    StringOutputStream out(&body);
    ARROW_ASSIGN_OR_RAISE(auto writer,
                          arrow::ipc::MakeStreamWriter(&out, w.batch->schema()));
    ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*w.batch));
    ARROW_RETURN_NOT_OK(writer->Close());
    size_t length = body.size() - start;
    if (body.size() - base > kMaxBodySize) {
      return arrow::Status::CapacityError("write op of ", body.size() - base,
                                          "+ bytes exceeds the WAL entry limit");
    }
    EncodeFixed32(reinterpret_cast<uint8_t*>(body.data() + length_at),
                  static_cast<uint32_t>(length));
  }
  return arrow::Status::OK();
}

// Bounds-checked reading of a body.
class BodyReader {
 public:
  BodyReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  arrow::Status Need(size_t n, const char* what) const {
    if (size_ - pos_ < n) {
      return arrow::Status::Invalid("write op body truncated reading ", what, " at byte ",
                                    pos_, " of ", size_);
    }
    return arrow::Status::OK();
  }
  arrow::Result<uint8_t> U8(const char* what) {
    ARROW_RETURN_NOT_OK(Need(1, what));
    return data_[pos_++];
  }
  arrow::Result<uint32_t> U32(const char* what) {
    ARROW_RETURN_NOT_OK(Need(4, what));
    uint32_t v = DecodeFixed32(data_ + pos_);
    pos_ += 4;
    return v;
  }
  arrow::Result<uint64_t> U64(const char* what) {
    ARROW_RETURN_NOT_OK(Need(8, what));
    uint64_t v = DecodeFixed64(data_ + pos_);
    pos_ += 8;
    return v;
  }
  arrow::Result<std::string> Str(const char* what) {
    ARROW_ASSIGN_OR_RAISE(uint32_t n, U32(what));
    ARROW_RETURN_NOT_OK(Need(n, what));
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  arrow::Status SkipPadding() {
    size_t padded = (pos_ + 7) / 8 * 8;
    ARROW_RETURN_NOT_OK(Need(padded - pos_, "padding"));
    pos_ = padded;
    return arrow::Status::OK();
  }
  arrow::Status Skip(size_t n, const char* what) {
    ARROW_RETURN_NOT_OK(Need(n, what));
    pos_ += n;
    return arrow::Status::OK();
  }
  size_t pos() const { return pos_; }
  bool AtEnd() const { return pos_ == size_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

arrow::Result<std::shared_ptr<arrow::Buffer>> DecompressPayload(const uint8_t* payload,
                                                                size_t size) {
  if (size < kPayloadPrefixSize) {
    return arrow::Status::Invalid("payload of ", size,
                                  " bytes is shorter than its prefix");
  }
  uint8_t compression = payload[0];
  uint32_t body_size = DecodeFixed32(payload + 1);
  if (body_size > kMaxBodySize) {
    return arrow::Status::Invalid("body length ", body_size, " exceeds the limit");
  }
  const uint8_t* data = payload + kPayloadPrefixSize;
  size_t data_size = size - kPayloadPrefixSize;
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> body,
                        arrow::AllocateBuffer(static_cast<int64_t>(body_size)));
  ARROW_RETURN_NOT_OK(DecompressBody(compression, data, data_size,
                                     const_cast<uint8_t*>(body->data()), body_size));
  return body;
}

// Reads the header of one partition write; leaves `r` at the start of its IPC stream
// and returns the stream's length.
arrow::Result<uint32_t> ReadWriteHeader(BodyReader& r, PartitionWriteSummary* w) {
  ARROW_ASSIGN_OR_RAISE(uint64_t table_id, r.U64("table id"));
  w->table_id = TableId(static_cast<int64_t>(table_id));
  ARROW_ASSIGN_OR_RAISE(w->table_name, r.Str("table name"));
  ARROW_ASSIGN_OR_RAISE(w->partition_key, r.Str("partition key"));
  ARROW_ASSIGN_OR_RAISE(w->sequence_number, r.U64("sequence number"));
  ARROW_ASSIGN_OR_RAISE(uint64_t rows, r.U64("row count"));
  w->rows = static_cast<int64_t>(rows);
  ARROW_ASSIGN_OR_RAISE(uint32_t ipc_length, r.U32("ipc length"));
  ARROW_RETURN_NOT_OK(r.SkipPadding());
  ARROW_RETURN_NOT_OK(r.Need(ipc_length, "ipc stream"));
  return ipc_length;
}

// Reads the namespace part of a body; returns the number of writes that follow.
arrow::Result<uint32_t> ReadOpHeader(BodyReader& r, NamespaceId* id, std::string* name) {
  ARROW_ASSIGN_OR_RAISE(uint8_t version, r.U8("version"));
  if (version != kBodyVersion) {
    return arrow::Status::Invalid("unsupported write op body version ",
                                  static_cast<int>(version));
  }
  ARROW_ASSIGN_OR_RAISE(uint64_t ns, r.U64("namespace id"));
  *id = NamespaceId(static_cast<int64_t>(ns));
  ARROW_ASSIGN_OR_RAISE(*name, r.Str("namespace name"));
  return r.U32("write count");
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ReadIpcBatch(
    std::shared_ptr<arrow::Buffer> stream) {
  auto input = std::make_shared<arrow::io::BufferReader>(std::move(stream));
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchStreamReader::Open(input));
  std::shared_ptr<arrow::RecordBatch> batch, extra;
  ARROW_RETURN_NOT_OK(reader->ReadNext(&batch));
  if (batch == nullptr) return arrow::Status::Invalid("IPC stream holds no record batch");
  ARROW_RETURN_NOT_OK(reader->ReadNext(&extra));
  if (extra != nullptr) return arrow::Status::Invalid("IPC stream holds several batches");
  // Arrow's structural validation, unless the direct check of the data model's columns
  // (dml/well_formed.h, which implies it) settles it: Arrow's costs a fixed ~0.3 us per
  // column, a large part of decoding a small entry.
  const arrow::Schema& schema = *batch->schema();
  bool settled = batch->num_columns() == schema.num_fields();
  for (int i = 0; settled && i < batch->num_columns(); ++i) {
    const arrow::ArrayData& column = *batch->column_data(i);
    settled = column.length == batch->num_rows() &&
              (column.type == schema.field(i)->type() ||
               column.type->Equals(*schema.field(i)->type())) &&
              IsWellFormedDataModelColumn(column);
  }
  if (!settled) ARROW_RETURN_NOT_OK(batch->Validate());
  return batch;
}

}  // namespace

int64_t WriteOpSummary::RowCount() const {
  int64_t rows = 0;
  for (const auto& w : writes) rows += w.rows;
  return rows;
}

arrow::Result<std::string> EncodeWriteOp(const WriteOp& op,
                                         const EncodeOptions& options) {
  ARROW_RETURN_NOT_OK(ValidateCompressionLevel(options.compression, options.level));
  const size_t prefix_at = options.headroom;
  const size_t body_at = prefix_at + kPayloadPrefixSize;
  std::string out(body_at, '\0');
  size_t body_size = 0;
  if (options.compression == PayloadCompression::kNone) {
    // The body is the payload: encoded in place.
    ARROW_RETURN_NOT_OK(EncodeBody(op, &out, body_at));
    body_size = out.size() - body_at;
  } else {
    // Encoded into a per-thread buffer that keeps its capacity between entries, so the
    // pages of a body are not allocated and faulted in for every write.
    thread_local std::string scratch;
    scratch.clear();
    ARROW_RETURN_NOT_OK(EncodeBody(op, &scratch, 0));
    body_size = scratch.size();
    ARROW_RETURN_NOT_OK(CompressBody(options.compression, options.level, scratch, &out));
    if (scratch.capacity() > (size_t{64} << 20)) std::string().swap(scratch);
  }
  auto* prefix = reinterpret_cast<uint8_t*>(out.data() + prefix_at);
  prefix[0] = static_cast<uint8_t>(options.compression);
  EncodeFixed32(prefix + 1, static_cast<uint32_t>(body_size));
  return out;
}

arrow::Result<WriteOp> DecodeWriteOp(const uint8_t* payload, size_t size) {
  ARROW_ASSIGN_OR_RAISE(auto body, DecompressPayload(payload, size));
  BodyReader r(body->data(), static_cast<size_t>(body->size()));
  WriteOp op;
  ARROW_ASSIGN_OR_RAISE(uint32_t count,
                        ReadOpHeader(r, &op.namespace_id, &op.namespace_name));
  for (uint32_t i = 0; i < count; ++i) {
    PartitionWriteSummary s;
    ARROW_ASSIGN_OR_RAISE(uint32_t ipc_length, ReadWriteHeader(r, &s));
    auto stream = arrow::SliceBuffer(body, static_cast<int64_t>(r.pos()), ipc_length);
    ARROW_RETURN_NOT_OK(r.Skip(ipc_length, "ipc stream"));
    PartitionWrite w;
    w.table_id = s.table_id;
    w.table_name = std::move(s.table_name);
    w.partition_key = std::move(s.partition_key);
    w.sequence_number = s.sequence_number;
    ARROW_ASSIGN_OR_RAISE(w.batch, ReadIpcBatch(std::move(stream)));
    if (w.batch->num_rows() != s.rows) {
      return arrow::Status::Invalid("batch of ", w.batch->num_rows(),
                                    " rows, header says ", s.rows);
    }
    op.writes.push_back(std::move(w));
  }
  if (!r.AtEnd()) return arrow::Status::Invalid("trailing bytes after the last write");
  return op;
}

arrow::Result<WriteOpSummary> DecodeWriteOpSummary(const uint8_t* payload, size_t size) {
  ARROW_ASSIGN_OR_RAISE(auto body, DecompressPayload(payload, size));
  BodyReader r(body->data(), static_cast<size_t>(body->size()));
  WriteOpSummary op;
  ARROW_ASSIGN_OR_RAISE(uint32_t count,
                        ReadOpHeader(r, &op.namespace_id, &op.namespace_name));
  for (uint32_t i = 0; i < count; ++i) {
    PartitionWriteSummary s;
    ARROW_ASSIGN_OR_RAISE(uint32_t ipc_length, ReadWriteHeader(r, &s));
    ARROW_RETURN_NOT_OK(r.Skip(ipc_length, "ipc stream"));
    op.writes.push_back(std::move(s));
  }
  if (!r.AtEnd()) return arrow::Status::Invalid("trailing bytes after the last write");
  return op;
}

}  // namespace ingester::wal
