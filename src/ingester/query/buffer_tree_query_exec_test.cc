#include "ingester/query/buffer_tree_query_exec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ingester/common/error.h"
#include "ingester/query/query_test_util.h"

namespace ingester::query {
namespace {

using namespace ingester::query::testing;  // NOLINT
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string T(int64_t t) { return std::to_string(t); }

// host/region tags, usage (f64) and count (i64) fields, over two days.
void WriteTwoDays(QueryFixture& f) {
  f.Write("cpu,host=a,region=eu usage=1.5,count=1i " + T(kDay1 + 10) + "\n" +
          "cpu,host=b,region=us usage=2.5,count=2i " + T(kDay1 + 20) + "\n" +
          "cpu,host=c,region=eu usage=3.5,count=3i " + T(kDay2 + 30) + "\n");
}

std::vector<CollectedPartition> RunQuery(QueryFixture& f, const QueryRequest& request) {
  auto response = f.exec()->Query(request);
  EXPECT_TRUE(response.ok()) << response.status().ToString();
  if (!response.ok()) return {};
  auto collected = CollectAll(response->get());
  EXPECT_TRUE(collected.ok()) << collected.status().ToString();
  return collected.ok() ? *collected : std::vector<CollectedPartition>{};
}

TEST(BufferTreeQueryExecTest, ReturnsEveryColumnPartitionByPartition) {
  QueryFixture f;
  WriteTwoDays(f);
  auto response = f.exec()->Query(Request()).ValueOrDie();
  EXPECT_THAT(buffer_test::FieldNames(*response->schema()),
              ElementsAre("host", "region", "usage", "count", "time"));
  auto partitions = CollectAll(response.get()).ValueOrDie();
  EXPECT_THAT(Keys(partitions), ElementsAre("2023-11-14", "2023-11-15"));
  EXPECT_NE(partitions[0].info.partition_id, partitions[1].info.partition_id);
  EXPECT_EQ(partitions[0].info.completed_persist_count, 0u);
  EXPECT_THAT(Rows(partitions),
              ElementsAre("host=a region=eu usage=1.5 count=1 time=" + T(kDay1 + 10),
                          "host=b region=us usage=2.5 count=2 time=" + T(kDay1 + 20),
                          "host=c region=eu usage=3.5 count=3 time=" + T(kDay2 + 30)));
  for (const auto& p : partitions) {
    for (const auto& b : p.batches) EXPECT_TRUE(b->schema()->Equals(*response->schema()));
  }
}

TEST(BufferTreeQueryExecTest, ProjectsColumnsInRequestOrder) {
  QueryFixture f;
  WriteTwoDays(f);
  auto partitions = RunQuery(f, Request({"count", "host"}));
  EXPECT_THAT(Rows(partitions),
              ElementsAre("count=1 host=a", "count=2 host=b", "count=3 host=c"));
}

TEST(BufferTreeQueryExecTest, ColumnsAPartitionLacksAreNull) {
  QueryFixture f;
  f.Write("cpu,host=a usage=1 " + T(kDay1) + "\n");
  f.Write("cpu,host=b,rack=r1 temp=20i " + T(kDay2) + "\n");
  auto partitions = RunQuery(f, Request({"host", "rack", "usage", "temp"}));
  EXPECT_THAT(Rows(partitions), ElementsAre("host=a rack=null usage=1 temp=null",
                                            "host=b rack=r1 usage=null temp=20"));
}

TEST(BufferTreeQueryExecTest, UnknownNamesAreNotFoundOrInvalid) {
  QueryFixture f;
  WriteTwoDays(f);
  auto no_ns = f.exec()->Query(Request({}, {}, "cpu", "nope"));
  ASSERT_FALSE(no_ns.ok());
  EXPECT_EQ(ErrorKindOf(no_ns.status()), ErrorKind::kNotFound);
  EXPECT_THAT(no_ns.status().message(), HasSubstr("'nope'"));

  auto no_table = f.exec()->Query(Request({}, {}, "mem"));
  ASSERT_FALSE(no_table.ok());
  EXPECT_EQ(ErrorKindOf(no_table.status()), ErrorKind::kNotFound);
  EXPECT_THAT(no_table.status().message(), HasSubstr("'mem'"));

  auto bad_column = f.exec()->Query(Request({"host", "usag"}));
  ASSERT_FALSE(bad_column.ok());
  EXPECT_EQ(ErrorKindOf(bad_column.status()), ErrorKind::kInvalidInput);
  EXPECT_THAT(bad_column.status().message(), HasSubstr("'usag'"));

  auto twice = f.exec()->Query(Request({"host", "host"}));
  EXPECT_EQ(ErrorKindOf(twice.status()), ErrorKind::kInvalidInput);

  Predicate on_field;
  on_field.tags.push_back({"usage", {"1"}});
  auto not_tag = f.exec()->Query(Request({}, on_field));
  EXPECT_EQ(ErrorKindOf(not_tag.status()), ErrorKind::kInvalidInput);
  EXPECT_THAT(not_tag.status().message(), HasSubstr("not a tag"));

  Predicate on_unknown;
  on_unknown.tags.push_back({"zone", {"1"}});
  auto unknown_tag = f.exec()->Query(Request({}, on_unknown));
  EXPECT_EQ(ErrorKindOf(unknown_tag.status()), ErrorKind::kInvalidInput);
  EXPECT_THAT(unknown_tag.status().message(), HasSubstr("'zone'"));
}

TEST(BufferTreeQueryExecTest, EmptyTableOfAKnownNamespaceHasNoPartitions) {
  QueryFixture f;
  WriteTwoDays(f);
  f.Write("mem,host=a free=1i " + T(kDay1) + "\n");
  // Persisted away: the table exists, the buffer holds nothing.
  auto mem = f.Partition("mem", "2023-11-14");
  auto snapshot = mem->MarkPersisting().ValueOrDie();
  ASSERT_OK(mem->MarkPersisted(snapshot).status());
  EXPECT_TRUE(RunQuery(f, Request({}, {}, "mem")).empty());
}

TEST(BufferTreeQueryExecTest, TimeRangeIsHalfOpenAndPrunesPartitions) {
  QueryFixture f;
  WriteTwoDays(f);
  Predicate p;
  p.time = {kDay1 + 20, kDay2 + 30};  // [b, c): b in, c out
  auto partitions = RunQuery(f, Request({"host", "time"}, p));
  EXPECT_THAT(Keys(partitions), ElementsAre("2023-11-14"));
  EXPECT_THAT(Rows(partitions), ElementsAre("host=b time=" + T(kDay1 + 20)));

  // Only an end bound; only a start bound.
  Predicate before;
  before.time.end = kDay1 + 11;
  EXPECT_THAT(Rows(RunQuery(f, Request({"host"}, before))), ElementsAre("host=a"));
  Predicate after;
  after.time.start = kDay2;
  auto late = RunQuery(f, Request({"host"}, after));
  EXPECT_THAT(Keys(late), ElementsAre("2023-11-15"));
  EXPECT_THAT(Rows(late), ElementsAre("host=c"));

  // A range inside day 2 but past its rows: pruned by statistics, no partition at all.
  Predicate empty;
  empty.time = {kDay2 + 31, kDay2 + 1000};
  EXPECT_TRUE(RunQuery(f, Request({}, empty)).empty());
}

TEST(BufferTreeQueryExecTest, TagEqualityAndInLists) {
  QueryFixture f;
  WriteTwoDays(f);
  Predicate eu;
  eu.tags.push_back({"region", {"eu"}});
  EXPECT_THAT(Rows(RunQuery(f, Request({"host"}, eu))), ElementsAre("host=a", "host=c"));

  Predicate in;
  in.tags.push_back({"host", {"b", "c", "zz"}});
  EXPECT_THAT(Rows(RunQuery(f, Request({"host"}, in))), ElementsAre("host=b", "host=c"));

  Predicate both;
  both.tags.push_back({"host", {"a", "b", "c"}});
  both.tags.push_back({"region", {"us"}});
  both.time.start = kDay1;
  EXPECT_THAT(Rows(RunQuery(f, Request({"host"}, both))), ElementsAre("host=b"));

  Predicate none;
  none.tags.push_back({"host", {"zz"}});
  auto nothing = RunQuery(f, Request({"host"}, none));
  // Partitions are still reported (their frames), with no rows.
  EXPECT_EQ(nothing.size(), 2u);
  EXPECT_TRUE(Rows(nothing).empty());

  Predicate empty_list;
  empty_list.tags.push_back({"host", {}});
  EXPECT_TRUE(Rows(RunQuery(f, Request({"host"}, empty_list))).empty());
}

TEST(BufferTreeQueryExecTest, RowsWithoutTheTagNeverMatch) {
  QueryFixture f;
  f.Write("cpu,host=a v=1i " + T(kDay1) + "\ncpu v=2i " + T(kDay1 + 1) + "\n");
  f.Write("cpu v=3i " + T(kDay2) + "\n");  // day 2 never saw the host tag
  Predicate p;
  p.tags.push_back({"host", {"a", ""}});
  EXPECT_THAT(Rows(RunQuery(f, Request({"v"}, p))), ElementsAre("v=1"));
}

TEST(BufferTreeQueryExecTest, FiltersTheColumnsItDoesNotReturn) {
  QueryFixture f;
  WriteTwoDays(f);
  Predicate p;
  p.tags.push_back({"host", {"b"}});
  p.time.start = kDay1 + 15;
  EXPECT_THAT(Rows(RunQuery(f, Request({"usage"}, p))), ElementsAre("usage=2.5"));
}

TEST(BufferTreeQueryExecTest, CutsLargeBatchesAndKeepsRowOrder) {
  QueryFixtureOptions options;
  options.max_batch_rows = 3;
  QueryFixture f(options);
  std::string body;
  for (int i = 0; i < 10; ++i) body += "cpu v=" + T(i) + "i " + T(kDay1 + i) + "\n";
  f.Write(body);
  auto partitions = RunQuery(f, Request({"v"}));
  ASSERT_EQ(partitions.size(), 1u);
  std::vector<int64_t> sizes;
  for (const auto& b : partitions[0].batches) sizes.push_back(b->num_rows());
  EXPECT_THAT(sizes, ElementsAre(3, 3, 3, 1));
  auto rows = Rows(partitions);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(rows[i], "v=" + T(i));

  // With a filter: pieces are filtered one by one; empty ones are skipped.
  Predicate p;
  p.time = {kDay1 + 4, kDay1 + 6};
  auto filtered = RunQuery(f, Request({"v"}, p));
  EXPECT_THAT(Rows(filtered), ElementsAre("v=4", "v=5"));
  // The buffered batch holds 10 rows: pieces 0-2, 6-8 and 9 match nothing.
  EXPECT_EQ(filtered[0].batches.size(), 1u);
}

TEST(BufferTreeQueryExecTest, PartitionSetIsFixedWhenTheQueryStarts) {
  QueryFixture f;
  WriteTwoDays(f);
  auto response = f.exec()->Query(Request({"host", "time"})).ValueOrDie();
  // After the query started: a new partition (day 3) is not seen ...
  f.Write("cpu,host=d usage=4 " + T(kDay3) + "\n");
  auto first = response->NextPartition().ValueOrDie();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->info().partition_key, "2023-11-14");
  // ... a write to the current partition after its turn came is not seen either ...
  f.Write("cpu,host=late1 usage=5 " + T(kDay1 + 99) + "\n");
  // ... but a write to a later partition made before its turn is.
  f.Write("cpu,host=late2 usage=6 " + T(kDay2 + 99) + "\n");
  std::vector<std::shared_ptr<arrow::RecordBatch>> day1;
  while (auto b = first->Next().ValueOrDie()) day1.push_back(b);
  EXPECT_THAT(buffer_test::RowStrings(day1), ElementsAre("host=a time=" + T(kDay1 + 10),
                                                         "host=b time=" + T(kDay1 + 20)));
  auto rest = CollectAll(response.get()).ValueOrDie();
  EXPECT_THAT(Keys(rest), ElementsAre("2023-11-15"));
  EXPECT_THAT(Rows(rest), ElementsAre("host=c time=" + T(kDay2 + 30),
                                      "host=late2 time=" + T(kDay2 + 99)));
  // A new query sees all of it.
  EXPECT_EQ(Rows(RunQuery(f, Request({"host"}))).size(), 6u);
}

TEST(BufferTreeQueryExecTest, SchemaIsFixedWhenTheQueryStarts) {
  QueryFixture f;
  f.Write("cpu,host=a usage=1 " + T(kDay1) + "\n");
  auto response = f.exec()->Query(Request()).ValueOrDie();
  f.Write("cpu,host=b,zone=z usage=2,extra=5i " + T(kDay1 + 1) + "\n");
  EXPECT_THAT(buffer_test::FieldNames(*response->schema()),
              ElementsAre("host", "usage", "time"));
  auto partitions = CollectAll(response.get()).ValueOrDie();
  // The new row is in (its partition's turn came later) without the new columns.
  EXPECT_THAT(Rows(partitions), ElementsAre("host=a usage=1 time=" + T(kDay1),
                                            "host=b usage=2 time=" + T(kDay1 + 1)));
}

TEST(BufferTreeQueryExecTest, PersistingDataIsReturnedUntilPersisted) {
  QueryFixture f;
  f.Write("cpu,host=a v=1i " + T(kDay1) + "\n");
  auto partition = f.Partition("cpu", "2023-11-14");
  auto snapshot = partition->MarkPersisting().ValueOrDie();
  f.Write("cpu,host=b v=2i " + T(kDay1 + 1) + "\n");
  auto both = RunQuery(f, Request({"host", "v"}));
  EXPECT_THAT(Rows(both), ElementsAre("host=a v=1", "host=b v=2"));
  EXPECT_EQ(both[0].info.completed_persist_count, 0u);

  ASSERT_OK(partition->MarkPersisted(snapshot).status());
  auto after = RunQuery(f, Request({"host", "v"}));
  EXPECT_THAT(Rows(after), ElementsAre("host=b v=2"));
  EXPECT_EQ(after[0].info.completed_persist_count, 1u);
}

TEST(BufferTreeQueryExecTest, DroppingAResponseMidwayIsSafe) {
  QueryFixture f;
  WriteTwoDays(f);
  auto response = f.exec()->Query(Request()).ValueOrDie();
  auto partition = response->NextPartition().ValueOrDie();
  ASSERT_NE(partition->Next().ValueOrDie(), nullptr);
  response.reset();
  // The partition response holds what it needs by itself.
  EXPECT_EQ(partition->Next().ValueOrDie(), nullptr);
}

}  // namespace
}  // namespace ingester::query
