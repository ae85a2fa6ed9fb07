// The Wal: appends, group commit, sticky errors, crashes, rotation and deletion.
#include "ingester/wal/wal.h"

#include <arrow/util/io_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "ingester/common/error.h"
#include "ingester/wal/fault_injection_fs.h"
#include "ingester/wal/replay.h"
#include "ingester/wal/wal_test_util.h"

namespace ingester::wal {
namespace {

using testing::CollectingSink;
using testing::ExpectOpsEqual;
using testing::MakeOp;
using testing::TempDir;

class WalTest : public ::testing::Test {
 protected:
  std::unique_ptr<Wal> Open(std::shared_ptr<FileSystem> fs = nullptr,
                            size_t max_group_bytes = WalOptions{}.max_group_bytes) {
    WalOptions options;
    options.dir = dir();
    options.max_group_bytes = max_group_bytes;
    options.fs = fs ? fs : fault_fs_;
    auto wal = Wal::Make(options);
    EXPECT_TRUE(wal.ok()) << wal.status();
    return std::move(wal).ValueOrDie();
  }

  ReplayStats Replay(CollectingSink* sink, FileSystem* fs = nullptr) {
    auto stats = ReplayWal(fs ? *fs : *fault_fs_, dir(), *sink);
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() ? *stats : ReplayStats{};
  }

  // `writers` synced appends (sequence numbers 1..writers): the first is held inside
  // its fsync until the other writers are all queued behind it, then released. The
  // appends' results, in writer order.
  std::vector<arrow::Status> AppendBehindAHeldSync(Wal* wal, int writers) {
    Mutex mu;
    CondVar cv;
    bool first_entered = false, release = false, hooked = false;
    fault_fs_->SetSyncHook([&] {
      MutexLock lock(&mu);
      if (hooked) return;  // only the first sync is held
      hooked = true;
      first_entered = true;
      cv.NotifyAll();
      cv.Wait(&mu, [&] { return release; });
    });
    std::vector<arrow::Status> results(writers);
    std::vector<std::thread> threads;
    threads.emplace_back([&] { results[0] = wal->Append(MakeOp(1), true); });
    {
      MutexLock lock(&mu);
      cv.Wait(&mu, [&] { return first_entered; });
    }
    for (int i = 1; i < writers; ++i) {
      threads.emplace_back([&, i] { results[i] = wal->Append(MakeOp(1 + i), true); });
    }
    wal->TEST_WaitForQueued(writers - 1);
    {
      MutexLock lock(&mu);
      release = true;
      cv.NotifyAll();
    }
    for (auto& t : threads) t.join();
    fault_fs_->SetSyncHook(nullptr);
    return results;
  }

  std::string dir() const { return tmp_.Sub("wal"); }
  std::string SegmentPath(SegmentId id) const {
    return tmp_.Sub("wal/" + SegmentFileName(id));
  }

