#include "ingester/query/sorted_merge.h"

#include <arrow/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <tuple>

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

// kPassThrough hands each source batch on as it is when no other source shares a key of
// it, and only the shared keys are built anew (merged as kSorted merges them).
TEST(SortedMergeTest, PassThroughHandsOnSourceBatchesAndMergesOnlySharedKeys) {
  auto first = Make({{"a", 1, 1}, {"a", 2, 2}, {"b", 1, 3}});
  auto second = Make({{"a", 3, 4}, {"b", 1, std::nullopt}, {"c", 1, 6}});
  auto third = Make({{"d", 1, 7}});
  std::vector<BatchSource> sources;
  sources.push_back(Source({first, third}));  // oldest
  sources.push_back(Source({second}));
  SortedMergeOptions options = Options();
  options.output = MergeOutput::kPassThrough;
  auto merge = SortedMerge::Make(std::move(sources), options).ValueOrDie();
  std::vector<Batch> out;
  while (auto batch = merge->Next().ValueOrDie()) out.push_back(batch);
  // `third` is the untouched batch itself; the others lose the shared key b@1, which
  // comes merged (v from the oldest: the newest's is null) in a batch of its own.
  std::vector<std::string> rows = buffer_test::RowStrings(out);
  std::sort(rows.begin(), rows.end());
  EXPECT_THAT(rows,
              ElementsAre("host=a v=1 time=1", "host=a v=2 time=2", "host=a v=4 time=3",
                          "host=b v=3 time=1", "host=c v=6 time=1", "host=d v=7 time=1"));
  EXPECT_TRUE(
      std::any_of(out.begin(), out.end(), [&](const Batch& b) { return b == third; }));
  EXPECT_EQ(merge->stats().merged_keys, 1);
  EXPECT_EQ(merge->stats().input_rows, 7);
  EXPECT_EQ(merge->stats().output_rows, 6);
}

// Two tags (nulls among them), sources of random density so that runs of every length
// occur, random batch cuts (each batch with its own dictionary) and output sizes: the
// merge equals the rule applied by brute force (a map of keys, sources oldest first,
// each field's newest non-null value winning).
TEST(SortedMergeTest, MatchesBruteForceOnRandomSources) {
  auto schema =
      arrow::schema({arrow::field("host", ArrowTypeFor(ColumnType::kTag)),
                     arrow::field("region", ArrowTypeFor(ColumnType::kTag)),
                     arrow::field("v", arrow::int64()),
                     arrow::field("time", ArrowTypeFor(ColumnType::kTime), false)});
  const std::vector<std::string> hosts = {"a", "b", "bb", "c", ""};  // "" = null
  const std::vector<std::string> regions = {"eu", "us", ""};
  // Nulls sort last: "" maps to a string above every value.
  auto order = [](const std::string& tag) {
    return tag.empty() ? std::string("\xff") : tag;
  };
  using Key =
      std::tuple<std::string, std::string, int64_t>;  // ordered host, region, time
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    const int n_sources = 1 + static_cast<int>(rng() % 5);
    std::map<Key, std::tuple<std::string, std::string, std::optional<int64_t>>> expected;
    std::vector<BatchSource> sources;
    int64_t input_rows = 0;
    for (int s = 0; s < n_sources; ++s) {
      const double density = std::uniform_real_distribution<double>(0.05, 1.0)(rng);
      // The source's rows in key order.
      std::vector<std::tuple<std::string, std::string, int64_t, std::optional<int64_t>>>
          rows;
      std::map<Key, size_t> sorted;
      for (const auto& h : hosts) {
        for (const auto& r : regions) {
          for (int64_t t = 0; t < 40; ++t) {
            if (std::uniform_real_distribution<double>(0, 1)(rng) >= density) continue;
            std::optional<int64_t> v;
            if (rng() % 4 != 0) v = static_cast<int64_t>(rng() % 1000);
            sorted[Key{order(h), order(r), t}] = rows.size();
            rows.emplace_back(h, r, t, v);
          }
        }
      }
      std::vector<Batch> batches;
      auto it = sorted.begin();
      while (it != sorted.end()) {
        const size_t cut = 1 + rng() % 9;
        arrow::StringDictionary32Builder host, region;
        arrow::Int64Builder v;
        arrow::TimestampBuilder time(ArrowTypeFor(ColumnType::kTime),
                                     arrow::default_memory_pool());
        size_t n = 0;
        for (; n < cut && it != sorted.end(); ++n, ++it) {
          const auto& [h, r, t, value] = rows[it->second];
          ASSERT_TRUE((h.empty() ? host.AppendNull() : host.Append(h)).ok());
          ASSERT_TRUE((r.empty() ? region.AppendNull() : region.Append(r)).ok());
          ASSERT_TRUE((value ? v.Append(*value) : v.AppendNull()).ok());
          ASSERT_TRUE((time.Append(t)).ok());
          auto& slot = expected[it->first];
          std::get<0>(slot) = h;
          std::get<1>(slot) = r;
          if (value || !std::get<2>(slot)) std::get<2>(slot) = value;
        }
        input_rows += static_cast<int64_t>(n);
        batches.push_back(arrow::RecordBatch::Make(
            schema, static_cast<int64_t>(n),
            {host.Finish().ValueOrDie(), region.Finish().ValueOrDie(),
             v.Finish().ValueOrDie(), time.Finish().ValueOrDie()}));
      }
      sources.push_back(Source(std::move(batches)));
    }
    SortedMergeOptions options;
    options.schema = schema;
    options.sort_key = {"host", "region", "time"};
    options.batch_rows = 1 + static_cast<int64_t>(rng() % 50);
    // Every other round hands source batches on (output in no global order: compared
    // sorted; source batches have at most 9 rows).
    const bool pass_through = round % 2 == 1;
    if (pass_through) options.output = MergeOutput::kPassThrough;
    auto merge = SortedMerge::Make(std::move(sources), options).ValueOrDie();
    std::vector<Batch> out;
    while (auto batch = merge->Next().ValueOrDie()) {
      ASSERT_TRUE((batch->ValidateFull()).ok());
      ASSERT_GT(batch->num_rows(), 0);
      ASSERT_LE(batch->num_rows(), pass_through ? std::max<int64_t>(options.batch_rows, 9)
                                                : options.batch_rows);
      out.push_back(batch);
    }
    std::vector<std::string> want;
    for (const auto& [key, row] : expected) {
      const auto& [h, r, value] = row;
      want.push_back("host=" + (h.empty() ? std::string("null") : h) +
                     " region=" + (r.empty() ? std::string("null") : r) +
                     " v=" + (value ? std::to_string(*value) : std::string("null")) +
                     " time=" + std::to_string(std::get<2>(key)));
    }
    std::vector<std::string> got = buffer_test::RowStrings(out);
    if (pass_through) {
      // Sorted as strings, "null" among the values: compare as sets of rows.
      std::sort(got.begin(), got.end());
      std::sort(want.begin(), want.end());
    }
    ASSERT_EQ(got, want) << "round " << round;
    EXPECT_EQ(merge->stats().input_rows, input_rows);
    EXPECT_EQ(merge->stats().output_rows, static_cast<int64_t>(want.size()));
  }
}

}  // namespace
}  // namespace ingester::query
