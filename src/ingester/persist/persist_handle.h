// The entry point of the persist pipeline: hands partition snapshots to a fixed set of
// workers that persist them (persist_job.h) and then release them from the buffer and
// the WAL.
//
//   triggers / shutdown ──Enqueue(partition, snapshot)──┐ hash(partition id) % N
//                                                       v
//        worker 0: [bounded queue] ──> job ──> MarkPersisted ──> on_persisted ──>
//        done() worker 1: [bounded queue] ──> ... worker N-1
//
// There is no submission queue in front of the workers (IOx's had one, and a full worker
// queue behind it deadlocked its dispatcher under load): Enqueue itself picks the worker
// and waits for room in its queue, which is the backpressure. A partition always goes to
// the same worker, so its persists (and the catalog sort key updates inside them) run
// one at a time, in the order they were enqueued; since PartitionData::MarkPersisted
// requires snapshots to complete oldest first, snapshots of one partition must be
// enqueued in generation order. MarkAndEnqueue guarantees that for concurrent callers by
// marking under the worker's queue lock.
//
// After the job succeeds the worker removes the snapshot from its partition (queries stop
// returning it; the completed persist count grows), hands the snapshot's sequence
// numbers to `on_persisted` (the wiring releases them in the WAL reference tracker,
// which deletes segments left with none: persistence never calls into the WAL), counts
// it in the metrics, logs the job's timings at INFO and calls the job's completion
// callback. A job that fails with a transient error (persist_error.h) is logged and
// retried after a capped exponential back-off with jitter, until it succeeds or the
// handle stops. A job that fails with a permanent error (permission, read-only file
// system, missing bucket, data that cannot be encoded) is not retried: it is logged once
// at ERROR, counted, and its partition is blocked (PermanentFailures()): the partition's
// later snapshots are not persisted either (its persists must complete in generation
// order), so all its data stays buffered (readable) and its writes stay in the WAL,
// whose segments are kept until a restart, after the operator's fix, replays
// and persists them. Data is never dropped.
//
// Saturation: an Enqueue that finds its queue full sets IngestBlock::kPersistSaturated
// (writes get 503) before it waits; a worker that dequeues clears it once every queue is
// below half its depth.
//
// PersistHandle is a cheap clone (one shared_ptr): every clone shares the workers. The
// workers stop when Stop() is called or the last clone is destroyed; queued jobs are
// then abandoned (their completions get Cancelled, their data stays buffered and in the
// WAL). A completion callback must not hold the last clone (it runs on a worker, which
// cannot join itself).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "ingester/buffer/partition_data.h"
#include "ingester/common/metrics.h"
#include "ingester/persist/ingest_state.h"
#include "ingester/persist/object_store.h"
#include "ingester/persist/persist_job.h"

