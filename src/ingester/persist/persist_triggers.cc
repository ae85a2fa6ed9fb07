#include "ingester/persist/persist_triggers.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "ingester/common/logging.h"

namespace ingester::persist {

// What the observer (on writer threads) and the triggers share. Owned by the observer
// (so by the tree) and by the triggers; whichever goes last frees it.
struct TriggerCore {
  PersistHandle handle;
  // The observer only runs inside BufferTree::Apply, so the tree is alive whenever it
  // is used (and a raw pointer avoids a tree -> observer -> core -> tree cycle).
  const BufferTree* tree = nullptr;
  int64_t hot_partition_cost = 0;
  int64_t max_buffer_bytes = 0;
  // Cleared by PersistTriggers::Stop: the observer does nothing afterwards.
  std::atomic<bool> active{true};

  // Wakes the trigger thread. `memory_pending` coalesces wake-ups from writers: it stays
  // set from the first wake-up until the memory pass that answers it is done.
  std::atomic<bool> memory_pending{false};
  Mutex mu;
  CondVar cv;
  bool memory_wake GUARDED_BY(mu) = false;
  bool stop GUARDED_BY(mu) = false;

  std::atomic<int64_t> rotations{0}, hot{0}, hot_skipped{0}, memory_passes{0},
      memory_partitions{0}, disk_forced{0};
  Counter* rotation_metric = nullptr;
  Counter* hot_metric = nullptr;
  Counter* memory_metric = nullptr;
  Counter* disk_metric = nullptr;

