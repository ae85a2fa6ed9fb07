#include "ingester/persist/sort_key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "ingester/buffer/buffer_test_util.h"
#include "ingester/catalog/catalog.h"
#include "ingester/persist/persist_core_test_util.h"

namespace ingester::persist {
namespace {

using buffer_test::BatchMaker;
using testing::CatalogWithPartition;
using ::testing::ElementsAre;

using Key = std::vector<std::string>;

TEST(SortKeyTest, CardinalitiesCountReferencedValuesAcrossBatches) {
  // Batch 1 lacks `dc`; its dictionary for `host` gains an unreferenced entry below.
  auto b1 = BatchMaker()
                .Tag("host", {"a", "b", "a", std::nullopt})
                .Tag("region", {"eu", "eu", "eu", "eu"})
                .I64("v", {1, 2, 3, 4})
                .Time({1, 2, 3, 4})
                .Build();
  auto b2 = BatchMaker()
                .Tag("host", {"c", "a"})
                .Tag("region", {"us", std::nullopt})
                .Tag("dc", {"x", "y"})
                .Time({5, 6})
                .Build();
  // A slice of b2 that drops row 0: its dictionaries still hold "c", "us" and "x".
  auto b3 = b2->Slice(1, 1);
  auto schema = arrow::schema({b2->schema()->field(0), b2->schema()->field(1),
                               b2->schema()->field(2), b1->schema()->field(2),
                               b1->schema()->field(3)});
  PERSIST_ASSIGN_OR_FAIL(auto all, ComputeTagCardinalities(*schema, {b1, b2}));
  EXPECT_THAT(all, ElementsAre(TagCardinality{"host", 3}, TagCardinality{"region", 2},
                               TagCardinality{"dc", 2}));
  PERSIST_ASSIGN_OR_FAIL(auto sliced, ComputeTagCardinalities(*schema, {b1, b3}));
  EXPECT_THAT(sliced, ElementsAre(TagCardinality{"host", 2}, TagCardinality{"region", 1},
                                  TagCardinality{"dc", 1}));
}

TEST(SortKeyTest, CardinalitiesRejectNonDictionaryTagData) {
  auto schema = arrow::schema(
      {arrow::field("host", arrow::dictionary(arrow::int32(), arrow::utf8()))});
  auto batch = BatchMaker().Str("host", {"a"}).Build();
  EXPECT_FALSE(ComputeTagCardinalities(*schema, {batch}).ok());
}

TEST(SortKeyTest, FirstPersistOrdersTagsByAscendingCardinalityThenTime) {
  EXPECT_EQ(ComputeSortKey({}, {{"host", 100}, {"region", 3}, {"dc", 3}, {"os", 1}}),
            (Key{"os", "dc", "region", "host", "time"}));
  EXPECT_EQ(ComputeSortKey({}, {}), Key{"time"});
}

TEST(SortKeyTest, LaterPersistKeepsOrderAndInsertsNewTagsBeforeTime) {
  const Key existing{"host", "region", "time"};
  // `host` now has the lowest cardinality, but the stored order wins.
  EXPECT_EQ(ComputeSortKey(existing, {{"host", 1}, {"region", 50}}), existing);
  EXPECT_EQ(ComputeSortKey(existing, {{"host", 1}, {"zone", 9}, {"dc", 4}}),
            (Key{"host", "region", "dc", "zone", "time"}));
  // A key without `time` gets it at the end.
  EXPECT_EQ(ComputeSortKey({"a"}, {{"b", 1}}), (Key{"a", "b", "time"}));
  // A key with `time` in the middle keeps it there; new tags go just before it.
  EXPECT_EQ(ComputeSortKey({"a", "time", "z"}, {{"b", 1}}), (Key{"a", "b", "time", "z"}));
}

TEST(SortKeyTest, FilterKeepsKeyOrder) {
  EXPECT_EQ(FilterSortKey({"a", "b", "c", "time"}, {"time", "c", "a", "x"}),
            (Key{"a", "c", "time"}));
}

TEST(SortKeyTest, CatalogUpdateSetsFirstKeyThenIsANoOp) {
  CatalogWithPartition c;
  PERSIST_ASSERT_OK(c.Init({"host", "region"}));
  PERSIST_ASSIGN_OR_FAIL(auto first,
                         UpdateCatalogSortKey(c.catalog.get(), c.partition.id, {},
                                              {{"host", 10}, {"region", 2}}));
  EXPECT_EQ(first.key, (Key{"region", "host", "time"}));
  EXPECT_EQ(first.cas_attempts, 1);
  PERSIST_ASSIGN_OR_FAIL(auto stored, c.catalog->GetPartition(c.partition.id));
  EXPECT_EQ(stored.sort_key, first.key);

  PERSIST_ASSIGN_OR_FAIL(auto again, UpdateCatalogSortKey(c.catalog.get(), c.partition.id,
                                                          first.key, {{"host", 1}}));
  EXPECT_EQ(again.key, first.key);
  EXPECT_EQ(again.cas_attempts, 0);
}

TEST(SortKeyTest, CatalogUpdateRetriesOnTopOfAConcurrentKey) {
  CatalogWithPartition c;
  PERSIST_ASSERT_OK(c.Init({"host", "region", "dc"}));
  // Another ingester stored [dc, time] meanwhile; we still believe the key is empty.
  PERSIST_ASSERT_OK(c.catalog->CasSortKey(c.partition.id, {}, {"dc", "time"}).status());
  PERSIST_ASSIGN_OR_FAIL(auto update,
                         UpdateCatalogSortKey(c.catalog.get(), c.partition.id, {},
                                              {{"host", 10}, {"region", 2}}));
  EXPECT_EQ(update.key, (Key{"dc", "region", "host", "time"}));
  EXPECT_EQ(update.cas_attempts, 2);
  PERSIST_ASSIGN_OR_FAIL(auto stored, c.catalog->GetPartition(c.partition.id));
  EXPECT_EQ(stored.sort_key, update.key);
}

TEST(SortKeyTest, ConcurrentUpdatersConvergeOnAKeyCoveringAllTags) {
  CatalogWithPartition c;
  const std::vector<std::string> tags = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"};
  PERSIST_ASSERT_OK(c.Init(tags));
  std::vector<std::thread> threads;
  std::vector<arrow::Status> results(tags.size());
  for (size_t i = 0; i < tags.size(); ++i) {
    threads.emplace_back([&, i] {
      auto catalog =
          catalog::OpenCatalog("sqlite://" + (c.dir.path() / "catalog.sqlite").string());
      if (!catalog.ok()) {
        results[i] = catalog.status();
        return;
      }
      results[i] = UpdateCatalogSortKey(catalog->get(), c.partition.id, {},
                                        {{tags[i], static_cast<int64_t>(i)}}, 64)
                       .status();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& st : results) EXPECT_TRUE(st.ok()) << st.ToString();
  PERSIST_ASSIGN_OR_FAIL(auto stored, c.catalog->GetPartition(c.partition.id));
  ASSERT_EQ(stored.sort_key.size(), tags.size() + 1);
  EXPECT_EQ(stored.sort_key.back(), "time");
  for (const auto& tag : tags) {
    EXPECT_THAT(stored.sort_key, ::testing::Contains(tag));
  }
}

TEST(SortKeyTest, CatalogUpdateReturnsOtherErrors) {
  CatalogWithPartition c;
  PERSIST_ASSERT_OK(c.Init({"host"}));
  // `nope` is not a column of the table: the catalog refuses, and so do we.
  EXPECT_FALSE(
      UpdateCatalogSortKey(c.catalog.get(), c.partition.id, {}, {{"nope", 1}}).ok());
  EXPECT_FALSE(
      UpdateCatalogSortKey(c.catalog.get(), PartitionId(999), {}, {{"host", 1}}).ok());
}

}  // namespace
}  // namespace ingester::persist
