#include "ingester/wal/reference_tracker.h"

#include <algorithm>
#include <utility>

#include "ingester/common/logging.h"
#include "ingester/wal/wal.h"

namespace ingester::wal {

namespace {

SequenceNumberSet ToSet(std::vector<SequenceNumber> numbers) {
  std::sort(numbers.begin(), numbers.end());
  SequenceNumberSet out;
  size_t i = 0;
  while (i < numbers.size()) {
    // One AddRange per run of consecutive numbers: persisted snapshots hold runs.
    size_t j = i;
    while (j + 1 < numbers.size() &&
           (numbers[j + 1] == numbers[j] || numbers[j + 1] == numbers[j] + 1)) {
      ++j;
    }
    out.AddRange(numbers[i], numbers[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace

SequenceNumberSet Intersection(const SequenceNumberSet& a, const SequenceNumberSet& b) {
  SequenceNumberSet out;
  auto i = a.ranges().begin();
  auto j = b.ranges().begin();
  while (i != a.ranges().end() && j != b.ranges().end()) {
    const SequenceNumber lo = std::max(i->first, j->first);
    const SequenceNumber hi = std::min(i->second, j->second);
    if (lo <= hi) out.AddRange(lo, hi);
    if (i->second < j->second) {
      ++i;
    } else {
      ++j;
    }
  }
  return out;
}

arrow::Status ReferenceTrackerOptions::Validate() const {
  if (!delete_segment) {
    return arrow::Status::Invalid("ReferenceTracker needs a segment deleter");
  }
  return arrow::Status::OK();
}

arrow::Result<std::unique_ptr<ReferenceTracker>> ReferenceTracker::Make(
    ReferenceTrackerOptions options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  return std::unique_ptr<ReferenceTracker>(new ReferenceTracker(std::move(options)));
}

arrow::Result<std::unique_ptr<ReferenceTracker>> ReferenceTracker::ForWal(
    std::shared_ptr<Wal> wal, MetricsRegistry* metrics) {
  if (wal == nullptr) return arrow::Status::Invalid("ReferenceTracker::ForWal(null)");
  ReferenceTrackerOptions options;
  options.delete_segment = [wal = std::move(wal)](SegmentId id) {
    return wal->Delete(id);
  };
  options.metrics = metrics;
  return Make(std::move(options));
}

ReferenceTracker::ReferenceTracker(ReferenceTrackerOptions options)
    : options_(std::move(options)) {
  if (MetricsRegistry* r = options_.metrics) {
    metrics_.segments =
        r->AddGauge("ingester_wal_closed_segments",
                    "Closed WAL segments waiting for their writes to persist.");
    metrics_.referenced = r->AddGauge("ingester_wal_referenced_writes",
                                      "Writes in closed WAL segments not persisted yet.");
    metrics_.early = r->AddGauge(
        "ingester_wal_early_releases",
        "Persisted writes whose WAL segment was still open when they persisted.");
    metrics_.deleted =
        r->AddCounter("ingester_wal_segments_deleted_total", "WAL segments deleted.");
    metrics_.delete_failures = r->AddCounter("ingester_wal_segment_delete_failures_total",
                                             "Failed WAL segment deletions (retried).");
  }
}

void ReferenceTracker::UpdateGaugesLocked() {
  if (metrics_.segments == nullptr) return;
  metrics_.segments->Set(static_cast<int64_t>(segments_.size()));
  metrics_.referenced->Set(static_cast<int64_t>(referenced_));
  metrics_.early->Set(static_cast<int64_t>(early_.size()));
}

void ReferenceTracker::MaybeClaimLocked(SegmentId id, Segment& segment,
                                        std::vector<SegmentId>* claimed) {
  if (segment.numbers.empty() && !segment.deleting) {
    segment.deleting = true;
    claimed->push_back(id);
  }
}

void ReferenceTracker::AddSegment(SegmentId id, SequenceNumberSet numbers) {
  std::vector<SegmentId> claimed;
  {
    MutexLock lock(&mu_);
    if (segments_.count(id) != 0) {
      spdlog::error("WAL reference tracker: segment {} added twice; ignored", id);
      return;
    }
    if (!early_.empty() && numbers.Intersects(early_)) {
      SequenceNumberSet released = Intersection(numbers, early_);
      numbers.Subtract(released);
      early_.Subtract(released);
    }
    referenced_ += numbers.size();
    auto [it, inserted] = segments_.emplace(id, Segment{std::move(numbers)});
    MaybeClaimLocked(id, it->second, &claimed);
    UpdateGaugesLocked();
  }
  (void)DeleteClaimed(claimed);
}

void ReferenceTracker::Release(const std::vector<SequenceNumber>& numbers) {
  if (numbers.empty()) return;
  Release(ToSet(numbers));
}

void ReferenceTracker::Release(SequenceNumberSet numbers) {
  if (numbers.empty()) return;
  std::vector<SegmentId> claimed;
  {
    MutexLock lock(&mu_);
    const SequenceNumber lo = *numbers.min();
    for (auto& [id, segment] : segments_) {
      if (numbers.empty()) break;
      if (segment.numbers.empty() || *segment.numbers.max() < lo ||
          *segment.numbers.min() > *numbers.max()) {
        continue;
      }
      SequenceNumberSet mine = Intersection(segment.numbers, numbers);
      if (mine.empty()) continue;
      segment.numbers.Subtract(mine);
      numbers.Subtract(mine);
      referenced_ -= mine.size();
      MaybeClaimLocked(id, segment, &claimed);
    }
    // What no closed segment holds belongs to a segment that is still open.
    early_.Merge(numbers);
    UpdateGaugesLocked();
  }
  (void)DeleteClaimed(claimed);
}

arrow::Status ReferenceTracker::DeleteClaimed(const std::vector<SegmentId>& claimed) {
  arrow::Status first_error;
  for (SegmentId id : claimed) {
    arrow::Status st = options_.delete_segment(id);
    MutexLock lock(&mu_);
    auto it = segments_.find(id);
    if (st.ok()) {
      segments_.erase(it);
      ++deleted_;
      if (metrics_.deleted != nullptr) metrics_.deleted->Add();
      spdlog::debug("WAL segment {} deleted: all its writes are persisted", id);
    } else {
      it->second.deleting = false;
      it->second.failed = true;
      ++delete_failures_;
      if (metrics_.delete_failures != nullptr) metrics_.delete_failures->Add();
      spdlog::warn("deleting WAL segment {} failed (will retry): {}", id, st.ToString());
      if (first_error.ok()) first_error = st;
    }
    UpdateGaugesLocked();
    changed_.NotifyAll();
  }
  return first_error;
}

arrow::Status ReferenceTracker::RetryFailedDeletes() {
  std::vector<SegmentId> claimed;
  {
    MutexLock lock(&mu_);
    for (auto& [id, segment] : segments_) {
      if (segment.failed) {
        segment.failed = false;
        MaybeClaimLocked(id, segment, &claimed);
      }
    }
  }
  return DeleteClaimed(claimed);
}

bool ReferenceTracker::WaitUntilEmpty(std::chrono::nanoseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  while (true) {
    (void)RetryFailedDeletes();
    MutexLock lock(&mu_);
    // Woken by every removal; the one-second bound only paces retries of failed
    // deletions (a full disk, a permission problem).
    const auto now = Clock::now();
    if (now >= deadline) return segments_.empty();
    const auto wait = std::min<Clock::duration>(deadline - now, std::chrono::seconds(1));
    if (changed_.WaitFor(&mu_, wait, [&]() REQUIRES(mu_) { return segments_.empty(); })) {
      return true;
    }
  }
}

std::vector<SegmentId> ReferenceTracker::SegmentIds() const {
  MutexLock lock(&mu_);
  std::vector<SegmentId> out;
  out.reserve(segments_.size());
  for (const auto& [id, segment] : segments_) out.push_back(id);
  return out;
}

ReferenceTrackerStats ReferenceTracker::stats() const {
  MutexLock lock(&mu_);
  ReferenceTrackerStats s;
  s.segments = segments_.size();
  s.referenced = referenced_;
  s.early_releases = early_.size();
  s.deleted = deleted_;
  s.delete_failures = delete_failures_;
  return s;
}

}  // namespace ingester::wal
