#include "ingester/persist/compaction.h"

#include <arrow/api.h>
#include <arrow/compute/api_vector.h>
#include <arrow/compute/exec.h>
#include <arrow/compute/initialize.h>
#include <arrow/util/thread_pool.h>

#include <algorithm>
#include <bit>
#include <string_view>
#include <unordered_map>

#include "ingester/buffer/column_set.h"
#include "ingester/common/column_type.h"
#include "ingester/persist/sort_key.h"

namespace ingester::persist {

namespace {

// A tag column over all the input rows, re-encoded against one sorted dictionary.
struct RankedTag {
  std::string name;
  // The distinct values the rows reference, in ascending (byte-wise) order.
  std::shared_ptr<arrow::Array> dictionary;
  // Per input row, the position of its value in `dictionary`; null where the tag is
  // null (the slot then holds 0, a valid index). Ranks compare as the strings do.
  std::shared_ptr<arrow::Int32Array> ranks;
};

// Re-encodes column `column` of `batches` (all under one schema, `rows` rows in all).
arrow::Result<RankedTag> RankTag(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches, int column,
    int64_t rows, arrow::MemoryPool* pool) {
  RankedTag tag;
  tag.name = batches.front()->schema()->field(column)->name();
  // Pass 1: give every referenced value a global id; remember each batch's mapping.
  std::unordered_map<std::string_view, int32_t> ids;
  std::vector<std::string_view> values;  // by global id
  std::vector<std::vector<int32_t>> local_to_global(batches.size());
  int64_t nulls = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    const auto& array = *batches[b]->column(column);
    if (array.type_id() != arrow::Type::DICTIONARY) {
      return arrow::Status::Invalid("tag column '", tag.name, "' is ",
                                    array.type()->ToString());
    }
    const auto& dict = static_cast<const arrow::DictionaryArray&>(array);
    const auto& indices = static_cast<const arrow::Int32Array&>(*dict.indices());
    const auto& strings = static_cast<const arrow::StringArray&>(*dict.dictionary());
    auto& mapping = local_to_global[b];
    mapping.assign(static_cast<size_t>(strings.length()), -1);
    nulls += indices.null_count();
    for (int64_t i = 0; i < indices.length(); ++i) {
      if (indices.IsNull(i)) continue;
      const int32_t local = indices.Value(i);
      if (local < 0 || local >= strings.length()) {
        return arrow::Status::Invalid("tag column '", tag.name, "': dictionary index ",
                                      local, " out of range");
      }
      if (mapping[local] >= 0) continue;
      const std::string_view value = strings.GetView(local);
      auto [it, inserted] = ids.emplace(value, static_cast<int32_t>(values.size()));
      if (inserted) values.push_back(value);
      mapping[local] = it->second;
    }
  }
  // Sort the distinct values; rank_of[global id] = position in the sorted dictionary.
  std::vector<int32_t> by_rank(values.size());
  for (size_t i = 0; i < by_rank.size(); ++i) by_rank[i] = static_cast<int32_t>(i);
  std::sort(by_rank.begin(), by_rank.end(),
            [&](int32_t a, int32_t b) { return values[a] < values[b]; });
  std::vector<int32_t> rank_of(values.size());
  arrow::StringBuilder dict_builder(pool);
  ARROW_RETURN_NOT_OK(dict_builder.Reserve(static_cast<int64_t>(values.size())));
  for (size_t r = 0; r < by_rank.size(); ++r) {
    rank_of[by_rank[r]] = static_cast<int32_t>(r);
    ARROW_RETURN_NOT_OK(dict_builder.Append(values[by_rank[r]]));
  }
  ARROW_ASSIGN_OR_RAISE(tag.dictionary, dict_builder.Finish());
  // Pass 2: the rank of every row.
  ARROW_ASSIGN_OR_RAISE(
      auto rank_buffer,
      arrow::AllocateBuffer(rows * static_cast<int64_t>(sizeof(int32_t)), pool));
  std::shared_ptr<arrow::Buffer> validity;
  if (nulls > 0) {
    ARROW_ASSIGN_OR_RAISE(validity, arrow::AllocateBitmap(rows, pool));
  }
  auto* out = reinterpret_cast<int32_t*>(rank_buffer->mutable_data());
  uint8_t* valid_bits = validity ? validity->mutable_data() : nullptr;
  int64_t row = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    const auto& dict =
        static_cast<const arrow::DictionaryArray&>(*batches[b]->column(column));
    const auto& indices = static_cast<const arrow::Int32Array&>(*dict.indices());
    const auto& mapping = local_to_global[b];
    const int32_t* raw = indices.raw_values();
    if (indices.null_count() == 0) {
      for (int64_t i = 0; i < indices.length(); ++i)
        out[row + i] = rank_of[mapping[raw[i]]];
      if (valid_bits) arrow::bit_util::SetBitsTo(valid_bits, row, indices.length(), true);
    } else {
      for (int64_t i = 0; i < indices.length(); ++i) {
        const bool valid = indices.IsValid(i);
        out[row + i] = valid ? rank_of[mapping[raw[i]]] : 0;
        arrow::bit_util::SetBitTo(valid_bits, row + i, valid);
      }
    }
    row += indices.length();
  }
  tag.ranks = std::make_shared<arrow::Int32Array>(rows, std::move(rank_buffer),
                                                  std::move(validity), nulls);
  return tag;
}

