// The data part of one persist: a partition's immutable snapshot becomes a Parquet file
// in the object store and a parquet_file row in the catalog.
//
//   snapshot ──> compaction by the catalog's sort key + new tags  ┐ CompactionExecutor
//            ──> sort key compare-and-swap in the catalog         │ threads, under
//                (a concurrent writer's different order: sort again)  --exec-mem-limit
//            ──> Parquet encoding, in memory                      ┘ (OutOfMemory retried)
//            ──> PUT <ns id>/<table id>/<partition id>/<ingester id>/<uuid>.parquet
//                (object_path.h)                                               (retried)
//            ──> catalog parquet_file row                                    (retried)
//
// The sort key is swapped in after sorting (compaction counts the new tags' distinct
// values anyway) but before anything is uploaded, so no file is ever sorted by a key the
// catalog does not hold, and no file is uploaded for nothing. A persist that fails later
// leaves only a longer catalog key, which is harmless: keys only ever grow, and every
// name in one is a column of the table.
//
// What the caller does with the result (not done here): remove the snapshot from the
// partition (PartitionData::MarkPersisted), release its WAL sequence numbers, notify.
// If RunPersistJob fails, nothing is visible in the catalog, and the snapshot stays
// buffered: the job can simply run again. Orphans: every attempt of a snapshot's job
// writes the same object (its id is the snapshot's, fixed at MarkPersisting), so a
// retry replaces the object of a failed attempt; a job whose catalog record fails
// deletes its uploaded object unless the catalog lists it. An object is left without a
// row only when the catalog cannot be asked then and the process ends before a retry
// (the replayed data is persisted under a new id); a garbage collector may remove it.
// A failed upload leaves nothing (ObjectStore::Put is atomic).
//
// Thread-safe: any number of jobs may run at once for different partitions. Jobs for one
// partition must be serialised by the caller (the persist workers hash partitions to
// workers), so that its files are recorded in snapshot order.
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "ingester/buffer/partition_data.h"
#include "ingester/catalog/catalog.h"
#include "ingester/common/clock.h"
#include "ingester/persist/compaction.h"
#include "ingester/persist/object_store.h"
#include "ingester/persist/parquet_writer.h"

namespace ingester::persist {

// The long-lived parts a job uses. None are owned; all must outlive the jobs.
struct PersistJobContext {
  catalog::Catalog* catalog = nullptr;
  ObjectStore* object_store = nullptr;
  CompactionExecutor* executor = nullptr;
  ParquetWriterOptions parquet;
  // Retries of catalog calls failing with ErrorKind::kRetryable (partition and name
  // lookups, the sort key swap, the parquet_file row). Uploads use the object store's
  // own policy (ObjectStoreOptions::retry).
  RetryPolicy catalog_retry;
  const Clock* clock = SystemClock::Get();
  // The persisting ingester's id (server/ingester_id.h), part of every object path
  // (object_path.h); empty only in tests and tools, which get the layout without it.
  std::string ingester_id;

  arrow::Status Validate() const;
};

struct PersistJobResult {
  // The row as recorded (id assigned by the catalog).
  catalog::ParquetFileRecord file;
  // The partition's sort key in the catalog after the job (cache it for the next job).
  std::vector<std::string> sort_key;
  int64_t input_rows = 0;
  int64_t output_rows = 0;  // rows in the file, after de-duplication
  int64_t file_bytes = 0;
  int64_t row_groups = 0;
  // The most the job held at once under the memory limit (compaction + encoding + the
  // encoded file until its upload ends).
  int64_t peak_memory_bytes = 0;
  int memory_retries = 0;  // compaction/encoding attempts repeated after OutOfMemory
  int upload_attempts = 0;
  int sort_key_cas_attempts = 0;

  // Where the time went (wall clock). `compact` and `encode` are the last attempt's.
  std::chrono::nanoseconds sort_key_time{0};  // catalog reads + CAS
  std::chrono::nanoseconds compact_time{0};
  std::chrono::nanoseconds encode_time{0};
  std::chrono::nanoseconds upload_time{0};   // including retries
  std::chrono::nanoseconds catalog_time{0};  // the parquet_file row, including retries
  std::chrono::nanoseconds total_time{0};
};

// Persists `snapshot` (see the top of the file). `cached_sort_key` is the caller's copy
// of the partition's catalog sort key from an earlier job (nullopt: read it from the
// catalog); a stale copy costs one more compare-and-swap. `stop` ends retry waits early
// (shutdown abandoning a persist); the job then fails.
arrow::Result<PersistJobResult> RunPersistJob(
    const PersistJobContext& context, const PersistingSnapshot& snapshot,
    const std::optional<std::vector<std::string>>& cached_sort_key = std::nullopt,
    std::stop_token stop = {});

}  // namespace ingester::persist
