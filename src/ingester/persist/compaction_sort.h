// The sorting half of compaction (compaction.h): tag columns re-encoded against one
// sorted dictionary, and the input rows put in sort-key order with a way to tell equal
// primary keys apart. Internal to the persist module.
//
// Two sorts, one contract:
//
//  - packed (the common case, O(rows)): when the key is tags then `time` and the tags'
//    ranks fit in 64 bits together, each row's tags become one integer, its series key:
//    each tag takes bit_width(distinct values) bits, most significant key first, a null
//    taking the rank one past the last value so that nulls sort last (a 1,000-host TSBS
//    partition needs 42 bits). Then
//
//      series key per row ──hash──> series id ──(sort the distinct keys)──> series rank
//      counting sort of the rows by series rank (stable: buffering order in a series)
//      per series: rows already in time order (a loader writing forward in time)? keep;
//                  otherwise std::stable_sort by time
//
//    Equal primary keys are adjacent in one series with equal times, and the tags of an
//    output row can be decoded from its series key without gathering anything. Each
//    series' key and first position are kept, not a key per row.
//
//  - general: Arrow's sort_indices over per-row rank columns and `time` (a key with
//    `time` before some tag, or tags too many or too diverse to pack).
#pragma once

#include <arrow/compute/exec.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ingester/common/thread_annotations.h"

namespace ingester::persist::compaction_internal {

using Batches = std::vector<std::shared_ptr<arrow::RecordBatch>>;

// A fixed set of threads running queued tasks in order. Our own rather than Arrow's
// ThreadPool: Arrow's queue synchronises inside the uninstrumented libarrow, where
// ThreadSanitizer cannot see it, so every handoff of our closures to it would be
// reported as a race. Thread-safe. The destructor runs the queued tasks, then joins.
class TaskPool {
 public:
  explicit TaskPool(int threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void Submit(std::function<void()> task) EXCLUDES(mu_);
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void Loop() EXCLUDES(mu_);

  Mutex mu_;
  CondVar ready_;
  std::deque<std::function<void()>> tasks_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// The process-wide pool for the per-column work of compactions (one thread per core;
// never destroyed). Its tasks never wait for anything, so jobs waiting for them from
// other threads cannot deadlock.
TaskPool* HelperPool();

// Runs fn(0), ..., fn(n - 1) on `pool` and waits for all of them; the first error wins.
// Inline when !use_threads, or for one task and no `pool` given. Must not be called from
// a thread of `pool` (its tasks could wait behind the caller).
arrow::Status ParallelFor(bool use_threads, int n,
                          const std::function<arrow::Status(int)>& fn,
                          TaskPool* pool = nullptr);

// A tag column of the input re-encoded against one sorted dictionary.
struct UnifiedTag {
  std::string name;
  int column = -1;  // in the batches' common schema
  // The distinct values rows reference, ascending (byte-wise): ranks compare as the
  // strings do. utf8.
  std::shared_ptr<arrow::Array> dictionary;
  // Per batch: dictionary index -> rank in `dictionary` (-1 where no row refers to it).
  std::vector<std::vector<int32_t>> rank_of_index;
  int64_t null_count = 0;
  // Per input row, its rank (null where the tag is null; the slot then holds 0). Only
  // made for the general sort (MaterializeRanks).
  std::shared_ptr<arrow::Int32Array> ranks;
};

// `column` of `batches` (which share one schema) must be dictionary<int32, utf8>.
arrow::Result<UnifiedTag> UnifyTag(const Batches& batches, int column);
arrow::Status MaterializeRanks(const Batches& batches, int64_t rows,
                               arrow::MemoryPool* pool, UnifiedTag* tag);

// The input rows in sort-key order.
class SortedRows {
 public:
  // Sorts the `rows` rows of `batches` by `key`, which names every tag of `tags` and
  // `time` (whose values are `time`, one array over all rows). The general sort fills
  // the tags' `ranks`. Buffers come from `pool`.
  // With `use_threads`, parts of the packed sort run on Arrow's CPU thread pool.
  static arrow::Result<SortedRows> Sort(const Batches& batches,
                                        std::vector<UnifiedTag>* tags,
                                        const std::shared_ptr<arrow::Array>& time,
                                        const std::vector<std::string>& key, int64_t rows,
                                        bool use_threads, arrow::MemoryPool* pool,
                                        arrow::compute::ExecContext* ctx);

  // Position -> input row (uint64).
  const std::shared_ptr<arrow::Array>& order_array() const { return order_; }
  const uint64_t* order() const { return order_values_; }
  // Whether the rows at positions p - 1 and p have the same primary key (all tags, time).
  // Inline: called once per row.
  bool SameKeyAsPrevious(int64_t p) const {
    const uint64_t a = order_values_[p - 1];
    const uint64_t b = order_values_[p];
    // Series first: their starts are read in order, the times are not.
    if (packed_) {
      const auto q = static_cast<uint64_t>(p);
      return ((series_start_bits_[q >> 6] >> (q & 63)) & 1) == 0 &&
             times_[a] == times_[b];
    }
    return times_[a] == times_[b] && SameTags(a, b);
  }

  bool packed() const { return packed_; }
  // Packed only: series r (in key order) holds positions [series_start(r),
  // series_start(r + 1)); r < series_count(), and series_start(series_count()) is the
  // number of rows.
  int64_t series_count() const { return static_cast<int64_t>(series_keys_.size()); }
  int64_t series_start(int64_t r) const { return series_start_[r]; }
  uint64_t series_key(int64_t r) const { return series_keys_[r]; }
  // Packed only: the column of `tag` for output rows with series keys `keys`.
  arrow::Result<std::shared_ptr<arrow::Array>> DecodeTag(
      const UnifiedTag& tag, const std::shared_ptr<arrow::DataType>& type,
      const std::vector<uint64_t>& keys, arrow::MemoryPool* pool) const;

 private:
  struct Part {
    std::string name;
    int shift = 0;           // of the tag's rank in the series key
    uint64_t mask = 0;       // (1 << bits) - 1
    uint32_t null_rank = 0;  // the dictionary's size
  };

  static arrow::Result<bool> TryPacked(const Batches& batches,
                                       const std::vector<UnifiedTag>& tags,
                                       const int64_t* times,
                                       const std::vector<std::string>& key, int64_t rows,
                                       bool use_threads, arrow::MemoryPool* pool,
                                       SortedRows* out);
  // General sort: whether input rows a and b have the same tags.
  bool SameTags(uint64_t a, uint64_t b) const;

  std::shared_ptr<arrow::Array> order_;
  const uint64_t* order_values_ = nullptr;
  const int64_t* times_ = nullptr;
  // Packed sort.
  bool packed_ = false;
  std::vector<Part> parts_;
  std::vector<uint64_t> series_keys_;        // by series rank
  std::vector<int64_t> series_start_;        // by series rank, plus the end
  std::vector<uint64_t> series_start_bits_;  // bit p: position p starts a series
  // General sort: the rank columns, nulls handled apart.
  std::vector<const arrow::Int32Array*> plain_ranks_;
  std::vector<const arrow::Int32Array*> nullable_ranks_;
};

}  // namespace ingester::persist::compaction_internal
