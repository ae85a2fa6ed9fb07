#include "ingester/persist/compaction.h"

#include <arrow/api.h>
#include <arrow/compute/api_vector.h>
#include <arrow/compute/exec.h>
#include <arrow/compute/initialize.h>

#include <algorithm>
#include <limits>
#include <mutex>

#include "ingester/buffer/column_set.h"
#include "ingester/common/column_type.h"
#include "ingester/persist/compaction_sort.h"
#include "ingester/persist/sort_key.h"

namespace ingester::persist {

namespace {

using compaction_internal::Batches;
using compaction_internal::SortedRows;
using compaction_internal::UnifiedTag;

// Column `column` of all `batches` as one array (the array itself for one batch).
arrow::Result<std::shared_ptr<arrow::Array>> ConcatColumn(const Batches& batches,
                                                          int column,
                                                          arrow::MemoryPool* pool) {
  if (batches.size() == 1) return batches.front()->column(column);
  arrow::ArrayVector parts;
  parts.reserve(batches.size());
  for (const auto& batch : batches) parts.push_back(batch->column(column));
  return arrow::Concatenate(parts, pool);
}

arrow::Result<std::shared_ptr<arrow::Array>> TakeArray(
    const std::shared_ptr<arrow::Array>& values,
    const std::shared_ptr<arrow::Array>& indices, arrow::compute::ExecContext* ctx) {
  ARROW_ASSIGN_OR_RAISE(
      arrow::Datum taken,
      arrow::compute::Take(values, indices, arrow::compute::TakeOptions::NoBoundsCheck(),
                           ctx));
  return taken.make_array();
}

arrow::Result<std::shared_ptr<arrow::UInt64Array>> MakeIndexArray(
    const std::vector<uint64_t>& indices, arrow::MemoryPool* pool) {
  const int64_t n = static_cast<int64_t>(indices.size());
  ARROW_ASSIGN_OR_RAISE(auto buffer, arrow::AllocateBuffer(n * 8, pool));
  std::copy(indices.begin(), indices.end(),
            reinterpret_cast<uint64_t*>(buffer->mutable_data()));
  return std::make_shared<arrow::UInt64Array>(n, std::move(buffer));
}

bool IsFixed8(const arrow::DataType& type) {
  return type.id() == arrow::Type::INT64 || type.id() == arrow::Type::UINT64 ||
         type.id() == arrow::Type::DOUBLE;
}

// A run of rows with equal primary key: positions [begin, end) of the sorted order,
// which become output row `group`.
struct Run {
  int64_t group;
  int64_t begin;
  int64_t end;
};

// Where input row r lives: row r - starts[b] of batch b = batch_of[r]. Lets columns be
// gathered straight from the batches, without first concatenating them. The row index
// (4 bytes a row) is built by the first Index() call, as only columns with nulls and
// duplicates need it; Index() is thread-safe, and must precede IsValid and batch_of.
class RowLocator {
 public:
  explicit RowLocator(const Batches& batches) : batches_(batches) {
    for (const auto& batch : batches) {
      starts_.push_back(rows_);
      rows_ += batch->num_rows();
    }
  }
  void Index() const {
    std::call_once(indexed_, [this] {
      batch_of_.resize(static_cast<size_t>(rows_));
      for (size_t b = 0; b < batches_.size(); ++b) {
        std::fill(batch_of_.begin() + starts_[b],
                  batch_of_.begin() + starts_[b] + batches_[b]->num_rows(),
                  static_cast<uint32_t>(b));
      }
    });
  }
  bool HasNulls(int column) const {
    for (const auto& batch : batches_) {
      if (batch->column(column)->null_count() > 0) return true;
    }
    return false;
  }
  bool IsValid(int column, int64_t row) const {
    const uint32_t b = batch_of_[row];
    return batches_[b]->column(column)->IsValid(row - starts_[b]);
  }
  uint32_t batch_of(int64_t row) const { return batch_of_[row]; }
  int64_t start(uint32_t batch) const { return starts_[batch]; }