  TempDir tmp_;
  std::shared_ptr<FaultInjectionFileSystem> fault_fs_ =
      std::make_shared<FaultInjectionFileSystem>();
};

TEST_F(WalTest, AppendThenReplayEqualsWhatWasWritten) {
  std::vector<WriteOp> written;
  {
    auto wal = Open(PosixFileSystem());
    EXPECT_EQ(wal->current_segment_id(), 1u);
    for (int i = 0; i < 20; ++i) {
      written.push_back(MakeOp(1 + 3 * i, /*writes=*/1 + i % 3, /*rows=*/1 + i * 7));
      ASSERT_TRUE(wal->Append(written.back(), /*sync=*/i % 4 != 0).ok());
    }
    EXPECT_EQ(wal->stats().appends, 20);
    ASSERT_TRUE(wal->Close().ok());
    EXPECT_FALSE(wal->Append(written[0], true).ok());  // closed
  }
  CollectingSink sink;
  ReplayStats stats = Replay(&sink, PosixFileSystem().get());
  auto ops = sink.ops();
  ASSERT_EQ(ops.size(), written.size());
  for (size_t i = 0; i < ops.size(); ++i) ExpectOpsEqual(written[i], ops[i]);
  EXPECT_EQ(stats.entries, 20);
  int64_t rows = 0;
  for (const auto& op : written) rows += op.RowCount();
  EXPECT_EQ(stats.rows, rows);
  EXPECT_EQ(stats.segment_ids(), std::vector<SegmentId>{1});
  EXPECT_EQ(stats.max_sequence_number, written.back().writes.back().sequence_number);
  EXPECT_FALSE(stats.truncated.has_value());
}

// One appender is held inside its fsync while 63 more queue up: they must all share the
// next fsync, led by one of them.
TEST_F(WalTest, GroupCommitQueuedWritersShareTheNextFsync) {
  auto wal = Open();
  const int64_t syncs_before = fault_fs_->syncs();
  constexpr int kWriters = 64;
  for (const auto& r : AppendBehindAHeldSync(wal.get(), kWriters))
    ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(fault_fs_->syncs() - syncs_before, 2);
  EXPECT_EQ(wal->stats().flushes, 2);
  EXPECT_EQ(wal->stats().syncs, 2);
  ASSERT_TRUE(wal->Close().ok());

  CollectingSink sink;
  Replay(&sink);
  auto seqs = sink.sequence_numbers();
  std::set<SequenceNumber> unique(seqs.begin(), seqs.end());
  EXPECT_EQ(seqs.size(), static_cast<size_t>(kWriters));
  EXPECT_EQ(unique.size(), static_cast<size_t>(kWriters));
}

// With a byte cap below one entry, each group is one append: the writers queued behind a
// held fsync are flushed one group at a time, oldest first, each leading or woken in
// turn, and none is lost or left waiting.
TEST_F(WalTest, GroupCommitByteCapSplitsTheQueueIntoGroups) {
  auto wal = Open(nullptr, /*max_group_bytes=*/1);
  constexpr int kWriters = 9;
  for (const auto& r : AppendBehindAHeldSync(wal.get(), kWriters))
    ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(wal->stats().appends, kWriters);
  EXPECT_EQ(wal->stats().flushes, kWriters);
  EXPECT_EQ(wal->stats().syncs, kWriters);
  ASSERT_TRUE(wal->Close().ok());
  CollectingSink sink;
  Replay(&sink);
  auto seqs = sink.sequence_numbers();
  EXPECT_EQ(std::set<SequenceNumber>(seqs.begin(), seqs.end()).size(),
            static_cast<size_t>(kWriters));

  // A cap of zero bytes is refused.
  WalOptions bad;
  bad.dir = dir();
  bad.max_group_bytes = 0;
  EXPECT_FALSE(Wal::Make(bad).ok());
}

TEST_F(WalTest, GroupCommitSixtyFourConcurrentWriters) {
  auto wal = Open();
  const int64_t syncs_before = fault_fs_->syncs();
  constexpr int kWriters = 64, kPerWriter = 20;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerWriter; ++i) {
        SequenceNumber seq = 1 + static_cast<SequenceNumber>(t * kPerWriter + i);
        if (!wal->Append(MakeOp(seq, 1, 5), /*sync=*/true).ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const int64_t syncs = fault_fs_->syncs() - syncs_before;
  EXPECT_GE(syncs, 1);
  EXPECT_LT(syncs, kWriters * kPerWriter) << "no fsync was shared";
  EXPECT_EQ(wal->stats().appends, kWriters * kPerWriter);
  ASSERT_TRUE(wal->Close().ok());

  CollectingSink sink;
  ReplayStats stats = Replay(&sink);
  auto seqs = sink.sequence_numbers();
  std::multiset<SequenceNumber> all(seqs.begin(), seqs.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kWriters * kPerWriter));
  for (SequenceNumber s = 1; s <= kWriters * kPerWriter; ++s)
    EXPECT_EQ(all.count(s), 1u) << s;
  EXPECT_EQ(stats.max_sequence_number,
            static_cast<SequenceNumber>(kWriters * kPerWriter));
}

TEST_F(WalTest, CrashLosesNothingAcknowledged) {
  auto wal = Open();
  constexpr int kWriters = 8;
  std::atomic<SequenceNumber> next_seq{1};
  Mutex mu;
  CondVar cv;
  std::set<SequenceNumber> acked;  // guarded by mu
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&] {
      while (true) {
        SequenceNumber seq = next_seq.fetch_add(1);
        if (!wal->Append(MakeOp(seq, 1, 3), /*sync=*/true).ok()) return;
        MutexLock lock(&mu);
        acked.insert(seq);
        cv.NotifyAll();
      }
    });
  }
  {
    MutexLock lock(&mu);
    cv.Wait(&mu, [&] { return acked.size() >= 300; });
  }
  ASSERT_TRUE(fault_fs_->SimulateCrash().ok());  // power cut with writers in flight
  for (auto& t : threads) t.join();
  EXPECT_FALSE(wal->sticky_error().ok());
  wal.reset();

  CollectingSink sink;
  Replay(&sink);
  auto replayed = sink.sequence_numbers();
  std::set<SequenceNumber> present(replayed.begin(), replayed.end());
  EXPECT_EQ(present.size(), replayed.size()) << "an op was replayed twice";
  MutexLock lock(&mu);
  for (SequenceNumber s : acked) EXPECT_TRUE(present.count(s)) << "lost acked op " << s;
  EXPECT_GE(present.size(), acked.size());
}

