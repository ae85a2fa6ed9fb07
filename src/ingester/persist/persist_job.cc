#include "ingester/persist/persist_job.h"

#include <arrow/buffer.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "ingester/buffer/column_set.h"
#include "ingester/common/error.h"
#include "ingester/common/uuid.h"
#include "ingester/persist/object_path.h"
#include "ingester/persist/sort_key.h"

namespace ingester::persist {

namespace {

using Clock = std::chrono::steady_clock;

template <typename T>
arrow::Result<T> RetryResult(const RetryPolicy& policy, std::string_view what,
                             const std::function<arrow::Result<T>()>& op,
                             std::stop_token stop, RetryStats* stats = nullptr) {
  std::optional<T> value;
  ARROW_RETURN_NOT_OK(RetryWithBackoff(
      policy, what,
      [&]() -> arrow::Status {
        ARROW_ASSIGN_OR_RAISE(auto v, op());
        value = std::move(v);
        return arrow::Status::OK();
      },
      stop, stats));
  return std::move(*value);
}

// CreateParquetFile, where a row an earlier attempt of this snapshot's persist already
// recorded (the object id is the snapshot's, so it can only be ours: a reply lost after
// the commit, then a retry of the whole job with another created_at) counts as done.
arrow::Result<ParquetFileId> RecordParquetFile(catalog::Catalog* catalog,
                                               const catalog::ParquetFileRecord& record) {
  auto created = catalog->CreateParquetFile(record);
  if (created.ok() || ErrorKindOf(created.status()) != ErrorKind::kConflict) {
    return created;
  }
  ARROW_ASSIGN_OR_RAISE(auto files, catalog->ListParquetFiles(record.partition_id));
  for (const auto& file : files) {
    if (file.object_store_id == record.object_store_id) return file.id;
  }
  return created;
}

// After a failed catalog record: removes the uploaded object unless the catalog lists
// it (a reply lost after the commit), so that a failed job leaves no object the catalog
// does not know. When the catalog cannot be asked the object stays: a retry of the job
// overwrites it (same object id), and only a restart before that leaves it orphaned.
void RemoveUnrecordedObject(const PersistJobContext& context,
                            const catalog::ParquetFileRecord& record,
                            const arrow::Status& error) {
  auto files = context.catalog->ListParquetFiles(record.partition_id);
  if (!files.ok()) {
    spdlog::warn(
        "{} stays in {} after a failed catalog record ({}); the catalog cannot "
        "say whether it lists it: {}",
        record.path, context.object_store->url(), error.ToString(),
        files.status().ToString());
    return;
  }
  for (const auto& file : *files) {
    if (file.object_store_id == record.object_store_id) return;
  }
  const arrow::Status deleted = context.object_store->Delete(record.path);
  if (!deleted.ok()) {
    spdlog::warn("{} is left in {} without a catalog row (delete failed: {})",
                 record.path, context.object_store->url(), deleted.ToString());
  }
}

}  // namespace

arrow::Status PersistJobContext::Validate() const {
  if (catalog == nullptr || object_store == nullptr || executor == nullptr ||
      clock == nullptr) {
    return arrow::Status::Invalid(
        "persist job: catalog, object store, executor and clock "
        "are required");
  }
  ARROW_RETURN_NOT_OK(parquet.Validate());
  return catalog_retry.Validate();
}

namespace {

// One run of a persist job, phase by phase. The members live as long as the run; `job_`
// (declared first) outlives what is allocated from it (`compacted_`, `file_`).
class PersistRun {
 public:
  PersistRun(const PersistJobContext& context, const PersistingSnapshot& snapshot,
             std::stop_token stop)
      : context_(context),
        snapshot_(snapshot),
        stop_(std::move(stop)),
        partition_text_("partition " + std::to_string(snapshot.partition_id.value()) +
                        " (" + snapshot.partition_key + ")"),
        // The snapshot's own id (fixed at MarkPersisting), so that a retried job
        // replaces its object instead of orphaning it; snapshots made by hand in tests
        // may lack one.
        object_id_(snapshot.object_store_id.empty() ? GenerateUuidV4()
                                                    : snapshot.object_store_id),
        job_(context.executor->memory_pool()) {}

  arrow::Result<PersistJobResult> Run(
      const std::optional<std::vector<std::string>>& cached_sort_key) {
    const auto job_start = Clock::now();
    if (snapshot_.batches.empty() || snapshot_.rows == 0) {
      return arrow::Status::Invalid("persist of ", partition_text_, ": empty snapshot");
    }
    ARROW_RETURN_NOT_OK(LoadNames());
    ARROW_ASSIGN_OR_RAISE(auto expected, ReadSortKey(cached_sort_key));
    created_at_ = context_.clock->NowNanos();
    ARROW_RETURN_NOT_OK(Compact(expected));
    ARROW_RETURN_NOT_OK(SwapSortKey(expected));
    ARROW_RETURN_NOT_OK(Encode());
    ARROW_RETURN_NOT_OK(Upload());
    ARROW_RETURN_NOT_OK(Record());
    result_.total_time = Clock::now() - job_start;
    LogDone();
    return std::move(result_);
  }

