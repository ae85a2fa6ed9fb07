#include "ingester/query/partition_read.h"

#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <arrow/util/byte_size.h>

#include <algorithm>
#include <functional>
#include <set>
#include <utility>

#include "ingester/buffer/column_set.h"
#include "ingester/common/column_type.h"
#include "ingester/persist/compaction.h"
#include "ingester/query/parquet_file_scan.h"
#include "ingester/query/row_filter.h"
#include "ingester/query/sorted_merge.h"

namespace ingester::query {

namespace {

using Batch = std::shared_ptr<arrow::RecordBatch>;
using Batches = std::vector<Batch>;
// Pulls the next batch (null at the end).
using Stream = std::function<arrow::Result<Batch>()>;

void Count(Counter* counter, int64_t n) {
  if (counter != nullptr) counter->Add(n);
}

// Buffered batches cut into pieces of at most `max_rows`, filtered, and presented under
// `target` (projected, missing columns null). Each batch is let go once passed, so data
// persisted meanwhile can be freed.
class BufferScan {
 public:
  BufferScan(Batches batches, std::shared_ptr<arrow::Schema> target,
             const Predicate& predicate, bool time_covered,
             const PartitionReadContext& context)
      : batches_(std::move(batches)),
        target_(std::move(target)),
        filter_(predicate, context.pool),
        time_covered_(time_covered),
        max_rows_(context.max_batch_rows),
        nulls_(context.pool) {}

  arrow::Result<Batch> Next() {
    while (index_ < batches_.size()) {
      const Batch& batch = batches_[index_];
      if (offset_ >= batch->num_rows()) {
        batches_[index_].reset();
        ++index_;
        offset_ = 0;
        continue;
      }
      const int64_t length = std::min(max_rows_, batch->num_rows() - offset_);
      Batch piece = offset_ == 0 && length == batch->num_rows()
                        ? batch
                        : batch->Slice(offset_, length);
      offset_ += length;
      ARROW_ASSIGN_OR_RAISE(RowMask mask, filter_.Evaluate(*piece, time_covered_));
      if (mask.kind == RowMask::Kind::kNone) continue;
      // Project before filtering, so that only target columns are copied.
      ARROW_ASSIGN_OR_RAISE(auto projected, Project(piece));
      ARROW_ASSIGN_OR_RAISE(auto selected, filter_.Apply(projected, mask));
      return ConformBatch(selected, target_, &nulls_);
    }
    return nullptr;
  }

 private:
  // The target columns `piece` has, in target order (zero-copy).
  arrow::Result<Batch> Project(const Batch& piece) {
    if (piece->schema() != projected_from_) {
      projected_from_ = piece->schema();
      projection_.clear();
      arrow::FieldVector fields;
      for (const auto& field : target_->fields()) {
        const int index = projected_from_->GetFieldIndex(field->name());
        if (index < 0) continue;
        projection_.push_back(index);
        fields.push_back(projected_from_->field(index));
      }
      projected_schema_ = arrow::schema(std::move(fields));
    }
    arrow::ArrayVector columns;
    columns.reserve(projection_.size());
    for (int index : projection_) columns.push_back(piece->column(index));
    return arrow::RecordBatch::Make(projected_schema_, piece->num_rows(),
                                    std::move(columns));
  }