// Column `column` of all `batches` as one array (the array itself for one batch).
arrow::Result<std::shared_ptr<arrow::Array>> ConcatColumn(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches, int column,
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
  ARROW_ASSIGN_OR_RAISE(
      auto buffer,
      arrow::AllocateBuffer(n * static_cast<int64_t>(sizeof(uint64_t)), pool));
  std::copy(indices.begin(), indices.end(),
            reinterpret_cast<uint64_t*>(buffer->mutable_data()));
  return std::make_shared<arrow::UInt64Array>(n, std::move(buffer));
}

// Compares the primary key of two input rows: tag ranks (null equal to null) and time.
class KeyComparer {
 public:
  KeyComparer(const std::vector<RankedTag>& tags, const int64_t* times) : times_(times) {
    for (const auto& tag : tags) {
      (tag.ranks->null_count() == 0 ? plain_ : nullable_).push_back(tag.ranks.get());
    }
  }
  bool Equal(uint64_t a, uint64_t b) const {
    if (times_[a] != times_[b]) return false;
    for (const auto* ranks : plain_) {
      if (ranks->raw_values()[a] != ranks->raw_values()[b]) return false;
    }
    for (const auto* ranks : nullable_) {
      const bool valid = ranks->IsValid(static_cast<int64_t>(a));
      if (valid != ranks->IsValid(static_cast<int64_t>(b))) return false;
      if (valid && ranks->raw_values()[a] != ranks->raw_values()[b]) return false;
    }
    return true;
  }

 private:
  const int64_t* times_;
  std::vector<const arrow::Int32Array*> plain_;
  std::vector<const arrow::Int32Array*> nullable_;
};

// One input row in the packed sort (see SortPacked).
struct PackedRow {
  uint64_t tags;  // the tag ranks of the row, most significant key first
  int64_t time;
  uint64_t row;  // input index: ties (duplicates) stay in buffering order
};