TEST_F(WalTest, NoSyncAppendsAreLostByACrashUnlessASyncFollows) {
  {
    auto wal = Open();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(wal->Append(MakeOp(1 + i), false).ok());
    ASSERT_TRUE(fault_fs_->SimulateCrash().ok());
  }
  CollectingSink lost;
  EXPECT_EQ(Replay(&lost).entries, 0);
  EXPECT_EQ(lost.size(), 0u);

  {
    auto wal = Open();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(wal->Append(MakeOp(10 + i), false).ok());
    ASSERT_TRUE(wal->Append(MakeOp(20), true).ok());  // covers the earlier ones too
    ASSERT_TRUE(fault_fs_->SimulateCrash().ok());
  }
  CollectingSink kept;
  Replay(&kept);
  EXPECT_EQ(kept.sequence_numbers(), (std::vector<SequenceNumber>{10, 11, 12, 20}));
}

TEST_F(WalTest, FailedFsyncMakesTheErrorSticky) {
  auto wal = Open();
  ASSERT_TRUE(wal->Append(MakeOp(1), true).ok());
  fault_fs_->FailNextSync(EIO);
  arrow::Status first = wal->Append(MakeOp(2), true);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(arrow::internal::ErrnoFromStatus(first), EIO);
  // The filesystem would now sync fine; the WAL must not pretend nothing happened.
  arrow::Status later = wal->Append(MakeOp(3), true);
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.message().find("refuses writes"), std::string::npos) << later;
  EXPECT_EQ(arrow::internal::ErrnoFromStatus(later), EIO);
  EXPECT_FALSE(wal->Append(MakeOp(4), false).ok());
  EXPECT_FALSE(wal->Rotate().ok());
  EXPECT_FALSE(wal->sticky_error().ok());
  EXPECT_EQ(wal->stats().appends, 1);
}

TEST_F(WalTest, FailedPartialWriteIsStickyAndReplayTruncatesIt) {
  {
    auto wal = Open();
    ASSERT_TRUE(wal->Append(MakeOp(1), true).ok());
    ASSERT_TRUE(wal->Append(MakeOp(2), true).ok());
    fault_fs_->FailNextAppend(ENOSPC, 20);
    arrow::Status st = wal->Append(MakeOp(3), true);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(arrow::internal::ErrnoFromStatus(st), ENOSPC);
    EXPECT_FALSE(wal->Append(MakeOp(4), true).ok());
  }
  CollectingSink sink;
  ReplayStats stats = Replay(&sink);
  EXPECT_EQ(sink.sequence_numbers(), (std::vector<SequenceNumber>{1, 2}));
  ASSERT_TRUE(stats.truncated.has_value());
  EXPECT_EQ(stats.truncated->dropped_bytes, 20u);

  {
    auto wal = Open();
    ASSERT_TRUE(wal->Append(MakeOp(5), true).ok());
    ASSERT_TRUE(wal->Close().ok());
  }
  CollectingSink again;
  stats = Replay(&again);
  EXPECT_FALSE(stats.truncated.has_value());
  EXPECT_EQ(again.sequence_numbers(), (std::vector<SequenceNumber>{1, 2, 5}));
}

TEST_F(WalTest, TornTailIsTruncatedAndTheWalAppendsCleanlyAfterIt) {
  {
    auto wal = Open();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(wal->Append(MakeOp(1 + i), true).ok());
    ASSERT_TRUE(wal->Close().ok());
  }
  const uint64_t good_size = testing::FileSizeOf(SegmentPath(1));
  // A partial entry: a plausible length, then fewer bytes than it promises.
  testing::AppendFileBytes(
      SegmentPath(1),
      std::string("\x00\x01\x00\x00\xaa\xbb\xcc\xdd", 8) + std::string(100, 'x'));
  CollectingSink first;
  ReplayStats stats = Replay(&first);
  ASSERT_TRUE(stats.truncated.has_value());
  EXPECT_EQ(stats.truncated->file, SegmentPath(1));
  EXPECT_EQ(stats.truncated->offset, good_size);
  EXPECT_EQ(stats.truncated->dropped_bytes, 108u);
  EXPECT_EQ(testing::FileSizeOf(SegmentPath(1)), good_size);
  EXPECT_EQ(first.size(), 5u);

  {
    auto wal = Open();
    EXPECT_EQ(wal->current_segment_id(), 2u);
    EXPECT_EQ(wal->ClosedSegmentIds(), std::vector<SegmentId>{1});
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(wal->Append(MakeOp(10 + i), true).ok());
    ASSERT_TRUE(wal->Close().ok());
  }
  CollectingSink second;
  stats = Replay(&second);
  EXPECT_FALSE(stats.truncated.has_value());
  EXPECT_EQ(stats.segment_ids(), (std::vector<SegmentId>{1, 2}));
  EXPECT_EQ(second.sequence_numbers(),
            (std::vector<SequenceNumber>{1, 2, 3, 4, 5, 10, 11, 12, 13, 14}));
}

