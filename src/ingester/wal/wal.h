// The write-ahead log: durable, group-committed appends of WriteOps to segment files
// (format.h), rotation to a new segment, and deletion of released segments.
//
// Group commit, with no timer:
//
//   writer A ──encode──> [queue: A] ──A finds no flush running: leads──> write A, fsync
//   writer B ──encode──>       [queue: B]  (flush running: B waits)           │
//   writer C ──encode──>       [queue: B C]                                   │
//                              A's fsync done, A returns, leadership free <───┘
//                              B (or C) leads: write B C, one fsync; both return
//
// A writer encodes and checksums its op outside any lock, joins the queue, and if no
// flush is running becomes the leader at once: it takes the queue (up to
// WalOptions::max_group_bytes), writes it with one write() and one fdatasync() without
// holding the lock, then wakes the writers it served, each on its own condition
// variable. Writers arriving during a flush share the next one, led by the oldest of
// them, the only one woken when the flush token is released. Under load the batch grows
// by itself; when idle, a lone write pays exactly one fsync.
//
// Sticky errors: after a failed write or fsync no append succeeds again (the page cache
// may have dropped the data, and a later successful fsync would not bring it back). The
// process must restart; replay truncates whatever partial entry the failure left.
//
// Sequence numbers are tracked per segment; they identify writes but do not order them:
// two concurrent appends may land in the WAL in either order.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ingester/common/metrics.h"
#include "ingester/common/thread_annotations.h"
#include "ingester/dml/write_op.h"
#include "ingester/wal/closed_segment.h"
#include "ingester/wal/file_system.h"
#include "ingester/wal/format.h"
#include "ingester/wal/segment_ledger.h"
#include "ingester/wal/segment_writer.h"

namespace ingester::wal {

// The seam between the WalSink and the WAL, so that a sink can be tested against (or
// pointed at) another implementation.
class WalAppender {
 public:
  virtual ~WalAppender() = default;
  // Appends `op`. With `sync`, returns once the entry is durable (fsynced); without
  // (the `no_sync` write option), once it is written to the OS: a machine crash may
  // lose it, a process crash does not. Thread-safe.
  virtual arrow::Status Append(const WriteOp& op, bool sync) = 0;
};

struct WalOptions {
  // The WAL directory; created (with parents) if missing.
  std::string dir;
  // Defaults to the real filesystem.
  std::shared_ptr<FileSystem> fs;
  // The codec of new entries and its level (0: the codec's default); payload_codec.h.
  // Entries record their codec, so replay reads a WAL written with any mix of them.
  // lz4 by measurement (docs/wal.md): less CPU per row than zstd in both writing and
  // replay, for about twice zstd's bytes.
  PayloadCompression compression = PayloadCompression::kLz4;
  int compression_level = 0;
  // Make() refuses a directory whose ledger (segment_ledger.h) lists segments that are
  // neither on disk nor deleted by the ingester, unless this is set: then they are
  // recorded as deleted, with a warning naming them.
  bool allow_missing_segments = false;
  // The most entry bytes one group commit writes: a leader takes queued appends in
  // arrival order up to this (always at least one) and leaves the rest to the next
  // group, bounding one flush's write and its copy. Rotate and Close flush everything.
  size_t max_group_bytes = 16 << 20;
  // When set, observes the seconds of each group commit's fdatasync (must outlive the
  // WAL).
  Histogram* fsync_seconds = nullptr;

  arrow::Status Validate() const;
};

// Counters since Make(); for metrics and tests.
struct WalStats {
  int64_t appends = 0;  // successful Append() calls
  int64_t flushes = 0;  // group writes (one write() of one or more entries)
  int64_t syncs = 0;    // fdatasync() calls on segments by flushes and rotations
  int64_t bytes = 0;    // entry bytes written (framing included)
  int64_t rotations = 0;
};

class Wal final : public WalAppender {
 public:
  // Opens `options.dir`: removes leftover `.tmp` segments, lists existing segments as
  // closed (they are replayed and deleted by the caller; replay them BEFORE Make, since
  // a torn tail is only tolerated in the last segment) and starts a new segment with an
  // id above all of them.
  static arrow::Result<std::unique_ptr<Wal>> Make(WalOptions options);
  // Closes the current segment without syncing it (a crash-like stop; call Close() for a
  // clean one). No call may be running.
  ~Wal() override;

