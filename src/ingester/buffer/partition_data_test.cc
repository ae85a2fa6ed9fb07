#include "ingester/buffer/partition_data.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <numeric>
#include <set>
#include <thread>

#include "ingester/buffer/buffer_test_util.h"
#include "ingester/buffer/column_set.h"

namespace ingester {
namespace {

using buffer_test::BatchMaker;
using buffer_test::FieldNames;
using buffer_test::Opt;
using buffer_test::RowStrings;
using ::testing::ElementsAre;

PartitionIdentity TestIdentity() {
  return PartitionIdentity{PartitionId(7), "2024-01-02",
                           NamespaceId(1), DeferredLoad<std::string>::Ready("ns"),
                           TableId(2),     DeferredLoad<std::string>::Ready("cpu")};
}

std::shared_ptr<arrow::RecordBatch> Row(const std::string& host, int64_t v, int64_t t) {
  return BatchMaker().Tag("host", {host}).I64("v", {v}).Time({t}).Build();
}

std::vector<std::string> QueryRows(PartitionData& p) {
  auto q = p.QueryData();
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  return RowStrings(q->batches);
}

TEST(PartitionData, MarkPersistingKeepsNewWritesSeparate) {
  auto totals = std::make_shared<BufferTotals>();
  PartitionData p(TestIdentity(), {}, totals);
  ASSERT_TRUE(p.BufferWrite(11, Row("a", 1, 100)).ok());
  ASSERT_TRUE(p.BufferWrite(10, Row("b", 2, 50)).ok());

  auto persisting = p.MarkPersisting();
  ASSERT_TRUE(persisting.ok());
  auto snap = *persisting;
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->generation, 1u);
  EXPECT_EQ(snap->partition_id, PartitionId(7));
  EXPECT_EQ(snap->partition_key, "2024-01-02");
  EXPECT_EQ(*snap->table_name.Get(), "cpu");
  EXPECT_EQ(*snap->namespace_name.Get(), "ns");
  EXPECT_EQ(snap->rows, 2);
  EXPECT_EQ(snap->min_time, 50);
  EXPECT_EQ(snap->max_time, 100);
  EXPECT_THAT(snap->sequence_numbers, ElementsAre(10u, 11u));
  EXPECT_THAT(RowStrings(snap->batches),
              ElementsAre("host=a v=1 time=100", "host=b v=2 time=50"));

  // Writes continue into the new buffer at once, with a column the snapshot lacks.
  ASSERT_TRUE(
      p.BufferWrite(12,
                    BatchMaker().Tag("region", {"eu"}).I64("v", {3}).Time({150}).Build())
          .ok());
  EXPECT_EQ(p.Stats().buffer_rows, 1);
  EXPECT_EQ(p.Stats().persisting_rows, 2);
  EXPECT_EQ(totals->rows.load(), 3);
  EXPECT_EQ(totals->bytes.load(), p.BufferedBytes());

  auto q = p.QueryData();
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->rows, 3);
  EXPECT_EQ(q->min_time, 50);
  EXPECT_EQ(q->max_time, 150);
  EXPECT_EQ(q->completed_persist_count, 0u);
  EXPECT_THAT(FieldNames(*q->schema), ElementsAre("host", "region", "v", "time"));
  // Snapshot first, then the new data; each batch under its own schema...
  EXPECT_THAT(
      RowStrings(q->batches),
      ElementsAre("host=a v=1 time=100", "host=b v=2 time=50", "region=eu v=3 time=150"));
  // ... which ConformBatch presents under the union.
  std::vector<std::shared_ptr<arrow::RecordBatch>> conformed;
  for (const auto& b : q->batches) conformed.push_back(*ConformBatch(b, q->schema));
  EXPECT_THAT(RowStrings(conformed), ElementsAre("host=a region=null v=1 time=100",
                                                 "host=b region=null v=2 time=50",
                                                 "host=null region=eu v=3 time=150"));
  EXPECT_THAT(p.SequenceNumbers(), ElementsAre(10u, 11u, 12u));

  // Persist completes: the snapshot leaves, its sequence numbers are released.
  auto released = p.MarkPersisted(snap);
  ASSERT_TRUE(released.ok());
  EXPECT_THAT(*released, ElementsAre(10u, 11u));
  EXPECT_EQ(p.completed_persist_count(), 1u);
  EXPECT_THAT(QueryRows(p), ElementsAre("region=eu v=3 time=150"));
  EXPECT_THAT(p.SequenceNumbers(), ElementsAre(12u));
  EXPECT_EQ(totals->rows.load(), 1);
  EXPECT_EQ(totals->bytes.load(), p.BufferedBytes());
  EXPECT_EQ(p.QueryData()->completed_persist_count, 1u);

