// One persist worker: a thread and its bounded FIFO queue of snapshots to persist. The
// PersistHandle (persist_handle.h) owns N of them and hashes each partition to one.
// Internal to the persist module's pipeline; use PersistHandle.
//
//   producers ──Push──> [ item | item | ... ] (≤ queue_depth) ──pop──> Process(item):
//     wait while full        queue_ (mu_)                          job, retried with
//     (or report kQueueFull)                                        back-off;
//     MarkPersisted;
//                                                                   release; log; done()
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ingester/common/metrics.h"
#include "ingester/common/thread_annotations.h"
#include "ingester/persist/persist_error.h"
#include "ingester/persist/persist_handle.h"

namespace ingester::persist {

class PersistWorker;

using PersistClock = std::chrono::steady_clock;

struct PersistItem {
  std::shared_ptr<PartitionData> partition;
  std::shared_ptr<const PersistingSnapshot> snapshot;
  PersistCallback done;
  PersistClock::time_point requested;  // the Enqueue call
  PersistClock::time_point enqueued;   // room found, item queued
};

// What all workers of one handle share. Owned by PersistHandle::State; the workers keep
// a plain pointer (they are stopped and joined before it goes).
struct WorkerShared {
  PersistJobFn job;
  PersistedCallback on_persisted;
  std::shared_ptr<IngestState> ingest_state;
  RetryPolicy retry;
  size_t queue_depth = 0;
  // Requested by Stop(): ends back-off waits and is handed to the jobs.
  std::stop_source stop;

  // Counters always kept (stats()); mirrored into the registry when one is given.
  std::atomic<int64_t> enqueued{0}, completed{0}, failed_attempts{0}, cancelled{0},
      rows{0}, file_bytes{0}, in_flight{0};
  std::atomic<int64_t> permanent_failures{0};
  struct Metrics {
    Counter* jobs = nullptr;
    Counter* failures = nullptr;
    Counter* transient_failures = nullptr;  // ingester_persist_failures_total{kind=...}
    Counter* permanent_failures = nullptr;
    Gauge* blocked_partitions = nullptr;
    Counter* cancelled = nullptr;
    Counter* rows = nullptr;
    Counter* input_rows = nullptr;
    Counter* bytes = nullptr;
    Counter* queued_us = nullptr;
    Counter* active_us = nullptr;
    Counter* total_us = nullptr;
    Gauge* in_flight = nullptr;
    std::vector<Gauge*> queue_length;  // one per worker
  } metrics;
  // Seconds per phase of a completed job (ingester_persist_phase_duration_seconds);
  // null without a registry.
  struct PhaseHistograms {
    Histogram* queued = nullptr;
    Histogram* compact = nullptr;
    Histogram* encode = nullptr;
    Histogram* upload = nullptr;
    Histogram* catalog = nullptr;
    Histogram* active = nullptr;
    Histogram* total = nullptr;
  } phase_seconds;

  // Guards the decision to clear the saturation against a concurrent set (taken inside
  // a queue lock when setting; never held while taking one).
  Mutex saturation_mu;
  // Orders changes of `in_flight` (and its gauge) with WaitIdle's check; taken inside a
  // queue lock by Push, alone by JobFinished. In-flight reaching zero wakes WaitIdle.
  Mutex idle_mu;
  CondVar idle_cv;

  // Called with the full queue's lock held, so the flag is set before that queue can
  // be dequeued (whose worker then re-checks).
  // Partitions blocked by a permanent failure (persist_handle.h). Written by the
  // partition's worker, read by anyone.
  Mutex failures_mu;
  std::unordered_map<PartitionId, PersistFailure> permanent GUARDED_BY(failures_mu);
  std::optional<PersistFailure> PermanentFailureOf(PartitionId id) EXCLUDES(failures_mu);
  void AddPermanentFailure(PersistFailure failure) EXCLUDES(failures_mu);

  void SetSaturated();
  // Clears the saturation when every queue is below half its depth. Called by workers
  // after each dequeue, with no queue lock held.
  void MaybeClearSaturation();
  void JobFinished();

  // Set once by PersistHandle::Make; read by MaybeClearSaturation. Last, so that the
  // workers (whose destructors use the members above) go first.
  std::vector<std::unique_ptr<PersistWorker>> workers;
};

class PersistWorker {
 public:
  enum class PushOutcome { kQueued, kNothingToPersist, kQueueFull, kStopped };
  // Produces the snapshot under the queue lock (MarkPersisting); null means the
  // partition had nothing to persist.
  using MarkFn =
      std::function<arrow::Result<std::shared_ptr<const PersistingSnapshot>>()>;

  PersistWorker(size_t index, WorkerShared* shared);
  // Stop().
  ~PersistWorker();
  PersistWorker(const PersistWorker&) = delete;
  PersistWorker& operator=(const PersistWorker&) = delete;

  void Start();

  // Queues `item`. With `wait_for_room`, waits while the queue is full; without, returns
  // kQueueFull. When `item.snapshot` is null, `mark` produces it once there is room,
  // under the queue lock (kNothingToPersist if it returns null; its error is returned).
  // The saturation is set whenever the queue is found full.
  arrow::Result<PushOutcome> Push(PersistItem item, const MarkFn& mark,
                                  bool wait_for_room) EXCLUDES(mu_);

  // Lets the running job finish (its retries end early), cancels the queued ones and
  // joins the thread. Idempotent.
  void Stop() EXCLUDES(mu_);

  size_t size() const { return size_.load(std::memory_order_acquire); }

 private:
  void Run() EXCLUDES(mu_);
  void Process(PersistItem item);
  void Complete(PersistItem& item, PersistCompletion completion);
  // Records, logs and counts the permanent failure of `item`'s job, then completes it.
  void FailPermanently(PersistItem& item, PersistCompletion c, const arrow::Status& error,
                       const PersistErrorClass& error_class,
                       PersistClock::time_point start);
  // Waits `delay` unless the handle stops first; false if it stopped.
  bool WaitBackoff(std::chrono::nanoseconds delay);
  void SetSizeLocked() REQUIRES(mu_);

  const size_t index_;
  WorkerShared* const shared_;

  mutable Mutex mu_;
  CondVar not_empty_;  // the worker waits for an item or stop
  CondVar not_full_;   // producers wait for room or stop
  std::deque<PersistItem> queue_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  // queue_.size(), readable without the lock (saturation check, stats).
  std::atomic<size_t> size_{0};

  std::thread thread_;
  std::once_flag join_once_;

  // The catalog sort key each partition had after its last persist here. Only this
  // worker's thread touches it: every persist of a partition runs on one worker.
  std::unordered_map<PartitionId, std::vector<std::string>> sort_keys_;
};

}  // namespace ingester::persist
