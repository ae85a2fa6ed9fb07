// Telling, cheaply, that buffered batches hold no two rows with one primary key (all
// tags + time), so that a query can stream them as they are instead of sorting and
// de-duplicating them as a persist would.
//
// Two writes of one series and timestamp must read back as one row (the later write
// winning field by field), whether they are still buffered or already in Parquet. Such
// overwrites are rare, and sorting a whole partition's buffer on every query to find
// them would cost more than the query itself, so a query first asks whether any can
// exist:
//
//   per batch, once (cached by batch identity: buffered batches are immutable)
//     time range [min, max]; whether its keys are unique, by hashing every row's key:
//     each tag's dictionary values are hashed once, a row's series hash is the sum over
//     its non-null tags of hash(tag name, value) (so column order and absent columns
//     do not matter), mixed with its time
//   per query
//     the time intervals covered by two or more batches ("hot"); the keys of the rows
//     of every batch that fall in a hot interval go into one set: a key seen twice, or a
//     batch with duplicates of its own, means "may have duplicates"
//
// Data written forward in time gives batches that touch at most at their edges, so the
// per-query work is a scan of each batch's edge rows. A 64-bit hash collision can only
// answer "may" where the answer is "no", which costs one needless sort, never a wrong
// row.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "ingester/common/thread_annotations.h"

namespace ingester::query {

// What one batch's primary keys look like.
struct BatchKeyFacts {
  int64_t min_time = 0;  // meaningless for an empty batch
  int64_t max_time = 0;
  bool unique_keys = true;
};

// Facts per batch object, computed on first use. The cache holds no batch alive: an
// entry remembers its batch through a weak_ptr, so an address reused by a new batch is
// recognised, and entries of dead batches are purged as the map grows. Thread-safe; two
// queries computing one batch's facts at once both compute (the results are equal).
class BatchKeyFactsCache {
 public:
  // The facts of `batch`, which must follow the data model (tags dictionary<int32,
  // utf8>, a non-null `time` timestamp[ns]); InvalidInput otherwise.
  arrow::Result<BatchKeyFacts> Get(const std::shared_ptr<arrow::RecordBatch>& batch)
      EXCLUDES(mu_);

  size_t TEST_size() const EXCLUDES(mu_);

 private:
  struct Entry {
    std::weak_ptr<arrow::RecordBatch> batch;
    BatchKeyFacts facts;
  };

  mutable Mutex mu_;
  std::unordered_map<const arrow::RecordBatch*, Entry> entries_ GUARDED_BY(mu_);
  // Purge dead entries when the map reaches this size (then twice the live count).
  size_t purge_at_ GUARDED_BY(mu_) = 1024;
};

// Computes the facts of one batch (what the cache stores).
arrow::Result<BatchKeyFacts> ComputeBatchKeyFacts(const arrow::RecordBatch& batch);

// Whether `batches` may hold two rows with the same primary key; false is certain.
// `cache` may be null (facts are then computed every time).
arrow::Result<bool> MayHaveDuplicateKeys(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
    BatchKeyFactsCache* cache);

}  // namespace ingester::query