 private:
  const Batches& batches_;
  std::vector<int64_t> starts_;
  int64_t rows_ = 0;
  mutable std::once_flag indexed_;
  mutable std::vector<uint32_t> batch_of_;
};

// Output row i = input row indices[i] of column `column`. 8-byte columns (int64, uint64,
// float64) are copied straight from the batches; others (bool, utf8) are concatenated
// and taken with Arrow's kernel.
arrow::Result<std::shared_ptr<arrow::Array>> GatherColumn(
    const Batches& batches, int column, const RowLocator& locator,
    const uint64_t* indices, int64_t n, arrow::MemoryPool* pool,
    arrow::compute::ExecContext* ctx) {
  const auto& type = batches.front()->schema()->field(column)->type();
  if (!IsFixed8(*type)) {
    ARROW_ASSIGN_OR_RAISE(auto values, ConcatColumn(batches, column, pool));
    ARROW_ASSIGN_OR_RAISE(
        auto index_array,
        MakeIndexArray(std::vector<uint64_t>(indices, indices + n), pool));
    return TakeArray(values, index_array, ctx);
  }
  std::vector<const uint64_t*> sources;
  std::vector<const arrow::Array*> arrays;
  for (const auto& batch : batches) {
    arrays.push_back(batch->column(column).get());
    sources.push_back(batch->column(column)->data()->GetValues<uint64_t>(1));
  }
  ARROW_ASSIGN_OR_RAISE(
      auto values,
      arrow::AllocateBuffer(n * static_cast<int64_t>(sizeof(uint64_t)), pool));
  auto* out = reinterpret_cast<uint64_t*>(values->mutable_data());
  locator.Index();
  std::shared_ptr<arrow::Buffer> validity;
  int64_t null_count = 0;
  if (locator.HasNulls(column)) {
    ARROW_ASSIGN_OR_RAISE(validity, arrow::AllocateBitmap(n, pool));
    uint8_t* bits = validity->mutable_data();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = static_cast<int64_t>(indices[i]);
      const uint32_t b = locator.batch_of(row);
      const int64_t offset = row - locator.start(b);
      const bool valid = arrays[b]->IsValid(offset);
      out[i] = valid ? sources[b][offset] : 0;
      arrow::bit_util::SetBitTo(bits, i, valid);
      null_count += valid ? 0 : 1;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = static_cast<int64_t>(indices[i]);
      const uint32_t b = locator.batch_of(row);
      out[i] = sources[b][row - locator.start(b)];
    }
  }
  return arrow::MakeArray(arrow::ArrayData::Make(
      type, n, {std::move(validity), std::move(values)}, null_count));
}

// The same as GatherColumn for an 8-byte column whose output rows are exactly the base
// rows of the runs, but reading the batches in order and writing each kept row to its
// output slot `dest[row]` (kNotKept: dropped). Sequential reads and scattered writes
// beat scattered reads: writes do not stall the core.
constexpr uint32_t kNotKept = std::numeric_limits<uint32_t>::max();

arrow::Result<std::shared_ptr<arrow::Array>> ScatterColumn(
    const Batches& batches, int column, const std::vector<uint32_t>& dest, int64_t n,
    bool has_nulls, arrow::MemoryPool* pool) {
  const auto& type = batches.front()->schema()->field(column)->type();
  ARROW_ASSIGN_OR_RAISE(auto values, arrow::AllocateBuffer(n * 8, pool));
  auto* out = reinterpret_cast<uint64_t*>(values->mutable_data());
  std::shared_ptr<arrow::Buffer> validity;
  uint8_t* bits = nullptr;
  if (has_nulls) {
    ARROW_ASSIGN_OR_RAISE(validity, arrow::AllocateBitmap(n, pool));
    bits = validity->mutable_data();
  }
  int64_t null_count = 0;
  int64_t row = 0;
  for (const auto& batch : batches) {
    const arrow::Array& array = *batch->column(column);
    const uint64_t* source = array.data()->GetValues<uint64_t>(1);
    const int64_t length = array.length();
    if (bits == nullptr) {
      for (int64_t i = 0; i < length; ++i) {
        const uint32_t d = dest[row + i];
        if (d != kNotKept) out[d] = source[i];
      }
    } else {
      for (int64_t i = 0; i < length; ++i) {
        const uint32_t d = dest[row + i];
        if (d == kNotKept) continue;
        const bool valid = array.IsValid(i);
        out[d] = valid ? source[i] : 0;
        arrow::bit_util::SetBitTo(bits, d, valid);
        null_count += valid ? 0 : 1;
      }
    }
    row += length;
  }
  return arrow::MakeArray(arrow::ArrayData::Make(
      type, n, {std::move(validity), std::move(values)}, null_count));
}

// Since Arrow 21 the compute kernels (sort_indices, take) live in libarrow_compute and
// must be registered once per process.
arrow::Status EnsureComputeInitialized() {
  static const arrow::Status status = arrow::compute::Initialize();
  return status;
}

// The input as one schema: empty batches dropped, every batch conformed to the merged
// schema (missing columns as nulls), the time column located.
struct ConformedInput {
  std::shared_ptr<arrow::Schema> schema;
  Batches batches;
  int64_t rows = 0;
  int time_index = -1;
};

arrow::Result<ConformedInput> ConformInput(const Batches& input,
                                           arrow::MemoryPool* pool) {
  ConformedInput out;
  std::vector<std::shared_ptr<arrow::Schema>> schemas;
  for (const auto& batch : input) schemas.push_back(batch->schema());
  ARROW_ASSIGN_OR_RAISE(out.schema, MergeSchemas(schemas));
  NullArrayCache nulls(pool);
  for (const auto& batch : input) {
    if (batch->num_rows() == 0) continue;
    ARROW_ASSIGN_OR_RAISE(auto conformed, ConformBatch(batch, out.schema, &nulls));
    out.rows += conformed->num_rows();
    out.batches.push_back(std::move(conformed));
  }
  out.time_index = out.schema->GetFieldIndex(std::string(kTimeColumnName));
  if (out.time_index < 0 ||
      out.schema->field(out.time_index)->type()->id() != arrow::Type::TIMESTAMP) {
    return arrow::Status::Invalid("compaction: no timestamp column '", kTimeColumnName,
                                  "' in ", out.schema->ToString());
  }
  return out;
}

// The tag columns, each against one sorted dictionary (one task per tag).
struct Tags {
  std::vector<int> columns;  // schema indices
  std::vector<UnifiedTag> unified;
};

arrow::Result<Tags> UnifyTags(const ConformedInput& in, bool use_threads) {
  Tags tags;
  for (int c = 0; c < in.schema->num_fields(); ++c) {
    const auto& field = in.schema->field(c);
    if (ColumnTypeFromArrow(field->name(), *field->type()) == ColumnType::kTag) {
      tags.columns.push_back(c);
    }
  }
  tags.unified.resize(tags.columns.size());
  ARROW_RETURN_NOT_OK(compaction_internal::ParallelFor(
      use_threads, static_cast<int>(tags.columns.size()), [&](int t) -> arrow::Status {
        ARROW_ASSIGN_OR_RAISE(tags.unified[t],
                              compaction_internal::UnifyTag(in.batches, tags.columns[t]));
        return arrow::Status::OK();
      }));
  return tags;
}

// Runs of equal primary key in sorted order. `base[g]` is output row g's input row: the
// run's last row in buffering order (the highest input index: Arrow's sort is not
// trusted to be stable); runs of more than one row are kept for the field-by-field
// merge. The packed sort also gives each output row's series key and, in `group_times`
// (the output `time` column's values buffer, sized for every input row), its time.
struct DuplicateRuns {
  std::vector<uint64_t> base;
  std::vector<uint64_t> group_keys;
  std::shared_ptr<arrow::Buffer> group_times;
  std::vector<Run> runs;
};

arrow::Result<DuplicateRuns> FindDuplicateRuns(const SortedRows& sorted, int64_t rows,
                                               const int64_t* times,
                                               arrow::MemoryPool* pool) {
  DuplicateRuns out;
  const uint64_t* order = sorted.order();
  // Sized for the worst case (no duplicates) up front: growing by doubling would copy
  // and fault in each vector twice over.
  out.base.reserve(static_cast<size_t>(rows));
  int64_t* group_times = nullptr;
  if (sorted.packed()) {
    out.group_keys.reserve(static_cast<size_t>(rows));
    ARROW_ASSIGN_OR_RAISE(out.group_times, arrow::AllocateBuffer(rows * 8, pool));
    group_times = reinterpret_cast<int64_t*>(out.group_times->mutable_data());
  }
  int64_t begin = 0;
  int64_t series = 0;  // packed: the series of position `begin`
  for (int64_t p = 1; p <= rows; ++p) {
    if (p < rows && sorted.SameKeyAsPrevious(p)) continue;
    uint64_t last = order[begin];
    for (int64_t q = begin + 1; q < p; ++q) last = std::max(last, order[q]);
    if (p - begin > 1)
      out.runs.push_back({static_cast<int64_t>(out.base.size()), begin, p});
    if (group_times != nullptr) {
      group_times[out.base.size()] = times[last];
      while (sorted.series_start(series + 1) <= begin) ++series;
      out.group_keys.push_back(sorted.series_key(series));
    }
    out.base.push_back(last);
    begin = p;
  }
  return out;
}

// What building the output columns reads; everything is owned by CompactBatches.
struct OutputInputs {
  const ConformedInput& in;
  const Tags& tags;
  const std::shared_ptr<arrow::Array>& time;
  const SortedRows& sorted;
  const DuplicateRuns& runs;
  // The base rows as an index array (the sort order itself when nothing was merged).
  const std::shared_ptr<arrow::Array>& base_indices;
  // Where each kept input row goes, for the scatter of fields.
  const std::vector<uint32_t>& dest;
  const RowLocator& locator;
  int64_t output_rows;
  arrow::MemoryPool* pool;
  arrow::compute::ExecContext* ctx;
};

// A field column: per run of duplicates, the last non-null value in buffering order (the
// run's last row when the field is null in all of them).
arrow::Result<std::shared_ptr<arrow::Array>> BuildFieldColumn(const OutputInputs& o,
                                                              int c) {
  const auto& type = o.in.schema->field(c)->type();
  const uint64_t* order = o.sorted.order();
  const bool has_nulls = o.locator.HasNulls(c);
  std::vector<uint64_t> picks;
  bool picks_differ = false;
  if (!o.runs.runs.empty() && has_nulls) {
    o.locator.Index();
    picks = o.runs.base;
    for (const Run& run : o.runs.runs) {
      int64_t best = -1;
      for (int64_t q = run.begin; q < run.end; ++q) {
        const int64_t i = static_cast<int64_t>(order[q]);
        if (i > best && o.locator.IsValid(c, i)) best = i;
      }
      if (best >= 0 && static_cast<uint64_t>(best) != o.runs.base[run.group]) {
        picks[run.group] = static_cast<uint64_t>(best);
        picks_differ = true;
      }
    }
  }
  if (IsFixed8(*type) && !picks_differ) {
    return ScatterColumn(o.in.batches, c, o.dest, o.output_rows, has_nulls, o.pool);
  }
  const uint64_t* indices = picks_differ ? picks.data() : o.runs.base.data();
  return GatherColumn(o.in.batches, c, o.locator, indices, o.output_rows, o.pool, o.ctx);
}

// The output columns, one task per column.
arrow::Result<arrow::ArrayVector> BuildOutputColumns(const OutputInputs& o,
                                                     bool use_threads) {
  const auto& schema = o.in.schema;
  arrow::ArrayVector columns(static_cast<size_t>(schema->num_fields()));
  ARROW_RETURN_NOT_OK(compaction_internal::ParallelFor(
      use_threads, schema->num_fields(), [&](int c) -> arrow::Status {
        const auto& type = schema->field(c)->type();
        const auto tag = std::find(o.tags.columns.begin(), o.tags.columns.end(), c);
        if (tag != o.tags.columns.end()) {
          const UnifiedTag& unified = o.tags.unified[tag - o.tags.columns.begin()];
          if (o.sorted.packed()) {
            ARROW_ASSIGN_OR_RAISE(
                columns[c], o.sorted.DecodeTag(unified, type, o.runs.group_keys, o.pool));
          } else {
            ARROW_ASSIGN_OR_RAISE(auto indices,
                                  TakeArray(unified.ranks, o.base_indices, o.ctx));
            columns[c] = std::make_shared<arrow::DictionaryArray>(type, indices,
                                                                  unified.dictionary);
          }
          return arrow::Status::OK();
        }
        if (c == o.in.time_index) {
          if (!o.sorted.packed()) {
            ARROW_ASSIGN_OR_RAISE(columns[c], TakeArray(o.time, o.base_indices, o.ctx));
            return arrow::Status::OK();
          }
          columns[c] = std::make_shared<arrow::TimestampArray>(type, o.output_rows,
                                                               o.runs.group_times);
          return arrow::Status::OK();
        }
        ARROW_ASSIGN_OR_RAISE(columns[c], BuildFieldColumn(o, c));
        return arrow::Status::OK();
      }));
  return columns;
}

}  // namespace

