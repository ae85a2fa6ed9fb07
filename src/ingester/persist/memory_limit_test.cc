#include "ingester/persist/memory_limit.h"

#include <arrow/buffer.h>
#include <gtest/gtest.h>

#include <latch>
#include <thread>
#include <vector>

#include "ingester/persist/persist_core_test_util.h"

namespace ingester::persist {
namespace {

std::unique_ptr<LimitedMemoryPool> MakePool(int64_t limit) {
  auto pool = LimitedMemoryPool::Make({.limit_bytes = limit});
  EXPECT_TRUE(pool.ok()) << pool.status().ToString();
  return std::move(pool).ValueOrDie();
}

TEST(MemoryLimitTest, RefusesAllocationsOverTheLimitAndCountsPeak) {
  // Sizes are multiples of 64: Arrow rounds buffer capacities up to them.
  auto pool = MakePool(1024);
  PERSIST_ASSIGN_OR_FAIL(auto a, arrow::AllocateBuffer(640, pool.get()));
  EXPECT_EQ(pool->bytes_allocated(), 640);
  auto refused = arrow::AllocateBuffer(448, pool.get());
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsOutOfMemory()) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("limit of 1024"), std::string::npos);
  EXPECT_EQ(pool->bytes_allocated(), 640);
  EXPECT_EQ(pool->rejected_allocations(), 1);
  PERSIST_ASSIGN_OR_FAIL(auto b, arrow::AllocateBuffer(384, pool.get()));
  EXPECT_EQ(pool->bytes_allocated(), 1024);
  EXPECT_EQ(pool->max_memory(), 1024);
  a.reset();
  b.reset();
  EXPECT_EQ(pool->bytes_allocated(), 0);
  EXPECT_EQ(pool->max_memory(), 1024);
  pool->ResetPeak();
  EXPECT_EQ(pool->max_memory(), 0);
}

TEST(MemoryLimitTest, ReallocateChecksGrowthOnly) {
  auto pool = MakePool(1024);
  PERSIST_ASSIGN_OR_FAIL(auto buf, arrow::AllocateResizableBuffer(512, pool.get()));
  EXPECT_FALSE(buf->Resize(1200).ok());
  EXPECT_EQ(pool->bytes_allocated(), 512);
  PERSIST_ASSERT_OK(buf->Resize(900));
  EXPECT_EQ(pool->bytes_allocated(), buf->capacity());
  PERSIST_ASSERT_OK(buf->Resize(100, /*shrink_to_fit=*/true));
  EXPECT_LT(pool->bytes_allocated(), 900);
  buf.reset();
  EXPECT_EQ(pool->bytes_allocated(), 0);
}

TEST(MemoryLimitTest, ZeroMeansUnlimitedAndNegativeIsInvalid) {
  auto pool = MakePool(0);
  PERSIST_ASSIGN_OR_FAIL(auto big, arrow::AllocateBuffer(64 << 20, pool.get()));
  EXPECT_EQ(pool->bytes_allocated(), 64 << 20);
  EXPECT_FALSE(LimitedMemoryPool::Make({.limit_bytes = -1}).ok());
}

TEST(MemoryLimitTest, ConcurrentAllocationsNeverPassTheLimit) {
  constexpr int64_t kLimit = 64 * 1024;
  auto pool = MakePool(kLimit);
  std::vector<std::thread> threads;
  std::atomic<int64_t> refused{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto buf = arrow::AllocateBuffer(1024 * (1 + (i + t) % 16), pool.get());
        if (!buf.ok()) refused.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(pool->max_memory(), kLimit);
  EXPECT_EQ(pool->bytes_allocated(), 0);
  EXPECT_EQ(pool->rejected_allocations(), refused.load());
}

// An attempt that allocates `bytes` through `job` and frees them again.
std::function<arrow::Status()> Allocating(arrow::MemoryPool* job, int64_t bytes) {
  return [job, bytes]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto buf, arrow::AllocateBuffer(bytes, job));
    return arrow::Status::OK();
  };
}

TEST(MemoryRetryTest, AJobAloneOverTheLimitFailsAtOnce) {
  auto pool = MakePool(1024);
  JobMemoryPool job(pool.get());
  MemoryRetryStats stats;
  bool waited = false;
  MemoryRetryPolicy policy{.TEST_before_wait = [&](int64_t) { waited = true; }};
  auto st = RunWithMemoryRetry(&job, policy, Allocating(&job, 2048), &stats);
  EXPECT_TRUE(st.IsOutOfMemory()) << st.ToString();
  EXPECT_NE(st.message().find("alone"), std::string::npos) << st.message();
  EXPECT_EQ(stats.attempts, 1);
  EXPECT_FALSE(waited);
}

