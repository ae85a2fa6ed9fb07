// The segment ledger: a segment removed by anything but the ingester is noticed at
// startup; the ingester's own deletions, and crashes around them, are not taken for one.
#include "ingester/wal/segment_ledger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "ingester/common/error.h"
#include "ingester/wal/format.h"
#include "ingester/wal/replay.h"
#include "ingester/wal/wal.h"
#include "ingester/wal/wal_test_util.h"

namespace ingester::wal {
namespace {

using testing::CollectingSink;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeOp;
using testing::TempDir;

#define ASSERT_OK_AND_ASSIGN_WAL(lhs, expr)                                 \
  auto lhs##_result = (expr);                                               \
  ASSERT_TRUE(lhs##_result.ok()) << #expr << ": " << lhs##_result.status(); \
  auto lhs = std::move(lhs##_result).ValueOrDie()

class SegmentLedgerTest : public ::testing::Test {
 protected:
  // A WAL with segments 1..4 (segment 5 open), one op each, then closed.
  void WriteFourSegments() {
    auto wal = Open();
    for (int s = 0; s < 4; ++s) {
      ASSERT_TRUE(wal->Append(MakeOp(s + 1), true).ok());
      ASSERT_TRUE(wal->Rotate().ok());
    }
    ASSERT_TRUE(wal->Close().ok());
  }
  std::unique_ptr<Wal> Open(bool allow_missing = false) {
    WalOptions options;
    options.dir = dir_.path();
    options.allow_missing_segments = allow_missing;
    auto wal = Wal::Make(options);
    EXPECT_TRUE(wal.ok()) << wal.status();
    return wal.ok() ? std::move(*wal) : nullptr;
  }
  arrow::Result<ReplayStats> Replay(bool allow_missing = false) {
    ReplayOptions options;
    options.allow_missing_segments = allow_missing;
    return ReplayWal(*PosixFileSystem(), dir_.path(), sink_, options);
  }
  void RemoveByHand(SegmentId id) {
    std::filesystem::remove(dir_.Sub(SegmentFileName(id)));
  }

  TempDir dir_;
  CollectingSink sink_;
};

TEST_F(SegmentLedgerTest, TracksHandedOutAndDeletedIds) {
  SegmentLedger ledger;
  EXPECT_FALSE(ledger.known());
  for (SegmentId id = 1; id <= 6; ++id) ledger.NoteCreated(id);
  ledger.NoteDeleted(2);
  ledger.NoteDeleted(1);  // 1 and 2 become the floor
  ledger.NoteDeleted(5);
  EXPECT_EQ(ledger.ToString(), "ingester-wal-ledger 1\nnext 7\nfloor 2\ndeleted 5\n");
  EXPECT_THAT(ledger.Missing({3, 6}), ElementsAre(4));
  EXPECT_TRUE(ledger.Save(*PosixFileSystem(), dir_.path()).ok());
  auto loaded = SegmentLedger::Load(*PosixFileSystem(), dir_.path()).ValueOrDie();
  EXPECT_TRUE(loaded.known());
  EXPECT_EQ(loaded.ToString(), ledger.ToString());
}

TEST_F(SegmentLedgerTest, GapsTheIngesterMadeAreFine) {
  WriteFourSegments();
  {
    auto wal = Open();  // segments 1-4 closed, 6 open (5 was open and is closed too)
    ASSERT_TRUE(wal->Delete(2).ok());
    ASSERT_TRUE(wal->Delete(4).ok());
    ASSERT_TRUE(wal->Close().ok());
  }
  ASSERT_OK_AND_ASSIGN_WAL(stats, Replay());
  EXPECT_THAT(stats.segment_ids(), ElementsAre(1, 3, 5, 6));
  EXPECT_NE(Open(), nullptr);
}

TEST_F(SegmentLedgerTest, ASegmentRemovedByHandStopsTheStartNamingIt) {
  WriteFourSegments();
  RemoveByHand(3);
  auto stats = Replay();
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(ErrorKindOf(stats.status()), ErrorKind::kDataLoss);
  EXPECT_THAT(stats.status().message(), HasSubstr(SegmentFileName(3)));
  EXPECT_THAT(stats.status().message(), HasSubstr("--wal-allow-missing-segments"));
  WalOptions options;
  options.dir = dir_.path();
  EXPECT_FALSE(Wal::Make(options).ok());
  // The newest segment too: the ledger knows it was handed out.
  RemoveByHand(5);
  EXPECT_THAT(Replay().status().message(), HasSubstr(SegmentFileName(5)));
}

TEST_F(SegmentLedgerTest, TheOperatorCanAcceptTheLoss) {
  WriteFourSegments();
  RemoveByHand(3);
  ASSERT_OK_AND_ASSIGN_WAL(stats, Replay(/*allow_missing=*/true));
  EXPECT_THAT(stats.segment_ids(), ElementsAre(1, 2, 4, 5));
  ASSERT_NE(Open(/*allow_missing=*/true), nullptr);
  // Recorded as deleted: the next start needs no flag.
  EXPECT_TRUE(Replay().ok());
}

TEST_F(SegmentLedgerTest, ADeletionRecordedBeforeACrashRemovesTheFileAtTheNextOpen) {
  WriteFourSegments();
  // As if the ingester recorded the deletion of 2 and crashed before removing it.
  auto ledger = SegmentLedger::Load(*PosixFileSystem(), dir_.path()).ValueOrDie();
  ledger.NoteDeleted(2);
  ASSERT_TRUE(ledger.Save(*PosixFileSystem(), dir_.path()).ok());
  ASSERT_OK_AND_ASSIGN_WAL(stats, Replay());
  EXPECT_THAT(stats.segment_ids(), ElementsAre(1, 3, 4, 5));  // 2 is not replayed
  auto wal = Open();
  ASSERT_NE(wal, nullptr);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub(SegmentFileName(2))));
  EXPECT_THAT(wal->ClosedSegmentIds(), ElementsAre(1, 3, 4, 5));
}

TEST_F(SegmentLedgerTest, IdsKeepGrowingWhenEverySegmentWasDeleted) {
  {
    auto wal = Open();
    ASSERT_TRUE(wal->Rotate().ok());
    ASSERT_TRUE(wal->Delete(1).ok());
    ASSERT_TRUE(wal->Close().ok());
  }
  RemoveByHand(2);  // the open segment, empty: still a loss the ledger can see
  EXPECT_FALSE(Replay().ok());
  ASSERT_TRUE(Replay(/*allow_missing=*/true).ok());
  auto wal = Open(/*allow_missing=*/true);
  EXPECT_EQ(wal->current_segment_id(), 3u);
}

TEST_F(SegmentLedgerTest, ACorruptLedgerIsAnErrorNamingIt) {
  ASSERT_TRUE(WriteFileAtomically(*PosixFileSystem(), dir_.Sub("segments.ledger"),
                                  "something else\n")
                  .ok());
  auto loaded = SegmentLedger::Load(*PosixFileSystem(), dir_.path());
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(), HasSubstr("segments.ledger"));
}

}  // namespace
}  // namespace ingester::wal