arrow::Result<CompactionResult> CompactBatches(const Batches& input,
                                               const std::vector<std::string>& sort_key,
                                               arrow::MemoryPool* pool,
                                               const CompactOptions& options) {
  if (input.empty()) return arrow::Status::Invalid("compaction: no batches");
  ARROW_RETURN_NOT_OK(EnsureComputeInitialized());
  ARROW_ASSIGN_OR_RAISE(ConformedInput in, ConformInput(input, pool));
  const int64_t rows = in.rows;
  CompactionResult result;
  result.input_rows = rows;
  if (rows == 0) {
    ARROW_ASSIGN_OR_RAISE(result.table, arrow::Table::MakeEmpty(in.schema, pool));
    result.sort_key = FilterSortKey(sort_key, {std::string(kTimeColumnName)});
    return result;
  }
  if (rows >= int64_t{kNotKept}) {
    return arrow::Status::Invalid("compaction: ", rows, " rows is too many for one file");
  }

  ARROW_ASSIGN_OR_RAISE(Tags tags, UnifyTags(in, options.use_threads));
  for (const auto& tag : tags.unified) {
    result.tag_cardinalities.push_back({tag.name, tag.dictionary->length()});
  }
  ARROW_ASSIGN_OR_RAISE(auto time, ConcatColumn(in.batches, in.time_index, pool));
  if (time->null_count() > 0) {
    return arrow::Status::Invalid("compaction: ", time->null_count(), " null times");
  }
  const int64_t* times = time->data()->GetValues<int64_t>(1);
  result.min_time = *std::min_element(times, times + rows);
  result.max_time = *std::max_element(times, times + rows);

  // The effective key: the requested one over our tags and time, then missing tags.
  std::vector<std::string> key_columns = {std::string(kTimeColumnName)};
  for (const auto& tag : tags.unified) key_columns.push_back(tag.name);
  result.sort_key =
      ComputeSortKey(FilterSortKey(sort_key, key_columns), result.tag_cardinalities);

  arrow::compute::ExecContext ctx(pool);
  ARROW_ASSIGN_OR_RAISE(auto sorted,
                        SortedRows::Sort(in.batches, &tags.unified, time, result.sort_key,
                                         rows, options.use_threads, pool, &ctx));
  ARROW_ASSIGN_OR_RAISE(const DuplicateRuns runs,
                        FindDuplicateRuns(sorted, rows, times, pool));
  result.output_rows = static_cast<int64_t>(runs.base.size());
  std::shared_ptr<arrow::Array> base_indices = sorted.order_array();
  if (!runs.runs.empty()) {
    ARROW_ASSIGN_OR_RAISE(base_indices, MakeIndexArray(runs.base, pool));
  }
  std::vector<uint32_t> dest(static_cast<size_t>(rows), kNotKept);
  for (size_t g = 0; g < runs.base.size(); ++g) {
    dest[runs.base[g]] = static_cast<uint32_t>(g);
  }

  const RowLocator locator(in.batches);
  const OutputInputs output{
      in,   tags, time, sorted, runs, base_indices, dest, locator, result.output_rows,
      pool, &ctx};
  ARROW_ASSIGN_OR_RAISE(auto columns, BuildOutputColumns(output, options.use_threads));
  result.table = arrow::Table::Make(in.schema, columns, result.output_rows);
  return result;
}

