// What decides that buffered data is persisted, and the shutdown drain.
//
//   trigger                 where it runs                  what it persists
//   ─────────────────────── ────────────────────────────── ───────────────────────────
//   WAL rotation            RotationTask thread            every partition
//   (OnWalRotated)          (hands the segment to
//                           `segment_closed` first)
//   hot partition           writer thread, after the       that partition (its buffer
//   (PersistWriteObserver)  write that took its buffer     restarts empty; writes go on)
//                           to --persist-hot-partition-cost
//   --max-buffer-bytes      trigger thread, woken by a     the largest partitions, until
//                           write that finds the tree      the unmarked rest is under
//                           over the limit                 half the limit
//   disk (WAL volume use    trigger thread, every          rotate + every partition;
//   >= 90 %)                disk_check_interval            refuses writes until it drops
//
// Writers never wait here: the hot-partition trigger uses the non-blocking
// TryMarkAndEnqueue (a full queue sets the persist saturation instead, and the next
// write over the cost tries again), and the memory trigger only wakes the trigger
// thread. The rotation callback, the trigger thread and Drain wait on full queues
// (backpressure), which holds no lock a writer needs.
//
// Wiring (the observer must exist before the tree, the triggers after it):
//
//   auto observer = std::make_shared<persist::PersistWriteObserver>();
//   tree_options.post_write_observer = observer;               // BufferTree::Make
//   wal_sink = std::make_shared<wal::WalSink>(wal, tree, tracker);  // replay into `tree`
//   triggers = PersistTriggers::Make({.tree = tree, .handle = handle, .observer =
//   observer,
//                                     .segment_closed = <tracker->AddSegment>,
//                                     .wait_segments_deleted = <tracker->WaitUntilEmpty>,
//                                     ...});
//   RotationTask callback: [t](wal::ClosedSegment s) { t->OnWalRotated(std::move(s)); }
//   shutdown: refuse writes, finish in-flight ones, RotationTask::Stop(),
//   triggers->Drain()
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "ingester/buffer/buffer_tree.h"
#include "ingester/common/metrics.h"
#include "ingester/common/thread_annotations.h"
#include "ingester/dml/dml_sink.h"
#include "ingester/persist/ingest_state.h"
#include "ingester/persist/persist_handle.h"
#include "ingester/wal/closed_segment.h"
#include "ingester/wal/file_system.h"

namespace ingester::persist {

struct TriggerCore;

// The BufferTree's PostWriteObserver: checks the hot-partition cost and the memory limit
// after every write. Inert until PersistTriggers::Make attaches it (and again after the
// triggers stop). Thread-safe.
class PersistWriteObserver final : public PostWriteObserver {
 public:
  PersistWriteObserver() = default;
  void ObserveWrite(const std::shared_ptr<PartitionData>& partition,
                    const PartitionStats& stats) override;

 private:
  friend class PersistTriggers;
  // Set once by PersistTriggers::Make; `owned_` keeps it alive as long as the tree.
  std::atomic<TriggerCore*> core_{nullptr};
  std::shared_ptr<TriggerCore> owned_;
};

struct PersistTriggersOptions {
  std::shared_ptr<BufferTree> tree;  // required
  PersistHandle handle;              // required
  // The tree's observer, to attach (optional: without it no hot-partition or memory
  // trigger runs after writes).
  std::shared_ptr<PersistWriteObserver> observer;
  // Optional: each closed segment (a rotation's, or replay's for PersistReplayed) is
  // handed here before its partitions are persisted; the wiring gives it to the WAL's
  // reference tracker, which deletes it once its writes are persisted.
  std::function<void(const wal::ClosedSegment&)> segment_closed;
  // Optional: waits up to `timeout` until every segment handed to `segment_closed` is
  // deleted; OK, or an error saying what is left ("2 WAL segments not deleted (40
  // writes still referenced)"). Drain and PersistReplayed wait on it.
  std::function<arrow::Status(std::chrono::nanoseconds timeout)> wait_segments_deleted;
  // Optional: disk full is reported there.
  std::shared_ptr<IngestState> ingest_state;
  // Optional; must outlive the triggers. ingester_persist_triggers_total{trigger=...}.
  MetricsRegistry* metrics = nullptr;

  // --persist-hot-partition-cost: a partition whose mutable buffer reaches this many
  // bytes is persisted. 0 turns the trigger off.
  int64_t hot_partition_cost = 20'000'000;
  // --max-buffer-bytes: buffered bytes (persisting snapshots included) above which the
  // largest partitions are persisted. 0 turns the trigger off.
  int64_t max_buffer_bytes = 0;
  // Bounds how often the memory check walks the tree while it stays over the limit.
  std::chrono::nanoseconds memory_check_min_interval = std::chrono::milliseconds(100);

