#include "ingester/persist/persist_worker.h"

#include <condition_variable>
#include <mutex>
#include <random>
#include <utility>

#include "ingester/common/logging.h"
#include "ingester/persist/persist_error.h"

namespace ingester::persist {

namespace {

int64_t Micros(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

double Millis(std::chrono::nanoseconds d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// "namespace.table" for logs, without loading names that are not loaded yet.
std::string Describe(const PersistingSnapshot& s) {
  return fmt::format(
      "partition {} ({}.{} '{}') generation {}", s.partition_id.value(),
      s.namespace_name.Peek().value_or(std::to_string(s.namespace_id.value())),
      s.table_name.Peek().value_or(std::to_string(s.table_id.value())), s.partition_key,
      s.generation);
}

}  // namespace

std::optional<PersistFailure> WorkerShared::PermanentFailureOf(PartitionId id) {
  MutexLock lock(&failures_mu);
  auto it = permanent.find(id);
  if (it == permanent.end()) return std::nullopt;
  return it->second;
}

void WorkerShared::AddPermanentFailure(PersistFailure failure) {
  MutexLock lock(&failures_mu);
  const PartitionId id = failure.partition_id;
  permanent.emplace(id, std::move(failure));
  if (metrics.blocked_partitions != nullptr) {
    metrics.blocked_partitions->Set(static_cast<int64_t>(permanent.size()));
  }
}

void WorkerShared::SetSaturated() {
  if (ingest_state == nullptr) return;
  MutexLock lock(&saturation_mu);
  ingest_state->Set(IngestBlock::kPersistSaturated);
}

void WorkerShared::MaybeClearSaturation() {
  if (ingest_state == nullptr || !ingest_state->IsSet(IngestBlock::kPersistSaturated)) {
    return;
  }
  MutexLock lock(&saturation_mu);
  for (const auto& worker : workers) {
    // Below half: with a depth of 1, only an empty queue.
    if (worker->size() * 2 >= queue_depth) return;
  }
  ingest_state->Clear(IngestBlock::kPersistSaturated);
}

void WorkerShared::JobFinished() {
  // Under idle_mu, so that a WaitIdle that sees zero also sees the gauge at zero.
  MutexLock lock(&idle_mu);
  const int64_t left = in_flight.fetch_sub(1, std::memory_order_acq_rel) - 1;
  if (metrics.in_flight != nullptr) metrics.in_flight->Set(left);
  if (left == 0) idle_cv.NotifyAll();
}

PersistWorker::PersistWorker(size_t index, WorkerShared* shared)
    : index_(index), shared_(shared) {}

PersistWorker::~PersistWorker() { Stop(); }

void PersistWorker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void PersistWorker::SetSizeLocked() {
  size_.store(queue_.size(), std::memory_order_release);
  if (index_ < shared_->metrics.queue_length.size()) {
    shared_->metrics.queue_length[index_]->Set(static_cast<int64_t>(queue_.size()));
  }
}

arrow::Result<PersistWorker::PushOutcome> PersistWorker::Push(PersistItem item,
                                                              const MarkFn& mark,
                                                              bool wait_for_room) {
  MutexLock lock(&mu_);
  if (!stop_ && queue_.size() >= shared_->queue_depth) {
    shared_->SetSaturated();
    if (!wait_for_room) return PushOutcome::kQueueFull;
    not_full_.Wait(&mu_, [&]() REQUIRES(mu_) {
      return stop_ || queue_.size() < shared_->queue_depth;
    });
  }
  if (stop_) return PushOutcome::kStopped;
  if (item.snapshot == nullptr) {
    // Marking here, under the queue lock, orders the snapshots of one partition in the
    // queue as in the partition (both are FIFO).
    ARROW_ASSIGN_OR_RAISE(item.snapshot, mark());
    if (item.snapshot == nullptr) return PushOutcome::kNothingToPersist;
  }
  item.enqueued = PersistClock::now();
  shared_->enqueued.fetch_add(1, std::memory_order_relaxed);
  {
    // idle_mu orders the gauge's updates with JobFinished's (queue lock -> idle_mu).
    MutexLock idle_lock(&shared_->idle_mu);
    const int64_t in_flight =
        shared_->in_flight.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (shared_->metrics.in_flight != nullptr) shared_->metrics.in_flight->Set(in_flight);
  }
  queue_.push_back(std::move(item));
  SetSizeLocked();
  not_empty_.NotifyOne();
  return PushOutcome::kQueued;
}

void PersistWorker::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    not_empty_.NotifyAll();
    not_full_.NotifyAll();
  }
  std::call_once(join_once_, [this] {
    if (thread_.joinable()) thread_.join();
  });
  std::deque<PersistItem> abandoned;
  {
    MutexLock lock(&mu_);
    abandoned.swap(queue_);
    SetSizeLocked();
  }
  for (auto& item : abandoned) {
    PersistCompletion c;
    c.status = arrow::Status::Cancelled(
        "persist handle stopped before the job ran; the data stays buffered and in the "
        "WAL");
    Complete(item, std::move(c));
  }
}

void PersistWorker::Run() {
  while (true) {
    PersistItem item;
    {
      MutexLock lock(&mu_);
      not_empty_.Wait(&mu_, [&]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
      if (stop_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      SetSizeLocked();
      not_full_.NotifyOne();
    }
    shared_->MaybeClearSaturation();
    Process(std::move(item));
  }
}

bool PersistWorker::WaitBackoff(std::chrono::nanoseconds delay) {
  std::stop_token stop = shared_->stop.get_token();
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> lock(mu);
  // Nothing notifies `cv`: it waits out the delay, or wakes at once on a stop request.
  cv.wait_for(lock, stop, delay, [] { return false; });
  return !stop.stop_requested();
}

void PersistWorker::Complete(PersistItem& item, PersistCompletion completion) {
  const auto now = PersistClock::now();
  completion.partition_id = item.partition->partition_id();
  completion.generation = item.snapshot->generation;
  completion.total = now - item.requested;
  completion.waited_for_room = item.enqueued - item.requested;
  if (completion.status.IsCancelled()) {
    shared_->cancelled.fetch_add(1, std::memory_order_relaxed);
    if (shared_->metrics.cancelled != nullptr) shared_->metrics.cancelled->Add();
  }
  if (item.done) item.done(completion);
  // Drop the references (and the callback) before announcing the job's end, so that
  // whoever waits for idleness finds nothing pinned.
  item = PersistItem{};
  shared_->JobFinished();
}

void PersistWorker::FailPermanently(PersistItem& item, PersistCompletion c,
                                    const arrow::Status& error,
                                    const PersistErrorClass& error_class,
                                    PersistClock::time_point start) {
  const PersistingSnapshot& snapshot = *item.snapshot;
  PersistFailure failure;
  failure.partition_id = snapshot.partition_id;
  failure.partition = fmt::format(
      "partition {} ({}.{} '{}')", snapshot.partition_id.value(),
      snapshot.namespace_name.Peek().value_or(
          std::to_string(snapshot.namespace_id.value())),
      snapshot.table_name.Peek().value_or(std::to_string(snapshot.table_id.value())),
      snapshot.partition_key);
  failure.generation = snapshot.generation;
  failure.reason = std::string(error_class.reason);
  failure.remedy = std::string(error_class.remedy);
  failure.error = error.message();
  shared_->permanent_failures.fetch_add(1, std::memory_order_relaxed);
  if (shared_->metrics.permanent_failures != nullptr) {
    shared_->metrics.permanent_failures->Add();
  }
  spdlog::error(
      "persist of {} failed permanently ({}), not retrying: {}. The partition's data "
      "stays buffered and its WAL segments are kept; to persist it, {}, then restart "
      "the ingester",
      Describe(snapshot), failure.reason, error.ToString(), failure.remedy);
  shared_->AddPermanentFailure(std::move(failure));
  c.status = error;
  c.permanent = true;
  c.active = PersistClock::now() - start;
  Complete(item, std::move(c));
}

void PersistWorker::Process(PersistItem item) {
  const PersistingSnapshot& snapshot = *item.snapshot;
  const PartitionId pid = snapshot.partition_id;
  const auto start = PersistClock::now();
  std::optional<std::vector<std::string>> cached;
  if (auto it = sort_keys_.find(pid); it != sort_keys_.end()) cached = it->second;

  PersistCompletion c;
  c.queued = start - item.enqueued;
  // A blocked partition persists nothing more: its snapshots complete in generation
  // order, and an earlier one is stuck (its data and this one's stay buffered).
  if (auto failure = shared_->PermanentFailureOf(pid)) {
    c.status = arrow::Status::IOError("not persisted: generation ", failure->generation,
                                      " of ", failure->partition, " failed permanently (",
                                      failure->reason, "): ", failure->error);
    c.permanent = true;
    spdlog::debug("persist of {} skipped: {}", Describe(snapshot), c.status.message());
    Complete(item, std::move(c));
    return;
  }
  std::mt19937_64 rng(std::random_device{}());
  while (true) {
    ++c.attempts;
    arrow::Result<PersistJobResult> result =
        shared_->job(snapshot, cached, shared_->stop.get_token());
    if (result.ok()) {
      c.result = *std::move(result);
      break;
    }
    shared_->failed_attempts.fetch_add(1, std::memory_order_relaxed);
    if (shared_->metrics.failures != nullptr) shared_->metrics.failures->Add();
    const PersistErrorClass error_class = ClassifyPersistError(result.status());
    if (error_class.kind == PersistErrorKind::kPermanent &&
        !shared_->stop.stop_requested()) {
      FailPermanently(item, std::move(c), result.status(), error_class, start);
      return;
    }
    if (shared_->metrics.transient_failures != nullptr) {
      shared_->metrics.transient_failures->Add();
    }
    if (shared_->stop.stop_requested()) {
      c.status = arrow::Status::Cancelled("persist handle stopped while persisting: ",
                                          result.status().ToString());
      c.active = PersistClock::now() - start;
      spdlog::warn("persist of {} abandoned at shutdown after {} attempts: {}",
                   Describe(snapshot), c.attempts, result.status().ToString());
      Complete(item, std::move(c));
      return;
    }
    const auto delay = BackoffDelay(shared_->retry, c.attempts,
                                    std::uniform_real_distribution<>(0, 1)(rng));
    spdlog::warn("persist of {} failed (attempt {}), retrying in {:.0f} ms: {}",
                 Describe(snapshot), c.attempts, Millis(delay),
                 result.status().ToString());
    // The failure may have come from a stale cached sort key: re-read it next time.
    cached.reset();
    sort_keys_.erase(pid);
    if (!WaitBackoff(delay)) {
      c.status = arrow::Status::Cancelled("persist handle stopped while retrying: ",
                                          result.status().ToString());
      c.active = PersistClock::now() - start;
      Complete(item, std::move(c));
      return;
    }
  }
  sort_keys_[pid] = c.result.sort_key;

  // Leave the buffer, then the WAL: a segment is deleted only after the data is out of
  // memory and in the object store.
  arrow::Result<std::vector<SequenceNumber>> released =
      item.partition->MarkPersisted(item.snapshot);
  const auto end = PersistClock::now();
  c.active = end - start;
  if (!released.ok()) {
    c.status = released.status();
    spdlog::error("persist of {} wrote {} but could not leave the buffer: {}",
                  Describe(snapshot), c.result.file.path, released.status().ToString());
    Complete(item, std::move(c));
    return;
  }
  if (shared_->on_persisted) shared_->on_persisted(*released);

  shared_->completed.fetch_add(1, std::memory_order_relaxed);
  shared_->rows.fetch_add(c.result.output_rows, std::memory_order_relaxed);
  shared_->file_bytes.fetch_add(c.result.file_bytes, std::memory_order_relaxed);
  const auto total = end - item.requested;
  if (const auto& m = shared_->metrics; m.jobs != nullptr) {
    m.jobs->Add();
    m.rows->Add(c.result.output_rows);
    m.input_rows->Add(c.result.input_rows);
    m.bytes->Add(c.result.file_bytes);
    m.queued_us->Add(Micros(c.queued));
    m.active_us->Add(Micros(c.active));
    m.total_us->Add(Micros(total));
  }
  if (const auto& h = shared_->phase_seconds; h.total != nullptr) {
    h.queued->Observe(c.queued);
    h.compact->Observe(c.result.compact_time);
    h.encode->Observe(c.result.encode_time);
    h.upload->Observe(c.result.upload_time);
    h.catalog->Observe(c.result.catalog_time);
    h.active->Observe(c.active);
    h.total->Observe(total);
  }
  spdlog::info(
      "persisted {}: {} rows ({} in) to {} ({} bytes) on worker {}; queued {:.1f} ms, "
      "active {:.1f} ms (compact {:.1f}, encode {:.1f}, upload {:.1f}, catalog {:.1f}), "
      "total since requested {:.1f} ms, attempts {}",
      Describe(snapshot), c.result.output_rows, c.result.input_rows, c.result.file.path,
      c.result.file_bytes, index_, Millis(c.queued), Millis(c.active),
      Millis(c.result.compact_time), Millis(c.result.encode_time),
      Millis(c.result.upload_time), Millis(c.result.catalog_time), Millis(total),
      c.attempts);
  Complete(item, std::move(c));
}

}  // namespace ingester::persist