  Batches batches_;
  const std::shared_ptr<arrow::Schema> target_;
  RowFilter filter_;
  const bool time_covered_;
  const int64_t max_rows_;
  NullArrayCache nulls_;
  size_t index_ = 0;
  int64_t offset_ = 0;
  // Projection of the last input schema seen (batches usually share one).
  std::shared_ptr<arrow::Schema> projected_from_;
  std::vector<int> projection_;
  std::shared_ptr<arrow::Schema> projected_schema_;
};

Stream Scan(std::shared_ptr<BufferScan> scan) {
  return [scan] { return scan->Next(); };
}

// One Parquet file, opened at its first pull, under `target`.
Stream FileStream(const catalog::ParquetFileRecord& file,
                  std::shared_ptr<arrow::Schema> target, const Predicate& predicate,
                  const PartitionReadContext& context) {
  struct State {
    catalog::ParquetFileRecord file;
    std::shared_ptr<arrow::Schema> target;
    Predicate predicate;
    const PartitionReadContext* context;
    std::unique_ptr<ParquetFileScan> scan;
    NullArrayCache nulls;
    bool done = false;
  };
  auto state = std::make_shared<State>(State{file, std::move(target), predicate, &context,
                                             nullptr, NullArrayCache(context.pool)});
  return [state]() -> arrow::Result<Batch> {
    if (state->done) return nullptr;
    const PartitionReadContext& ctx = *state->context;
    if (state->scan == nullptr) {
      FileScanOptions options;
      options.columns = state->target->field_names();
      options.predicate = state->predicate;
      options.batch_rows = ctx.max_batch_rows;
      options.use_threads = ctx.use_threads;
      // A selective read spends its time opening files and filtering, where reading
      // the files of a group in parallel pays; a full scan is kept busy by the Flight
      // stream's prefetch, where a read-ahead per file only added thread hand-offs.
      options.read_ahead = !state->predicate.empty();
      options.pool = ctx.pool;
      ARROW_ASSIGN_OR_RAISE(state->scan,
                            ParquetFileScan::Open(ctx.files, state->file, options));
    }
    ARROW_ASSIGN_OR_RAISE(Batch batch, state->scan->Next());
    if (batch == nullptr) {
      state->done = true;
      if (ReadMetrics* m = ctx.metrics) {
        const FileScanStats& stats = state->scan->stats();
        Count(m->file_rows, stats.rows_read);
        Count(m->file_bytes, stats.bytes_read);
        Count(stats.file_pruned ? m->files_pruned : m->files_read, 1);
        // A row group skipped by the filter pass counts as pruned; its predicate
        // columns' bytes count as read.
        const int64_t skipped = stats.row_groups_pruned + stats.row_groups_filtered;
        Count(m->row_groups_read, stats.row_groups - skipped);
        Count(m->row_groups_pruned, skipped);
      }
      state->scan.reset();
      return nullptr;
    }
    auto conformed = ConformBatch(batch, state->target, &state->nulls);
    if (!conformed.ok()) {
      return conformed.status().WithMessage("Parquet file '", state->scan->path(),
                                            "': ", conformed.status().message());
    }
    return conformed;
  };
}

// The buffer sorted and de-duplicated by `sort_key` (compaction), as one batch.
arrow::Result<persist::CompactionResult> SortBuffer(
    const Batches& batches, const std::vector<std::string>& sort_key,
    const PartitionReadContext& context) {
  persist::CompactOptions options;
  options.use_threads = context.use_threads;
  return persist::CompactBatches(batches, sort_key, context.pool, options);
}

arrow::Result<Batches> TableBatches(const arrow::Table& table) {
  ARROW_ASSIGN_OR_RAISE(auto combined, table.CombineChunksToBatch());
  return Batches{std::move(combined)};
}

// One source of a partition for grouping by time.
struct Source {
  int64_t min_time = 0;
  int64_t max_time = 0;
  int file = -1;  // index into PartitionSources::files; -1 for the buffer
};

class CombinedPartitionResponse final : public PartitionResponse {
 public:
  CombinedPartitionResponse(PartitionSources sources, PartitionInfo info,
                            std::shared_ptr<arrow::Schema> schema,
                            std::shared_ptr<arrow::Schema> merge_schema,
                            const Predicate& predicate,
                            std::vector<std::vector<Source>> groups,
                            const PartitionReadContext& context)
      : sources_(std::move(sources)),
        info_(std::move(info)),
        schema_(std::move(schema)),
        merge_schema_(std::move(merge_schema)),
        predicate_(predicate),
        groups_(std::move(groups)),
        context_(context),
        nulls_(context.pool) {}

  const PartitionInfo& info() const override { return info_; }

  arrow::Result<Batch> Next() override {
    while (true) {
      if (current_ == nullptr) {
        if (next_group_ >= groups_.size()) return nullptr;
        ARROW_ASSIGN_OR_RAISE(current_, OpenGroup(groups_[next_group_++]));
      }
      ARROW_ASSIGN_OR_RAISE(Batch batch, current_());
      if (batch == nullptr) {
        current_ = nullptr;
        continue;
      }
      if (batch->num_rows() == 0) continue;
      return batch;
    }
  }

