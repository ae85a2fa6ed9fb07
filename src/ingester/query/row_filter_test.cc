#include "ingester/query/row_filter.h"

#include <arrow/compute/initialize.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ingester/buffer/buffer_test_util.h"
#include "ingester/query/buffer_tree_query_exec.h"

namespace ingester::query {
namespace {

using buffer_test::BatchMaker;
using buffer_test::RowStrings;
using ::testing::ElementsAre;

constexpr int64_t kDay = 86'400'000'000'000LL;

// The kernels RowFilter uses are registered by this call (BufferTreeQueryExec::Make makes
// it in the server).
const arrow::Status kComputeReady = arrow::compute::Initialize();

TEST(TimeRangeTest, HalfOpenOverlapAndCover) {
  TimeRange r{10, 20};
  EXPECT_TRUE(r.Contains(10));
  EXPECT_FALSE(r.Contains(20));
  EXPECT_TRUE(r.Overlaps(0, 10));
  EXPECT_FALSE(r.Overlaps(0, 9));
  EXPECT_TRUE(r.Overlaps(19, 30));
  EXPECT_FALSE(r.Overlaps(20, 30));
  EXPECT_TRUE(r.Covers(10, 19));
  EXPECT_FALSE(r.Covers(10, 20));
  EXPECT_TRUE(TimeRange{}.Covers(INT64_MIN, INT64_MAX));
}

std::shared_ptr<arrow::RecordBatch> Sample() {
  return BatchMaker()
      .Tag("host", {"a", "b", std::nullopt, "a"})
      .I64("v", {1, 2, 3, 4})
      .Time({100, 200, 300, 400})
      .Build();
}

std::vector<std::string> Select(RowFilter& filter,
                                const std::shared_ptr<arrow::RecordBatch>& batch,
                                bool time_covered = false) {
  auto mask = filter.Evaluate(*batch, time_covered).ValueOrDie();
  auto selected = filter.Apply(batch, mask).ValueOrDie();
  if (selected == nullptr) return {};
  return RowStrings({selected});
}

TEST(RowFilterTest, TimeBoundsAndCoverage) {
  Predicate p;
  p.time = {200, 400};
  RowFilter filter(p, arrow::default_memory_pool());
  EXPECT_THAT(Select(filter, Sample()),
              ElementsAre("host=b v=2 time=200", "host=null v=3 time=300"));
  // The caller's statistics say every row is in range: the comparison is skipped.
  EXPECT_EQ(Select(filter, Sample(), /*time_covered=*/true).size(), 4u);
}

TEST(RowFilterTest, MasksReportAllNoneOrSome) {
  Predicate all;
  all.time = {0, 1000};
  RowFilter f1(all, arrow::default_memory_pool());
  auto batch = Sample();
  auto m1 = f1.Evaluate(*batch, false).ValueOrDie();
  EXPECT_EQ(m1.kind, RowMask::Kind::kAll);
  EXPECT_EQ(f1.Apply(batch, m1).ValueOrDie(), batch);  // zero-copy

  Predicate absent;
  absent.tags.push_back({"host", {"zz"}});
  RowFilter f2(absent, arrow::default_memory_pool());
  EXPECT_EQ(f2.Evaluate(*batch, false).ValueOrDie().kind, RowMask::Kind::kNone);

  Predicate missing_column;
  missing_column.tags.push_back({"rack", {"r1"}});
  RowFilter f3(missing_column, arrow::default_memory_pool());
  EXPECT_EQ(f3.Evaluate(*batch, false).ValueOrDie().kind, RowMask::Kind::kNone);
}

TEST(RowFilterTest, TagsMatchThroughDictionariesAndSkipNulls) {
  Predicate p;
  p.tags.push_back({"host", {"a"}});
  RowFilter filter(p, arrow::default_memory_pool());
  EXPECT_THAT(Select(filter, Sample()),
              ElementsAre("host=a v=1 time=100", "host=a v=4 time=400"));

  // Every dictionary value matches, but a null index still does not.
  Predicate in;
  in.tags.push_back({"host", {"a", "b"}});
  RowFilter f2(in, arrow::default_memory_pool());
  EXPECT_THAT(
      Select(f2, Sample()),
      ElementsAre("host=a v=1 time=100", "host=b v=2 time=200", "host=a v=4 time=400"));
}

TEST(RowFilterTest, TagsAndTimeCombine) {
  Predicate p;
  p.tags.push_back({"host", {"a"}});
  p.time.start = 150;
  RowFilter filter(p, arrow::default_memory_pool());
  EXPECT_THAT(Select(filter, Sample()), ElementsAre("host=a v=4 time=400"));
  // Sliced input (as the exec cuts large batches): offsets respected.
  EXPECT_THAT(Select(filter, Sample()->Slice(1, 2)), ElementsAre());
  EXPECT_THAT(Select(filter, Sample()->Slice(2, 2)), ElementsAre("host=a v=4 time=400"));
}

}  // namespace
}  // namespace ingester::query