arrow::Status CompactionExecutorOptions::Validate() const {
  if (threads < 1) return arrow::Status::Invalid("compaction threads must be >= 1");
  if (memory_limit_bytes < 0) {
    return arrow::Status::Invalid("exec memory limit must be >= 0 (0: none)");
  }
  return memory_retry.Validate();
}

arrow::Result<std::unique_ptr<CompactionExecutor>> CompactionExecutor::Make(
    const CompactionExecutorOptions& options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  auto threads = std::make_unique<compaction_internal::TaskPool>(options.threads);
  ARROW_ASSIGN_OR_RAISE(
      auto memory, LimitedMemoryPool::Make({.limit_bytes = options.memory_limit_bytes}));
  return std::unique_ptr<CompactionExecutor>(
      new CompactionExecutor(options, std::move(threads), std::move(memory)));
}

CompactionExecutor::CompactionExecutor(
    const CompactionExecutorOptions& options,
    std::unique_ptr<compaction_internal::TaskPool> threads,
    std::unique_ptr<LimitedMemoryPool> memory)
    : options_(options), threads_(std::move(threads)), memory_(std::move(memory)) {}

// Running and queued work finishes when `threads_` is destroyed.
CompactionExecutor::~CompactionExecutor() = default;

arrow::Status CompactionExecutor::Run(JobMemoryPool* job,
                                      const std::function<arrow::Status()>& work,
                                      MemoryRetryStats* stats, std::stop_token stop) {
  if (job->shared() != memory_.get()) {
    return arrow::Status::Invalid("compaction job pool is not over the executor's pool");
  }
  return compaction_internal::ParallelFor(
      /*use_threads=*/true, 1,
      [&](int) {
        return RunWithMemoryRetry(job, options_.memory_retry, work, stats, stop);
      },
      threads_.get());
}

}  // namespace ingester::persist
