#include "ingester/wal/reference_tracker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <latch>
#include <random>
#include <thread>

#include "ingester/wal/wal.h"
#include "ingester/wal/wal_test_util.h"

namespace ingester::wal {
namespace {

using namespace std::chrono_literals;

SequenceNumberSet Range(SequenceNumber first, SequenceNumber last) {
  SequenceNumberSet s;
  s.AddRange(first, last);
  return s;
}

// A tracker whose deleter records the ids it is asked to delete (and can be told to
// fail).
class ReferenceTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ReferenceTrackerOptions options;
    options.delete_segment = [this](SegmentId id) -> arrow::Status {
      MutexLock lock(&mu_);
      if (fail_deletes_) return arrow::Status::IOError("injected delete failure");
      deleted_.push_back(id);
      return arrow::Status::OK();
    };
    auto tracker = ReferenceTracker::Make(std::move(options));
    ASSERT_TRUE(tracker.ok()) << tracker.status().ToString();
    tracker_ = std::move(*tracker);
  }

  std::vector<SegmentId> deleted() {
    MutexLock lock(&mu_);
    return deleted_;
  }
  void set_fail_deletes(bool fail) {
    MutexLock lock(&mu_);
    fail_deletes_ = fail;
  }

  std::unique_ptr<ReferenceTracker> tracker_;
  Mutex mu_;
  std::vector<SegmentId> deleted_ GUARDED_BY(mu_);
  bool fail_deletes_ GUARDED_BY(mu_) = false;
};

TEST(IntersectionTest, RangesOverlapInEveryWay) {
  SequenceNumberSet a;
  a.AddRange(1, 10);
  a.AddRange(20, 30);
  a.Add(40);
  SequenceNumberSet b;
  b.AddRange(5, 22);
  b.AddRange(29, 41);
  EXPECT_EQ(Intersection(a, b).ToString(), "5-10,20-22,29-30,40");
  EXPECT_EQ(Intersection(b, a).ToString(), "5-10,20-22,29-30,40");
  EXPECT_TRUE(Intersection(a, SequenceNumberSet{}).empty());
  EXPECT_TRUE(Intersection(Range(1, 3), Range(4, 6)).empty());
}

TEST_F(ReferenceTrackerTest, ReleaseAfterCloseDeletesWhenTheLastWriteIsReleased) {
  tracker_->AddSegment(1, Range(1, 5));
  tracker_->Release(std::vector<SequenceNumber>{3, 1, 2});
  EXPECT_TRUE(deleted().empty());
  EXPECT_EQ(tracker_->stats().referenced, 2u);
  tracker_->Release(std::vector<SequenceNumber>{4});
  EXPECT_TRUE(deleted().empty());
  tracker_->Release(std::vector<SequenceNumber>{5});
  EXPECT_EQ(deleted(), std::vector<SegmentId>{1});
  const auto stats = tracker_->stats();
  EXPECT_EQ(stats.segments, 0u);
  EXPECT_EQ(stats.referenced, 0u);
  EXPECT_EQ(stats.early_releases, 0u);
  EXPECT_EQ(stats.deleted, 1);
}

TEST_F(ReferenceTrackerTest, CompletionBeforeCloseIsHeldUntilTheSegmentCloses) {
  // A hot partition persisted writes 1-3 while their segment was still open.
  tracker_->Release(Range(1, 3));
  EXPECT_EQ(tracker_->stats().early_releases, 3u);
  EXPECT_TRUE(deleted().empty());
  // The rotation closes the segment: nothing left in it, deleted at once.
  tracker_->AddSegment(7, Range(1, 3));
  EXPECT_EQ(deleted(), std::vector<SegmentId>{7});
  EXPECT_EQ(tracker_->stats().early_releases, 0u);
  EXPECT_TRUE(tracker_->SegmentIds().empty());
}