  // Twice is an error.
  EXPECT_FALSE(p.MarkPersisted(snap).ok());
}

TEST(PartitionData, EmptyBufferHasNothingToPersist) {
  PartitionData p(TestIdentity(), {});
  auto none = p.MarkPersisting();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
  auto q = p.QueryData();
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->rows, 0);
  EXPECT_TRUE(q->batches.empty());
}

TEST(PartitionData, PersistsCompleteInOrderOnly) {
  PartitionData p(TestIdentity(), {});
  ASSERT_TRUE(p.BufferWrite(1, Row("a", 1, 1)).ok());
  auto first = *p.MarkPersisting();
  ASSERT_TRUE(p.BufferWrite(2, Row("a", 2, 2)).ok());
  auto second = *p.MarkPersisting();
  ASSERT_TRUE(p.BufferWrite(3, Row("a", 3, 3)).ok());
  EXPECT_EQ(second->generation, 2u);
  EXPECT_EQ(p.PersistingSnapshots().size(), 2u);
  EXPECT_THAT(QueryRows(p),
              ElementsAre("host=a v=1 time=1", "host=a v=2 time=2", "host=a v=3 time=3"));

  auto out_of_order = p.MarkPersisted(second);
  EXPECT_TRUE(out_of_order.status().IsInvalid()) << out_of_order.status().ToString();
  EXPECT_EQ(p.PersistingSnapshots().size(), 2u);

  EXPECT_THAT(*p.MarkPersisted(first), ElementsAre(1u));
  EXPECT_THAT(*p.MarkPersisted(second), ElementsAre(2u));
  EXPECT_EQ(p.completed_persist_count(), 2u);
  EXPECT_THAT(QueryRows(p), ElementsAre("host=a v=3 time=3"));
}

TEST(PartitionData, RejectedWriteKeepsNoSequenceNumber) {
  PartitionData p(TestIdentity(), {});
  ASSERT_TRUE(p.BufferWrite(1, Row("a", 1, 1)).ok());
  EXPECT_FALSE(p.BufferWrite(2, BatchMaker().F64("v", {1.0}).Time({2}).Build()).ok());
  EXPECT_TRUE(p.BufferWrite(3, BatchMaker().I64("v", {}).Time({}).Build()).ok());
  EXPECT_THAT(p.SequenceNumbers(), ElementsAre(1u));
  EXPECT_EQ(p.Rows(), 1);
}