// The common case, fast: when the key is tags then `time` and the tag ranks fit in 64
// bits together (each tag takes bit_width(distinct values) bits, its null rank being one
// past the last value so nulls sort last), every row becomes a PackedRow and one
// std::sort over 24-byte records orders them; duplicates compare as two integers. A
// 1,000-host TSBS partition needs 42 bits. Returns false (nothing done) otherwise.
arrow::Result<bool> SortPacked(const std::vector<RankedTag>& tags,
                               const std::shared_ptr<arrow::Array>& time,
                               const std::vector<std::string>& key, int64_t rows,
                               arrow::MemoryPool* pool,
                               std::shared_ptr<arrow::Array>* order,
                               std::shared_ptr<arrow::Buffer>* packed) {
  if (key.empty() || key.back() != kTimeColumnName) return false;
  struct KeyPart {
    const arrow::Int32Array* ranks;
    uint32_t null_rank;
    int bits;
  };
  std::vector<KeyPart> parts;
  int total_bits = 0;
  for (size_t k = 0; k + 1 < key.size(); ++k) {
    const auto it = std::find_if(tags.begin(), tags.end(),
                                 [&](const RankedTag& t) { return t.name == key[k]; });
    if (it == tags.end()) return false;  // `time` in the middle of the key
    const auto distinct = static_cast<uint32_t>(it->dictionary->length());
    const int bits = std::bit_width(distinct);
    total_bits += bits;
    parts.push_back({it->ranks.get(), distinct, bits});
  }
  if (total_bits > 64) return false;

  ARROW_ASSIGN_OR_RAISE(
      auto buffer,
      arrow::AllocateBuffer(rows * static_cast<int64_t>(sizeof(PackedRow)), pool));
  auto* packed_rows = reinterpret_cast<PackedRow*>(buffer->mutable_data());
  const int64_t* times = time->data()->GetValues<int64_t>(1);
  for (int64_t i = 0; i < rows; ++i)
    packed_rows[i] = {0, times[i], static_cast<uint64_t>(i)};
  // Column by column: each pass streams one rank array.
  for (const KeyPart& part : parts) {
    const int32_t* ranks = part.ranks->raw_values();
    if (part.bits == 0) continue;
    if (part.ranks->null_count() == 0) {
      for (int64_t i = 0; i < rows; ++i) {
        packed_rows[i].tags =
            (packed_rows[i].tags << part.bits) | static_cast<uint32_t>(ranks[i]);
      }
    } else {
      for (int64_t i = 0; i < rows; ++i) {
        const uint64_t rank =
            part.ranks->IsValid(i) ? static_cast<uint32_t>(ranks[i]) : part.null_rank;
        packed_rows[i].tags = (packed_rows[i].tags << part.bits) | rank;
      }
    }
  }
  std::sort(packed_rows, packed_rows + rows, [](const PackedRow& a, const PackedRow& b) {
    if (a.tags != b.tags) return a.tags < b.tags;
    if (a.time != b.time) return a.time < b.time;
    return a.row < b.row;
  });
  ARROW_ASSIGN_OR_RAISE(
      auto order_buffer,
      arrow::AllocateBuffer(rows * static_cast<int64_t>(sizeof(uint64_t)), pool));
  auto* out = reinterpret_cast<uint64_t*>(order_buffer->mutable_data());
  for (int64_t i = 0; i < rows; ++i) out[i] = packed_rows[i].row;
  *order = std::make_shared<arrow::UInt64Array>(rows, std::move(order_buffer));
  *packed = std::move(buffer);
  return true;
}

// The general case: Arrow's multi-column sort_indices over the rank columns and time.
arrow::Result<std::shared_ptr<arrow::Array>> SortWithArrow(
    const std::vector<RankedTag>& tags, const std::shared_ptr<arrow::Array>& time,
    const std::vector<std::string>& key, arrow::compute::ExecContext* ctx) {
  arrow::FieldVector key_fields;
  arrow::ArrayVector key_arrays;
  std::vector<arrow::compute::SortKey> sort_keys;
  for (const auto& name : key) {
    if (name == kTimeColumnName) {
      key_fields.push_back(arrow::field(name, time->type(), false));
      key_arrays.push_back(time);
    } else {
      const auto it = std::find_if(tags.begin(), tags.end(),
                                   [&](const RankedTag& t) { return t.name == name; });
      key_fields.push_back(arrow::field(name, arrow::int32()));
      key_arrays.push_back(it->ranks);
    }
    sort_keys.emplace_back(arrow::FieldRef(static_cast<int>(key_fields.size() - 1)),
                           arrow::compute::SortOrder::Ascending,
                           arrow::compute::NullPlacement::AtEnd);
  }
  auto key_batch =
      arrow::RecordBatch::Make(arrow::schema(key_fields), time->length(), key_arrays);
  return arrow::compute::SortIndices(key_batch, arrow::compute::SortOptions(sort_keys),
                                     ctx);
}

// Since Arrow 21 the compute kernels (sort_indices, take) live in libarrow_compute and
// must be registered once per process.
arrow::Status EnsureComputeInitialized() {
  static const arrow::Status status = arrow::compute::Initialize();
  return status;
}

}  // namespace

