#include "ingester/buffer/deferred_load.h"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

namespace ingester {
namespace {

TEST(DeferredLoad, LoadsExactlyOnceUnderSixteenConcurrentGets) {
  constexpr int kThreads = 16;
  std::atomic<int> loads{0};
  std::latch all_calling(kThreads);
  DeferredLoad<std::string> name([&]() -> arrow::Result<std::string> {
    loads.fetch_add(1);
    // Hold the load open until every thread has reached Get(), so that they overlap it.
    all_calling.wait();
    return std::string("cpu");
  });
  EXPECT_FALSE(name.IsLoaded());
  std::vector<std::thread> threads;
  std::vector<std::string> got(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i, clone = name] {  // each thread uses its own clone
      all_calling.count_down();
      auto v = clone.Get();
      got[i] = v.ok() ? *v : v.status().ToString();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(loads.load(), 1);
  for (const auto& g : got) EXPECT_EQ(g, "cpu");
  EXPECT_TRUE(name.IsLoaded());
  EXPECT_EQ(name.Peek(), "cpu");
  EXPECT_EQ(*name.Get(), "cpu");
  EXPECT_EQ(loads.load(), 1);
}

TEST(DeferredLoad, FailedLoadIsReportedAndRetriedByTheNextGet) {
  int calls = 0;
  DeferredLoad<int> value([&]() -> arrow::Result<int> {
    if (++calls == 1) return arrow::Status::IOError("catalog down");
    return 42;
  });
  auto first = value.Get();
  EXPECT_TRUE(first.status().IsIOError());
  EXPECT_FALSE(value.IsLoaded());
  EXPECT_EQ(*value.Get(), 42);
  EXPECT_EQ(*value.Get(), 42);
  EXPECT_EQ(calls, 2);
}

TEST(DeferredLoad, ReadyAndSeedNeverCallTheLoader) {
  auto ready = DeferredLoad<std::string>::Ready("ns");
  EXPECT_TRUE(ready.IsLoaded());
  EXPECT_EQ(*ready.Get(), "ns");
  EXPECT_FALSE(ready.Seed("other"));
  EXPECT_EQ(*ready.Get(), "ns");

  int calls = 0;
  DeferredLoad<std::string> seeded([&]() -> arrow::Result<std::string> {
    ++calls;
    return std::string("loaded");
  });
  DeferredLoad<std::string> clone = seeded;
  EXPECT_TRUE(seeded.Seed("given"));
  EXPECT_EQ(*clone.Get(), "given");
  EXPECT_EQ(calls, 0);
}

TEST(DeferredLoad, PrefetchLoadsOnTheExecutor) {
  int calls = 0;
  DeferredLoad<std::string> name([&]() -> arrow::Result<std::string> {
    ++calls;
    return std::string("t");
  });
  std::vector<std::function<void()>> queued;
  auto executor = [&](std::function<void()> task) { queued.push_back(std::move(task)); };
  name.Prefetch(executor);
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_FALSE(name.IsLoaded());
  queued[0]();
  EXPECT_TRUE(name.IsLoaded());
  EXPECT_EQ(calls, 1);
  name.Prefetch(executor);  // already loaded: nothing queued
  EXPECT_EQ(queued.size(), 1u);
  EXPECT_EQ(*name.Get(), "t");
  EXPECT_EQ(calls, 1);
}

TEST(DeferredLoad, PrefetchOnItsOwnThreadThenGetWaitsForIt) {
  std::atomic<int> calls{0};
  DeferredLoad<std::string> name([&]() -> arrow::Result<std::string> {
    calls.fetch_add(1);
    return std::string("bg");
  });
  name.Prefetch();
  EXPECT_EQ(*name.Get(), "bg");  // either joins the background load or does it
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace ingester