 private:
  // Names for the file's metadata (loaded from the catalog if no write carried them).
  arrow::Status LoadNames() {
    ARROW_ASSIGN_OR_RAISE(namespace_name_,
                          RetryResult<std::string>(
                              context_.catalog_retry, "namespace name lookup",
                              [&] { return snapshot_.namespace_name.Get(); }, stop_));
    ARROW_ASSIGN_OR_RAISE(table_name_,
                          RetryResult<std::string>(
                              context_.catalog_retry, "table name lookup",
                              [&] { return snapshot_.table_name.Get(); }, stop_));
    return arrow::Status::OK();
  }

  // Phase 1: the partition's sort key as the catalog holds it.
  arrow::Result<std::vector<std::string>> ReadSortKey(
      const std::optional<std::vector<std::string>>& cached_sort_key) {
    const auto phase_start = Clock::now();
    std::vector<std::string> expected;
    if (cached_sort_key) {
      expected = *cached_sort_key;
    } else {
      ARROW_ASSIGN_OR_RAISE(
          auto partition,
          RetryResult<catalog::PartitionRecord>(
              context_.catalog_retry, "catalog read of " + partition_text_,
              [&] { return context_.catalog->GetPartition(snapshot_.partition_id); },
              stop_));
      expected = std::move(partition.sort_key);
    }
    result_.sort_key_time = Clock::now() - phase_start;
    return expected;
  }

  // Phase 2: compaction on the executor, under the memory limit, by `key` extended with
  // the snapshot's new tags (CompactBatches counts their distinct values as it goes).
  // The result stays in `job_`'s memory until it is encoded, and the encoded file until
  // its upload is done: both count against the limit.
  arrow::Status Compact(const std::vector<std::string>& key) {
    MemoryRetryStats memory_stats;
    arrow::Status st = context_.executor->Run(
        &job_,
        [&]() -> arrow::Status {
          compacted_.reset();  // a failed attempt's output is released before retrying
          const auto t0 = Clock::now();
          ARROW_ASSIGN_OR_RAISE(compacted_,
                                CompactBatches(snapshot_.batches, key, &job_));
          result_.compact_time = Clock::now() - t0;
          return arrow::Status::OK();
        },
        &memory_stats, stop_);
    result_.memory_retries += std::max(0, memory_stats.attempts - 1);
    if (!st.ok())
      return st.WithMessage("persist of ", partition_text_, ": ", st.message());
    if (compacted_->output_rows == 0) {
      return arrow::Status::Invalid("persist of ", partition_text_, ": no rows");
    }
    return arrow::Status::OK();
  }

  // Phase 3: swap the extended key into the catalog before anything is uploaded, so
  // that no file is sorted by a key the catalog does not hold. If another writer got
  // there first with an order this data does not follow, sort again (rare: it takes
  // several ingesters persisting one partition).
  arrow::Status SwapSortKey(const std::vector<std::string>& expected) {
    const auto phase_start = Clock::now();
    ARROW_ASSIGN_OR_RAISE(
        auto key_update,
        RetryResult<SortKeyUpdate>(
            context_.catalog_retry, "sort key update of " + partition_text_,
            [&] {
              return UpdateCatalogSortKey(context_.catalog, snapshot_.partition_id,
                                          expected, compacted_->tag_cardinalities);
            },
            stop_));
    result_.sort_key_time += Clock::now() - phase_start;
    result_.sort_key = key_update.key;
    result_.sort_key_cas_attempts = key_update.cas_attempts;
    const auto data_key =
        FilterSortKey(result_.sort_key, compacted_->table->schema()->field_names());
    if (data_key != compacted_->sort_key) {
      spdlog::info("{}: the catalog's sort key changed to {} meanwhile; sorting again",
                   partition_text_, catalog::SortKeyToString(result_.sort_key));
      ARROW_RETURN_NOT_OK(Compact(result_.sort_key));
    }
    return arrow::Status::OK();
  }