TEST_F(WalTest, RotationWhileSixteenWritersAppend) {
  auto wal = Open();
  constexpr int kWriters = 16, kPerWriter = 60;
  std::atomic<int> running{kWriters};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kPerWriter; ++i) {
        // Two partition writes per op; no-sync appends mixed in.
        SequenceNumber seq = 1 + 2 * static_cast<SequenceNumber>(t * kPerWriter + i);
        if (!wal->Append(MakeOp(seq, 2, 2), rng() % 4 != 0).ok()) failures.fetch_add(1);
      }
      running.fetch_sub(1);
    });
  }
  std::vector<ClosedSegment> closed;
  while (running.load() > 0 || closed.size() < 3) {
    auto segment = wal->Rotate();
    ASSERT_TRUE(segment.ok()) << segment.status();
    closed.push_back(std::move(*segment));
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const SegmentId last_id = wal->current_segment_id();
  ASSERT_TRUE(wal->Close().ok());
  EXPECT_EQ(wal->stats().rotations, static_cast<int64_t>(closed.size()));

  CollectingSink sink;
  ReplayStats stats = Replay(&sink);
  ASSERT_EQ(stats.segments.size(), closed.size() + 1);
  EXPECT_EQ(stats.segments.back().id, last_id);
  // What Rotate() reported for each segment is what the segment holds.
  SequenceNumberSet all;
  uint64_t total = 0;
  for (size_t i = 0; i < stats.segments.size(); ++i) {
    const auto& replayed = stats.segments[i];
    if (i < closed.size()) {
      EXPECT_EQ(closed[i].id, replayed.id);
      EXPECT_EQ(closed[i].sequence_numbers, replayed.sequence_numbers) << replayed.id;
      EXPECT_EQ(closed[i].entries, replayed.entries);
      EXPECT_EQ(closed[i].rows, replayed.rows);
      EXPECT_EQ(closed[i].bytes, testing::FileSizeOf(SegmentPath(replayed.id)));
    }
    EXPECT_FALSE(all.Intersects(replayed.sequence_numbers)) << "segments overlap";
    all.Merge(replayed.sequence_numbers);
    total += replayed.sequence_numbers.size();
  }
  // The segments partition every sequence number, and no op is lost or doubled.
  constexpr uint64_t kTotal = 2 * kWriters * kPerWriter;
  EXPECT_EQ(total, kTotal);
  EXPECT_EQ(all.ToString(), "1-" + std::to_string(kTotal));
  EXPECT_EQ(sink.size(), static_cast<size_t>(kWriters * kPerWriter));
}

TEST_F(WalTest, RotateReturnsTheSegmentAndDeleteRemovesIt) {
  auto wal = Open();
  ASSERT_TRUE(wal->Append(MakeOp(1, 2, 4), true).ok());
  ASSERT_TRUE(wal->Append(MakeOp(3, 1, 5), false).ok());
  auto first = wal->Rotate();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->id, 1u);
  EXPECT_EQ(first->sequence_numbers.ToString(), "1-3");
  EXPECT_EQ(first->entries, 2);
  EXPECT_EQ(first->rows, 13);
  EXPECT_EQ(first->bytes, testing::FileSizeOf(SegmentPath(1)));
  auto empty = wal->Rotate();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->id, 2u);
  EXPECT_TRUE(empty->sequence_numbers.empty());
  EXPECT_EQ(empty->bytes, kSegmentHeaderSize);
  EXPECT_EQ(wal->current_segment_id(), 3u);
  EXPECT_EQ(wal->ClosedSegmentIds(), (std::vector<SegmentId>{1, 2}));

  EXPECT_FALSE(wal->Delete(3).ok());  // being written
  ASSERT_TRUE(wal->Delete(1).ok());
  EXPECT_FALSE(std::filesystem::exists(SegmentPath(1)));
  arrow::Status again = wal->Delete(1);
  EXPECT_EQ(ErrorKindOf(again), ErrorKind::kNotFound);
  EXPECT_EQ(wal->ClosedSegmentIds(), std::vector<SegmentId>{2});
}