TEST_F(ReferenceTrackerTest, PartialCompletionBeforeCloseKeepsTheRest) {
  tracker_->Release(std::vector<SequenceNumber>{2, 9});  // 9 is in a later segment
  tracker_->AddSegment(1, Range(1, 3));
  EXPECT_TRUE(deleted().empty());
  EXPECT_EQ(tracker_->stats().referenced, 2u);
  EXPECT_EQ(tracker_->stats().early_releases, 1u);  // 9 still waits
  tracker_->Release(std::vector<SequenceNumber>{1, 3});
  EXPECT_EQ(deleted(), std::vector<SegmentId>{1});
  tracker_->AddSegment(2, Range(9, 9));
  EXPECT_EQ(deleted(), (std::vector<SegmentId>{1, 2}));
  EXPECT_EQ(tracker_->stats().early_releases, 0u);
}

TEST_F(ReferenceTrackerTest, OnePersistSplitAcrossSegments) {
  tracker_->AddSegment(1, Range(1, 5));
  tracker_->AddSegment(2, Range(6, 10));
  // One partition's snapshot holds writes from both segments (and one still open).
  tracker_->Release(std::vector<SequenceNumber>{3, 4, 5, 6, 7, 11});
  EXPECT_TRUE(deleted().empty());
  EXPECT_EQ(tracker_->stats().referenced, 5u);
  EXPECT_EQ(tracker_->stats().early_releases, 1u);
  // Another partition's snapshot finishes segment 1 and part of 2.
  tracker_->Release(std::vector<SequenceNumber>{1, 2, 8});
  EXPECT_EQ(deleted(), std::vector<SegmentId>{1});
  tracker_->Release(std::vector<SequenceNumber>{9, 10});
  EXPECT_EQ(deleted(), (std::vector<SegmentId>{1, 2}));
  EXPECT_EQ(tracker_->SegmentIds(), std::vector<SegmentId>{});
}

TEST_F(ReferenceTrackerTest, NotBufferedWritesReleaseLikePersistedOnes) {
  // Segment 1 holds writes 1-4: 2 failed to buffer and 4 had no rows (BufferTree::Apply's
  // not_buffered), 1 and 3 are persisted later.
  tracker_->AddSegment(1, Range(1, 4));
  tracker_->Release(std::vector<SequenceNumber>{4, 2});
  EXPECT_TRUE(deleted().empty());
  tracker_->Release(std::vector<SequenceNumber>{1, 3});
  EXPECT_EQ(deleted(), std::vector<SegmentId>{1});
}

TEST_F(ReferenceTrackerTest, EmptySegmentIsDeletedWhenAdded) {
  tracker_->AddSegment(4, SequenceNumberSet{});
  EXPECT_EQ(deleted(), std::vector<SegmentId>{4});
}

TEST_F(ReferenceTrackerTest, SegmentsOutOfIdOrder) {
  // Replay adds old segments while a rotation may add a new one: ids in any order.
  tracker_->AddSegment(5, Range(50, 59));
  tracker_->AddSegment(2, Range(20, 29));
  tracker_->Release(Range(20, 59));
  EXPECT_EQ(deleted(), (std::vector<SegmentId>{2, 5}));
}

TEST_F(ReferenceTrackerTest, DuplicateAddIsIgnored) {
  tracker_->AddSegment(1, Range(1, 2));
  tracker_->AddSegment(1, Range(3, 4));
  EXPECT_EQ(tracker_->stats().referenced, 2u);
  tracker_->Release(Range(1, 2));
  EXPECT_EQ(deleted(), std::vector<SegmentId>{1});
}

TEST_F(ReferenceTrackerTest, DoubleReleaseNeverDeletesAnotherSegment) {
  tracker_->AddSegment(1, Range(1, 2));
  tracker_->Release(Range(1, 2));
  tracker_->Release(Range(1, 2));  // a caller bug: parked, harmless
  tracker_->AddSegment(2, Range(3, 4));
  EXPECT_EQ(deleted(), std::vector<SegmentId>{1});
  EXPECT_EQ(tracker_->stats().early_releases, 2u);
  EXPECT_EQ(tracker_->stats().referenced, 2u);
}

