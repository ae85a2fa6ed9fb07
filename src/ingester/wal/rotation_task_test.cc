#include "ingester/wal/rotation_task.h"

#include <gtest/gtest.h>

#include <chrono>

#include "ingester/wal/fault_injection_fs.h"
#include "ingester/wal/wal_test_util.h"

namespace ingester::wal {
namespace {

using namespace std::chrono_literals;
using testing::MakeOp;
using testing::TempDir;

class RotationTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WalOptions options;
    options.dir = tmp_.Sub("wal");
    auto wal = Wal::Make(options);
    ASSERT_TRUE(wal.ok());
    wal_ = std::move(*wal);
  }

  RotationTask::Callback Collect() {
    return [this](ClosedSegment segment) {
      MutexLock lock(&mu_);
      closed_.push_back(std::move(segment));
      cv_.NotifyAll();
    };
  }
  // Waits (bounded, so a broken task fails instead of hanging) for `n` callbacks.
  bool WaitForCallbacks(size_t n) {
    MutexLock lock(&mu_);
    return cv_.WaitFor(&mu_, 30s, [&]() REQUIRES(mu_) { return closed_.size() >= n; });
  }

  TempDir tmp_;
  std::shared_ptr<Wal> wal_;
  Mutex mu_;
  CondVar cv_;
  std::vector<ClosedSegment> closed_ GUARDED_BY(mu_);
};

TEST_F(RotationTaskTest, ManualTriggerHandsTheClosedSegmentToTheCallback) {
  RotationTaskOptions options;
  options.period = 1h;
  auto task = RotationTask::Make(wal_, options, Collect());
  ASSERT_TRUE(task.ok());
  ASSERT_TRUE(wal_->Append(MakeOp(1, 1, 4), true).ok());
  ASSERT_TRUE(wal_->Append(MakeOp(2, 1, 4), true).ok());
  (*task)->RotateNow();
  ASSERT_TRUE(WaitForCallbacks(1));
  {
    MutexLock lock(&mu_);
    EXPECT_EQ(closed_[0].id, 1u);
    EXPECT_EQ(closed_[0].sequence_numbers.ToString(), "1-2");
    EXPECT_EQ(closed_[0].rows, 8);
  }
  EXPECT_EQ((*task)->rotations(), 1);
  EXPECT_EQ(wal_->current_segment_id(), 2u);
}

TEST_F(RotationTaskTest, RotatesEveryPeriod) {
  RotationTaskOptions options;
  options.period = 20ms;
  auto task = RotationTask::Make(wal_, options, Collect());
  ASSERT_TRUE(task.ok());
  ASSERT_TRUE(WaitForCallbacks(3));
  (*task)->Stop();
  MutexLock lock(&mu_);
  for (size_t i = 1; i < closed_.size(); ++i)
    EXPECT_EQ(closed_[i].id, closed_[i - 1].id + 1);
}

TEST_F(RotationTaskTest, StopIsPromptWithALongPeriod) {
  RotationTaskOptions options;
  options.period = 1h;
  auto task = RotationTask::Make(wal_, options, Collect());
  ASSERT_TRUE(task.ok());
  auto start = std::chrono::steady_clock::now();
  (*task)->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  (*task)->Stop();  // idempotent
  EXPECT_EQ((*task)->rotations(), 0);
}

TEST_F(RotationTaskTest, FailuresAreReportedNotFatal) {
  ASSERT_TRUE(wal_->Close().ok());  // every Rotate now fails
  RotationTaskOptions options;
  options.period = 1h;
  int errors = 0;  // guarded by mu_
  auto task = RotationTask::Make(wal_, options, Collect(), [&](const arrow::Status& st) {
    EXPECT_FALSE(st.ok());
    MutexLock lock(&mu_);
    ++errors;
    cv_.NotifyAll();
  });
  ASSERT_TRUE(task.ok());
  (*task)->RotateNow();
  {
    MutexLock lock(&mu_);
    ASSERT_TRUE(cv_.WaitFor(&mu_, 30s, [&]() REQUIRES(mu_) { return errors >= 1; }));
  }
  EXPECT_EQ((*task)->failures(), 1);
  EXPECT_TRUE((*task)->last_error().IsInvalid()) << (*task)->last_error().ToString();
  (*task)->RotateNow();  // the task keeps going after a failure
  {
    MutexLock lock(&mu_);
    ASSERT_TRUE(cv_.WaitFor(&mu_, 30s, [&]() REQUIRES(mu_) { return errors >= 2; }));
    EXPECT_TRUE(closed_.empty());
  }
  EXPECT_EQ((*task)->rotations(), 0);
}

// A rotation that cannot create the next segment (here its header's fdatasync fails)
// leaves the WAL writing the current one; last_error() says so until a rotation works.
TEST_F(RotationTaskTest, LastErrorIsSetByAFailedRotationAndClearedByTheNext) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  WalOptions wal_options;
  wal_options.dir = tmp_.Sub("faulty");
  wal_options.fs = fs;
  auto made = Wal::Make(wal_options);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::shared_ptr<Wal> wal = std::move(*made);
  RotationTaskOptions options;
  options.period = 1h;
  int errors = 0;  // guarded by mu_
  auto task = RotationTask::Make(wal, options, Collect(), [&](const arrow::Status&) {
    MutexLock lock(&mu_);
    ++errors;
    cv_.NotifyAll();
  });
  ASSERT_TRUE(task.ok());
  EXPECT_TRUE((*task)->last_error().ok());
  ASSERT_TRUE(wal->Append(MakeOp(1, 1, 4), true).ok());

  fs->FailNextSync(EIO);
  (*task)->RotateNow();
  {
    MutexLock lock(&mu_);
    ASSERT_TRUE(cv_.WaitFor(&mu_, 30s, [&]() REQUIRES(mu_) { return errors >= 1; }));
  }
  const arrow::Status failed = (*task)->last_error();
  EXPECT_TRUE(failed.IsIOError()) << failed.ToString();
  EXPECT_TRUE(wal->sticky_error().ok());  // the current segment is still fine
  ASSERT_TRUE(wal->Append(MakeOp(2, 1, 4), true).ok());

  (*task)->RotateNow();
  ASSERT_TRUE(WaitForCallbacks(1));
  EXPECT_TRUE((*task)->last_error().ok()) << (*task)->last_error().ToString();
  MutexLock lock(&mu_);
  EXPECT_EQ(closed_[0].sequence_numbers.ToString(), "1-2");
}

TEST(RotationTaskOptions, RejectsANonPositivePeriod) {
  RotationTaskOptions options;
  options.period = 0s;
  EXPECT_FALSE(options.Validate().ok());
}

}  // namespace
}  // namespace ingester::wal
