// The read path over buffered and persisted data: every acknowledged row exactly once,
// de-duplicated as compaction does, whichever form it is in, including while persists
// complete during a query.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "ingester/query/query_test_util.h"

namespace ingester::query {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using namespace ::ingester::query::testing;  // NOLINT

std::string T(int64_t t) { return std::to_string(t); }

arrow::Result<std::vector<CollectedPartition>> Collect(QueryFixture& f,
                                                       const QueryRequest& request) {
  ARROW_ASSIGN_OR_RAISE(auto response, f.exec()->Query(request));
  return CollectAll(response.get());
}

std::vector<std::string> QueryRows(QueryFixture& f,
                                   const QueryRequest& request = Request()) {
  auto collected = Collect(f, request);
  EXPECT_TRUE(collected.ok()) << collected.status().ToString();
  return collected.ok() ? Rows(*collected) : std::vector<std::string>{};
}

TEST(ReadPathTest, BufferAloneIsDeduplicatedFieldByField) {
  QueryFixture f;
  f.Write("cpu,host=a usage=1,count=7i " + T(kDay1 + 10) + "\n" + "cpu,host=b usage=5 " +
          T(kDay1 + 10) + "\n");
  // The same series and time again: usage is overwritten, count kept.
  f.Write("cpu,host=a usage=2 " + T(kDay1 + 10) + "\n");
  EXPECT_THAT(QueryRows(f),
              UnorderedElementsAre("host=a usage=2 count=7 time=" + T(kDay1 + 10),
                                   "host=b usage=5 count=null time=" + T(kDay1 + 10)));
  EXPECT_EQ(f.read_metrics().buffer_dedup_sorts->value(), 1);
}

TEST(ReadPathTest, BufferWithoutDuplicatesStreamsUnsorted) {
  QueryFixture f;
  f.Write("cpu,host=b usage=1 " + T(kDay1 + 10) + "\n");
  f.Write("cpu,host=a usage=2 " + T(kDay1 + 10) + "\n");  // touches the first batch
  f.Write("cpu,host=a usage=3 " + T(kDay1 + 20) + "\n");
  EXPECT_THAT(QueryRows(f), ElementsAre("host=b usage=1 time=" + T(kDay1 + 10),
                                        "host=a usage=2 time=" + T(kDay1 + 10),
                                        "host=a usage=3 time=" + T(kDay1 + 20)));
  EXPECT_EQ(f.read_metrics().buffer_dedup_sorts->value(), 0);
}

TEST(ReadPathTest, PersistedRowsStayReadable) {
  QueryFixture f;
  f.Write("cpu,host=a usage=1 " + T(kDay1 + 10) + "\n" + "cpu,host=b usage=2 " +
          T(kDay2 + 20) + "\n");
  f.Persist("cpu", "2023-11-14");
  f.Persist("cpu", "2023-11-15");
  ASSERT_OK_AND_ASSIGN(partitions, Collect(f, Request()));
  ASSERT_EQ(partitions.size(), 2u);
  EXPECT_EQ(partitions[0].info.files, 1);
  EXPECT_EQ(partitions[0].info.file_rows, 1);
  EXPECT_EQ(partitions[0].info.buffer_rows, 0);
  EXPECT_EQ(partitions[0].info.completed_persist_count, 1u);
  EXPECT_THAT(Rows(partitions), ElementsAre("host=a usage=1 time=" + T(kDay1 + 10),
                                            "host=b usage=2 time=" + T(kDay2 + 20)));
  EXPECT_EQ(f.read_metrics().files_read->value(), 2);
  EXPECT_EQ(f.read_metrics().file_rows->value(), 2);
}

TEST(ReadPathTest, OverwritesAcrossFileAndBufferMergeFieldByField) {
  QueryFixture f;
  f.Write("cpu,host=a usage=1,count=1i " + T(kDay1 + 10) + "\n" +
          "cpu,host=b usage=2,count=2i " + T(kDay1 + 20) + "\n");
  f.Persist("cpu", "2023-11-14");
  f.Write("cpu,host=a usage=9 " + T(kDay1 + 10) + "\n" +  // overwrites usage only
          "cpu,host=c usage=3 " + T(kDay1 + 15) + "\n");
  ASSERT_OK_AND_ASSIGN(partitions, Collect(f, Request()));
  ASSERT_EQ(partitions.size(), 1u);
  EXPECT_EQ(partitions[0].info.files, 1);
  EXPECT_EQ(partitions[0].info.buffer_rows, 2);
  // A merge returns rows in sort key order.
  EXPECT_THAT(Rows(partitions),
              UnorderedElementsAre("host=a usage=9 count=1 time=" + T(kDay1 + 10),
                                   "host=b usage=2 count=2 time=" + T(kDay1 + 20),
                                   "host=c usage=3 count=null time=" + T(kDay1 + 15)));
  EXPECT_EQ(f.read_metrics().partition_merges->value(), 1);
  // The same rows once the buffer is persisted too: two files, merged.
  f.Persist("cpu", "2023-11-14");
  EXPECT_THAT(QueryRows(f),
              UnorderedElementsAre("host=a usage=9 count=1 time=" + T(kDay1 + 10),
                                   "host=b usage=2 count=2 time=" + T(kDay1 + 20),
                                   "host=c usage=3 count=null time=" + T(kDay1 + 15)));
}

TEST(ReadPathTest, DisjointFilesAndBufferStreamWithoutMerging) {
  QueryFixture f;
  f.Write("cpu,host=a usage=1 " + T(kDay1 + 10) + "\n");
  f.Persist("cpu", "2023-11-14");
  f.Write("cpu,host=a usage=2 " + T(kDay1 + 20) + "\n");
  f.Persist("cpu", "2023-11-14");
  f.Write("cpu,host=a usage=3 " + T(kDay1 + 30) + "\n");
  EXPECT_THAT(QueryRows(f), ElementsAre("host=a usage=1 time=" + T(kDay1 + 10),
                                        "host=a usage=2 time=" + T(kDay1 + 20),
                                        "host=a usage=3 time=" + T(kDay1 + 30)));
  EXPECT_EQ(f.read_metrics().partition_merges->value(), 0);
}

TEST(ReadPathTest, ProjectionAndPredicatesApplyToFiles) {
  QueryFixture f;
  f.Write("cpu,host=a,region=eu usage=1 " + T(kDay1 + 10) + "\n" +
          "cpu,host=b,region=us usage=2 " + T(kDay1 + 20) + "\n" +
          "cpu,host=c,region=eu usage=3 " + T(kDay1 + 30) + "\n");
  f.Persist("cpu", "2023-11-14");
  Predicate predicate;
  predicate.tags = {{"region", {"eu"}}};
  predicate.time.start = kDay1 + 20;
  EXPECT_THAT(QueryRows(f, Request({"usage", "host"}, predicate)),
              ElementsAre("usage=3 host=c"));
  // A tag the table does not have in that file matches nothing.
  f.Write("cpu,host=d,rack=r1 usage=4 " + T(kDay2 + 10) + "\n");
  f.Persist("cpu", "2023-11-15");
  Predicate rack;
  rack.tags = {{"rack", {"r1"}}};
  EXPECT_THAT(QueryRows(f, Request({"host", "rack"}, rack)),
              ElementsAre("host=d rack=r1"));
}

TEST(ReadPathTest, RowGroupsArePrunedByTagStatistics) {
  QueryFixtureOptions options;
  options.parquet_row_group_rows = 100;
  QueryFixture f(options);
  std::string body;
  for (int h = 0; h < 10; ++h) {
    for (int i = 0; i < 100; ++i) {
      body += "cpu,host=h" + std::to_string(h) + " usage=" + std::to_string(i) + " " +
              T(kDay1 + i) + "\n";
    }
  }
  f.Write(body);
  f.Persist("cpu", "2023-11-14");
  Predicate predicate;
  predicate.tags = {{"host", {"h3"}}};
  auto rows = QueryRows(f, Request({"usage"}, predicate));
  EXPECT_EQ(rows.size(), 100u);
  // Sorted by host, the file's 10 row groups hold one host each: 9 are skipped.
  EXPECT_EQ(f.read_metrics().row_groups_pruned->value(), 9);
  EXPECT_EQ(f.read_metrics().row_groups_read->value(), 1);
  EXPECT_EQ(f.read_metrics().file_rows->value(), 100);
}

TEST(ReadPathTest, RowGroupsWithoutAMatchAreSkippedAfterDecodingThePredicateColumns) {
  QueryFixtureOptions options;
  options.parquet_row_group_rows = 200;
  QueryFixture f(options);
  // Sort key (dc, host, time): dc x holds the even hosts, y the odd ones, so the row
  // groups of 200 rows are [h0 h2] [h4 h6] [h8 h1] [h3 h5] [h7 h9], and the `host`
  // statistics of [h8 h1] (h1..h8) span hosts the group lacks.
  std::string body;
  for (int h = 0; h < 10; ++h) {
    for (int i = 0; i < 100; ++i) {
      body += "cpu,dc=" + std::string(h % 2 == 0 ? "x" : "y") + ",host=h" +
              std::to_string(h) + " usage=" + std::to_string(h * 1000 + i) + " " +
              T(kDay1 + i) + "\n";
    }
  }
  f.Write(body);
  f.Persist("cpu", "2023-11-14");
  Predicate predicate;
  predicate.tags = {{"host", {"h5"}}};
  predicate.time.start = kDay1 + 10;
  predicate.time.end = kDay1 + 13;
  EXPECT_THAT(
      QueryRows(f, Request({"usage", "host"}, predicate)),
      ElementsAre("usage=5010 host=h5", "usage=5011 host=h5", "usage=5012 host=h5"));
  // Statistics skip [h0 h2] and [h7 h9]; [h4 h6] and [h8 h1] have no h5 row, which
  // only their `host` and `time` columns tell: skipped without reading `usage`.
  EXPECT_EQ(f.read_metrics().row_groups_pruned->value(), 4);
  EXPECT_EQ(f.read_metrics().row_groups_read->value(), 1);
  EXPECT_EQ(f.read_metrics().file_rows->value(), 200);

  // A time range alone: the rows of h1 and h8 at times 50..51 are in [h8 h1] only by
  // their tags' order, every group's time statistics span 0..99, so nothing is skipped.
  Predicate time_only;
  time_only.time.start = kDay1 + 50;
  time_only.time.end = kDay1 + 51;
  EXPECT_EQ(QueryRows(f, Request({"usage"}, time_only)).size(), 10u);
  EXPECT_EQ(f.read_metrics().row_groups_pruned->value(), 4);
  EXPECT_EQ(f.read_metrics().row_groups_read->value(), 6);
}

TEST(ReadPathTest, OnlyThePagesOfMatchingRowsAreDecoded) {
  QueryFixtureOptions options;
  options.parquet_page_rows = 10;
  QueryFixture f(options);
  // Sort key (dc, host, time): dc x holds the even hosts, y the odd ones; one row group
  // of 1,000 rows in pages of 10: h0 rows 0-99, h2 100-199, ..., h8 400-499, h1
  // 500-599, h3 600-699, ... Each page's `host` min/max is one host.
  std::string body;
  for (int h = 0; h < 10; ++h) {
    for (int i = 0; i < 100; ++i) {
      body += "cpu,dc=" + std::string(h % 2 == 0 ? "x" : "y") + ",host=h" +
              std::to_string(h) + " usage=" + std::to_string(h * 1000 + i) + " " +
              T(kDay1 + i) + "\n";
    }
  }
  f.Write(body);
  f.Persist("cpu", "2023-11-14");
  Predicate predicate;
  predicate.tags = {{"host", {"h3"}}};
  predicate.time.start = kDay1 + 25;
  predicate.time.end = kDay1 + 32;
  EXPECT_THAT(QueryRows(f, Request({"usage"}, predicate)),
              ElementsAre("usage=3025", "usage=3026", "usage=3027", "usage=3028",
                          "usage=3029", "usage=3030", "usage=3031"));
  // Rows 625-631 of h3: the pages of rows 620-629 and 630-639 decoded in full.
  EXPECT_EQ(f.read_metrics().file_rows->value(), 20);
  EXPECT_EQ(f.read_metrics().row_groups_read->value(), 1);

  // A time range alone (pages span 10 times of one host): 7 rows of each host, from
  // two pages each.
  Predicate time_only;
  time_only.time.start = kDay1 + 25;
  time_only.time.end = kDay1 + 32;
  auto rows = QueryRows(f, Request({"usage", "host"}, time_only));
  EXPECT_EQ(rows.size(), 70u);
  EXPECT_EQ(std::count(rows.begin(), rows.end(), "usage=9031 host=h9"), 1);
  EXPECT_EQ(f.read_metrics().file_rows->value(), 20 + 200);

  // A host between h3 and h4: the row group's `host` statistics (h0..h9) allow it, no
  // page's does: the row group is skipped without decoding anything.
  const int64_t pruned = f.read_metrics().row_groups_pruned->value();
  Predicate none;
  none.tags = {{"host", {"h33"}}};
  EXPECT_THAT(QueryRows(f, Request({"usage"}, none)), ::testing::IsEmpty());
  EXPECT_EQ(f.read_metrics().file_rows->value(), 20 + 200);
  EXPECT_EQ(f.read_metrics().row_groups_pruned->value(), pruned + 1);
}

TEST(ReadPathTest, FilesWithoutAPageIndexAreReadByRowGroup) {
  QueryFixtureOptions options;
  options.parquet_page_rows = 10;
  options.parquet_page_index = false;
  QueryFixture f(options);
  std::string body;
  for (int h = 0; h < 10; ++h) {
    for (int i = 0; i < 100; ++i) {
      body += "cpu,host=h" + std::to_string(h) +
              " usage=" + std::to_string(h * 1000 + i) + " " + T(kDay1 + i) + "\n";
    }
  }
  f.Write(body);
  f.Persist("cpu", "2023-11-14");
  Predicate predicate;
  predicate.tags = {{"host", {"h3"}}};
  predicate.time.start = kDay1 + 25;
  predicate.time.end = kDay1 + 27;
  EXPECT_THAT(QueryRows(f, Request({"usage"}, predicate)),
              ElementsAre("usage=3025", "usage=3026"));
  // The one row group, decoded whole (with a page index: the page of rows 320-329).
  EXPECT_EQ(f.read_metrics().file_rows->value(), 1000);
}

TEST(ReadPathTest, FilesOutsideTheTimeRangeAreNotOpened) {
  QueryFixture f;
  f.Write("cpu,host=a usage=1 " + T(kDay1 + 10) + "\n");
  f.Persist("cpu", "2023-11-14");
  f.Write("cpu,host=a usage=2 " + T(kDay1 + 5000) + "\n");
  f.Persist("cpu", "2023-11-14");
  Predicate predicate;
  predicate.time.start = kDay1 + 1000;
  EXPECT_THAT(QueryRows(f, Request({"usage"}, predicate)), ElementsAre("usage=2"));
  EXPECT_EQ(f.read_metrics().files_pruned->value(), 1);
  EXPECT_EQ(f.read_metrics().files_read->value(), 1);
}

TEST(ReadPathTest, AMissingFileFailsTheQueryNamingIt) {
  QueryFixture f;
  f.Write("cpu,host=a usage=1 " + T(kDay1 + 10) + "\n");
  f.Persist("cpu", "2023-11-14");
  auto files = f.catalog()->ListParquetFilesForTable(TableId(1)).ValueOrDie();
  ASSERT_EQ(files.size(), 1u);
  std::filesystem::remove(f.dir() / "objects" / files[0].path);
  auto result = Collect(f, Request());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr(files[0].path));
  EXPECT_THAT(result.status().message(), ::testing::Not(HasSubstr(f.dir().string())));
  // The exec keeps serving other data.
  f.Write("mem,host=a used=1i " + T(kDay1 + 10) + "\n");
  EXPECT_THAT(QueryRows(f, Request({}, {}, "mem")),
              ElementsAre("host=a used=1 time=" + T(kDay1 + 10)));
}

