#include "ingester/dml/timestamp_oracle.h"

#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace ingester {
namespace {

TEST(TimestampOracle, StartsAtSeedAndReservesRanges) {
  TimestampOracle oracle(42);
  EXPECT_EQ(oracle.Next(), 42u);
  EXPECT_EQ(oracle.Next(3), 43u);
  EXPECT_EQ(oracle.Peek(), 46u);
}

TEST(TimestampOracle, ConcurrentCallersGetDistinctNumbers) {
  TimestampOracle oracle;
  constexpr int kThreads = 16, kPerThread = 10000;
  std::vector<std::vector<SequenceNumber>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) got[t].push_back(oracle.Next());
    });
  }
  for (auto& th : threads) th.join();
  std::set<SequenceNumber> all;
  for (auto& v : got) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), static_cast<SequenceNumber>(kThreads * kPerThread));
}

}  // namespace
}  // namespace ingester