 private:
  arrow::Result<Stream> OpenGroup(const std::vector<Source>& group) {
    if (group.size() == 1) {
      const Source& source = group.front();
      if (source.file >= 0) {
        return FileStream(sources_.files[source.file], schema_, predicate_, context_);
      }
      return OpenBuffer();
    }
    return OpenMerge(group);
  }

  bool BufferTimeCovered() const {
    return predicate_.time.Covers(sources_.buffer.min_time, sources_.buffer.max_time);
  }

  void CountBuffer() {
    if (ReadMetrics* m = context_.metrics) {
      Count(m->buffer_rows, sources_.buffer.rows);
      int64_t bytes = 0;
      for (const auto& batch : sources_.buffer.batches) {
        auto size = arrow::util::ReferencedBufferSize(*batch);
        if (size.ok()) bytes += *size;
      }
      Count(m->buffer_bytes, bytes);
    }
  }

  // The buffer alone: as it is when no key can be there twice, sorted otherwise.
  arrow::Result<Stream> OpenBuffer() {
    CountBuffer();
    Batches batches = std::move(sources_.buffer.batches);
    ARROW_ASSIGN_OR_RAISE(bool duplicates,
                          MayHaveDuplicateKeys(batches, context_.key_facts));
    if (duplicates) {
      if (context_.metrics != nullptr) Count(context_.metrics->buffer_dedup_sorts, 1);
      ARROW_ASSIGN_OR_RAISE(auto sorted,
                            SortBuffer(batches, sources_.sort_key, context_));
      ARROW_ASSIGN_OR_RAISE(batches, TableBatches(*sorted.table));
    }
    return Scan(std::make_shared<BufferScan>(std::move(batches), schema_, predicate_,
                                             BufferTimeCovered(), context_));
  }

  // Overlapping sources: files oldest first, then the sorted buffer, merged by key.
  arrow::Result<Stream> OpenMerge(const std::vector<Source>& group) {
    if (context_.metrics != nullptr) Count(context_.metrics->partition_merges, 1);
    std::vector<int> files;
    bool with_buffer = false;
    for (const Source& source : group) {
      if (source.file >= 0) {
        files.push_back(source.file);
      } else {
        with_buffer = true;
      }
    }
    std::sort(files.begin(), files.end());  // catalog order: oldest first
    std::vector<BatchSource> inputs;
    for (int f : files) {
      inputs.push_back(
          FileStream(sources_.files[f], merge_schema_, predicate_, context_));
    }
    std::vector<std::string> key = sources_.sort_key;
    if (with_buffer) {
      CountBuffer();
      ARROW_ASSIGN_OR_RAISE(
          auto sorted, SortBuffer(sources_.buffer.batches, sources_.sort_key, context_));
      sources_.buffer.batches.clear();
      // Tags of the buffer that the catalog's key lacks come after its tags (compaction
      // puts them before `time`); files lack them, so they compare as null there.
      for (const auto& name : sorted.sort_key) {
        if (std::find(key.begin(), key.end(), name) == key.end()) key.push_back(name);
      }
      ARROW_ASSIGN_OR_RAISE(Batches batches, TableBatches(*sorted.table));
      inputs.push_back(Scan(std::make_shared<BufferScan>(
          std::move(batches), merge_schema_, predicate_, BufferTimeCovered(), context_)));
    }
    SortedMergeOptions options;
    options.schema = merge_schema_;
    options.sort_key = std::move(key);
    options.batch_rows = context_.max_batch_rows;
    // A query promises no order within a partition: source batches pass through.
    options.output = MergeOutput::kPassThrough;
    options.pool = context_.pool;
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<SortedMerge> merge,
                          SortedMerge::Make(std::move(inputs), std::move(options)));
    auto target = schema_;
    auto nulls = std::make_shared<NullArrayCache>(context_.pool);
    return Stream([merge, target, nulls]() -> arrow::Result<Batch> {
      ARROW_ASSIGN_OR_RAISE(Batch batch, merge->Next());
      if (batch == nullptr) return nullptr;
      return ConformBatch(batch, target, nulls.get());
    });
  }

