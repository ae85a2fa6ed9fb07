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

arrow::Result<PersistJobResult> RunPersistJob(
    const PersistJobContext& context, const PersistingSnapshot& snapshot,
    const std::optional<std::vector<std::string>>& cached_sort_key,
    std::stop_token stop) {
  ARROW_RETURN_NOT_OK(context.Validate());
  const auto job_start = Clock::now();
  const std::string partition_text = "partition " +
                                     std::to_string(snapshot.partition_id.value()) +
                                     " (" + snapshot.partition_key + ")";
  if (snapshot.batches.empty() || snapshot.rows == 0) {
    return arrow::Status::Invalid("persist of ", partition_text, ": empty snapshot");
  }
  PersistJobResult result;

  // Names for the file's metadata (loaded from the catalog if no write carried them).
  ARROW_ASSIGN_OR_RAISE(std::string namespace_name,
                        RetryResult<std::string>(
                            context.catalog_retry, "namespace name lookup",
                            [&] { return snapshot.namespace_name.Get(); }, stop));
  ARROW_ASSIGN_OR_RAISE(std::string table_name,
                        RetryResult<std::string>(
                            context.catalog_retry, "table name lookup",
                            [&] { return snapshot.table_name.Get(); }, stop));

  // 1. The partition's sort key as the catalog holds it.
  auto phase_start = Clock::now();
  std::vector<std::string> expected;
  if (cached_sort_key) {
    expected = *cached_sort_key;
  } else {
    ARROW_ASSIGN_OR_RAISE(
        auto partition,
        RetryResult<catalog::PartitionRecord>(
            context.catalog_retry, "catalog read of " + partition_text,
            [&] { return context.catalog->GetPartition(snapshot.partition_id); }, stop));
    expected = std::move(partition.sort_key);
  }
  auto sort_key_time = Clock::now() - phase_start;

  // 2. Compaction on the executor, under the memory limit, by `expected` extended with
  // the snapshot's new tags (CompactBatches counts their distinct values as it goes).
  // The result stays in `job`'s memory until it is encoded, and the encoded file until
  // its upload is done: both count against the limit.
  // The snapshot's own id (fixed at MarkPersisting), so that a retried job replaces its
  // object instead of orphaning it; snapshots made by hand in tests may lack one.
  const std::string object_id =
      snapshot.object_store_id.empty() ? GenerateUuidV4() : snapshot.object_store_id;
  const int64_t created_at = context.clock->NowNanos();
  JobMemoryPool job(context.executor->memory_pool());
  std::optional<CompactionResult> compacted;
  auto compact = [&](const std::vector<std::string>& key) -> arrow::Status {
    MemoryRetryStats memory_stats;
    arrow::Status st = context.executor->Run(
        &job,
        [&]() -> arrow::Status {
          compacted.reset();  // a failed attempt's output is released before retrying
          const auto t0 = Clock::now();
          ARROW_ASSIGN_OR_RAISE(compacted, CompactBatches(snapshot.batches, key, &job));
          result.compact_time = Clock::now() - t0;
          return arrow::Status::OK();
        },
        &memory_stats, stop);
    result.memory_retries += std::max(0, memory_stats.attempts - 1);
    if (!st.ok())
      return st.WithMessage("persist of ", partition_text, ": ", st.message());
    if (compacted->output_rows == 0) {
      return arrow::Status::Invalid("persist of ", partition_text, ": no rows");
    }
    return arrow::Status::OK();
  };
  ARROW_RETURN_NOT_OK(compact(expected));

  // 3. The sort key: swap the extended key into the catalog before anything is uploaded,
  // so that no file is sorted by a key the catalog does not hold. If another writer got
  // there first with an order this data does not follow, sort again (rare: it takes
  // several ingesters persisting one partition).
  phase_start = Clock::now();
  ARROW_ASSIGN_OR_RAISE(auto key_update,
                        RetryResult<SortKeyUpdate>(
                            context.catalog_retry, "sort key update of " + partition_text,
                            [&] {
                              return UpdateCatalogSortKey(context.catalog,
                                                          snapshot.partition_id, expected,
                                                          compacted->tag_cardinalities);
                            },
                            stop));
  sort_key_time += Clock::now() - phase_start;
  result.sort_key = key_update.key;
  result.sort_key_cas_attempts = key_update.cas_attempts;
  result.sort_key_time = sort_key_time;
  const auto data_key =
      FilterSortKey(result.sort_key, compacted->table->schema()->field_names());
  if (data_key != compacted->sort_key) {
    spdlog::info("{}: the catalog's sort key changed to {} meanwhile; sorting again",
                 partition_text, catalog::SortKeyToString(result.sort_key));
    ARROW_RETURN_NOT_OK(compact(result.sort_key));
  }

  // 4. Encoding on the executor, under the memory limit.
  const ParquetFileMetadata metadata{
      .namespace_id = snapshot.namespace_id,
      .namespace_name = namespace_name,
      .table_id = snapshot.table_id,
      .table_name = table_name,
      .partition_id = snapshot.partition_id,
      .partition_key = snapshot.partition_key,
      .object_store_id = object_id,
      .sort_key = compacted->sort_key,
      .min_time = compacted->min_time,
      .max_time = compacted->max_time,
      .row_count = compacted->output_rows,
      .compaction_level = 0,
      .created_at = created_at,
      .ingester_id = context.ingester_id,
  };
  result.input_rows = compacted->input_rows;
  result.output_rows = compacted->output_rows;
  std::shared_ptr<arrow::Buffer> file;
  MemoryRetryStats memory_stats;
  arrow::Status encoded_status = context.executor->Run(
      &job,
      [&]() -> arrow::Status {
        file.reset();
        const auto t0 = Clock::now();
        ARROW_ASSIGN_OR_RAISE(auto encoded, EncodeParquet(*compacted->table, metadata,
                                                          context.parquet, &job));
        result.encode_time = Clock::now() - t0;
        result.row_groups = encoded.row_groups;
        file = std::move(encoded.data);
        return arrow::Status::OK();
      },
      &memory_stats, stop);
  result.memory_retries += std::max(0, memory_stats.attempts - 1);
  compacted.reset();
  if (!encoded_status.ok()) {
    return encoded_status.WithMessage("persist of ", partition_text, ": ",
                                      encoded_status.message());
  }
  result.file_bytes = file->size();

  // 3. Upload.
  phase_start = Clock::now();
  const std::string path =
      ObjectPath(snapshot.namespace_id, snapshot.table_id, snapshot.partition_id,
                 context.ingester_id, object_id);
  RetryStats upload_stats;
  arrow::Status uploaded =
      context.object_store->PutWithRetry(path, file, stop, &upload_stats);
  result.upload_attempts = upload_stats.attempts;
  result.upload_time = Clock::now() - phase_start;
  result.peak_memory_bytes = job.max_memory();
  file.reset();  // before `job` goes away
  if (!uploaded.ok()) {
    return uploaded.WithMessage("persist of ", partition_text, ": ", uploaded.message());
  }

  // 4. The catalog row: from now on the file is live. Idempotent per object_store_id, so
  // a retry after a lost reply records it once.
  phase_start = Clock::now();
  catalog::ParquetFileRecord record;
  record.namespace_id = snapshot.namespace_id;
  record.table_id = snapshot.table_id;
  record.partition_id = snapshot.partition_id;
  record.object_store_id = object_id;
  record.min_time = metadata.min_time;
  record.max_time = metadata.max_time;
  record.row_count = metadata.row_count;
  record.file_size_bytes = result.file_bytes;
  record.compaction_level = 0;
  record.created_at = created_at;
  record.path = path;
  auto recorded = RetryResult<ParquetFileId>(
      context.catalog_retry, "catalog record of " + path,
      [&] { return RecordParquetFile(context.catalog, record); }, stop);
  if (!recorded.ok()) {
    RemoveUnrecordedObject(context, record, recorded.status());
    return recorded.status().WithMessage("persist of ", partition_text, ": ",
                                         recorded.status().message());
  }
  record.id = *recorded;
  result.catalog_time = Clock::now() - phase_start;
  result.file = std::move(record);
  result.total_time = Clock::now() - job_start;
  spdlog::debug(
      "persisted {} of {}.{}: {} rows -> {} rows, {} bytes in {} ({} ms: sort key {}, "
      "compact {}, encode {}, upload {}, catalog {}; peak memory {} bytes)",
      partition_text, namespace_name, table_name, result.input_rows, result.output_rows,
      result.file_bytes, path,
      std::chrono::duration_cast<std::chrono::milliseconds>(result.total_time).count(),
      std::chrono::duration_cast<std::chrono::milliseconds>(result.sort_key_time).count(),
      std::chrono::duration_cast<std::chrono::milliseconds>(result.compact_time).count(),
      std::chrono::duration_cast<std::chrono::milliseconds>(result.encode_time).count(),
      std::chrono::duration_cast<std::chrono::milliseconds>(result.upload_time).count(),
      std::chrono::duration_cast<std::chrono::milliseconds>(result.catalog_time).count(),
      result.peak_memory_bytes);
  return result;
}

}  // namespace ingester::persist
