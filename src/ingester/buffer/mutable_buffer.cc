#include "ingester/buffer/mutable_buffer.h"

#include <arrow/array.h>
#include <arrow/array/builder_base.h>
#include <arrow/array/concatenate.h>
#include <arrow/array/validate.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "ingester/common/column_type.h"
#include "ingester/common/error.h"

namespace ingester {

namespace {

// Below this, slack in an appended batch's buffers is not worth a copy.
constexpr int64_t kSlackFloorBytes = 64 * 1024;

// Copies `batch` into buffers sized to its rows (a slice stops pinning its parent).
arrow::Result<std::shared_ptr<arrow::RecordBatch>> CopyCompact(
    const std::shared_ptr<arrow::RecordBatch>& batch, arrow::MemoryPool* pool) {
  arrow::ArrayVector columns;
  columns.reserve(batch->num_columns());
  for (const auto& column : batch->columns()) {
    ARROW_ASSIGN_OR_RAISE(auto copy, arrow::Concatenate({column}, pool));
    columns.push_back(std::move(copy));
  }
  return arrow::RecordBatch::Make(batch->schema(), batch->num_rows(), std::move(columns));
}

void AddBufferBytes(const arrow::ArrayData& data, int64_t* total) {
  for (const auto& buffer : data.buffers) {
    if (buffer != nullptr) *total += buffer->size();
  }
  for (const auto& child : data.child_data) AddBufferBytes(*child, total);
  if (data.dictionary != nullptr) AddBufferBytes(*data.dictionary, total);
}

// Like arrow::util::TotalBufferSize, without its de-duplication (a hash set per call):
// columns of the batches buffered here do not share buffers.
int64_t BatchBytes(const arrow::RecordBatch& batch) {
  int64_t total = 0;
  for (int i = 0; i < batch.num_columns(); ++i)
    AddBufferBytes(*batch.column_data(i), &total);
  return total;
}

// The bytes of `data`'s buffers that its rows use (a slice uses less than its buffers
// hold); dictionaries count whole. A cheap stand-in for
// arrow::util::ReferencedBufferSize, which builds arrays of byte ranges.
int64_t ReferencedBytes(const arrow::ArrayData& data) {
  const int64_t length = data.length;
  int64_t total = data.buffers[0] != nullptr ? (length + 7) / 8 : 0;
  switch (data.type->id()) {
    case arrow::Type::BOOL:
      total += (length + 7) / 8;
      break;
    case arrow::Type::DICTIONARY:
      total += length * 4;
      AddBufferBytes(*data.dictionary, &total);
      break;
    case arrow::Type::STRING: {
      const int32_t* offsets = data.GetValues<int32_t>(1);
      total += (length + 1) * 4 + (offsets[length] - offsets[0]);
      break;
    }
    default:  // the 8-byte types of the data model
      total += length * 8;
      break;
  }
  return total;
}

// The Arrow size `batch`'s rows will take once copied into the staging builders: its
// values and validity, not its buffers (a slice would count its parent) nor its
// dictionaries (values already in the builders' memo cost nothing). Exact sizes replace
// the estimate when the staging is sealed.
int64_t StagedBytes(const arrow::RecordBatch& batch) {
  const int64_t rows = batch.num_rows();
  int64_t total = 0;
  for (int i = 0; i < batch.num_columns(); ++i) {
    const arrow::ArrayData& column = *batch.column_data(i);
    total += (rows + 7) / 8;  // validity
    switch (column.type->id()) {
      case arrow::Type::BOOL:
        total += (rows + 7) / 8;
        break;
      case arrow::Type::DICTIONARY:
        total += rows * 4;
        break;
      case arrow::Type::STRING: {
        const int32_t* offsets = column.GetValues<int32_t>(1);
        total += rows * 4 + (offsets[rows] - offsets[0]);
        break;
      }
      default:
        total += rows * 8;
        break;
    }
  }
  return total;
}

// Arrow's O(1) checks (arrow::internal::ValidateArray) for the data-model types, a
// fraction of their cost (which was 10% of a one-row append): every buffer holds what
// the length needs, string offsets start and end inside the data, a tag has its
// dictionary. What needs O(rows) (every offset, every dictionary index, UTF-8) is left
// to the paths that take batches from outside (Flight DoPut, WAL replay), so the line
// protocol path, whose batches we build, pays nothing per row here. Precondition: the
// type is a data-model type (ColumnSet::Check).
bool BuffersFit(const arrow::ArrayData& data) {
  const int64_t end = data.offset + data.length;
  if (data.offset < 0 || data.length < 0 || data.buffers.size() < 2) return false;
  auto holds = [](const std::shared_ptr<arrow::Buffer>& buffer, int64_t bytes) {
    return bytes <= 0 || (buffer != nullptr && buffer->size() >= bytes);
  };
  if (data.buffers[0] != nullptr && !holds(data.buffers[0], (end + 7) / 8)) return false;
  switch (data.type->id()) {
    case arrow::Type::BOOL:
      return holds(data.buffers[1], (end + 7) / 8);
    case arrow::Type::STRING: {
      if (data.buffers.size() < 3 || !holds(data.buffers[1], (end + 1) * 4)) return false;
      if (data.length == 0) return true;
      const int32_t* offsets = data.buffers[1]->data_as<int32_t>();
      const int64_t size = data.buffers[2] == nullptr ? 0 : data.buffers[2]->size();
      return offsets[data.offset] >= 0 && offsets[data.offset] <= offsets[end] &&
             offsets[end] <= size;
    }
    case arrow::Type::DICTIONARY:
      return holds(data.buffers[1], end * 4) && data.dictionary != nullptr &&
             data.dictionary->type->id() == arrow::Type::STRING &&
             BuffersFit(*data.dictionary);
    default:  // 8-byte values: int64, uint64, float64, timestamp
      return holds(data.buffers[1], end * 8);
  }
}

}  // namespace

arrow::Status MutableBufferOptions::Validate() const {
  if (small_batch_rows < 1)
    return arrow::Status::Invalid("small_batch_rows must be >= 1");
  if (staging_seal_rows < small_batch_rows) {
    return arrow::Status::Invalid("staging_seal_rows must be >= small_batch_rows");
  }
  if (compaction_fan_in < 2)
    return arrow::Status::Invalid("compaction_fan_in must be >= 2");
  if (max_small_batches < compaction_fan_in) {
    return arrow::Status::Invalid("max_small_batches must be >= compaction_fan_in");
  }
  if (!(max_slack_ratio >= 1.0))
    return arrow::Status::Invalid("max_slack_ratio must be >= 1");
  if (pool == nullptr) return arrow::Status::Invalid("pool must be set");
  return arrow::Status::OK();
}

MutableBuffer::MutableBuffer(const MutableBufferOptions& options)
    : options_(options), nulls_(options.pool) {}

MutableBuffer::~MutableBuffer() = default;

int MutableBuffer::Tier(int64_t rows) const {
  int tier = 0;
  for (int64_t bound = options_.compaction_fan_in; rows >= bound;
       bound *= options_.compaction_fan_in) {
    ++tier;
  }
  return tier;
}

arrow::Status MutableBuffer::CheckBatch(const arrow::RecordBatch& batch) {
  const std::shared_ptr<arrow::Schema>& schema = batch.schema();
  if (checked_schema_ == nullptr ||
      (schema != checked_schema_ && !schema->Equals(*checked_schema_, false))) {
    ARROW_RETURN_NOT_OK(columns_.Check(*schema, /*require_time=*/true));
    checked_schema_ = schema;
  }
  // What RecordBatch::Validate checks, for a fraction of its cost on narrow batches,
  // plus BuffersFit: a batch from a path that skipped validation
  // (dml/write_validation.h) is refused instead of read out of bounds.
  for (int i = 0; i < batch.num_columns(); ++i) {
    const arrow::ArrayData& column = *batch.column_data(i);
    const auto& type = schema->field(i)->type();
    if (column.length != batch.num_rows() ||
        (column.type != type && !column.type->Equals(*type))) {
      return InvalidInput("column '" + schema->field(i)->name() +
                          "' does not match the batch's schema or row count");
    }
    if (!BuffersFit(column)) {
      return InvalidInput("column '" + schema->field(i)->name() +
                          "' is malformed Arrow data: " +
                          arrow::internal::ValidateArray(column).ToString());
    }
  }
  return arrow::Status::OK();
}

arrow::Status MutableBuffer::Append(const std::shared_ptr<arrow::RecordBatch>& batch) {
  if (batch == nullptr) return arrow::Status::Invalid("null record batch");
  ARROW_RETURN_NOT_OK(CheckBatch(*batch));
  const int64_t rows = batch->num_rows();
  if (rows == 0) return arrow::Status::OK();

  const auto& time = batch->GetColumnByName(std::string(kTimeColumnName));
  if (time->null_count() != 0) return InvalidInput("column 'time' has null values");
  const int64_t* times = time->data()->GetValues<int64_t>(1);
  int64_t lo = times[0], hi = times[0];
  for (int64_t i = 1; i < rows; ++i) {
    lo = std::min(lo, times[i]);
    hi = std::max(hi, times[i]);
  }

  if (rows < options_.small_batch_rows) {
    columns_.Add(*batch->schema());
    ARROW_RETURN_NOT_OK(Stage(*batch));
    if (staging_.rows >= options_.staging_seal_rows) {
      // The rows are buffered either way; a failed seal (out of memory) is retried at
      // the next one.
      arrow::Status st = Seal();
      if (!st.ok()) spdlog::warn("sealing staged writes failed: {}", st.ToString());
    }
  } else {
    // The staged rows were written first: keep them first.
    ARROW_RETURN_NOT_OK(Seal());
    std::shared_ptr<arrow::RecordBatch> kept = batch;
    int64_t bytes = BatchBytes(*batch);
    if (bytes > kSlackFloorBytes) {
      int64_t referenced = 0;
      for (int i = 0; i < batch->num_columns(); ++i) {
        referenced += ReferencedBytes(*batch->column_data(i));
      }
      if (bytes > options_.max_slack_ratio * referenced + kSlackFloorBytes) {
        ARROW_ASSIGN_OR_RAISE(kept, CopyCompact(batch, options_.pool));
        bytes = BatchBytes(*kept);
      }
    }
    columns_.Add(*batch->schema());
    PushEntry(std::move(kept), bytes);
  }
  rows_ += rows;
  min_time_ = std::min(min_time_, lo);
  max_time_ = std::max(max_time_, hi);
  return arrow::Status::OK();
}

void MutableBuffer::PushEntry(std::shared_ptr<arrow::RecordBatch> batch, int64_t bytes) {
  bytes_ += bytes;
  entries_.push_back(Entry{std::move(batch), bytes, nullptr});
  if (IsSmall(entries_.back())) MaybeCompact();
}

arrow::Status MutableBuffer::SyncStaging() {
  const std::shared_ptr<arrow::Schema>& schema = columns_.schema();
  if (staging_.schema == schema) return arrow::Status::OK();
  const int n = schema->num_fields();
  // New columns' builders first (fallible), then the old builders move (infallible), so
  // that a failure leaves the staging as it was.
  std::vector<int> old_index(n, -1);
  std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders(n);
  for (int i = 0; i < n; ++i) {
    const auto& field = schema->field(i);
    if (staging_.schema != nullptr)
      old_index[i] = staging_.schema->GetFieldIndex(field->name());
    if (old_index[i] >= 0) continue;
    // Exact index: a plain MakeBuilder would build dictionary<int8> indices.
    ARROW_ASSIGN_OR_RAISE(builders[i],
                          arrow::MakeBuilderExactIndex(field->type(), options_.pool));
    ARROW_RETURN_NOT_OK(builders[i]->AppendNulls(staging_.rows));
  }
  for (int i = 0; i < n; ++i) {
    if (old_index[i] >= 0) builders[i] = std::move(staging_.builders[old_index[i]]);
  }
  staging_.builders = std::move(builders);
  staging_.schema = schema;
  return arrow::Status::OK();
}

arrow::Status MutableBuffer::Stage(const arrow::RecordBatch& batch) {
  arrow::Status st = SyncStaging();
  const arrow::Schema& have = *batch.schema();
  const arrow::Schema& want = *staging_.schema;
  const bool same_order = &have == &want || have.Equals(want, false);
  const int64_t rows = batch.num_rows();
  for (int c = 0; st.ok() && c < want.num_fields(); ++c) {
    const int index = same_order ? c : have.GetFieldIndex(want.field(c)->name());
    arrow::ArrayBuilder& builder = *staging_.builders[c];
    if (index < 0) {
      st = builder.AppendNulls(rows);
    } else {
      st = builder.AppendArraySlice(arrow::ArraySpan(*batch.column_data(index)), 0, rows);
    }
  }
  if (!st.ok()) {
    // Some builders may hold part of this batch; sealing cuts them all back to the rows
    // staged before it.
    arrow::Status sealed = Seal();
    if (!sealed.ok())
      spdlog::error("sealing staged writes failed: {}", sealed.ToString());
    return st;
  }
  staging_.rows += rows;
  const int64_t bytes = StagedBytes(batch);
  staging_.bytes += bytes;
  bytes_ += bytes;
  return arrow::Status::OK();
}

arrow::Status MutableBuffer::Seal() {
  if (staging_.rows == 0) return arrow::Status::OK();
  arrow::ArrayVector columns;
  columns.reserve(staging_.builders.size());
  for (auto& builder : staging_.builders) {
    std::shared_ptr<arrow::Array> column;
    ARROW_RETURN_NOT_OK(builder->Finish(&column));
    if (column->length() > staging_.rows) column = column->Slice(0, staging_.rows);
    columns.push_back(std::move(column));
  }
  auto batch =
      arrow::RecordBatch::Make(staging_.schema, staging_.rows, std::move(columns));
  bytes_ -= staging_.bytes;
  staging_.rows = 0;
  staging_.bytes = 0;
  PushEntry(batch, BatchBytes(*batch));
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> MutableBuffer::Conformed(
    Entry* entry) {
  if (entry->conformed == nullptr || entry->conformed->schema() != schema()) {
    ARROW_ASSIGN_OR_RAISE(entry->conformed,
                          ConformBatch(entry->batch, schema(), &nulls_));
  }
  return entry->conformed;
}

arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>>
MutableBuffer::Snapshot() {
  ARROW_RETURN_NOT_OK(Seal());
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  out.reserve(entries_.size());
  for (auto& entry : entries_) {
    ARROW_ASSIGN_OR_RAISE(auto batch, Conformed(&entry));
    out.push_back(std::move(batch));
  }
  return out;
}

arrow::Status MutableBuffer::MergeTail(size_t first) {
  const size_t end = entries_.size();
  std::vector<std::shared_ptr<arrow::RecordBatch>> parts;
  parts.reserve(end - first);
  int64_t rows = 0;
  for (size_t i = first; i < end; ++i) {
    ARROW_ASSIGN_OR_RAISE(auto part, Conformed(&entries_[i]));
    rows += part->num_rows();
    parts.push_back(std::move(part));
  }
  const int num_columns = schema()->num_fields();
  arrow::ArrayVector columns;
  columns.reserve(num_columns);
  arrow::ArrayVector pieces(parts.size());
  for (int c = 0; c < num_columns; ++c) {
    for (size_t p = 0; p < parts.size(); ++p) pieces[p] = parts[p]->column(c);
    ARROW_ASSIGN_OR_RAISE(auto column, arrow::Concatenate(pieces, options_.pool));
    columns.push_back(std::move(column));
  }
  auto merged = arrow::RecordBatch::Make(schema(), rows, std::move(columns));
  Entry entry{merged, BatchBytes(*merged), merged};
  for (size_t i = first; i < end; ++i) bytes_ -= entries_[i].bytes;
  bytes_ += entry.bytes;
  entries_.erase(entries_.begin() + static_cast<ptrdiff_t>(first), entries_.end());
  entries_.push_back(std::move(entry));
  ++compactions_;
  return arrow::Status::OK();
}

void MutableBuffer::MaybeCompact() {
  for (;;) {
    const size_t n = entries_.size();
    size_t small = 0;
    while (small < n && IsSmall(entries_[n - 1 - small])) ++small;
    if (small < 2) return;
    const int tier = Tier(entries_[n - 1].batch->num_rows());
    size_t same = 0;
    while (same < small && Tier(entries_[n - 1 - same].batch->num_rows()) == tier) ++same;
    size_t first;
    if (same >= static_cast<size_t>(options_.compaction_fan_in)) {
      first = n - same;
    } else if (small > static_cast<size_t>(options_.max_small_batches)) {
      first = n - small;
    } else {
      return;
    }
    // Compaction only saves memory: the rows are buffered either way, so a failure (out
    // of memory) leaves the batches as they are.
    arrow::Status st = MergeTail(first);
    if (!st.ok()) {
      spdlog::warn("buffer compaction of {} batches failed: {}", n - first,
                   st.ToString());
      return;
    }
  }
}

}  // namespace ingester
