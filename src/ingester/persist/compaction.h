// Compaction: the rows of a persisting snapshot, sorted by the partition's sort key and
// de-duplicated on the primary key, as one arrow::Table ready for Parquet.
//
//   snapshot batches (buffering order, schemas may differ, own dictionaries)
//        │ MergeSchemas + ConformBatch: one schema, missing columns all null
//        v
//   tags: one sorted dictionary per column; each row's tag becomes the rank of its
//        │ value, so comparing ranks is comparing strings (nulls rank last)
//        v
//   sort_indices over [rank columns in sort-key order..., time]
//        │
//        v
//   runs of equal primary key (all tags + time) ──> one row each: tags and time from
//        │                                          the run, each field the LAST non-null
//        v                                          value in buffering order
//   take() per column ──> Table (tags dictionary<int32, utf8> with a sorted dictionary)
//
// Why field by field: a line protocol write may carry only some fields of a series; a
// later write of the same series and timestamp adds or overwrites fields, it never erases
// the fields it does not mention (InfluxDB semantics, also IOx's de-duplication).
//
// All allocations go through the caller's memory pool (a JobMemoryPool under
// --exec-mem-limit in production), so a compaction that would pass the limit fails with
// OutOfMemory and releases everything; CompactionExecutor runs compactions on their own
// thread pool and applies the wait-and-retry policy of memory_limit.h.
#pragma once

#include <arrow/memory_pool.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "ingester/persist/memory_limit.h"
#include "ingester/persist/sort_key.h"

namespace ingester::persist::compaction_internal {
class TaskPool;
}

namespace ingester::persist {

struct CompactionResult {
  // Sorted by `sort_key`, at most one row per primary key. Single chunk per column.
  // Its buffers come from the pool passed to CompactBatches, which must outlive it.
  std::shared_ptr<arrow::Table> table;
  // The key the rows are sorted by: the requested key restricted to the table's columns,
  // plus any tag of the data the requested key lacked (before `time`).
  std::vector<std::string> sort_key;
  int64_t input_rows = 0;
  int64_t output_rows = 0;
  // Range of `time` over the rows (0 when there are none).
  int64_t min_time = 0;
  int64_t max_time = 0;
  // Distinct non-null values of each tag over the input, in schema order (what
  // ComputeTagCardinalities would say).
  std::vector<TagCardinality> tag_cardinalities;
};

// Sorts and de-duplicates `batches` (in buffering order: a later row wins) by
// `sort_key`. `batches` may have different schemas with the data-model types of
// column_set.h (tags dictionary<int32, utf8>, `time` timestamp[ns] without nulls);
// the output schema is their union (MergeSchemas). Runs on the calling thread, plus the
// helper pool with options.use_threads.
// Errors: Invalid for data outside the data model (no `time` column, null times),
// Conflict for two batches disagreeing on a column's type, OutOfMemory from `pool`.
struct CompactOptions {
  // Per-column work (re-encoding each tag, gathering each output column) runs in
  // parallel on a process-wide helper pool, not the CompactionExecutor's threads: a job
  // blocked on its sub-tasks must not hold a thread those sub-tasks need.
  bool use_threads = true;
};

arrow::Result<CompactionResult> CompactBatches(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
    const std::vector<std::string>& sort_key,
    arrow::MemoryPool* pool = arrow::default_memory_pool(),
    const CompactOptions& options = {});

struct CompactionExecutorOptions {
  // Threads of the compaction pool: persist work that burns CPU (sort, take, Parquet
  // encoding) runs here, not on the persist workers that wait for I/O.
  int threads = 2;
  // --exec-mem-limit: bytes all running jobs may hold at once; 0 means no limit.
  int64_t memory_limit_bytes = 0;
  MemoryRetryPolicy memory_retry;

  arrow::Status Validate() const;
};

// The compaction thread pool and the memory pool under the limit. Thread-safe.
class CompactionExecutor {
 public:
  static arrow::Result<std::unique_ptr<CompactionExecutor>> Make(
      const CompactionExecutorOptions& options);
  // Waits for running work. Every JobMemoryPool made from memory_pool() must be gone.
  ~CompactionExecutor();
  CompactionExecutor(const CompactionExecutor&) = delete;
  CompactionExecutor& operator=(const CompactionExecutor&) = delete;

  // Runs `work` on the pool and blocks until it is done. `work` must allocate through
  // `job` (a JobMemoryPool over memory_pool()); OutOfMemory is handled by
  // RunWithMemoryRetry with the options' policy. `stats` may be null.
  arrow::Status Run(JobMemoryPool* job, const std::function<arrow::Status()>& work,
                    MemoryRetryStats* stats = nullptr, std::stop_token stop = {});

  LimitedMemoryPool* memory_pool() const { return memory_.get(); }
  const CompactionExecutorOptions& options() const { return options_; }

 private:
  CompactionExecutor(const CompactionExecutorOptions& options,
                     std::unique_ptr<compaction_internal::TaskPool> threads,
                     std::unique_ptr<LimitedMemoryPool> memory);

  const CompactionExecutorOptions options_;
  std::unique_ptr<compaction_internal::TaskPool> threads_;
  std::unique_ptr<LimitedMemoryPool> memory_;
};

}  // namespace ingester::persist
