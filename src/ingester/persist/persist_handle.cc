#include "ingester/persist/persist_handle.h"

#include <algorithm>
#include <utility>

#include "ingester/persist/persist_worker.h"

namespace ingester::persist {

namespace {

// splitmix64's finaliser: partition ids are consecutive catalog ids, and a plain modulo
// of them would put the partitions created together (one day's, of every table) on
// neighbouring workers in lock step; mixing spreads any id pattern.
uint64_t MixId(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

PersistJobFn MakePersistJobFn(PersistJobContext context) {
  return [context = std::move(context)](
             const PersistingSnapshot& snapshot,
             const std::optional<std::vector<std::string>>& cached_sort_key,
             std::stop_token stop) {
    return RunPersistJob(context, snapshot, cached_sort_key, std::move(stop));
  };
}

arrow::Status PersistHandleOptions::Validate() const {
  if (workers == 0) return arrow::Status::Invalid("--persist-workers must be at least 1");
  if (queue_depth == 0) {
    return arrow::Status::Invalid("--persist-queue-depth must be at least 1");
  }
  if (!job) return arrow::Status::Invalid("PersistHandle needs a persist job");
  return retry.Validate();
}

struct PersistHandle::State {
  WorkerShared shared;

  ~State() {
    shared.stop.request_stop();
    for (auto& worker : shared.workers) worker->Stop();
  }

  PersistWorker& WorkerFor(PartitionId id) {
    return *shared.workers[MixId(static_cast<uint64_t>(id.value())) %
                           shared.workers.size()];
  }
};

arrow::Result<PersistHandle> PersistHandle::Make(PersistHandleOptions options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  auto state = std::make_shared<State>();
  WorkerShared& shared = state->shared;
  shared.job = std::move(options.job);
  shared.on_persisted = std::move(options.on_persisted);
  shared.ingest_state = std::move(options.ingest_state);
  shared.retry = options.retry;
  shared.queue_depth = options.queue_depth;
  if (MetricsRegistry* r = options.metrics) {
    auto& m = shared.metrics;
    m.jobs = r->AddCounter("ingester_persist_jobs_total",
                           "Persist jobs completed (file written, buffer released).");
    m.failures = r->AddCounter("ingester_persist_job_failures_total",
                               "Persist job attempts that failed (and were retried).");
    m.transient_failures = r->AddCounter(
        "ingester_persist_failures_total",
        "Persist job attempts that failed, by kind: transient (retried with back-off) or "
        "permanent (not retried; the partition stays buffered and in the WAL).",
        "kind=\"transient\"");
    m.permanent_failures =
        r->AddCounter("ingester_persist_failures_total", "", "kind=\"permanent\"");
    m.blocked_partitions = r->AddGauge(
        "ingester_persist_blocked_partitions",
        "Partitions not persisted since a permanent persist failure (see /health).");
    m.cancelled = r->AddCounter("ingester_persist_jobs_cancelled_total",
                                "Persist jobs abandoned because the handle stopped.");
    m.rows = r->AddCounter("ingester_persist_rows_total",
                           "Rows written to Parquet files (after de-duplication).");
    m.input_rows = r->AddCounter("ingester_persist_input_rows_total",
                                 "Buffered rows persisted (before de-duplication).");
    m.bytes =
        r->AddCounter("ingester_persist_bytes_total", "Bytes of Parquet files written.");
    m.queued_us = r->AddCounter("ingester_persist_queued_microseconds_total",
                                "Time persist jobs spent queued.");
    m.active_us = r->AddCounter("ingester_persist_active_microseconds_total",
                                "Time persist jobs spent running (retries included).");
    m.total_us = r->AddCounter("ingester_persist_total_microseconds_total",
                               "Time from persist request to completion.");
    m.in_flight =
        r->AddGauge("ingester_persist_jobs_in_flight", "Persist jobs queued or running.");
    for (size_t i = 0; i < options.workers; ++i) {
      m.queue_length.push_back(r->AddGauge("ingester_persist_queue_length",
                                           "Persist jobs waiting in a worker's queue.",
                                           "worker=\"" + std::to_string(i) + "\""));
    }
  }
  if (MetricsRegistry* r = options.metrics) {
    auto& h = shared.phase_seconds;
    auto phase = [r](const char* name) {
      return r->AddHistogram(
          "ingester_persist_phase_duration_seconds",
          "Seconds a completed persist job spent in each phase: queued, compact (sort "
          "and de-duplicate), encode (Parquet), upload, catalog, active (running, "
          "retries included) and total (from request to completion).",
          JobBuckets(), std::string("phase=\"") + name + "\"");
    };
    h.queued = phase("queued");
    h.compact = phase("compact");
    h.encode = phase("encode");
    h.upload = phase("upload");
    h.catalog = phase("catalog");
    h.active = phase("active");
    h.total = phase("total");
  }
  for (size_t i = 0; i < options.workers; ++i) {
    shared.workers.push_back(std::make_unique<PersistWorker>(i, &shared));
  }
  for (auto& worker : shared.workers) worker->Start();
  return PersistHandle(std::move(state));
}

namespace {

arrow::Status NotValid() {
  return arrow::Status::Invalid("PersistHandle without workers");
}

arrow::Status Stopped() {
  return arrow::Status::Cancelled("the persist handle is stopped");
}

}  // namespace

arrow::Status PersistHandle::Enqueue(std::shared_ptr<PartitionData> partition,
                                     std::shared_ptr<const PersistingSnapshot> snapshot,
                                     PersistCallback done) const {
  if (!valid()) return NotValid();
  if (partition == nullptr || snapshot == nullptr) {
    return arrow::Status::Invalid("Enqueue needs a partition and its snapshot");
  }
  if (snapshot->partition_id != partition->partition_id()) {
    return arrow::Status::Invalid(
        "snapshot of partition ", snapshot->partition_id.value(),
        " enqueued for partition ", partition->partition_id().value());
  }
  PersistItem item;
  item.requested = PersistClock::now();
  PersistWorker& worker = state_->WorkerFor(partition->partition_id());
  item.partition = std::move(partition);
  item.snapshot = std::move(snapshot);
  item.done = std::move(done);
  ARROW_ASSIGN_OR_RAISE(auto outcome,
                        worker.Push(std::move(item), nullptr, /*wait_for_room=*/true));
  if (outcome == PersistWorker::PushOutcome::kStopped) return Stopped();
  return arrow::Status::OK();
}

arrow::Result<bool> PersistHandle::MarkAndEnqueue(
    const std::shared_ptr<PartitionData>& partition, PersistCallback done) const {
  if (!valid()) return NotValid();
  if (partition == nullptr) return arrow::Status::Invalid("MarkAndEnqueue(null)");
  PersistItem item;
  item.requested = PersistClock::now();
  item.partition = partition;
  item.done = std::move(done);
  ARROW_ASSIGN_OR_RAISE(
      auto outcome,
      state_->WorkerFor(partition->partition_id())
          .Push(
              std::move(item), [&] { return partition->MarkPersisting(); }, true));
  if (outcome == PersistWorker::PushOutcome::kStopped) return Stopped();
  return outcome == PersistWorker::PushOutcome::kQueued;
}

arrow::Result<bool> PersistHandle::TryMarkAndEnqueue(
    const std::shared_ptr<PartitionData>& partition, int64_t min_buffer_bytes,
    PersistCallback done) const {
  if (!valid()) return NotValid();
  if (partition == nullptr) return arrow::Status::Invalid("TryMarkAndEnqueue(null)");
  PersistItem item;
  item.requested = PersistClock::now();
  item.partition = partition;
  item.done = std::move(done);
  auto mark = [&]() -> arrow::Result<std::shared_ptr<const PersistingSnapshot>> {
    if (partition->Stats().buffer_bytes < min_buffer_bytes) return nullptr;
    return partition->MarkPersisting();
  };
  ARROW_ASSIGN_OR_RAISE(
      auto outcome,
      state_->WorkerFor(partition->partition_id()).Push(std::move(item), mark, false));
  if (outcome == PersistWorker::PushOutcome::kStopped) return Stopped();
  return outcome == PersistWorker::PushOutcome::kQueued;
}

bool PersistHandle::WaitIdle(std::chrono::nanoseconds timeout) const {
  if (!valid()) return true;
  WorkerShared& shared = state_->shared;
  MutexLock lock(&shared.idle_mu);
  return shared.idle_cv.WaitFor(&shared.idle_mu, timeout, [&] {
    return shared.in_flight.load(std::memory_order_acquire) == 0;
  });
}

bool PersistHandle::idle() const {
  return !valid() || state_->shared.in_flight.load(std::memory_order_acquire) == 0;
}

void PersistHandle::Stop() const {
  if (!valid()) return;
  state_->shared.stop.request_stop();
  for (auto& worker : state_->shared.workers) worker->Stop();
}

size_t PersistHandle::WorkerFor(PartitionId partition) const {
  if (!valid()) return 0;
  return MixId(static_cast<uint64_t>(partition.value())) % state_->shared.workers.size();
}

size_t PersistHandle::workers() const {
  return valid() ? state_->shared.workers.size() : 0;
}

size_t PersistHandle::queue_depth() const {
  return valid() ? state_->shared.queue_depth : 0;
}

size_t PersistHandle::QueueLength(size_t worker) const {
  if (!valid() || worker >= state_->shared.workers.size()) return 0;
  return state_->shared.workers[worker]->size();
}

std::vector<PersistFailure> PersistHandle::PermanentFailures() const {
  std::vector<PersistFailure> out;
  if (!valid()) return out;
  WorkerShared& shared = state_->shared;
  {
    MutexLock lock(&shared.failures_mu);
    for (const auto& [id, failure] : shared.permanent) out.push_back(failure);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.partition_id.value() < b.partition_id.value();
  });
  return out;
}

PersistHandleStats PersistHandle::stats() const {
  PersistHandleStats s;
  if (!valid()) return s;
  const WorkerShared& shared = state_->shared;
  s.enqueued = shared.enqueued.load();
  s.completed = shared.completed.load();
  s.failed_attempts = shared.failed_attempts.load();
  s.permanent_failures = shared.permanent_failures.load();
  s.blocked_partitions = static_cast<int64_t>(PermanentFailures().size());
  s.cancelled = shared.cancelled.load();
  s.rows = shared.rows.load();
  s.file_bytes = shared.file_bytes.load();
  s.in_flight = shared.in_flight.load();
  for (const auto& worker : shared.workers)
    s.queued += static_cast<int64_t>(worker->size());
  return s;
}

}  // namespace ingester::persist