// --- consistency under concurrent persists -------------------------------------------

// Where a query can be when a persist step happens.
enum QueryPoint {
  kBeforeQuery,           // before Query()
  kBeforeFirstPartition,  // Query() done, partition 1 not taken
  kInFirstPartition,      // partition 1 taken, none of its batches pulled
  kBetweenPartitions,     // partition 1 drained, partition 2 not taken
  kInSecondPartition,     // partition 2 taken
  kAfterQuery,            // drained
  kQueryPoints
};

// Each of the three steps of one persist (snapshot, file + catalog row, removal from the
// buffer) happens at a chosen point of a running query over two partitions, each with a
// file, overwrites in the buffer and new rows: for every placement, each row is read
// exactly once with its latest values.
TEST(ReadPathConsistencyTest, APersistStepAtEveryPointOfAQuery) {
  const std::vector<std::string> expected = {
      "host=a usage=10 count=1 time=" + T(kDay1 + 10),
      "host=b usage=2 count=2 time=" + T(kDay1 + 20),
      "host=c usage=30 count=null time=" + T(kDay1 + 30),
      "host=a usage=40 count=4 time=" + T(kDay2 + 10),
      "host=b usage=5 count=5 time=" + T(kDay2 + 20),
      "host=c usage=60 count=null time=" + T(kDay2 + 30)};
  int cases = 0;
  for (const std::string key : {"2023-11-14", "2023-11-15"}) {
    for (int mark = 0; mark < kQueryPoints; ++mark) {
      for (int job = mark; job < kQueryPoints; ++job) {
        for (int done = job; done < kQueryPoints; ++done) {
          SCOPED_TRACE("partition " + key + " steps at points " + std::to_string(mark) +
                       "/" + std::to_string(job) + "/" + std::to_string(done));
          QueryFixture f;
          f.Write("cpu,host=a usage=1,count=1i " + T(kDay1 + 10) + "\n" +
                  "cpu,host=b usage=2,count=2i " + T(kDay1 + 20) + "\n" +
                  "cpu,host=a usage=4,count=4i " + T(kDay2 + 10) + "\n" +
                  "cpu,host=b usage=5,count=5i " + T(kDay2 + 20) + "\n");
          f.Persist("cpu", "2023-11-14");
          f.Persist("cpu", "2023-11-15");
          f.Write("cpu,host=a usage=10 " + T(kDay1 + 10) + "\n" + "cpu,host=c usage=30 " +
                  T(kDay1 + 30) + "\n" + "cpu,host=a usage=40 " + T(kDay2 + 10) + "\n" +
                  "cpu,host=c usage=60 " + T(kDay2 + 30) + "\n");
          std::shared_ptr<const PersistingSnapshot> snapshot;
          auto step = [&](int point) {
            if (point == mark) snapshot = f.MarkPersisting("cpu", key);
            if (point == job) ASSERT_OK(f.RunJob(*snapshot));
            if (point == done) ASSERT_OK(f.MarkPersisted("cpu", key, snapshot));
          };
          std::vector<std::string> rows;
          auto drain = [&](PartitionResponse* partition) {
            while (true) {
              auto batch = partition->Next().ValueOrDie();
              if (batch == nullptr) break;
              auto more = buffer_test::RowStrings({batch});
              rows.insert(rows.end(), more.begin(), more.end());
            }
          };
          step(kBeforeQuery);
          ASSERT_OK_AND_ASSIGN(response, f.exec()->Query(Request()));
          step(kBeforeFirstPartition);
          ASSERT_OK_AND_ASSIGN(first, response->NextPartition());
          ASSERT_NE(first, nullptr);
          step(kInFirstPartition);
          drain(first.get());
          step(kBetweenPartitions);
          ASSERT_OK_AND_ASSIGN(second, response->NextPartition());
          ASSERT_NE(second, nullptr);
          step(kInSecondPartition);
          drain(second.get());
          ASSERT_OK_AND_ASSIGN(end, response->NextPartition());
          EXPECT_EQ(end, nullptr);
          step(kAfterQuery);
          EXPECT_THAT(rows, ::testing::UnorderedElementsAreArray(expected));
          // And a query after it all.
          EXPECT_THAT(QueryRows(f), ::testing::UnorderedElementsAreArray(expected));
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 2 * 56);
}

// Writers overwrite a fixed set of keys with growing values while a persister persists
// random partitions step by step and queries run: every query returns every key exactly
// once, with a value at least as new as the last write acknowledged before it started.
TEST(ReadPathConsistencyTest, RandomisedPersistsDuringQueries) {
  QueryFixture f;
  constexpr int kHosts = 20;
  const std::vector<std::string> keys = {"2023-11-14", "2023-11-15"};
  auto round_body = [&](int round) {
    std::string body;
    for (int h = 0; h < kHosts; ++h) {
      // Every other round writes only some fields, to exercise field-by-field merging.
      const std::string fields = round % 2 == 0 ? "v=" + std::to_string(round) +
                                                      "i,w=" + std::to_string(round) + "i"
                                                : "v=" + std::to_string(round) + "i";
      body += "cpu,host=h" + std::to_string(h) + " " + fields + " " + T(kDay1 + h) + "\n";
      body += "cpu,host=h" + std::to_string(h) + " " + fields + " " + T(kDay2 + h) + "\n";
    }
    return body;
  };
  f.Write(round_body(0));
  std::atomic<int> acknowledged{0};
  std::atomic<bool> stop{false};
  std::atomic<int> persists{0};
  std::thread writer([&] {
    for (int round = 1; round <= 400 && !stop; ++round) {
      f.Write(round_body(round));
      acknowledged = round;
    }
  });
  std::thread persister([&] {
    std::mt19937 rng(42);
    while (!stop) {
      const std::string& key = keys[rng() % keys.size()];
      auto snapshot = f.MarkPersisting("cpu", key);
      if (snapshot == nullptr) continue;
      ASSERT_OK(f.RunJob(*snapshot));
      ASSERT_OK(f.MarkPersisted("cpu", key, snapshot));
      ++persists;
    }
  });
  int queries = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  // At least 60 queries, and until persists have completed during them (bounded: a
  // loaded machine persists slowly).
  while ((queries < 60 || persists < 10) && std::chrono::steady_clock::now() < deadline) {
    const int floor = acknowledged.load();
    auto collected = Collect(f, Request({"host", "v", "w", "time"}));
    ASSERT_TRUE(collected.ok()) << collected.status().ToString();
    std::map<std::string, int> seen;
    for (const auto& p : *collected) {
      for (const auto& batch : p.batches) {
        auto hosts = std::static_pointer_cast<arrow::DictionaryArray>(batch->column(0));
        auto v = std::static_pointer_cast<arrow::Int64Array>(batch->column(1));
        auto w = std::static_pointer_cast<arrow::Int64Array>(batch->column(2));
        auto t = std::static_pointer_cast<arrow::TimestampArray>(batch->column(3));
        auto dict = std::static_pointer_cast<arrow::StringArray>(hosts->dictionary());
        for (int64_t i = 0; i < batch->num_rows(); ++i) {
          const std::string id = dict->GetString(hosts->GetValueIndex(i)) + "@" +
                                 std::to_string(t->Value(i));
          ++seen[id];
          EXPECT_GE(v->Value(i), floor) << id;
          // w is written every even round: never null after round 0.
          EXPECT_FALSE(w->IsNull(i)) << id;
          EXPECT_GE(w->Value(i), floor - 1) << id;
        }
      }
    }
    ASSERT_EQ(seen.size(), 2u * kHosts);
    for (const auto& [id, count] : seen) ASSERT_EQ(count, 1) << id;
    ++queries;
  }
  stop = true;
  writer.join();
  persister.join();
  EXPECT_GE(queries, 10);
  EXPECT_GE(persists.load(), 3);
  EXPECT_GT(f.read_metrics().files_read->value(), 0);
}

}  // namespace
}  // namespace ingester::query
