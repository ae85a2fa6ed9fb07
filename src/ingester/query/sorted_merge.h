// A streaming k-way merge of sorted, de-duplicated sources into one sorted,
// de-duplicated stream: how a query combines a partition's Parquet files with each other
// and with its buffer where their time ranges overlap.
//
//   source 0 (oldest: the first file)  ─┐
//   source 1                            ├─> pick the smallest key; equal keys from
//   ...                                 │   several sources become one row: tags and time
//   source k-1 (newest: the buffer)    ─┘   from the key, each field the value of the
//                                           NEWEST source where it is not null
//                                           ──> batches of at most `batch_rows` rows
//
// The order is the partition's sort key: its tags (byte-wise ascending, nulls last, as
// compaction sorts), then the other tags of the schema, then `time`. Every Parquet file
// of a partition is sorted that way (sort keys only grow, new tags before `time`, and a
// file lacks the tags added after it, which compare as null), and compaction sorts the
// buffer by the same key.
//
// This is exactly compaction's rule ("the later write wins, field by field") applied
// across sources, provided each source holds at most one row per key and sources are
// given oldest first.
//
// Cost: the source with the smallest key emits, as one slice, every row of its current
// batch below the other sources' smallest key (found by galloping: O(log run)
// comparisons per run, so files that overlap only at their edges merge at nearly the
// speed of copying). A batch's series (rows with the same tags, adjacent since the
// batch is sorted) are found by galloping over its tag indices, O(log run) row
// comparisons per series. Output tag columns map each source dictionary to the output
// dictionary once, not each row's value.
//
// Output (SortedMergeOptions::output):
//   kSorted       one stream in key order, batches of at most `batch_rows` rows, built
//                 by copying the runs and merged rows into new arrays.
//   kPassThrough  the same rows (each key once, same values), not in one order: each
//                 source batch is handed on as it is (zero-copy) once every source has
//                 moved past its last key, minus its rows whose key another source
//                 holds too; those keys, merged as above, come in batches of their own
//                 (at most `batch_rows` rows). Only the comparisons are paid, no copy:
//                 for sources that share few keys (files overlapping in time only, each
//                 series' rows in one of them) this is what a reader that needs no
//                 global order wants.
//
// Memory: the current batch of each source plus the output batch being built (kSorted:
// its rows refer to the sources' batches until it is materialised; kPassThrough: the
// merged rows, copied as they are found, and at most one passed batch per source
// waiting to be returned). Not thread-safe.
#pragma once

#include <arrow/memory_pool.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ingester::query {

// Pulls the next batch of a source (null at the end). Batches must be under the merge
// schema (same schema object or equal), in key order, with no key twice in the source.
using BatchSource = std::function<arrow::Result<std::shared_ptr<arrow::RecordBatch>>()>;

enum class MergeOutput { kSorted, kPassThrough };

struct SortedMergeOptions {
  // Every batch of every source is under it: tags dictionary<int32, utf8>, fields,
  // `time` timestamp[ns] without nulls.
  std::shared_ptr<arrow::Schema> schema;
  // Tag names, most significant first (tags of the schema it lacks follow them); `time`
  // may end it or not.
  std::vector<std::string> sort_key;
  // kSorted: every output batch; kPassThrough: the batches of merged rows.
  int64_t batch_rows = 64 * 1024;
  MergeOutput output = MergeOutput::kSorted;
  arrow::MemoryPool* pool = arrow::default_memory_pool();

  arrow::Status Validate() const;
};

struct SortedMergeStats {
  int64_t input_rows = 0;
  int64_t output_rows = 0;
  int64_t merged_keys = 0;  // output rows made of more than one source's row
};

class SortedMerge {
 public:
  // Sources oldest first: for equal keys, a later source's non-null fields win.
  static arrow::Result<std::unique_ptr<SortedMerge>> Make(
      std::vector<BatchSource> sources, SortedMergeOptions options);
  ~SortedMerge();

  // The next batch under the merge schema (never empty), or null at the end.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next();

  const SortedMergeStats& stats() const { return stats_; }

 private:
  struct Impl;
  explicit SortedMerge(std::unique_ptr<Impl> impl);
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> NextSorted();
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> NextPassThrough();

  std::unique_ptr<Impl> impl_;
  SortedMergeStats stats_;
};

}  // namespace ingester::query