namespace ingester::persist {

// One persist: the snapshot, the partition's sort key as the worker last saw it (nullopt
// for the first persist of the partition on this worker), and a stop token that is
// requested when the handle stops (the job may then give up).
using PersistJobFn = std::function<arrow::Result<PersistJobResult>(
    const PersistingSnapshot& snapshot,
    const std::optional<std::vector<std::string>>& cached_sort_key,
    std::stop_token stop)>;

// The real job: RunPersistJob over `context` (whose pointers must outlive the handle).
PersistJobFn MakePersistJobFn(PersistJobContext context);

// What a completion callback learns about its job.
struct PersistCompletion {
  // OK: persisted, removed from the partition and released in the WAL. Cancelled: the
  // handle stopped first (the data stays buffered and in the WAL). `permanent`: the job
  // (or an earlier one of the partition) failed permanently; the data stays buffered and
  // in the WAL. Anything else: the file was written but MarkPersisted refused the
  // snapshot (snapshots of the partition enqueued out of generation order, a caller bug).
  arrow::Status status;
  bool permanent = false;
  PartitionId partition_id;
  uint64_t generation = 0;
  // Valid when status is OK.
  PersistJobResult result;
  int attempts = 0;  // job runs, the successful one included
  // Enqueue call -> room in the queue -> job starts -> job done.
  std::chrono::nanoseconds waited_for_room{0};
  std::chrono::nanoseconds queued{0};
  std::chrono::nanoseconds active{0};  // job runs and back-offs
  std::chrono::nanoseconds total{0};   // since the Enqueue call
};
using PersistCallback = std::function<void(const PersistCompletion&)>;
// Told the sequence numbers a completed persist took out of the buffer.
using PersistedCallback = std::function<void(const std::vector<SequenceNumber>&)>;

// A partition whose persist failed permanently (see the top of the file).
struct PersistFailure {
  PartitionId partition_id;
  // "partition 7 (db.cpu '2024-01-01')", for logs and /health.
  std::string partition;
  uint64_t generation = 0;  // of the snapshot that failed
  // PersistErrorClass::reason and ::remedy.
  std::string reason;
  std::string remedy;
  // The job's error message.
  std::string error;
};

struct PersistHandleOptions {
  // --persist-workers: threads persisting in parallel.
  size_t workers = 5;
  // --persist-queue-depth: jobs each worker holds before Enqueue waits (running job
  // excluded).
  size_t queue_depth = 250;
  // Required. MakePersistJobFn() for the real one.
  PersistJobFn job;
  // Optional completion callback: the sequence numbers of each snapshot once it is
  // persisted and out of the buffer, on the worker's thread (the wiring releases them in
  // the WAL: wal::ReferenceTracker::Release). Thread-safe; must not block for long.
  PersistedCallback on_persisted;
  // Optional: saturation is reported there.
  std::shared_ptr<IngestState> ingest_state;
  // Optional; must outlive the handle. ingester_persist_* counters and gauges.
  MetricsRegistry* metrics = nullptr;
  // Back-off between runs of a job that failed transiently (the job retries transient
  // upload and catalog errors itself; this covers what escapes). max_attempts is
  // ignored: a persist is retried until it succeeds, fails permanently or the handle
  // stops.
  RetryPolicy retry{.initial_delay = std::chrono::milliseconds(1000),
                    .max_delay = std::chrono::milliseconds(60'000)};

  arrow::Status Validate() const;
};

struct PersistHandleStats {
  int64_t enqueued = 0;
  int64_t completed = 0;           // persisted and released
  int64_t failed_attempts = 0;     // transient and permanent
  int64_t permanent_failures = 0;  // jobs that failed permanently
  int64_t blocked_partitions = 0;  // PermanentFailures().size()
  int64_t cancelled = 0;
  int64_t rows = 0;        // rows written to files (after de-duplication)
  int64_t file_bytes = 0;  // bytes of the files
  int64_t queued = 0;      // jobs waiting in the queues now
  int64_t in_flight = 0;   // enqueued and not yet completed or cancelled
};

class PersistHandle {
 public:
  // Starts the workers.
  static arrow::Result<PersistHandle> Make(PersistHandleOptions options);
  // A handle with no workers (valid() is false); every call but the assignment fails.
  PersistHandle() = default;

  bool valid() const { return state_ != nullptr; }

  // Queues the persist of `snapshot`, which `partition->MarkPersisting()` returned, on
  // the partition's worker, waiting while that worker's queue is full. `done`, if set,
  // runs on the worker when the job completes or is cancelled. Cancelled if the handle
  // is stopped (nothing is queued then). Thread-safe.
  arrow::Status Enqueue(std::shared_ptr<PartitionData> partition,
                        std::shared_ptr<const PersistingSnapshot> snapshot,
                        PersistCallback done = nullptr) const;

  // Waits for room in the partition's worker queue, then, holding that queue's lock,
  // marks the partition (MarkPersisting) and queues the snapshot: concurrent callers for
  // one partition queue its snapshots in generation order. Returns false when the
  // partition's buffer was empty (nothing marked or queued; `done` is not called).
  arrow::Result<bool> MarkAndEnqueue(const std::shared_ptr<PartitionData>& partition,
                                     PersistCallback done = nullptr) const;

  // As MarkAndEnqueue but never waits: when the queue is full it sets the saturation and
  // returns false without marking. Marks only if the partition's mutable buffer holds at
  // least `min_buffer_bytes` when the queue lock is held (a concurrent call that just
  // marked it leaves it small). For writer threads (the hot partition trigger).
  arrow::Result<bool> TryMarkAndEnqueue(const std::shared_ptr<PartitionData>& partition,
                                        int64_t min_buffer_bytes = 0,
                                        PersistCallback done = nullptr) const;

  // Waits until no job is queued or running (those enqueued meanwhile included); false
  // at the timeout. Thread-safe.
  bool WaitIdle(std::chrono::nanoseconds timeout) const;
  bool idle() const;

  // The partitions blocked by a permanent failure, by partition id. Thread-safe.
  std::vector<PersistFailure> PermanentFailures() const;

  // Stops every worker: waits for running jobs (asking them to stop retrying) and
  // cancels queued ones. Later Enqueue calls fail with Cancelled. Idempotent.
  void Stop() const;

  // The worker `partition` goes to.
  size_t WorkerFor(PartitionId partition) const;
  size_t workers() const;
  size_t queue_depth() const;
  // Jobs waiting in worker `i`'s queue now.
  size_t QueueLength(size_t worker) const;
  PersistHandleStats stats() const;

  struct State;  // shared by clones; defined in persist_handle.cc

 private:
  explicit PersistHandle(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace ingester::persist