  // Phase 4: encoding on the executor, under the memory limit. Releases the compacted
  // table.
  arrow::Status Encode() {
    metadata_ = ParquetFileMetadata{
        .namespace_id = snapshot_.namespace_id,
        .namespace_name = namespace_name_,
        .table_id = snapshot_.table_id,
        .table_name = table_name_,
        .partition_id = snapshot_.partition_id,
        .partition_key = snapshot_.partition_key,
        .object_store_id = object_id_,
        .sort_key = compacted_->sort_key,
        .min_time = compacted_->min_time,
        .max_time = compacted_->max_time,
        .row_count = compacted_->output_rows,
        .compaction_level = 0,
        .created_at = created_at_,
        .ingester_id = context_.ingester_id,
    };
    result_.input_rows = compacted_->input_rows;
    result_.output_rows = compacted_->output_rows;
    MemoryRetryStats memory_stats;
    arrow::Status encoded_status = context_.executor->Run(
        &job_,
        [&]() -> arrow::Status {
          file_.reset();
          const auto t0 = Clock::now();
          ARROW_ASSIGN_OR_RAISE(auto encoded, EncodeParquet(*compacted_->table, metadata_,
                                                            context_.parquet, &job_));
          result_.encode_time = Clock::now() - t0;
          result_.row_groups = encoded.row_groups;
          file_ = std::move(encoded.data);
          return arrow::Status::OK();
        },
        &memory_stats, stop_);
    result_.memory_retries += std::max(0, memory_stats.attempts - 1);
    compacted_.reset();
    if (!encoded_status.ok()) {
      return encoded_status.WithMessage("persist of ", partition_text_, ": ",
                                        encoded_status.message());
    }
    result_.file_bytes = file_->size();
    return arrow::Status::OK();
  }

  // Phase 5: upload (retried). Releases the encoded file.
  arrow::Status Upload() {
    const auto phase_start = Clock::now();
    path_ = ObjectPath(snapshot_.namespace_id, snapshot_.table_id, snapshot_.partition_id,
                       context_.ingester_id, object_id_);
    RetryStats upload_stats;
    arrow::Status uploaded =
        context_.object_store->PutWithRetry(path_, file_, stop_, &upload_stats);
    result_.upload_attempts = upload_stats.attempts;
    result_.upload_time = Clock::now() - phase_start;
    result_.peak_memory_bytes = job_.max_memory();
    file_.reset();  // before `job_` goes away
    if (!uploaded.ok()) {
      return uploaded.WithMessage("persist of ", partition_text_, ": ",
                                  uploaded.message());
    }
    return arrow::Status::OK();
  }

  // Phase 6: the catalog row; from then on the file is live. Idempotent per
  // object_store_id, so a retry after a lost reply records it once.
  arrow::Status Record() {
    const auto phase_start = Clock::now();
    catalog::ParquetFileRecord record;
    record.namespace_id = snapshot_.namespace_id;
    record.table_id = snapshot_.table_id;
    record.partition_id = snapshot_.partition_id;
    record.object_store_id = object_id_;
    record.min_time = metadata_.min_time;
    record.max_time = metadata_.max_time;
    record.row_count = metadata_.row_count;
    record.file_size_bytes = result_.file_bytes;
    record.compaction_level = 0;
    record.created_at = created_at_;
    record.path = path_;
    auto recorded = RetryResult<ParquetFileId>(
        context_.catalog_retry, "catalog record of " + path_,
        [&] { return RecordParquetFile(context_.catalog, record); }, stop_);
    if (!recorded.ok()) {
      RemoveUnrecordedObject(context_, record, recorded.status());
      return recorded.status().WithMessage("persist of ", partition_text_, ": ",
                                           recorded.status().message());
    }
    record.id = *recorded;
    result_.catalog_time = Clock::now() - phase_start;
    result_.file = std::move(record);
    return arrow::Status::OK();
  }

  void LogDone() const {
    auto ms = [](std::chrono::nanoseconds d) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    spdlog::debug(
        "persisted {} of {}.{}: {} rows -> {} rows, {} bytes in {} ({} ms: sort key {}, "
        "compact {}, encode {}, upload {}, catalog {}; peak memory {} bytes)",
        partition_text_, namespace_name_, table_name_, result_.input_rows,
        result_.output_rows, result_.file_bytes, path_, ms(result_.total_time),
        ms(result_.sort_key_time), ms(result_.compact_time), ms(result_.encode_time),
        ms(result_.upload_time), ms(result_.catalog_time), result_.peak_memory_bytes);
  }

  const PersistJobContext& context_;
  const PersistingSnapshot& snapshot_;
  const std::stop_token stop_;
  const std::string partition_text_;
  const std::string object_id_;
  JobMemoryPool job_;
  std::string namespace_name_;
  std::string table_name_;
  int64_t created_at_ = 0;
  std::optional<CompactionResult> compacted_;
  ParquetFileMetadata metadata_;
  std::shared_ptr<arrow::Buffer> file_;
  std::string path_;
  PersistJobResult result_;
};

}  // namespace

arrow::Result<PersistJobResult> RunPersistJob(
    const PersistJobContext& context, const PersistingSnapshot& snapshot,
    const std::optional<std::vector<std::string>>& cached_sort_key,
    std::stop_token stop) {
  ARROW_RETURN_NOT_OK(context.Validate());
  PersistRun run(context, snapshot, std::move(stop));
  return run.Run(cached_sort_key);
}

}  // namespace ingester::persist
