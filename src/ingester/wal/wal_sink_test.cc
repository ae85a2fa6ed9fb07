#include "ingester/wal/wal_sink.h"

#include <gtest/gtest.h>

#include "ingester/wal/fault_injection_fs.h"
#include "ingester/wal/reference_tracker.h"
#include "ingester/wal/replay.h"
#include "ingester/wal/wal_test_util.h"

namespace ingester::wal {
namespace {

using testing::CollectingSink;
using testing::MakeOp;
using testing::TempDir;

// Records each append and checks, at append time, that the inner sink has not seen
// the op yet.
class OrderCheckingAppender : public WalAppender {
 public:
  // `inner` may be null (nothing to check).
  explicit OrderCheckingAppender(const CollectingSink* inner) : inner_(inner) {}
  arrow::Status Append(const WriteOp& op, bool sync) override {
    if (inner_ != nullptr) seen_before_append.push_back(inner_->size());
    syncs.push_back(sync);
    if (fail) return arrow::Status::IOError("disk on fire");
    return arrow::Status::OK();
  }
  bool fail = false;
  std::vector<size_t> seen_before_append;
  std::vector<bool> syncs;

 private:
  const CollectingSink* inner_;
};

TEST(WalSink, AppendsBeforeForwardingAndPassesTheSyncOption) {
  auto inner = std::make_shared<CollectingSink>();
  auto appender = std::make_shared<OrderCheckingAppender>(inner.get());
  WalSink sink(appender, inner);
  ASSERT_TRUE(sink.Apply(MakeOp(1)).ok());
  ASSERT_TRUE(sink.Apply(MakeOp(2), {.no_sync = true}).ok());
  EXPECT_EQ(appender->seen_before_append, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(appender->syncs, (std::vector<bool>{true, false}));
  EXPECT_EQ(inner->sequence_numbers(), (std::vector<SequenceNumber>{1, 2}));
}

// A decorator in front of the WalSink: counts ops and passes them on, options included.
class CountingDecorator final : public DmlSink {
 public:
  explicit CountingDecorator(std::shared_ptr<DmlSink> inner) : inner_(std::move(inner)) {}
  using DmlSink::Apply;
  arrow::Status Apply(const WriteOp& op, const ApplyOptions& options) override {
    ++ops;
    return inner_->Apply(op, options);
  }
  int ops = 0;

 private:
  const std::shared_ptr<DmlSink> inner_;
};

TEST(WalSink, NoSyncReachesTheWalThroughADecoratorInFront) {
  auto inner = std::make_shared<CollectingSink>();
  auto appender = std::make_shared<OrderCheckingAppender>(inner.get());
  CountingDecorator head(std::make_shared<WalSink>(appender, inner));
  ASSERT_TRUE(head.Apply(MakeOp(1), {.no_sync = true}).ok());
  ASSERT_TRUE(head.Apply(MakeOp(2)).ok());
  EXPECT_EQ(head.ops, 2);
  EXPECT_EQ(appender->syncs, (std::vector<bool>{false, true}));
}

// Holds nothing of an op's writes whose sequence number is even; reports them.
class DroppingEvenSink final : public DmlSink {
 public:
  using DmlSink::Apply;
  arrow::Status Apply(const WriteOp& op, const ApplyOptions& options) override {
    bool dropped = false;
    for (const auto& w : op.writes) {
      if (w.sequence_number % 2 != 0) continue;
      dropped = true;
      if (options.not_applied != nullptr)
        options.not_applied->push_back(w.sequence_number);
    }
    return dropped ? arrow::Status::Invalid("even write") : arrow::Status::OK();
  }
};

TEST(WalSink, ReleasesTheWritesTheInnerSinkDoesNotHold) {
  std::vector<SegmentId> deleted;
  ReferenceTrackerOptions tracker_options;
  tracker_options.delete_segment = [&deleted](SegmentId id) {
    deleted.push_back(id);
    return arrow::Status::OK();
  };
  std::shared_ptr<ReferenceTracker> tracker =
      *ReferenceTracker::Make(std::move(tracker_options));
  SequenceNumberSet numbers;
  numbers.AddRange(1, 4);
  tracker->AddSegment(7, numbers);
  auto appender = std::make_shared<OrderCheckingAppender>(nullptr);
  WalSink sink(appender, std::make_shared<DroppingEvenSink>(), tracker);

  std::vector<SequenceNumber> reported;
  // Writes 1 and 2: 2 is not held, released; 1 stays referenced.
  EXPECT_FALSE(sink.Apply(MakeOp(1, /*writes=*/2), {.not_applied = &reported}).ok());
  EXPECT_EQ(reported, std::vector<SequenceNumber>{2});
  EXPECT_EQ(tracker->stats().referenced, 3u);
  EXPECT_FALSE(sink.Apply(MakeOp(4)).ok());
  EXPECT_EQ(tracker->stats().referenced, 2u);
  tracker->Release(std::vector<SequenceNumber>{1, 3});  // "persisted"
  EXPECT_EQ(deleted, std::vector<SegmentId>{7});
}

TEST(WalSink, FailedAppendNeverReachesTheInnerSink) {
  auto inner = std::make_shared<CollectingSink>();
  auto appender = std::make_shared<OrderCheckingAppender>(inner.get());
  appender->fail = true;
  WalSink sink(appender, inner);
  arrow::Status st = sink.Apply(MakeOp(1));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("disk on fire"), std::string::npos);
  EXPECT_EQ(inner->size(), 0u);
}

TEST(WalSink, WithTheRealWalTheForwardedOpIsDurable) {
  TempDir tmp;
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  WalOptions options;
  options.dir = tmp.Sub("wal");
  options.fs = fs;
  auto made = Wal::Make(options);
  ASSERT_TRUE(made.ok());
  std::shared_ptr<Wal> wal = std::move(*made);
  auto inner = std::make_shared<CollectingSink>();
  WalSink sink(wal, inner);

  ASSERT_TRUE(sink.Apply(MakeOp(1)).ok());
  fs->FailNextSync(EIO);
  EXPECT_FALSE(sink.Apply(MakeOp(2)).ok());
  EXPECT_FALSE(sink.Apply(MakeOp(3)).ok());  // sticky
  EXPECT_EQ(inner->sequence_numbers(), std::vector<SequenceNumber>{1});

  // Everything the inner sink saw survives a power cut.
  ASSERT_TRUE(fs->SimulateCrash().ok());
  wal.reset();
  CollectingSink replayed;
  auto stats = ReplayWal(*fs, options.dir, replayed);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(replayed.sequence_numbers(), std::vector<SequenceNumber>{1});
}

}  // namespace
}  // namespace ingester::wal
