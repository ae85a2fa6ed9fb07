// Deletes WAL segments once nothing in them is needed any more (DESIGN.md "WAL segment
// references"): each closed segment keeps the set of sequence numbers it holds; writes
// that are persisted (or that never reached the buffer) are subtracted; a segment whose
// set becomes empty is deleted.
//
//          Wal::Rotate / replay                      persist completions,
//                 │ AddSegment(id, numbers)          writes not buffered
//                 v                                        │ Release(numbers)
//   segments_: { 3: {41-97, 99}, 4: {98, 100-180} }  <─────┤ subtract from the segment
//                 │ a set became empty                      │ holding each number
//                 v                                        v
//   delete_segment(3) (no lock held)      early_: { 181-190 }  numbers whose segment is
//                                            │                still open (or not yet
//                                            └─ AddSegment(5, {181-250}) subtracts them
//
// Why a set and not a count: sequence numbers identify writes but do not order them, and
// one segment's writes persist in many partitions at different times, in any order. A
// persist can even complete before the segment holding its writes is closed (a hot
// partition persisted just after a write, before the next rotation): such numbers are
// held in `early_` and subtracted when the segment arrives, so the order of AddSegment
// and Release never matters.
//
// No early delete: a number is released only once its write is durable elsewhere
// (persisted) or will never be persisted (not buffered), and each write lives in exactly
// one segment, so a segment is deleted only when every write in it is out of memory or
// was never there. A number released twice is a caller bug; the second release finds no
// segment and waits in `early_` forever (visible in stats().early_releases).
//
// Thread-safe. `mu_` guards all state and is never held across a deletion (I/O): the
// emptied segment is flagged `deleting` under the lock, deleted without it, then removed
// (or, if the deletion failed, kept and retried by RetryFailedDeletes/WaitUntilEmpty).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "ingester/common/ids.h"
#include "ingester/common/metrics.h"
#include "ingester/common/thread_annotations.h"
#include "ingester/wal/closed_segment.h"
#include "ingester/wal/format.h"
#include "ingester/wal/sequence_number_set.h"

namespace ingester::wal {

class Wal;

struct ReferenceTrackerOptions {
  // Deletes a segment whose writes are all released; required. Called with no tracker
  // lock held, on the thread whose call emptied the segment; at most once at a time per
  // segment. ForWal() sets Wal::Delete.
  std::function<arrow::Status(SegmentId)> delete_segment;
  // Optional; must outlive the tracker. Gauges and counters named ingester_wal_*.
  MetricsRegistry* metrics = nullptr;

  arrow::Status Validate() const;
};

struct ReferenceTrackerStats {
  // Closed segments not deleted yet (with references left, being deleted, or whose
  // deletion failed).
  size_t segments = 0;
  // Sequence numbers those segments still hold.
  uint64_t referenced = 0;
  // Released numbers waiting for their segment to be added.
  uint64_t early_releases = 0;
  int64_t deleted = 0;
  int64_t delete_failures = 0;
};

class ReferenceTracker {
 public:
  static arrow::Result<std::unique_ptr<ReferenceTracker>> Make(
      ReferenceTrackerOptions options);
  // A tracker that deletes through `wal` (which it keeps alive).
  static arrow::Result<std::unique_ptr<ReferenceTracker>> ForWal(
      std::shared_ptr<Wal> wal, MetricsRegistry* metrics = nullptr);

  ReferenceTracker(const ReferenceTracker&) = delete;
  ReferenceTracker& operator=(const ReferenceTracker&) = delete;

  // A segment that will get no more writes: from a rotation, or found by replay at
  // startup. Numbers released earlier are subtracted now; a segment left empty is
  // deleted before this returns. Adding an id twice is a programmer error (ignored with
  // an error log).
  void AddSegment(SegmentId id, SequenceNumberSet numbers) EXCLUDES(mu_);
  void AddSegment(const ClosedSegment& segment) EXCLUDES(mu_) {
    AddSegment(segment.id, segment.sequence_numbers);
  }

  // These writes are no longer needed from the WAL: persisted (PartitionData::
  // MarkPersisted's numbers) or never buffered (BufferTree::Apply's `not_buffered`).
  // Deletes every segment this empties before returning. Any order, duplicates within one
  // call allowed.
  void Release(const std::vector<SequenceNumber>& numbers) EXCLUDES(mu_);
  void Release(SequenceNumberSet numbers) EXCLUDES(mu_);

  // Tries again to delete the segments whose deletion failed. Returns the first error.
  arrow::Status RetryFailedDeletes() EXCLUDES(mu_);

  // Waits until every segment added so far has been deleted, retrying failed deletions
  // about once a second; true on success, false at `timeout`.
  bool WaitUntilEmpty(std::chrono::nanoseconds timeout) EXCLUDES(mu_);

  // Segments not deleted yet, ascending.
  std::vector<SegmentId> SegmentIds() const EXCLUDES(mu_);
  ReferenceTrackerStats stats() const EXCLUDES(mu_);

 private:
  struct Segment {
    SequenceNumberSet numbers;
    bool deleting = false;  // a thread is deleting it now (no lock held)
    bool failed = false;    // its last deletion failed; RetryFailedDeletes tries again
  };
  struct Metrics {
    Gauge* segments = nullptr;
    Gauge* referenced = nullptr;
    Gauge* early = nullptr;
    Counter* deleted = nullptr;
    Counter* delete_failures = nullptr;
  };

  explicit ReferenceTracker(ReferenceTrackerOptions options);
  // Flags `id` for deletion if it is empty and not already being deleted.
  void MaybeClaimLocked(SegmentId id, Segment& segment, std::vector<SegmentId>* claimed)
      REQUIRES(mu_);
  // Deletes claimed segments, with no lock held; returns the first error.
  arrow::Status DeleteClaimed(const std::vector<SegmentId>& claimed) EXCLUDES(mu_);
  void UpdateGaugesLocked() REQUIRES(mu_);

  const ReferenceTrackerOptions options_;
  Metrics metrics_;

  mutable Mutex mu_;
  CondVar changed_;  // signalled whenever a segment is removed or a deletion fails
  std::map<SegmentId, Segment> segments_ GUARDED_BY(mu_);
  SequenceNumberSet early_ GUARDED_BY(mu_);
  uint64_t referenced_ GUARDED_BY(mu_) = 0;
  int64_t deleted_ GUARDED_BY(mu_) = 0;
  int64_t delete_failures_ GUARDED_BY(mu_) = 0;
};

// The members common to `a` and `b`; O(ranges of a + ranges of b).
SequenceNumberSet Intersection(const SequenceNumberSet& a, const SequenceNumberSet& b);

}  // namespace ingester::wal