  // Rotates the WAL and returns the closed segment (Wal::Rotate). Used by the disk
  // trigger and Drain; null: they persist without rotating.
  std::function<arrow::Result<wal::ClosedSegment>()> rotate;
  // The WAL volume's space (Wal::GetDiskSpace); null turns the disk trigger off.
  std::function<arrow::Result<wal::DiskSpace>()> disk_space;
  // Use at or above which writes are refused and a persist is forced.
  double disk_full_ratio = 0.9;
  // How often the trigger thread checks the disk; 0: only CheckDiskNow() does.
  std::chrono::nanoseconds disk_check_interval = std::chrono::seconds(1);

  arrow::Status Validate() const;
};

struct PersistTriggersStats {
  int64_t rotations = 0;          // OnWalRotated calls
  int64_t hot_partitions = 0;     // partitions enqueued by the hot-partition trigger
  int64_t hot_skipped_full = 0;   // hot partitions not enqueued: queue full
  int64_t memory_passes = 0;      // memory checks that found the tree over the limit
  int64_t memory_partitions = 0;  // partitions enqueued by them
  int64_t disk_forced = 0;        // persists forced by a full disk
};

class PersistTriggers {
 public:
  // Attaches the observer and starts the trigger thread (when the memory or the disk
  // trigger is on).
  static arrow::Result<std::unique_ptr<PersistTriggers>> Make(
      PersistTriggersOptions options);
  // Stop().
  ~PersistTriggers();
  PersistTriggers(const PersistTriggers&) = delete;
  PersistTriggers& operator=(const PersistTriggers&) = delete;

  // The RotationTask callback: gives the closed segment to `segment_closed`, then marks
  // every partition with buffered data and enqueues it (waiting on full queues; writers
  // wait only for one partition's MarkPersisting at a time). Errors are logged.
  void OnWalRotated(wal::ClosedSegment segment);

  // Marks and enqueues every partition with buffered data, waiting on full queues.
  // Returns how many were enqueued; the first error (after trying every partition).
  arrow::Result<size_t> PersistAll();

  // Rotates the WAL (if `rotate` is set; OnWalRotated then persists everything) or else
  // PersistAll().
  arrow::Status RotateAndPersistAll();

  // For startup, after WAL replay into this tree and
  // Wal::Make: gives the replayed segments to `segment_closed`, persists every partition
  // and waits until the jobs are done and the replayed segments deleted. IOError at
  // `timeout`.
  arrow::Status PersistReplayed(const std::vector<wal::ClosedSegment>& segments,
                                std::chrono::nanoseconds timeout);

  // For shutdown, once writes are refused and in-flight ones are done: rotates, persists
  // every partition, waits until every persist job has completed and (with
  // `wait_segments_deleted`) every closed segment is deleted. TimedOut-style IOError at
  // `timeout`; IOError naming them as soon as the jobs are done if some partitions failed
  // permanently (their segments stay).
  arrow::Status Drain(std::chrono::nanoseconds timeout);

  // The checks the trigger thread runs, run now on the caller's thread (tests, startup).
  // Memory: persists the largest partitions if the tree is over max_buffer_bytes.
  arrow::Status CheckMemoryNow();
  // Disk: sets / clears disk full; on entering it (and while it lasts, when no persist
  // is running) forces RotateAndPersistAll.
  arrow::Status CheckDiskNow();

  // Stops the trigger thread and detaches the observer. Idempotent. A check in progress
  // finishes first, and it may be waiting for room in a persist queue: stop the handle
  // first for a prompt stop.
  void Stop();

  PersistTriggersStats stats() const;

 private:
  explicit PersistTriggers(PersistTriggersOptions options,
                           std::shared_ptr<TriggerCore> core);
  void Run();
  // Gives `segment` to `segment_closed` and persists every partition.
  arrow::Result<size_t> SegmentClosed(const wal::ClosedSegment& segment);
  // Waits until no job runs and every closed segment is deleted.
  arrow::Status WaitPersistedAndReleased(std::chrono::steady_clock::time_point deadline,
                                         std::chrono::nanoseconds timeout);

  const PersistTriggersOptions options_;
  const std::shared_ptr<TriggerCore> core_;
  std::thread thread_;
  std::once_flag stop_once_;
  // Serialises CheckDiskNow (thread and callers) and guards the disk state.
  Mutex disk_mu_;
  bool disk_full_ GUARDED_BY(disk_mu_) = false;
};

}  // namespace ingester::persist