TEST_F(ReferenceTrackerTest, FailedDeleteIsKeptAndRetried) {
  set_fail_deletes(true);
  tracker_->AddSegment(1, Range(1, 3));
  tracker_->Release(Range(1, 3));
  EXPECT_TRUE(deleted().empty());
  EXPECT_EQ(tracker_->SegmentIds(), std::vector<SegmentId>{1});
  EXPECT_EQ(tracker_->stats().delete_failures, 1);
  EXPECT_FALSE(tracker_->RetryFailedDeletes().ok());
  EXPECT_EQ(tracker_->stats().delete_failures, 2);
  EXPECT_FALSE(tracker_->WaitUntilEmpty(0ns));
  set_fail_deletes(false);
  EXPECT_TRUE(tracker_->WaitUntilEmpty(10s));
  EXPECT_EQ(deleted(), std::vector<SegmentId>{1});
}

TEST(ReferenceTrackerLockTest, DeletionRunsWithoutTheLockAndWaitersSeeItFinish) {
  std::latch deleting(1);
  std::atomic<int> calls{0};
  std::promise<void> allow;
  std::shared_future<void> allowed = allow.get_future().share();
  ReferenceTrackerOptions options;
  options.delete_segment = [&](SegmentId) {
    if (calls.fetch_add(1) == 0) deleting.count_down();
    allowed.wait();
    return arrow::Status::OK();
  };
  auto tracker = *ReferenceTracker::Make(std::move(options));
  tracker->AddSegment(1, Range(1, 1));
  tracker->AddSegment(2, Range(2, 2));
  std::thread releaser([&] { tracker->Release(Range(1, 1)); });
  deleting.wait();
  // Segment 1 is being deleted: it still counts, but the tracker is not locked.
  EXPECT_EQ(tracker->SegmentIds(), (std::vector<SegmentId>{1, 2}));
  tracker->Release(Range(1, 1));  // a duplicate: must not claim segment 1 again
  EXPECT_EQ(tracker->stats().early_releases, 1u);
  EXPECT_FALSE(tracker->WaitUntilEmpty(0ns));
  std::thread waiter([&] {
    tracker->Release(Range(2, 2));  // its deletion waits on `allowed` too
  });
  allow.set_value();
  releaser.join();
  waiter.join();
  EXPECT_TRUE(tracker->WaitUntilEmpty(10s));
  EXPECT_EQ(tracker->stats().deleted, 2);
}

// Every interleaving of "segment closes" and "its writes persist" (in chunks, from
// several partitions) ends with every segment deleted exactly once and nothing parked.
TEST_F(ReferenceTrackerTest, RandomInterleavingsAllEndDeleted) {
  std::mt19937 rng(42);
  SegmentId next_id = 1;
  SequenceNumber next_seq = 1;
  for (int round = 0; round < 200; ++round) {
    struct Event {
      bool add;
      SegmentId id;
      SequenceNumberSet numbers;
    };
    std::vector<Event> events;
    const int segments = 1 + static_cast<int>(rng() % 4);
    std::vector<SequenceNumber> all;
    for (int s = 0; s < segments; ++s) {
      const int n = static_cast<int>(rng() % 6);  // empty segments too
      SequenceNumberSet numbers;
      for (int i = 0; i < n; ++i) {
        numbers.Add(next_seq);
        all.push_back(next_seq++);
      }
      events.push_back({true, next_id++, numbers});
    }
    // Releases: the numbers shuffled and cut into chunks (persists of partitions that mix
    // segments).
    std::shuffle(all.begin(), all.end(), rng);
    for (size_t i = 0; i < all.size();) {
      const size_t len = 1 + rng() % 3;
      SequenceNumberSet chunk;
      for (size_t j = i; j < std::min(all.size(), i + len); ++j) chunk.Add(all[j]);
      events.push_back({false, 0, chunk});
      i += len;
    }
    std::shuffle(events.begin(), events.end(), rng);
    for (auto& e : events) {
      if (e.add) {
        tracker_->AddSegment(e.id, e.numbers);
      } else {
        tracker_->Release(e.numbers);
      }
    }
    const auto stats = tracker_->stats();
    ASSERT_EQ(stats.segments, 0u) << "round " << round;
    ASSERT_EQ(stats.early_releases, 0u) << "round " << round;
  }
  std::vector<SegmentId> ids = deleted();
  ASSERT_EQ(ids.size(), next_id - 1);
  std::sort(ids.begin(), ids.end());
  for (SegmentId i = 1; i < next_id; ++i) EXPECT_EQ(ids[i - 1], i);
}