arrow::Result<CompactionResult> CompactBatches(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& input,
    const std::vector<std::string>& sort_key, arrow::MemoryPool* pool) {
  if (input.empty()) return arrow::Status::Invalid("compaction: no batches");
  ARROW_RETURN_NOT_OK(EnsureComputeInitialized());
  // One schema for all batches.
  std::vector<std::shared_ptr<arrow::Schema>> schemas;
  for (const auto& batch : input) schemas.push_back(batch->schema());
  ARROW_ASSIGN_OR_RAISE(auto schema, MergeSchemas(schemas));
  NullArrayCache nulls(pool);
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t rows = 0;
  for (const auto& batch : input) {
    if (batch->num_rows() == 0) continue;
    ARROW_ASSIGN_OR_RAISE(auto conformed, ConformBatch(batch, schema, &nulls));
    rows += conformed->num_rows();
    batches.push_back(std::move(conformed));
  }
  const int time_index = schema->GetFieldIndex(std::string(kTimeColumnName));
  if (time_index < 0 ||
      schema->field(time_index)->type()->id() != arrow::Type::TIMESTAMP) {
    return arrow::Status::Invalid("compaction: no timestamp column '", kTimeColumnName,
                                  "' in ", schema->ToString());
  }
  CompactionResult result;
  result.input_rows = rows;
  if (rows == 0) {
    ARROW_ASSIGN_OR_RAISE(result.table, arrow::Table::MakeEmpty(schema, pool));
    result.sort_key = FilterSortKey(sort_key, {std::string(kTimeColumnName)});
    return result;
  }

  // Tags as ranks; time as one array.
  std::vector<RankedTag> tags;
  std::vector<int> tag_columns;
  std::vector<TagCardinality> cardinalities;
  for (int c = 0; c < schema->num_fields(); ++c) {
    const auto& field = schema->field(c);
    if (ColumnTypeFromArrow(field->name(), *field->type()) != ColumnType::kTag) continue;
    ARROW_ASSIGN_OR_RAISE(auto tag, RankTag(batches, c, rows, pool));
    cardinalities.push_back({tag.name, tag.dictionary->length()});
    tags.push_back(std::move(tag));
    tag_columns.push_back(c);
  }
  ARROW_ASSIGN_OR_RAISE(auto time, ConcatColumn(batches, time_index, pool));
  if (time->null_count() > 0) {
    return arrow::Status::Invalid("compaction: ", time->null_count(), " null times");
  }
  const int64_t* times = time->data()->GetValues<int64_t>(1);

  // The effective key: the requested one over our tags and time, then missing tags.
  std::vector<std::string> key_columns = {std::string(kTimeColumnName)};
  for (const auto& tag : tags) key_columns.push_back(tag.name);
  result.sort_key = ComputeSortKey(FilterSortKey(sort_key, key_columns), cardinalities);

  arrow::compute::ExecContext ctx(pool);
  // The sorted order of the input rows, and whether the row at a position of it has the
  // same primary key as the one before.
  std::shared_ptr<arrow::Array> order_array;
  std::shared_ptr<arrow::Buffer> packed_buffer;  // fast path only
  ARROW_ASSIGN_OR_RAISE(
      const bool packed,
      SortPacked(tags, time, result.sort_key, rows, pool, &order_array, &packed_buffer));
  if (!packed) {
    ARROW_ASSIGN_OR_RAISE(order_array, SortWithArrow(tags, time, result.sort_key, &ctx));
  }
  const uint64_t* order =
      static_cast<const arrow::UInt64Array&>(*order_array).raw_values();
  const auto* packed_rows =
      packed ? reinterpret_cast<const PackedRow*>(packed_buffer->data()) : nullptr;
  KeyComparer comparer(tags, times);
  auto same_key = [&](int64_t p) {
    if (packed_rows != nullptr) {
      return packed_rows[p].tags == packed_rows[p - 1].tags &&
             packed_rows[p].time == packed_rows[p - 1].time;
    }
    return comparer.Equal(order[p - 1], order[p]);
  };

  // Runs of equal primary key. `base[g]` is the run's last row in buffering order (the
  // highest input index: the Arrow sort is not trusted to be stable); runs of more than
  // one row are remembered for the field-by-field merge.
  std::vector<uint64_t> base;
  struct Run {
    int64_t group;
    int64_t begin;  // positions in `order`
    int64_t end;
  };
  std::vector<Run> runs;
  int64_t begin = 0;
  for (int64_t p = 1; p <= rows; ++p) {
    if (p < rows && same_key(p)) continue;
    uint64_t last = order[begin];
    for (int64_t q = begin + 1; q < p; ++q) last = std::max(last, order[q]);
    if (p - begin > 1) runs.push_back({static_cast<int64_t>(base.size()), begin, p});
    base.push_back(last);
    begin = p;
  }
  packed_buffer.reset();
  std::shared_ptr<arrow::Array> base_indices = order_array;
  if (!runs.empty()) {
    ARROW_ASSIGN_OR_RAISE(base_indices, MakeIndexArray(base, pool));
  }
  result.output_rows = static_cast<int64_t>(base.size());

  // Gather the output columns.
  arrow::ArrayVector columns(static_cast<size_t>(schema->num_fields()));
  for (size_t t = 0; t < tags.size(); ++t) {
    ARROW_ASSIGN_OR_RAISE(auto indices, TakeArray(tags[t].ranks, base_indices, &ctx));
    columns[tag_columns[t]] = std::make_shared<arrow::DictionaryArray>(
        schema->field(tag_columns[t])->type(), indices, tags[t].dictionary);
    tags[t].ranks.reset();
  }
  for (int c = 0; c < schema->num_fields(); ++c) {
    if (columns[c] != nullptr || c == time_index) continue;
    ARROW_ASSIGN_OR_RAISE(auto values, ConcatColumn(batches, c, pool));
    std::shared_ptr<arrow::Array> indices = base_indices;
    if (!runs.empty() && values->null_count() > 0) {
      // Per run, the last non-null value in buffering order (the run's last row when the
      // field is null in all of them).
      std::vector<uint64_t> picks = base;
      for (const Run& run : runs) {
        int64_t best = -1;
        for (int64_t q = run.begin; q < run.end; ++q) {
          const int64_t i = static_cast<int64_t>(order[q]);
          if (i > best && values->IsValid(i)) best = i;
        }
        if (best >= 0) picks[run.group] = static_cast<uint64_t>(best);
      }
      ARROW_ASSIGN_OR_RAISE(indices, MakeIndexArray(picks, pool));
    }
    ARROW_ASSIGN_OR_RAISE(columns[c], TakeArray(values, indices, &ctx));
  }
  ARROW_ASSIGN_OR_RAISE(columns[time_index], TakeArray(time, base_indices, &ctx));
  const auto& sorted_time =
      static_cast<const arrow::TimestampArray&>(*columns[time_index]);
  result.min_time = sorted_time.Value(0);
  result.max_time = result.min_time;
  for (int64_t i = 0; i < sorted_time.length(); ++i) {
    result.min_time = std::min(result.min_time, sorted_time.Value(i));
    result.max_time = std::max(result.max_time, sorted_time.Value(i));
  }
  result.table = arrow::Table::Make(schema, columns, result.output_rows);
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
  ARROW_ASSIGN_OR_RAISE(auto threads, arrow::internal::ThreadPool::Make(options.threads));
  ARROW_ASSIGN_OR_RAISE(
      auto memory, LimitedMemoryPool::Make({.limit_bytes = options.memory_limit_bytes}));
  return std::unique_ptr<CompactionExecutor>(
      new CompactionExecutor(options, std::move(threads), std::move(memory)));
}

CompactionExecutor::CompactionExecutor(
    const CompactionExecutorOptions& options,
    std::shared_ptr<arrow::internal::ThreadPool> threads,
    std::unique_ptr<LimitedMemoryPool> memory)
    : options_(options), threads_(std::move(threads)), memory_(std::move(memory)) {}

CompactionExecutor::~CompactionExecutor() {
  // Running work finishes; nothing new can be submitted since we are being destroyed.
  (void)threads_->Shutdown(/*wait=*/true);
}

arrow::Status CompactionExecutor::Run(JobMemoryPool* job,
                                      const std::function<arrow::Status()>& work,
                                      MemoryRetryStats* stats, std::stop_token stop) {
  if (job->shared() != memory_.get()) {
    return arrow::Status::Invalid("compaction job pool is not over the executor's pool");
  }
  ARROW_ASSIGN_OR_RAISE(auto future, threads_->Submit([&]() -> arrow::Status {
    return RunWithMemoryRetry(job, options_.memory_retry, work, stats, stop);
  }));
  return future.status();
}

}  // namespace ingester::persist