TEST(MemoryRetryTest, WaitsForAnotherJobToFreeMemoryThenSucceeds) {
  auto pool = MakePool(1024);
  // Another job holds 704 bytes; ours needs 128 + 384. It frees them once we wait.
  std::shared_ptr<arrow::Buffer> held;
  PERSIST_ASSIGN_OR_FAIL(held, arrow::AllocateBuffer(704, pool.get()));
  std::latch waiting(1);
  std::thread other([&] {
    waiting.wait();
    held.reset();
  });
  JobMemoryPool job(pool.get());
  int64_t target = -1;
  MemoryRetryPolicy policy{.max_wait = std::chrono::seconds(60),
                           .TEST_before_wait = [&](int64_t t) {
                             target = t;
                             waiting.count_down();
                           }};
  // The attempt keeps 128 bytes across attempts (like an output built before the
  // failing step), then needs 384 more.
  std::shared_ptr<arrow::Buffer> kept;
  auto attempt = [&]() -> arrow::Status {
    if (kept == nullptr) {
      ARROW_ASSIGN_OR_RAISE(kept, arrow::AllocateBuffer(128, &job));
    }
    ARROW_ASSIGN_OR_RAISE(auto buf, arrow::AllocateBuffer(384, &job));
    return arrow::Status::OK();
  };
  MemoryRetryStats stats;
  const arrow::Status st = RunWithMemoryRetry(&job, policy, attempt, &stats);
  other.join();
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(stats.attempts, 2);
  EXPECT_EQ(stats.waits, 1);
  // We needed 128 + 384 and hold 128: the pool must come down to 1024 - 512 + 128.
  EXPECT_EQ(target, 640);
  EXPECT_EQ(job.known_need(), 512);
  EXPECT_LT(stats.waited, std::chrono::seconds(60));
}

TEST(MemoryRetryTest, GivesUpAfterMaxAttempts) {
  auto pool = MakePool(1024);
  PERSIST_ASSIGN_OR_FAIL(auto held, arrow::AllocateBuffer(704, pool.get()));
  JobMemoryPool job(pool.get());
  MemoryRetryStats stats;
  MemoryRetryPolicy policy{.max_attempts = 3, .max_wait = std::chrono::milliseconds(5)};
  auto st = RunWithMemoryRetry(&job, policy, Allocating(&job, 512), &stats);
  EXPECT_TRUE(st.IsOutOfMemory()) << st.ToString();
  EXPECT_NE(st.message().find("after 3 attempts"), std::string::npos) << st.message();
  EXPECT_EQ(stats.attempts, 3);
  EXPECT_EQ(stats.waits, 2);
  EXPECT_EQ(job.bytes_allocated(), 0);
}

TEST(MemoryRetryTest, OtherErrorsAreNotRetried) {
  auto pool = MakePool(1024);
  JobMemoryPool job(pool.get());
  MemoryRetryStats stats;
  auto st = RunWithMemoryRetry(
      &job, {}, [] { return arrow::Status::IOError("disk"); }, &stats);
  EXPECT_TRUE(st.IsIOError());
  EXPECT_EQ(stats.attempts, 1);
}

TEST(MemoryRetryTest, AStopRequestEndsTheWait) {
  auto pool = MakePool(1024);
  PERSIST_ASSIGN_OR_FAIL(auto held, arrow::AllocateBuffer(704, pool.get()));
  JobMemoryPool job(pool.get());
  std::stop_source stop;
  MemoryRetryStats stats;
  MemoryRetryPolicy policy{.max_attempts = 100,
                           .max_wait = std::chrono::hours(1),
                           .TEST_before_wait = [&](int64_t) { stop.request_stop(); }};
  auto st =
      RunWithMemoryRetry(&job, policy, Allocating(&job, 512), &stats, stop.get_token());
  EXPECT_TRUE(st.IsOutOfMemory()) << st.ToString();
  EXPECT_NE(st.message().find("stopped"), std::string::npos) << st.message();
  EXPECT_EQ(stats.attempts, 1);
  EXPECT_LT(stats.waited, std::chrono::minutes(1));
}

}  // namespace
}  // namespace ingester::persist