TEST_F(ReferenceTrackerTest, ConcurrentAddsAndReleasesDeleteEverySegmentOnce) {
  constexpr int kSegments = 200;
  constexpr int kPerSegment = 50;
  constexpr int kThreads = 4;
  // Numbers of segment s: [s * kPerSegment + 1, (s + 1) * kPerSegment]. Release threads
  // each own a residue class of numbers and release them in small batches while the
  // adder closes segments; nothing orders the two.
  std::latch start(kThreads + 2);  // the threads and this one
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    start.arrive_and_wait();
    for (int s = 0; s < kSegments; ++s) {
      tracker_->AddSegment(s + 1,
                           Range(static_cast<SequenceNumber>(s) * kPerSegment + 1,
                                 static_cast<SequenceNumber>(s + 1) * kPerSegment));
    }
  });
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      std::vector<SequenceNumber> batch;
      for (SequenceNumber n = 1; n <= kSegments * kPerSegment; ++n) {
        if (static_cast<int>(n % kThreads) != t) continue;
        batch.push_back(n);
        if (batch.size() == 7) {
          tracker_->Release(batch);
          batch.clear();
        }
      }
      tracker_->Release(batch);
    });
  }
  start.count_down();
  for (auto& th : threads) th.join();
  EXPECT_TRUE(tracker_->WaitUntilEmpty(10s));
  std::vector<SegmentId> ids = deleted();
  ASSERT_EQ(ids.size(), static_cast<size_t>(kSegments));
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
  EXPECT_EQ(tracker_->stats().early_releases, 0u);
  EXPECT_EQ(tracker_->stats().referenced, 0u);
}

TEST(ReferenceTrackerWalTest, DeletesRealSegmentFilesOnceReleased) {
  testing::TempDir tmp;
  WalOptions options;
  options.dir = tmp.Sub("wal");
  std::shared_ptr<Wal> wal = *Wal::Make(options);
  MetricsRegistry metrics;
  auto tracker = *ReferenceTracker::ForWal(wal, &metrics);

  ASSERT_TRUE(wal->Append(testing::MakeOp(1, 2, 3), true).ok());  // writes 1, 2
  // Write 1 persists (a hot partition) while segment 1 is still open.
  tracker->Release(std::vector<SequenceNumber>{1});
  auto first = wal->Rotate();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(wal->Append(testing::MakeOp(3, 1, 3), true).ok());  // write 3
  auto second = wal->Rotate();
  ASSERT_TRUE(second.ok());
  tracker->AddSegment(*first);
  tracker->AddSegment(*second);
  const std::string first_file = options.dir + "/" + SegmentFileName(first->id);
  ASSERT_TRUE(std::filesystem::exists(first_file));
  EXPECT_EQ(wal->ClosedSegmentIds(), (std::vector<SegmentId>{first->id, second->id}));

  tracker->Release(std::vector<SequenceNumber>{2, 3});
  EXPECT_FALSE(std::filesystem::exists(first_file));
  EXPECT_TRUE(wal->ClosedSegmentIds().empty());
  EXPECT_TRUE(tracker->WaitUntilEmpty(0ns));
  EXPECT_NE(metrics.RenderText().find("ingester_wal_segments_deleted_total 2"),
            std::string::npos)
      << metrics.RenderText();
  // The open segment is untouched.
  EXPECT_TRUE(std::filesystem::exists(options.dir + "/" +
                                      SegmentFileName(wal->current_segment_id())));
}

}  // namespace
}  // namespace ingester::wal