  // See WalAppender. Thread-safe; many callers share each fsync. Fails with the sticky
  // error after any earlier write or sync failure, and after Close().
  arrow::Status Append(const WriteOp& op, bool sync) override;

  // Makes the entries of the current segment durable, closes it, and starts the next
  // one. Thread-safe, concurrent with Append(). The new file is prepared (header synced)
  // before appends are held; appends wait only while the old segment's last entries are
  // written and synced and the new one is published (a rename and a directory fsync).
  arrow::Result<ClosedSegment> Rotate();

  // Deletes a closed segment (its writes are persisted), recording the deletion in the
  // ledger first. Thread-safe. Fails for the current segment and for unknown ids.
  arrow::Status Delete(SegmentId id);

  // Ids of closed segments still on disk (found at Make or rotated since), ascending.
  // Thread-safe.
  std::vector<SegmentId> ClosedSegmentIds() const;
  SegmentId current_segment_id() const;
  // The sticky error, OK if none.
  arrow::Status sticky_error() const;
  WalStats stats() const;
  const std::string& dir() const { return options_.dir; }
  // Capacity and free space of the WAL's volume (for the disk-full ingest state).
  // Thread-safe; does not take the WAL's lock.
  arrow::Result<DiskSpace> GetDiskSpace() const {
    return fs_->GetDiskSpace(options_.dir);
  }

  // Syncs and closes the current segment; later appends fail. Thread-safe; idempotent.
  arrow::Status Close();

  // Waits until at least `n` appends are queued behind a running flush. Tests use it to
  // force a group deterministically (with a sync hook that holds the first flush).
  void TEST_WaitForQueued(size_t n);

 private:
  struct Writer;
  // The segment being written, with what it holds so far.
  struct OpenSegment {
    std::unique_ptr<SegmentWriter> writer;
    SequenceNumberSet sequence_numbers;
    int64_t entries = 0;
    int64_t rows = 0;
  };

  explicit Wal(WalOptions options);

  // Takes the flush token (waiting for a running flush), as Rotate and Close do.
  void AcquireFlushToken() REQUIRES(mu_);
  // With the token held and the lock held on entry and exit: writes the queue to the
  // current segment (up to max_group_bytes, or all of it with `force_sync`), syncs if
  // any writer (or `force_sync`) asks, completes the writers it wrote. Releases mu_
  // during I/O. Returns the I/O status (already made sticky on failure).
  arrow::Status FlushQueue(bool force_sync) REQUIRES(mu_);
  void ReleaseFlushToken() REQUIRES(mu_);
  arrow::Status MakeSticky(const arrow::Status& cause) REQUIRES(mu_);

  const WalOptions options_;
  FileSystem* const fs_;

  mutable Mutex mu_;
  // Signalled for Rotate/Close waiting for the token and for TEST_WaitForQueued;
  // appending writers wait on their own condition variable (Writer::cv).
  CondVar cv_;
  size_t token_waiters_ GUARDED_BY(mu_) = 0;  // AcquireFlushToken callers waiting
  // Appends waiting for a flush, in arrival order. Writers live on their callers' stacks.
  std::vector<Writer*> queue_ GUARDED_BY(mu_);
  // True while someone (a flush leader, Rotate or Close) holds the flush token: the only
  // right to do I/O on current_ and to replace it. The holder reads current_ under mu_,
  // then writes and syncs its file without mu_; nobody else touches the file meanwhile.
  bool flushing_ GUARDED_BY(mu_) = false;
  std::unique_ptr<OpenSegment> current_ GUARDED_BY(mu_);
  std::vector<SegmentId> closed_ GUARDED_BY(mu_);  // ascending
  SegmentId next_segment_id_ GUARDED_BY(mu_) = 1;
  arrow::Status sticky_ GUARDED_BY(mu_);
  bool closed_for_appends_ GUARDED_BY(mu_) = false;
  size_t queued_waiters_ GUARDED_BY(mu_) = 0;  // TEST_WaitForQueued callers
  WalStats stats_ GUARDED_BY(mu_);

  // Serializes Rotate() calls (held across their I/O; never taken under mu_).
  Mutex rotate_mu_;
  // Guards the ledger and its file; held across the file's rewrite, never under mu_
  // (taken after rotate_mu_ when both are held).
  Mutex ledger_mu_;
  SegmentLedger ledger_ GUARDED_BY(ledger_mu_);
};

}  // namespace ingester::wal
