#include "ingester/buffer/partition_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>

namespace ingester {
namespace {

// A catalog stand-in: hands out ids in creation order and counts calls.
class CountingProvider : public PartitionProvider {
 public:
  arrow::Result<PartitionId> GetOrCreatePartitionId(TableId table,
                                                    std::string_view key) override {
    calls.fetch_add(1);
    if (key == "fail") return arrow::Status::IOError("catalog unavailable");
    std::lock_guard<std::mutex> lock(mu);
    auto [it, fresh] =
        ids.try_emplace({table.value(), std::string(key)},
                        PartitionId(100 + static_cast<int64_t>(ids.size())));
    return it->second;
  }
  std::atomic<int> calls{0};
  std::mutex mu;
  std::map<std::pair<int64_t, std::string>, PartitionId> ids;
};

TEST(PartitionCache, WarmCacheMakesZeroInnerCalls) {
  auto inner = std::make_shared<CountingProvider>();
  PartitionCacheOptions options;
  options.inner = inner;
  options.entries = {{TableId(1), "2024-01-01", PartitionId(11)},
                     {TableId(1), "2024-01-02", PartitionId(12)},
                     {TableId(2), "2024-01-01", PartitionId(21)}};
  auto cache = *PartitionCache::Make(options);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(*cache->GetOrCreatePartitionId(TableId(1), "2024-01-01"), PartitionId(11));
    EXPECT_EQ(*cache->GetOrCreatePartitionId(TableId(1), "2024-01-02"), PartitionId(12));
    EXPECT_EQ(*cache->GetOrCreatePartitionId(TableId(2), "2024-01-01"), PartitionId(21));
  }
  EXPECT_EQ(inner->calls.load(), 0);
  EXPECT_EQ(cache->hits(), 9u);
  EXPECT_EQ(cache->misses(), 0u);
}

TEST(PartitionCache, MissAsksInnerOnceThenRemembers) {
  auto inner = std::make_shared<CountingProvider>();
  auto cache =
      *PartitionCache::Make({inner, {{TableId(1), "2024-01-01", PartitionId(11)}}});
  auto id = cache->GetOrCreatePartitionId(TableId(1), "2024-01-03");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, PartitionId(100));
  EXPECT_EQ(*cache->GetOrCreatePartitionId(TableId(1), "2024-01-03"), PartitionId(100));
  // Same key, other table: a different partition.
  EXPECT_EQ(*cache->GetOrCreatePartitionId(TableId(2), "2024-01-03"), PartitionId(101));
  EXPECT_EQ(inner->calls.load(), 2);
  EXPECT_EQ(cache->misses(), 2u);
  EXPECT_EQ(cache->size(), 3u);
}

TEST(PartitionCache, InnerErrorsPropagateAndAreNotCached) {
  auto inner = std::make_shared<CountingProvider>();
  auto cache = *PartitionCache::Make({inner, {}});
  EXPECT_TRUE(cache->GetOrCreatePartitionId(TableId(1), "fail").status().IsIOError());
  EXPECT_TRUE(cache->GetOrCreatePartitionId(TableId(1), "fail").status().IsIOError());
  EXPECT_EQ(inner->calls.load(), 2);
  EXPECT_EQ(cache->size(), 0u);
}

TEST(PartitionCache, NeedsAnInnerProvider) {
  EXPECT_TRUE(PartitionCache::Make({}).status().IsInvalid());
}

}  // namespace
}  // namespace ingester