  PartitionSources sources_;
  const PartitionInfo info_;
  const std::shared_ptr<arrow::Schema> schema_;
  // All tags, the response's fields and `time`: what de-duplication reads.
  const std::shared_ptr<arrow::Schema> merge_schema_;
  const Predicate predicate_;
  const std::vector<std::vector<Source>> groups_;
  // A copy: streams of this response point at it.
  const PartitionReadContext context_;
  NullArrayCache nulls_;
  size_t next_group_ = 0;
  Stream current_;
};

// Sources grouped by overlapping time ranges (inclusive), groups in time order.
std::vector<std::vector<Source>> GroupByTime(std::vector<Source> sources) {
  std::stable_sort(sources.begin(), sources.end(), [](const Source& a, const Source& b) {
    return a.min_time < b.min_time;
  });
  std::vector<std::vector<Source>> groups;
  int64_t reach = 0;
  for (const Source& source : sources) {
    if (groups.empty() || source.min_time > reach) {
      groups.push_back({source});
      reach = source.max_time;
    } else {
      groups.back().push_back(source);
      reach = std::max(reach, source.max_time);
    }
  }
  return groups;
}

// Every tag (of the table, and of the buffer: a tag created after the query started is
// still part of its rows' keys), the response's fields, and `time`.
arrow::Result<std::shared_ptr<arrow::Schema>> MergeSchema(
    const arrow::Schema& response,
    const std::vector<catalog::ColumnRecord>& table_columns,
    const std::shared_ptr<arrow::Schema>& buffer_schema) {
  arrow::FieldVector fields;
  std::set<std::string> names;
  auto add = [&](std::shared_ptr<arrow::Field> field) {
    if (names.insert(field->name()).second) fields.push_back(std::move(field));
  };
  for (const auto& column : table_columns) {
    if (column.type == ColumnType::kTag) {
      add(arrow::field(column.name, ArrowTypeFor(ColumnType::kTag)));
    }
  }
  if (buffer_schema != nullptr) {
    for (const auto& field : buffer_schema->fields()) {
      if (field->type()->Equals(*ArrowTypeFor(ColumnType::kTag))) add(field);
    }
  }
  for (const auto& field : response.fields()) {
    const bool is_time = field->name() == kTimeColumnName;
    if (!is_time && !field->type()->Equals(*ArrowTypeFor(ColumnType::kTag))) add(field);
  }
  add(arrow::field(std::string(kTimeColumnName), ArrowTypeFor(ColumnType::kTime),
                   /*nullable=*/false));
  return arrow::schema(std::move(fields));
}

}  // namespace

arrow::Result<std::unique_ptr<PartitionResponse>> ReadPartition(
    PartitionSources sources, PartitionInfo info, std::shared_ptr<arrow::Schema> schema,
    const std::vector<catalog::ColumnRecord>& table_columns, const Predicate& predicate,
    const PartitionReadContext& context) {
  std::vector<Source> list;
  for (size_t f = 0; f < sources.files.size(); ++f) {
    const auto& file = sources.files[f];
    list.push_back(Source{file.min_time, file.max_time, static_cast<int>(f)});
    info.file_rows += file.row_count;
  }
  info.files = static_cast<int64_t>(sources.files.size());
  const PartitionQueryData& buffer = sources.buffer;
  if (buffer.rows > 0 && predicate.time.Overlaps(buffer.min_time, buffer.max_time)) {
    list.push_back(Source{buffer.min_time, buffer.max_time, -1});
    info.buffer_rows = buffer.rows;
  } else {
    sources.buffer.batches.clear();
    sources.buffer.rows = 0;
  }
  if (list.empty()) return nullptr;
  ARROW_ASSIGN_OR_RAISE(auto merge_schema,
                        MergeSchema(*schema, table_columns, sources.buffer.schema));
  auto groups = GroupByTime(std::move(list));
  return std::make_unique<CombinedPartitionResponse>(
      std::move(sources), std::move(info), std::move(schema), std::move(merge_schema),
      predicate, std::move(groups), context);
}

}  // namespace ingester::query
