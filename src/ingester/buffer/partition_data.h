// One partition of one table: the data the ingester holds in memory for it.
//
//        writes ──> [ mutable buffer ]          (MutableBuffer, appends only)
//                          │ MarkPersisting(): becomes an immutable snapshot,
//                          v                   a new empty buffer takes its place
//   persist queue: [ gen 1 ][ gen 2 ] ... [ gen n ]   (oldest first)
//                     │ MarkPersisted(gen 1): removed once its Parquet file is in the
//                     v                       catalog; its sequence numbers are returned
//                                             so the WAL can release their segments
//
// A hot partition can be marked again while an earlier persist is outstanding: writes
// never wait for a persist. Queries see the queue oldest first, then the buffer, so the
// row order of a partition is always its buffering order (the persist de-duplication
// relies on it: for equal primary keys, the later row wins).
//
// Thread-safe; one mutex per partition (`mu_`) guards all mutable state, held only for
// in-memory work of O(batches) (and the occasional bounded compaction of small
// batches), never across I/O.
#pragma once

#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "ingester/buffer/deferred_load.h"
#include "ingester/buffer/mutable_buffer.h"
#include "ingester/common/ids.h"
#include "ingester/common/thread_annotations.h"

namespace ingester {

// What a partition is, fixed when it is created.
struct PartitionIdentity {
  PartitionId partition_id;
  std::string partition_key;
  NamespaceId namespace_id;
  DeferredLoad<std::string> namespace_name;
  TableId table_id;
  DeferredLoad<std::string> table_name;
};

// An immutable batch of data on its way to Parquet. Shared by the partition's queue, the
// persist job and any query reading it; it lives until the last of them lets go.
struct PersistingSnapshot {
  // 1 for the partition's first MarkPersisting, then 2, 3, ...: persists complete in this
  // order.
  uint64_t generation = 0;
  // The object store id (a UUID) of the Parquet file this snapshot becomes, chosen when
  // the snapshot is taken: every attempt of its persist writes the same object (a retry
  // replaces it rather than leaving an orphan), and a query can tell the catalog's file
  // of a snapshot still in the queue from the snapshot itself (docs/reading.md).
  std::string object_store_id;
  PartitionId partition_id;
  std::string partition_key;
  NamespaceId namespace_id;
  TableId table_id;
  // The partition's shared names (Get() loads them if no write carried them).
  DeferredLoad<std::string> namespace_name = DeferredLoad<std::string>::Ready("");
  DeferredLoad<std::string> table_name = DeferredLoad<std::string>::Ready("");
  // Every batch is under this canonical schema (column_set.h).
  std::shared_ptr<arrow::Schema> schema;
  // In buffering order; dictionaries may differ between batches.
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t rows = 0;
  int64_t bytes = 0;
  // The writes whose rows are in `batches`; sorted, unique.
  std::vector<SequenceNumber> sequence_numbers;
  // Range of `time` over the rows (there is at least one row).
  int64_t min_time = 0;
  int64_t max_time = 0;
};

struct PartitionStats {
  int64_t buffer_rows = 0;      // in the mutable buffer
  int64_t buffer_bytes = 0;     // the hot-partition trigger compares this one
  int64_t persisting_rows = 0;  // in the queue of snapshots
  int64_t persisting_bytes = 0;
  size_t persisting_snapshots = 0;
  uint64_t completed_persists = 0;

  int64_t rows() const { return buffer_rows + persisting_rows; }
  // Memory held by the partition.
  int64_t bytes() const { return buffer_bytes + persisting_bytes; }
};

// A query's view of one partition, taken under its lock: later writes are not in it.
struct PartitionQueryData {
  PartitionId partition_id;
  std::string partition_key;
  uint64_t completed_persist_count = 0;
  // The object store ids of the snapshots still in the persist queue. Their rows are in
  // `batches`; a reader that also lists the catalog's files must skip these ids (a
  // persist records its file in the catalog before MarkPersisted removes the snapshot).
  std::vector<std::string> persisting_object_store_ids;
  // The union of the batches' schemas in canonical order. Batches of the persisting
  // snapshots and of the buffer may each lack some of its columns (a column added after a
  // snapshot was taken, or one no write has brought since); columns agree on type by
  // name. ConformBatch(batch, schema or a projection of it) presents a batch under it.
  std::shared_ptr<arrow::Schema> schema;
  // Persisting snapshots oldest first, then the mutable buffer; buffering order.
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t rows = 0;
  // Range of `time` over the rows; meaningless when rows == 0.
  int64_t min_time = 0;
  int64_t max_time = 0;
};

// Totals over a whole tree, kept up to date by every partition so that a memory check
// after each write costs O(1). Bytes and rows include persisting snapshots.
struct BufferTotals {
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> rows{0};
};

class PartitionData {
 public:
  // `options` must be valid. `totals`, if set, is shared by all partitions of a tree.
  PartitionData(PartitionIdentity identity, const MutableBufferOptions& options,
                std::shared_ptr<BufferTotals> totals = nullptr);
  ~PartitionData();
  PartitionData(const PartitionData&) = delete;
  PartitionData& operator=(const PartitionData&) = delete;

