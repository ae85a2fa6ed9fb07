#include "ingester/query/sorted_merge.h"

#include <arrow/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ingester/buffer/buffer_test_util.h"
#include "ingester/common/column_type.h"

namespace ingester::query {
namespace {

using Batch = std::shared_ptr<arrow::RecordBatch>;
using ::testing::ElementsAre;

struct Row {
  std::string host;  // "" for null
  int64_t time;
  std::optional<int64_t> v;
};

std::shared_ptr<arrow::Schema> MergeSchema() {
  return arrow::schema({arrow::field("host", ArrowTypeFor(ColumnType::kTag)),
                        arrow::field("v", arrow::int64()),
                        arrow::field("time", ArrowTypeFor(ColumnType::kTime), false)});
}

Batch Make(const std::vector<Row>& rows) {
  arrow::StringDictionary32Builder host;
  arrow::Int64Builder v;
  arrow::TimestampBuilder time(ArrowTypeFor(ColumnType::kTime),
                               arrow::default_memory_pool());
  for (const Row& r : rows) {
    EXPECT_TRUE((r.host.empty() ? host.AppendNull() : host.Append(r.host)).ok());
    EXPECT_TRUE((r.v ? v.Append(*r.v) : v.AppendNull()).ok());
    EXPECT_TRUE(time.Append(r.time).ok());
  }
  return arrow::RecordBatch::Make(
      MergeSchema(), static_cast<int64_t>(rows.size()),
      {host.Finish().ValueOrDie(), v.Finish().ValueOrDie(), time.Finish().ValueOrDie()});
}

BatchSource Source(std::vector<Batch> batches) {
  auto state =
      std::make_shared<std::pair<std::vector<Batch>, size_t>>(std::move(batches), 0);
  return [state]() -> arrow::Result<Batch> {
    if (state->second >= state->first.size()) return nullptr;
    return state->first[state->second++];
  };
}

std::vector<std::string> Drain(SortedMerge* merge) {
  std::vector<Batch> out;
  while (true) {
    auto batch = merge->Next().ValueOrDie();
    if (batch == nullptr) break;
    out.push_back(batch);
  }
  return buffer_test::RowStrings(out);
}

SortedMergeOptions Options(int64_t batch_rows = 1024) {
  SortedMergeOptions options;
  options.schema = MergeSchema();
  options.sort_key = {"host", "time"};
  options.batch_rows = batch_rows;
  return options;
}

TEST(SortedMergeTest, InterleavesSourcesInKeyOrderWithNullsLast) {
  std::vector<BatchSource> sources;
  sources.push_back(Source({Make({{"a", 1, 1}, {"b", 5, 2}}), Make({{"", 1, 3}})}));
  sources.push_back(Source({Make({{"a", 2, 4}, {"c", 0, 5}})}));
  auto merge = SortedMerge::Make(std::move(sources), Options()).ValueOrDie();
  EXPECT_THAT(Drain(merge.get()),
              ElementsAre("host=a v=1 time=1", "host=a v=4 time=2", "host=b v=2 time=5",
                          "host=c v=5 time=0", "host=null v=3 time=1"));
  EXPECT_EQ(merge->stats().merged_keys, 0);
  EXPECT_EQ(merge->stats().output_rows, 5);
}

TEST(SortedMergeTest, EqualKeysTakeEachFieldFromTheNewestSourceHoldingIt) {
  std::vector<BatchSource> sources;
  sources.push_back(Source({Make({{"a", 1, 1}, {"b", 1, 2}})}));  // oldest
  sources.push_back(Source({Make({{"a", 1, 10}, {"b", 1, std::nullopt}})}));
  sources.push_back(Source({Make({{"a", 1, std::nullopt}})}));  // newest
  auto merge = SortedMerge::Make(std::move(sources), Options(1)).ValueOrDie();
  EXPECT_THAT(Drain(merge.get()), ElementsAre("host=a v=10 time=1", "host=b v=2 time=1"));
  EXPECT_EQ(merge->stats().merged_keys, 2);
  EXPECT_EQ(merge->stats().input_rows, 5);
}

TEST(SortedMergeTest, ASourceBatchUnderAnotherSchemaIsAnError) {
  auto other =
      arrow::RecordBatch::Make(arrow::schema({arrow::field("x", arrow::int64())}), 0,
                               {arrow::MakeArrayOfNull(arrow::int64(), 0).ValueOrDie()});
  auto wrong = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("x", arrow::int64())}), 1,
      {arrow::MakeArrayFromScalar(arrow::Int64Scalar(1), 1).ValueOrDie()});
  std::vector<BatchSource> sources;
  sources.push_back(Source({other, wrong}));
  auto merge = SortedMerge::Make(std::move(sources), Options()).ValueOrDie();
  EXPECT_FALSE(merge->Next().ok());
}

}  // namespace
}  // namespace ingester::query
