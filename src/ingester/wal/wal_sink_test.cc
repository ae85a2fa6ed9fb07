#include "ingester/wal/wal_sink.h"

#include <gtest/gtest.h>

#include "ingester/wal/fault_injection_fs.h"
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
  explicit OrderCheckingAppender(const CollectingSink* inner) : inner_(inner) {}
  arrow::Status Append(const WriteOp& op, bool sync) override {
    seen_before_append.push_back(inner_->size());
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
  ASSERT_TRUE(sink.ApplyWithOptions(MakeOp(2), WalWriteOptions{.no_sync = true}).ok());
  EXPECT_EQ(appender->seen_before_append, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(appender->syncs, (std::vector<bool>{true, false}));
  EXPECT_EQ(inner->sequence_numbers(), (std::vector<SequenceNumber>{1, 2}));
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