// 16 writers on ONE partition, with readers and a persister running alongside: every row
// ends up exactly once in either a persisted snapshot or the buffer, every reader view is
// consistent (per writer, a contiguous run of its rows in write order), and the sequence
// numbers released plus those still held are exactly those written.
TEST(PartitionData, ConcurrentWritersReadersAndPersistsLoseNothing) {
  constexpr int kWriters = 16;
  constexpr int kWritesPerWriter = 150;
  constexpr int64_t kIdsPerWriter = 1'000'000;
  auto totals = std::make_shared<BufferTotals>();
  PartitionData p(TestIdentity(), {}, totals);

  std::atomic<int> writers_left{kWriters};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  std::vector<int64_t> written(kWriters, 0);
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      int64_t next = 0;
      for (int k = 0; k < kWritesPerWriter; ++k) {
        const int rows = 1 + (k * 7 + w) % 40;  // small and large: exercises compaction
        Opt<int64_t> ids, vals;
        std::vector<int64_t> times;
        for (int r = 0; r < rows; ++r) {
          ids.push_back(w * kIdsPerWriter + next);
          vals.push_back((next * 31 + w) % 1000);
          times.push_back(next);
          ++next;
        }
        auto b =
            BatchMaker().Tag("writer", Opt<std::string>(rows, "w" + std::to_string(w)));
        b.I64("id", ids).I64("val", vals);
        if (k % 3 == 0)
          b.F64("extra", Opt<double>(rows, 1.0));  // schemas differ per write
        SequenceNumber seq = static_cast<SequenceNumber>(w * kWritesPerWriter + k + 1);
        if (!p.BufferWrite(seq, b.Time(times).Build()).ok()) failed = true;
      }
      written[w] = next;
      writers_left.fetch_sub(1);
    });
  }

  auto val_of = [](int64_t id) {
    return ((id % kIdsPerWriter) * 31 + id / kIdsPerWriter) % 1000;
  };
  // The ids of the rows, checking that each row's value is the one written with its id.
  auto ids_of = [&](const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
    std::vector<int64_t> ids;
    for (const auto& b : batches) {
      auto id = std::static_pointer_cast<arrow::Int64Array>(b->GetColumnByName("id"));
      auto val = std::static_pointer_cast<arrow::Int64Array>(b->GetColumnByName("val"));
      for (int64_t i = 0; i < id->length(); ++i) {
        if (val->Value(i) != val_of(id->Value(i))) failed = true;
        ids.push_back(id->Value(i));
      }
    }
    return ids;
  };

  std::atomic<int> views{0};
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      while (writers_left.load() > 0) {
        auto q = p.QueryData();
        if (!q.ok()) {
          failed = true;
          return;
        }
        std::vector<int64_t> ids = ids_of(q->batches);
        if (static_cast<int64_t>(ids.size()) != q->rows) failed = true;
        std::map<int64_t, int64_t> last;  // writer -> last id seen
        for (int64_t id : ids) {
          auto [it, fresh] = last.try_emplace(id / kIdsPerWriter, id);
          if (!fresh) {
            if (id != it->second + 1) failed = true;  // gap, duplicate or reordering
            it->second = id;
          }
        }
        views.fetch_add(1);
      }
    });
  }

  std::vector<int64_t> persisted_ids;
  std::vector<SequenceNumber> released;
  std::thread persister([&] {
    std::deque<std::shared_ptr<const PersistingSnapshot>> outstanding;
    auto complete_oldest = [&] {
      auto snap = outstanding.front();
      outstanding.pop_front();
      auto ids = ids_of(snap->batches);
      persisted_ids.insert(persisted_ids.end(), ids.begin(), ids.end());
      auto seqs = p.MarkPersisted(snap);
      if (!seqs.ok()) {
        failed = true;
        return;
      }
      released.insert(released.end(), seqs->begin(), seqs->end());
    };
    while (writers_left.load() > 0) {
      auto snap = p.MarkPersisting();
      if (!snap.ok()) failed = true;
      if (snap.ok() && *snap != nullptr) outstanding.push_back(*snap);
      // Keep up to two persists outstanding, like a hot partition marked again.
      if (outstanding.size() > 2) complete_oldest();
      std::this_thread::yield();
    }
    while (!outstanding.empty()) complete_oldest();
  });

  for (auto& t : threads) t.join();
  persister.join();
  ASSERT_FALSE(failed.load());
  EXPECT_GT(views.load(), 0);
  EXPECT_GT(p.completed_persist_count(), 0u);

  auto q = p.QueryData();
  ASSERT_TRUE(q.ok());
  std::vector<int64_t> remaining = ids_of(q->batches);
  std::vector<int64_t> all = persisted_ids;
  all.insert(all.end(), remaining.begin(), remaining.end());
  int64_t expected_rows = std::accumulate(written.begin(), written.end(), int64_t{0});
  ASSERT_EQ(static_cast<int64_t>(all.size()), expected_rows);
  std::set<int64_t> unique(all.begin(), all.end());
  EXPECT_EQ(static_cast<int64_t>(unique.size()), expected_rows);
  for (int w = 0; w < kWriters; ++w) {
    EXPECT_EQ(*unique.lower_bound(w * kIdsPerWriter), w * kIdsPerWriter);
    EXPECT_TRUE(unique.count(w * kIdsPerWriter + written[w] - 1));
  }
  // Checksum of the values (each was also checked against its id).
  int64_t want_sum = 0;
  for (int w = 0; w < kWriters; ++w) {
    for (int64_t n = 0; n < written[w]; ++n) want_sum += (n * 31 + w) % 1000;
  }
  int64_t got_sum = 0;
  for (int64_t id : all) got_sum += val_of(id);
  EXPECT_EQ(got_sum, want_sum);
  EXPECT_FALSE(failed.load());

  std::vector<SequenceNumber> seqs = released;
  for (SequenceNumber s : p.SequenceNumbers()) seqs.push_back(s);
  std::sort(seqs.begin(), seqs.end());
  std::vector<SequenceNumber> want(kWriters * kWritesPerWriter);
  std::iota(want.begin(), want.end(), SequenceNumber{1});
  EXPECT_EQ(seqs, want);
  EXPECT_EQ(totals->rows.load(), static_cast<int64_t>(remaining.size()));
  EXPECT_EQ(totals->bytes.load(), p.BufferedBytes());
}

}  // namespace
}  // namespace ingester