  // Appends the rows of `batch`, written by the op numbered `sequence_number`, to the
  // mutable buffer. Errors as MutableBuffer::Append; on error nothing changed. A batch
  // with no rows is not buffered and its sequence number is not kept (the caller must
  // release it). `stats_after`, if set, receives the stats right after this write.
  arrow::Status BufferWrite(SequenceNumber sequence_number,
                            const std::shared_ptr<arrow::RecordBatch>& batch,
                            PartitionStats* stats_after = nullptr) EXCLUDES(mu_);

  // Moves the mutable buffer to the end of the persist queue as an immutable snapshot and
  // starts an empty buffer. Returns the snapshot (also the handle to MarkPersisted), or
  // null when the buffer holds no rows.
  arrow::Result<std::shared_ptr<const PersistingSnapshot>> MarkPersisting() EXCLUDES(mu_);

  // Removes `snapshot` from the queue once its data is durable in the object store and
  // catalog, counts a completed persist and returns the sequence numbers it held.
  // Persists complete in generation order: Invalid if `snapshot` is not the oldest in the
  // queue (nothing changes then).
  arrow::Result<std::vector<SequenceNumber>> MarkPersisted(
      const std::shared_ptr<const PersistingSnapshot>& snapshot) EXCLUDES(mu_);

  // An immutable view of everything the partition holds. Cost: O(batches) under the lock
  // (the schema union is computed after releasing it); no row data is copied.
  arrow::Result<PartitionQueryData> QueryData() EXCLUDES(mu_);

  // The snapshots waiting for persist, oldest first (for shutdown and tests).
  std::vector<std::shared_ptr<const PersistingSnapshot>> PersistingSnapshots() const
      EXCLUDES(mu_);

  PartitionStats Stats() const EXCLUDES(mu_);
  // Memory held, mutable buffer plus persisting snapshots.
  int64_t BufferedBytes() const { return Stats().bytes(); }
  int64_t Rows() const { return Stats().rows(); }
  uint64_t completed_persist_count() const EXCLUDES(mu_);
  // Sequence numbers of every write the partition holds (buffer and queue); sorted.
  std::vector<SequenceNumber> SequenceNumbers() const EXCLUDES(mu_);

  PartitionId partition_id() const { return identity_.partition_id; }
  const std::string& partition_key() const { return identity_.partition_key; }
  NamespaceId namespace_id() const { return identity_.namespace_id; }
  TableId table_id() const { return identity_.table_id; }
  // Cheap clones of the shared deferred names.
  const DeferredLoad<std::string>& namespace_name() const {
    return identity_.namespace_name;
  }
  const DeferredLoad<std::string>& table_name() const { return identity_.table_name; }

 private:
  PartitionStats StatsLocked() const REQUIRES(mu_);
  void UpdateTotals(const PartitionStats& before, const PartitionStats& after);

  const PartitionIdentity identity_;
  const MutableBufferOptions options_;
  const std::shared_ptr<BufferTotals> totals_;

  mutable Mutex mu_;
  std::unique_ptr<MutableBuffer> buffer_ GUARDED_BY(mu_);
  // Sequence numbers of the writes in `buffer_`, in buffering order.
  std::vector<SequenceNumber> buffer_sequence_numbers_ GUARDED_BY(mu_);
  std::deque<std::shared_ptr<const PersistingSnapshot>> persisting_ GUARDED_BY(mu_);
  int64_t persisting_rows_ GUARDED_BY(mu_) = 0;
  int64_t persisting_bytes_ GUARDED_BY(mu_) = 0;
  uint64_t last_generation_ GUARDED_BY(mu_) = 0;
  uint64_t completed_persists_ GUARDED_BY(mu_) = 0;
};

}  // namespace ingester