  void WakeMemoryCheck() {
    if (memory_pending.exchange(true, std::memory_order_acq_rel)) return;
    MutexLock lock(&mu);
    memory_wake = true;
    cv.NotifyAll();
  }
};

void PersistWriteObserver::ObserveWrite(const std::shared_ptr<PartitionData>& partition,
                                        const PartitionStats& stats) {
  TriggerCore* core = core_.load(std::memory_order_acquire);
  if (core == nullptr || !core->active.load(std::memory_order_relaxed)) return;
  if (core->hot_partition_cost > 0 && stats.buffer_bytes >= core->hot_partition_cost) {
    // Never waits: a writer must not stall behind the persist queue. A full queue sets
    // the persist saturation; the next write over the cost tries again.
    auto enqueued = core->handle.TryMarkAndEnqueue(partition, core->hot_partition_cost);
    if (!enqueued.ok()) {
      if (!enqueued.status().IsCancelled()) {
        spdlog::warn("hot partition {}: could not enqueue its persist: {}",
                     partition->partition_id().value(), enqueued.status().ToString());
      }
    } else if (*enqueued) {
      core->hot.fetch_add(1, std::memory_order_relaxed);
      if (core->hot_metric != nullptr) core->hot_metric->Add();
      spdlog::debug("hot partition {}: {} buffered bytes >= {}, persisting",
                    partition->partition_id().value(), stats.buffer_bytes,
                    core->hot_partition_cost);
    } else if (partition->Stats().buffer_bytes >= core->hot_partition_cost) {
      core->hot_skipped.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (core->max_buffer_bytes > 0 &&
      core->tree->BufferedBytes() > core->max_buffer_bytes) {
    core->WakeMemoryCheck();
  }
}

arrow::Status PersistTriggersOptions::Validate() const {
  if (tree == nullptr)
    return arrow::Status::Invalid("PersistTriggers needs a BufferTree");
  if (!handle.valid())
    return arrow::Status::Invalid("PersistTriggers needs a PersistHandle");
  if (hot_partition_cost < 0) {
    return arrow::Status::Invalid("--persist-hot-partition-cost must not be negative");
  }
  if (max_buffer_bytes < 0) {
    return arrow::Status::Invalid("--max-buffer-bytes must not be negative");
  }
  if (!(disk_full_ratio > 0.0 && disk_full_ratio <= 1.0)) {
    return arrow::Status::Invalid("disk full ratio must be in (0, 1]");
  }
  if (disk_check_interval.count() < 0 || memory_check_min_interval.count() < 0) {
    return arrow::Status::Invalid("trigger intervals must not be negative");
  }
  return arrow::Status::OK();
}

arrow::Result<std::unique_ptr<PersistTriggers>> PersistTriggers::Make(
    PersistTriggersOptions options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  if (options.observer != nullptr && options.observer->owned_ != nullptr) {
    return arrow::Status::Invalid("the PersistWriteObserver is already attached");
  }
  auto core = std::make_shared<TriggerCore>();
  core->handle = options.handle;
  core->tree = options.tree.get();
  core->hot_partition_cost = options.hot_partition_cost;
  core->max_buffer_bytes = options.max_buffer_bytes;
  if (MetricsRegistry* r = options.metrics) {
    const std::string name = "ingester_persist_triggered_total";
    const std::string help =
        "Persist triggers: partitions enqueued (wal_rotation, hot_partition, "
        "max_buffer_bytes) or forced persist-all passes (disk_full).";
    core->rotation_metric = r->AddCounter(name, help, "trigger=\"wal_rotation\"");
    core->hot_metric = r->AddCounter(name, help, "trigger=\"hot_partition\"");
    core->memory_metric = r->AddCounter(name, help, "trigger=\"max_buffer_bytes\"");
    core->disk_metric = r->AddCounter(name, help, "trigger=\"disk_full\"");
  }
  std::shared_ptr<PersistWriteObserver> observer = options.observer;
  std::unique_ptr<PersistTriggers> triggers(
      new PersistTriggers(std::move(options), core));
  if (observer != nullptr) {
    observer->owned_ = core;
    observer->core_.store(core.get(), std::memory_order_release);
  }
  const auto& o = triggers->options_;
  if (o.max_buffer_bytes > 0 ||
      (o.disk_space && o.disk_check_interval > std::chrono::nanoseconds::zero())) {
    triggers->thread_ = std::thread([t = triggers.get()] { t->Run(); });
  }
  return triggers;
}

PersistTriggers::PersistTriggers(PersistTriggersOptions options,
                                 std::shared_ptr<TriggerCore> core)
    : options_(std::move(options)), core_(std::move(core)) {}

PersistTriggers::~PersistTriggers() { Stop(); }

void PersistTriggers::Stop() {
  core_->active.store(false, std::memory_order_relaxed);
  {
    MutexLock lock(&core_->mu);
    core_->stop = true;
    core_->cv.NotifyAll();
  }
  std::call_once(stop_once_, [this] {
    if (thread_.joinable()) thread_.join();
  });
}

void PersistTriggers::Run() {
  using Clock = std::chrono::steady_clock;
  const bool disk_on = options_.disk_space &&
                       options_.disk_check_interval > std::chrono::nanoseconds::zero();
  auto next_disk =
      disk_on ? Clock::now() + options_.disk_check_interval : Clock::time_point::max();
  auto memory_not_before = Clock::time_point::min();
  MutexLock lock(&core_->mu);
  while (!core_->stop) {
    const auto now = Clock::now();
    const bool memory_due = core_->memory_wake && now >= memory_not_before;
    const bool disk_due = now >= next_disk;
    if (!memory_due && !disk_due) {
      auto deadline = next_disk;
      if (core_->memory_wake) deadline = std::min(deadline, memory_not_before);
      if (deadline == Clock::time_point::max()) {
        core_->cv.Wait(&core_->mu, [&]() REQUIRES(core_->mu) {
          return core_->stop || core_->memory_wake;
        });
      } else {
        // Wakes for a stop or a memory check that is due; otherwise at the deadline.
        core_->cv.WaitFor(&core_->mu, deadline - now, [&]() REQUIRES(core_->mu) {
          return core_->stop || (core_->memory_wake && Clock::now() >= memory_not_before);
        });
      }
      continue;
    }
    if (memory_due) core_->memory_wake = false;
    core_->mu.Unlock();
    if (memory_due) {
      if (auto st = CheckMemoryNow(); !st.ok()) {
        spdlog::warn("memory persist trigger: {}", st.ToString());
      }
      core_->memory_pending.store(false, std::memory_order_release);
      memory_not_before = Clock::now() + options_.memory_check_min_interval;
    }
    if (disk_due) {
      if (auto st = CheckDiskNow(); !st.ok()) {
        spdlog::warn("disk persist trigger: {}", st.ToString());
      }
      next_disk = Clock::now() + options_.disk_check_interval;
    }
    core_->mu.Lock();
  }
}

arrow::Result<size_t> PersistTriggers::SegmentClosed(const wal::ClosedSegment& segment) {
  core_->rotations.fetch_add(1, std::memory_order_relaxed);
  if (options_.segment_closed) options_.segment_closed(segment);
  ARROW_ASSIGN_OR_RAISE(size_t enqueued, PersistAll());
  if (core_->rotation_metric != nullptr) {
    core_->rotation_metric->Add(static_cast<int64_t>(enqueued));
  }
  spdlog::info("WAL segment {} closed ({} writes): {} partitions enqueued for persist",
               segment.id, segment.sequence_numbers.size(), enqueued);
  return enqueued;
}

void PersistTriggers::OnWalRotated(wal::ClosedSegment segment) {
  auto enqueued = SegmentClosed(segment);
  if (!enqueued.ok()) {
    spdlog::error("persist after WAL rotation (segment {}): {}", segment.id,
                  enqueued.status().ToString());
  }
}

arrow::Result<size_t> PersistTriggers::PersistAll() {
  size_t enqueued = 0;
  arrow::Status first_error;
  for (const auto& partition : options_.tree->Partitions()) {
    auto queued = options_.handle.MarkAndEnqueue(partition);
    if (!queued.ok()) {
      if (first_error.ok()) first_error = queued.status();
      if (queued.status().IsCancelled()) break;  // the handle stopped
      continue;
    }
    if (*queued) ++enqueued;
  }
  ARROW_RETURN_NOT_OK(first_error);
  return enqueued;
}

arrow::Status PersistTriggers::RotateAndPersistAll() {
  if (!options_.rotate) return PersistAll().status();
  ARROW_ASSIGN_OR_RAISE(wal::ClosedSegment segment, options_.rotate());
  return SegmentClosed(segment).status();
}

arrow::Status PersistTriggers::WaitPersistedAndReleased(
    std::chrono::steady_clock::time_point deadline, std::chrono::nanoseconds timeout) {
  using Clock = std::chrono::steady_clock;
  if (!options_.handle.WaitIdle(deadline - Clock::now())) {
    return arrow::Status::IOError("persist jobs still running after ",
                                  std::chrono::duration<double>(timeout).count(), " s (",
                                  options_.handle.stats().in_flight, " left)");
  }
  // A blocked partition's writes stay in the WAL until a restart: waiting for their
  // segments would only wait out the timeout.
  if (const auto failures = options_.handle.PermanentFailures(); !failures.empty()) {
    std::string names;
    for (const auto& f : failures) {
      names += (names.empty() ? "" : "; ") + f.partition + ": " + f.reason;
    }
    return arrow::Status::IOError(failures.size(),
                                  " partitions failed to persist permanently and are "
                                  "left to the WAL (",
                                  names, ")");
  }
  if (options_.wait_segments_deleted) {
    auto left = deadline - Clock::now();
    if (left < Clock::duration::zero()) left = Clock::duration::zero();
    if (arrow::Status st = options_.wait_segments_deleted(left); !st.ok()) {
      return arrow::Status::IOError(st.message(), " after ",
                                    std::chrono::duration<double>(timeout).count(), " s");
    }
  }
  return arrow::Status::OK();
}

arrow::Status PersistTriggers::PersistReplayed(
    const std::vector<wal::ClosedSegment>& segments, std::chrono::nanoseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  if (options_.segment_closed) {
    for (const auto& segment : segments) options_.segment_closed(segment);
  }
  ARROW_ASSIGN_OR_RAISE(size_t enqueued, PersistAll());
  auto st = WaitPersistedAndReleased(start + timeout, timeout);
  if (!st.ok()) return st.WithMessage("startup persist of replayed data: ", st.message());
  spdlog::info(
      "startup: {} replayed partitions persisted and {} replayed WAL segments deleted in "
      "{:.1f} s",
      enqueued, segments.size(),
      std::chrono::duration<double>(Clock::now() - start).count());
  return arrow::Status::OK();
}

arrow::Status PersistTriggers::Drain(std::chrono::nanoseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  ARROW_RETURN_NOT_OK(RotateAndPersistAll());
  auto st = WaitPersistedAndReleased(start + timeout, timeout);
  if (!st.ok()) return st.WithMessage("drain: ", st.message());
  spdlog::info(
      "drain: everything persisted and every closed WAL segment deleted in {:.1f} s",
      std::chrono::duration<double>(Clock::now() - start).count());
  return arrow::Status::OK();
}

arrow::Status PersistTriggers::CheckMemoryNow() {
  const int64_t max = options_.max_buffer_bytes;
  if (max <= 0) return arrow::Status::OK();
  const int64_t total = options_.tree->BufferedBytes();
  if (total <= max) return arrow::Status::OK();
  core_->memory_passes.fetch_add(1, std::memory_order_relaxed);

  // Only mutable buffers can be marked; bytes already persisting leave on their own.
  std::vector<std::pair<int64_t, std::shared_ptr<PartitionData>>> candidates;
  int64_t unmarked = 0;
  for (auto& partition : options_.tree->Partitions()) {
    const int64_t bytes = partition->Stats().buffer_bytes;
    if (bytes <= 0) continue;
    unmarked += bytes;
    candidates.emplace_back(bytes, std::move(partition));
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  // Down to half the limit, so that the next writes do not trigger again at once and
  // persist a trickle of small files.
  const int64_t target = max / 2;
  size_t enqueued = 0;
  int64_t enqueued_bytes = 0;
  arrow::Status first_error;
  for (const auto& [bytes, partition] : candidates) {
    if (unmarked <= target) break;
    auto queued = options_.handle.MarkAndEnqueue(partition);
    if (!queued.ok()) {
      if (first_error.ok()) first_error = queued.status();
      if (queued.status().IsCancelled()) break;
      continue;
    }
    if (*queued) {
      ++enqueued;
      enqueued_bytes += bytes;
    }
    unmarked -= bytes;
  }
  core_->memory_partitions.fetch_add(static_cast<int64_t>(enqueued),
                                     std::memory_order_relaxed);
  if (core_->memory_metric != nullptr) {
    core_->memory_metric->Add(static_cast<int64_t>(enqueued));
  }
  if (enqueued > 0) {
    spdlog::info(
        "buffered {} bytes > --max-buffer-bytes {}: persisting the {} largest partitions "
        "({} bytes)",
        total, max, enqueued, enqueued_bytes);
  }
  return first_error;
}

arrow::Status PersistTriggers::CheckDiskNow() {
  if (!options_.disk_space) return arrow::Status::OK();
  MutexLock lock(&disk_mu_);
  ARROW_ASSIGN_OR_RAISE(wal::DiskSpace space, options_.disk_space());
  const double use = DiskUseFraction(space.used, space.available);
  if (use < options_.disk_full_ratio) {
    if (disk_full_) {
      disk_full_ = false;
      spdlog::info("WAL volume {:.1f}% full, below {:.0f}%", use * 100,
                   options_.disk_full_ratio * 100);
    }
    if (options_.ingest_state != nullptr) {
      options_.ingest_state->Clear(IngestBlock::kDiskFull);
    }
    return arrow::Status::OK();
  }
  const bool entering = !disk_full_;
  disk_full_ = true;
  if (options_.ingest_state != nullptr)
    options_.ingest_state->Set(IngestBlock::kDiskFull);
  if (entering) {
    spdlog::warn(
        "WAL volume {:.1f}% full (>= {:.0f}%): refusing writes and persisting everything "
        "so WAL segments can be deleted. If this does not clear, the persists cannot "
        "free "
        "space (e.g. the object store is on the same full volume): free space on the "
        "volume or move --object-store or --wal-dir to another one",
        use * 100, options_.disk_full_ratio * 100);
  }
  // Again while it lasts only when nothing is persisting and something is buffered:
  // rotating an empty WAL or re-marking queued data frees nothing.
  if (entering || (options_.handle.idle() && options_.tree->BufferedBytes() > 0)) {
    core_->disk_forced.fetch_add(1, std::memory_order_relaxed);
    if (core_->disk_metric != nullptr) core_->disk_metric->Add();
    return RotateAndPersistAll();
  }
  return arrow::Status::OK();
}

PersistTriggersStats PersistTriggers::stats() const {
  PersistTriggersStats s;
  s.rotations = core_->rotations.load();
  s.hot_partitions = core_->hot.load();
  s.hot_skipped_full = core_->hot_skipped.load();
  s.memory_passes = core_->memory_passes.load();
  s.memory_partitions = core_->memory_partitions.load();
  s.disk_forced = core_->disk_forced.load();
  return s;
}

}  // namespace ingester::persist
