#include "ingester/query/duplicate_keys.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "ingester/common/column_type.h"

namespace ingester::query {
namespace {

using Batch = std::shared_ptr<arrow::RecordBatch>;

// A batch of (host tag, time) rows; `region`, when given, adds a second tag column
// before host (column order must not matter).
Batch Rows(const std::vector<std::string>& hosts, const std::vector<int64_t>& times,
           const std::vector<std::string>& regions = {}) {
  arrow::StringDictionary32Builder host_builder;
  for (const auto& h : hosts) {
    if (h.empty()) {
      EXPECT_TRUE(host_builder.AppendNull().ok());
    } else {
      EXPECT_TRUE(host_builder.Append(h).ok());
    }
  }
  auto host = host_builder.Finish().ValueOrDie();
  arrow::TimestampBuilder time_builder(arrow::timestamp(arrow::TimeUnit::NANO),
                                       arrow::default_memory_pool());
  EXPECT_TRUE(time_builder.AppendValues(times).ok());
  auto time = time_builder.Finish().ValueOrDie();
  auto tag = ArrowTypeFor(ColumnType::kTag);
  if (regions.empty()) {
    return arrow::RecordBatch::Make(
        arrow::schema({arrow::field("host", tag), arrow::field("time", time->type())}),
        static_cast<int64_t>(hosts.size()), {host, time});
  }
  arrow::StringDictionary32Builder region_builder;
  for (const auto& r : regions) EXPECT_TRUE(region_builder.Append(r).ok());
  auto region = region_builder.Finish().ValueOrDie();
  return arrow::RecordBatch::Make(
      arrow::schema({arrow::field("region", tag), arrow::field("host", tag),
                     arrow::field("time", time->type())}),
      static_cast<int64_t>(hosts.size()), {region, host, time});
}

TEST(DuplicateKeysTest, FactsOfOneBatch) {
  auto facts = ComputeBatchKeyFacts(*Rows({"a", "b", "a"}, {5, 5, 3})).ValueOrDie();
  EXPECT_EQ(facts.min_time, 3);
  EXPECT_EQ(facts.max_time, 5);
  EXPECT_TRUE(facts.unique_keys);
  EXPECT_FALSE(
      ComputeBatchKeyFacts(*Rows({"a", "b", "a"}, {5, 5, 5})).ValueOrDie().unique_keys);
  // A null tag is a key of its own, and twice the same.
  EXPECT_TRUE(ComputeBatchKeyFacts(*Rows({"", "a"}, {5, 5})).ValueOrDie().unique_keys);
  EXPECT_FALSE(ComputeBatchKeyFacts(*Rows({"", ""}, {5, 5})).ValueOrDie().unique_keys);
}

TEST(DuplicateKeysTest, BatchesThatCannotOverlapAreNotCompared) {
  BatchKeyFactsCache cache;
  EXPECT_FALSE(
      MayHaveDuplicateKeys({Rows({"a", "b"}, {1, 2}), Rows({"a", "b"}, {3, 4})}, &cache)
          .ValueOrDie());
  // Touching at time 2, different series there.
  EXPECT_FALSE(
      MayHaveDuplicateKeys({Rows({"a", "b"}, {1, 2}), Rows({"a", "b"}, {2, 4})}, &cache)
          .ValueOrDie());
  // Touching at time 2 with the same series: a duplicate.
  EXPECT_TRUE(
      MayHaveDuplicateKeys({Rows({"a", "b"}, {1, 2}), Rows({"b", "a"}, {2, 4})}, &cache)
          .ValueOrDie());
  // One batch with a duplicate of its own.
  EXPECT_TRUE(MayHaveDuplicateKeys({Rows({"a", "a"}, {1, 1})}, nullptr).ValueOrDie());
}

TEST(DuplicateKeysTest, SeriesAreComparedByTagNamesAndValuesNotColumnOrder) {
  auto with_region = Rows({"a"}, {7}, {"eu"});
  EXPECT_TRUE(MayHaveDuplicateKeys({with_region, Rows({"a"}, {7}, {"eu"})}, nullptr)
                  .ValueOrDie());
  // host=a without a region is another series than host=a,region=eu.
  EXPECT_FALSE(
      MayHaveDuplicateKeys({with_region, Rows({"a"}, {7})}, nullptr).ValueOrDie());
  EXPECT_FALSE(
      MayHaveDuplicateKeys({Rows({"a"}, {7}, {"eu"}), Rows({"a"}, {7}, {"us"})}, nullptr)
          .ValueOrDie());
}

TEST(DuplicateKeysTest, TheCacheForgetsDeadBatches) {
  BatchKeyFactsCache cache;
  auto kept = Rows({"a"}, {1});
  EXPECT_TRUE(cache.Get(kept).ok());
  for (int i = 0; i < 3000; ++i) EXPECT_TRUE(cache.Get(Rows({"a"}, {i})).ok());
  EXPECT_LT(cache.TEST_size(), 2100u);
  // A live batch's facts survive the purges.
  EXPECT_EQ(cache.Get(kept).ValueOrDie().min_time, 1);
}

}  // namespace
}  // namespace ingester::query