// A rotation that cannot create its new segment (a full or read-only directory, a failed
// header sync) is not fatal: the WAL goes on in the current segment, and the id it
// skipped is not taken for a lost segment at the next start.
TEST_F(WalTest, AFailedRotationLeavesNoGapTheNextStartTakesForALoss) {
  {
    auto wal = Open();
    ASSERT_TRUE(wal->Append(MakeOp(1), true).ok());
    fault_fs_->FailNextSync(EIO);  // the new segment's header
    auto failed = wal->Rotate();
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(arrow::internal::ErrnoFromStatus(failed.status()), EIO);
    EXPECT_TRUE(wal->sticky_error().ok());
    ASSERT_TRUE(wal->Append(MakeOp(2), true).ok());
    auto rotated = wal->Rotate();  // skips id 2
    ASSERT_TRUE(rotated.ok()) << rotated.status();
    EXPECT_EQ(rotated->id, 1u);
    EXPECT_EQ(wal->current_segment_id(), 3u);
    ASSERT_TRUE(wal->Append(MakeOp(3), true).ok());
    ASSERT_TRUE(wal->Close().ok());
  }
  EXPECT_FALSE(std::filesystem::exists(SegmentPath(2)));
  CollectingSink sink;
  ReplayStats stats = Replay(&sink);  // no DataLoss for segment 2
  EXPECT_EQ(sink.sequence_numbers(), (std::vector<SequenceNumber>{1, 2, 3}));
  auto wal = Open();
  EXPECT_EQ(wal->current_segment_id(), 4u);
}

TEST_F(WalTest, MakeContinuesAfterExistingSegmentsAndRemovesUnpublishedOnes) {
  {
    auto wal = Open();
    ASSERT_TRUE(wal->Rotate().ok());
    ASSERT_TRUE(wal->Close().ok());
  }
  testing::WriteFileBytes(tmp_.Sub("wal/00000000000000000009.dat.tmp"), "half a header");
  testing::WriteFileBytes(tmp_.Sub("wal/notes.txt"), "not ours");
  auto wal = Open();
  EXPECT_EQ(wal->current_segment_id(), 3u);
  EXPECT_EQ(wal->ClosedSegmentIds(), (std::vector<SegmentId>{1, 2}));
  EXPECT_FALSE(std::filesystem::exists(tmp_.Sub("wal/00000000000000000009.dat.tmp")));
  EXPECT_TRUE(std::filesystem::exists(tmp_.Sub("wal/notes.txt")));
}

TEST_F(WalTest, CrashDuringRotationKeepsEveryAcknowledgedWrite) {
  auto wal = Open();
  ASSERT_TRUE(wal->Append(MakeOp(1), true).ok());
  ASSERT_TRUE(wal->Append(MakeOp(2), false).ok());
  ASSERT_TRUE(wal->Rotate().ok());
  ASSERT_TRUE(wal->Append(MakeOp(3), true).ok());
  ASSERT_TRUE(fault_fs_->SimulateCrash().ok());
  wal.reset();
  CollectingSink sink;
  ReplayStats stats = Replay(&sink);
  // Rotation synced the no-sync write before closing the segment.
  EXPECT_EQ(sink.sequence_numbers(), (std::vector<SequenceNumber>{1, 2, 3}));
  EXPECT_FALSE(stats.truncated.has_value());
}

TEST_F(WalTest, CreatesTheDirectoryAndValidatesOptions) {
  WalOptions options;
  EXPECT_FALSE(Wal::Make(options).ok());
  options.dir = tmp_.Sub("a/b/wal");
  auto wal = Wal::Make(options);
  ASSERT_TRUE(wal.ok()) << wal.status();
  EXPECT_TRUE(std::filesystem::exists(tmp_.Sub("a/b/wal/00000000000000000001.dat")));
  auto space = (*wal)->GetDiskSpace();
  ASSERT_TRUE(space.ok()) << space.status();
  EXPECT_GT(space->capacity, 0u);
  EXPECT_LE(space->available, space->capacity);
}

}  // namespace
}  // namespace ingester::wal
