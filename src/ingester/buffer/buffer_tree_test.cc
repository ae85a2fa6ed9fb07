#include "ingester/buffer/buffer_tree.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "ingester/buffer/buffer_test_util.h"
#include "ingester/buffer/column_set.h"
#include "ingester/buffer/partition_cache.h"
#include "ingester/common/error.h"

namespace ingester {
namespace {

using buffer_test::BatchMaker;
using buffer_test::FieldNames;
using buffer_test::Opt;
using buffer_test::RowStrings;
using ::testing::ElementsAre;

// An in-memory catalog: ids in creation order, call counting, injectable failure.
class FakeCatalog : public PartitionProvider, public NameResolver {
 public:
  arrow::Result<PartitionId> GetOrCreatePartitionId(TableId table,
                                                    std::string_view key) override {
    partition_calls.fetch_add(1);
    if (fail_partitions.load()) return arrow::Status::IOError("catalog unavailable");
    std::lock_guard<std::mutex> lock(mu);
    auto [it, fresh] = partitions.try_emplace(
        {table.value(), std::string(key)},
        PartitionId(1000 + static_cast<int64_t>(partitions.size())));
    return it->second;
  }
  arrow::Result<std::string> NamespaceName(NamespaceId id) override {
    name_calls.fetch_add(1);
    return "ns" + std::to_string(id.value());
  }
  arrow::Result<std::string> TableName(NamespaceId, TableId id) override {
    name_calls.fetch_add(1);
    return "table" + std::to_string(id.value());
  }

  std::atomic<int> partition_calls{0};
  std::atomic<int> name_calls{0};
  std::atomic<bool> fail_partitions{false};
  std::mutex mu;
  std::map<std::pair<int64_t, std::string>, PartitionId> partitions;
};

std::unique_ptr<BufferTree> MakeTree(
    std::shared_ptr<FakeCatalog> catalog,
    std::shared_ptr<PostWriteObserver> observer = nullptr, bool with_resolver = true) {
  BufferTreeOptions options;
  options.partition_provider = catalog;
  if (with_resolver) options.name_resolver = catalog;
  options.post_write_observer = std::move(observer);
  auto tree = BufferTree::Make(std::move(options));
  EXPECT_TRUE(tree.ok()) << tree.status().ToString();
  return std::move(tree).ValueOrDie();
}

PartitionWrite Write(int64_t table, std::string table_name, std::string key,
                     SequenceNumber seq, std::shared_ptr<arrow::RecordBatch> batch) {
  return PartitionWrite{TableId(table), std::move(table_name), std::move(key), seq,
                        std::move(batch)};
}

WriteOp Op(int64_t ns, std::string ns_name, std::vector<PartitionWrite> writes) {
  return WriteOp{NamespaceId(ns), std::move(ns_name), std::move(writes)};
}

std::shared_ptr<arrow::RecordBatch> Row(const std::string& host, int64_t v, int64_t t) {
  return BatchMaker().Tag("host", {host}).I64("v", {v}).Time({t}).Build();
}

std::vector<std::string> Rows(PartitionData& p) {
  auto q = p.QueryData();
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  std::vector<std::shared_ptr<arrow::RecordBatch>> conformed;
  for (const auto& b : q->batches) conformed.push_back(*ConformBatch(b, q->schema));
  return RowStrings(conformed);
}

TEST(BufferTree, RoutesEachWriteToItsPartition) {
  auto catalog = std::make_shared<FakeCatalog>();
  auto tree = MakeTree(catalog);
  ASSERT_TRUE(tree->Apply(Op(1, "db",
                             {Write(10, "cpu", "2024-01-01", 1, Row("a", 1, 100)),
                              Write(10, "cpu", "2024-01-02", 2, Row("b", 2, 200)),
                              Write(11, "mem", "2024-01-01", 3, Row("c", 3, 300))}))
                  .ok());
  ASSERT_TRUE(
      tree->Apply(Op(2, "other", {Write(20, "disk", "2024-01-01", 4, Row("d", 4, 400))}))
          .ok());
  ASSERT_TRUE(
      tree->Apply(Op(1, "db", {Write(10, "cpu", "2024-01-01", 5, Row("e", 5, 101))}))
          .ok());

  auto namespaces = tree->Namespaces();
  ASSERT_EQ(namespaces.size(), 2u);
  EXPECT_EQ(namespaces[0]->namespace_id(), NamespaceId(1));
  EXPECT_EQ(*namespaces[0]->namespace_name().Get(), "db");
  auto tables = namespaces[0]->Tables();
  ASSERT_EQ(tables.size(), 2u);
  EXPECT_EQ(tables[0]->table_id(), TableId(10));
  EXPECT_EQ(*tables[1]->table_name().Get(), "mem");

  auto cpu = tree->Namespace(NamespaceId(1))->Table(TableId(10));
  ASSERT_NE(cpu, nullptr);
  auto day1 = cpu->Partition("2024-01-01");
  ASSERT_NE(day1, nullptr);
  EXPECT_THAT(Rows(*day1), ElementsAre("host=a v=1 time=100", "host=e v=5 time=101"));
  EXPECT_THAT(day1->SequenceNumbers(), ElementsAre(1u, 5u));
  EXPECT_EQ(*day1->namespace_name().Get(), "db");
  EXPECT_EQ(*day1->table_name().Get(), "cpu");
  EXPECT_EQ(day1->namespace_id(), NamespaceId(1));
  EXPECT_EQ(day1->table_id(), TableId(10));
  EXPECT_EQ(day1->partition_id(), catalog->partitions.at({10, "2024-01-01"}));
  EXPECT_THAT(Rows(*cpu->Partition("2024-01-02")), ElementsAre("host=b v=2 time=200"));
  EXPECT_EQ(tree->Namespace(NamespaceId(3)), nullptr);
  EXPECT_EQ(cpu->Partition("2024-01-03"), nullptr);

  auto all = tree->Partitions();
  ASSERT_EQ(all.size(), 4u);
  std::vector<std::string> listed;
  for (const auto& p : all) {
    listed.push_back(std::to_string(p->namespace_id().value()) + "/" +
                     std::to_string(p->table_id().value()) + "/" + p->partition_key());
  }
  EXPECT_THAT(listed, ElementsAre("1/10/2024-01-01", "1/10/2024-01-02", "1/11/2024-01-01",
                                  "2/20/2024-01-01"));
  // One catalog lookup per partition, none per write; no name lookups (ops had names).
  EXPECT_EQ(catalog->partition_calls.load(), 4);
  EXPECT_EQ(catalog->name_calls.load(), 0);
  EXPECT_EQ(tree->BufferedRows(), 5);
  int64_t bytes = 0;
  for (const auto& p : all) bytes += p->BufferedBytes();
  EXPECT_EQ(tree->BufferedBytes(), bytes);
  EXPECT_GT(bytes, 0);
}

TEST(BufferTree, WarmPartitionCacheMeansNoCatalogCallsAfterRestart) {
  auto catalog = std::make_shared<FakeCatalog>();
  PartitionCacheOptions cache_options;
  cache_options.inner = catalog;
  cache_options.entries = {{TableId(10), "2024-01-01", PartitionId(5)}};
  BufferTreeOptions options;
  options.partition_provider = *PartitionCache::Make(cache_options);
  auto tree = *BufferTree::Make(std::move(options));
  ASSERT_TRUE(
      tree->Apply(Op(1, "db", {Write(10, "cpu", "2024-01-01", 1, Row("a", 1, 1))})).ok());
  EXPECT_EQ(catalog->partition_calls.load(), 0);
  EXPECT_EQ(tree->Partitions().at(0)->partition_id(), PartitionId(5));
}

TEST(BufferTree, NamesAreLoadedLazilyOnceOrSeededByALaterWrite) {
  auto catalog = std::make_shared<FakeCatalog>();
  auto tree = MakeTree(catalog);
  // WAL replay: ops without names.
  ASSERT_TRUE(tree->Apply(Op(1, "",
                             {Write(10, "", "k", 1, Row("a", 1, 1)),
                              Write(11, "", "k", 2, Row("a", 1, 1))}))
                  .ok());
  auto p10 = tree->Namespace(NamespaceId(1))->Table(TableId(10))->Partition("k");
  EXPECT_FALSE(p10->table_name().IsLoaded());
  EXPECT_EQ(catalog->name_calls.load(), 0);
  EXPECT_EQ(*p10->table_name().Get(), "table10");
  EXPECT_EQ(*p10->namespace_name().Get(), "ns1");
  EXPECT_EQ(*p10->table_name().Get(), "table10");
  EXPECT_EQ(catalog->name_calls.load(), 2);
  // The namespace name is shared with the other table's partitions: no new lookup.
  auto p11 = tree->Namespace(NamespaceId(1))->Table(TableId(11))->Partition("k");
  EXPECT_EQ(*p11->namespace_name().Get(), "ns1");
  EXPECT_EQ(catalog->name_calls.load(), 2);
  // A later write that carries the table's name seeds it.
  ASSERT_TRUE(tree->Apply(Op(1, "db", {Write(11, "mem", "k", 3, Row("b", 2, 2))})).ok());
  EXPECT_EQ(*p11->table_name().Get(), "mem");
  EXPECT_EQ(catalog->name_calls.load(), 2);

  // Without a resolver a missing name is an error when asked for, not when writing.
  auto bare = MakeTree(catalog, nullptr, /*with_resolver=*/false);
  ASSERT_TRUE(bare->Apply(Op(1, "", {Write(10, "", "k", 1, Row("a", 1, 1))})).ok());
  EXPECT_EQ(ErrorKindOf(bare->Partitions().at(0)->table_name().Get().status()),
            ErrorKind::kNotFound);
}

TEST(BufferTree, FailedWritesAreReportedAndDoNotStopTheOthers) {
  auto catalog = std::make_shared<FakeCatalog>();
  auto tree = MakeTree(catalog);
  ASSERT_TRUE(tree->Apply(Op(1, "db", {Write(10, "cpu", "k", 1, Row("a", 1, 1))})).ok());
  std::vector<SequenceNumber> not_buffered;
  auto st = tree->Apply(
      Op(1, "db",
         {Write(10, "cpu", "k", 2,
                BatchMaker().F64("v", {1.5}).Time({2}).Build()),  // conflict
          Write(10, "cpu", "k", 3, Row("b", 3, 3)),
          Write(10, "cpu", "k", 4, BatchMaker().I64("v", {}).Time({}).Build()),  // empty
          Write(12, "io", "k", 5, nullptr)}),
      &not_buffered);
  EXPECT_EQ(ErrorKindOf(st), ErrorKind::kConflict) << st.ToString();
  EXPECT_NE(st.message().find("table 10"), std::string::npos) << st.ToString();
  EXPECT_THAT(not_buffered, ElementsAre(2u, 4u, 5u));
  auto p = tree->Namespace(NamespaceId(1))->Table(TableId(10))->Partition("k");
  EXPECT_THAT(Rows(*p), ElementsAre("host=a v=1 time=1", "host=b v=3 time=3"));
  EXPECT_THAT(p->SequenceNumbers(), ElementsAre(1u, 3u));

  // A catalog failure creating a partition: reported, nothing buffered, retried next
  // time.
  catalog->fail_partitions = true;
  not_buffered.clear();
  st = tree->Apply(Op(1, "db", {Write(10, "cpu", "new", 6, Row("c", 6, 6))}),
                   &not_buffered);
  EXPECT_TRUE(st.IsIOError()) << st.ToString();
  EXPECT_THAT(not_buffered, ElementsAre(6u));
  EXPECT_EQ(tree->Namespace(NamespaceId(1))->Table(TableId(10))->Partition("new"),
            nullptr);
  catalog->fail_partitions = false;
  EXPECT_TRUE(
      tree->Apply(Op(1, "db", {Write(10, "cpu", "new", 6, Row("c", 6, 6))})).ok());
  EXPECT_EQ(tree->BufferedRows(), 3);
}

// A hot-partition trigger in miniature: the observer marks a partition for persist when
// its mutable buffer grows past a limit. It runs outside the partition lock, so it may
// call back into the partition.
class HotPartitionObserver : public PostWriteObserver {
 public:
  explicit HotPartitionObserver(int64_t limit) : limit_(limit) {}
  void ObserveWrite(const std::shared_ptr<PartitionData>& partition,
                    const PartitionStats& stats) override {
    observed.fetch_add(1);
    if (stats.buffer_bytes > limit_) {
      auto snap = partition->MarkPersisting();
      if (snap.ok() && *snap != nullptr) marked.fetch_add(1);
    }
  }
  std::atomic<int> observed{0};
  std::atomic<int> marked{0};

 private:
  const int64_t limit_;
};

TEST(BufferTree, PostWriteObserverSeesEveryWriteAndCanMarkPersisting) {
  auto catalog = std::make_shared<FakeCatalog>();
  auto observer = std::make_shared<HotPartitionObserver>(1024);
  auto tree = MakeTree(catalog, observer);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(
        tree->Apply(Op(1, "db", {Write(10, "cpu", "k", i + 1, Row("h", i, i))})).ok());
  }
  EXPECT_EQ(observer->observed.load(), 200);
  EXPECT_GT(observer->marked.load(), 0);
  auto p = tree->Partitions().at(0);
  EXPECT_EQ(p->Stats().persisting_snapshots,
            static_cast<size_t>(observer->marked.load()));
  EXPECT_LE(p->Stats().buffer_bytes, 1024 + 256);
  EXPECT_EQ(Rows(*p).size(), 200u);
  EXPECT_EQ(tree->BufferedRows(), 200);
}

// Builds a deterministic stream of ops over 2 namespaces, 3 tables and 3 days, with
// schema evolution, tiny and large batches, and tag values from a small set.
std::vector<WriteOp> Workload(int ops) {
  std::vector<WriteOp> out;
  SequenceNumber seq = 1;
  for (int i = 0; i < ops; ++i) {
    const int64_t ns = 1 + i % 2;
    WriteOp op{NamespaceId(ns), "ns" + std::to_string(ns), {}};
    for (int j = 0; j < 1 + i % 3; ++j) {
      const int64_t table = 10 * ns + (i / 2 + j) % 3;
      const int rows = (i % 7 == 0) ? 1500 : 1 + (i * 13 + j) % 20;
      Opt<std::string> hosts;
      Opt<int64_t> usage;
      Opt<double> temp;
      std::vector<int64_t> times;
      for (int r = 0; r < rows; ++r) {
        hosts.push_back("host" + std::to_string((i + r) % 5));
        usage.push_back(r % 4 == 0 ? std::nullopt : std::optional<int64_t>(i * 100 + r));
        temp.push_back(r * 0.25);
        times.push_back(int64_t{1'700'000'000} * 1'000'000'000 + i * 1000 + r);
      }
      BatchMaker b;
      b.Tag("host", hosts);
      if (i > ops / 3)
        b.Tag("region", Opt<std::string>(rows, "r" + std::to_string(i % 2)));
      if (i % 2 == 0) b.I64("usage", usage);
      if (i > ops / 2) b.F64("temp", temp);
      op.writes.push_back(Write(table, "t" + std::to_string(table),
                                "2024-01-0" + std::to_string(1 + (i / 6 + j) % 3), seq++,
                                b.Time(times).Build()));
    }
    out.push_back(std::move(op));
  }
  return out;
}

TEST(BufferTree, ReplayingTheSameOpsGivesAnEqualTree) {
  auto ops = Workload(120);
  auto catalog = std::make_shared<FakeCatalog>();
  auto original = MakeTree(catalog);
  for (size_t i = 0; i < ops.size(); ++i) {
    ASSERT_TRUE(original->Apply(ops[i]).ok());
    // Persist marks in the original do not change what it holds, only where.
    if (i == ops.size() / 2) {
      for (const auto& p : original->Partitions()) ASSERT_TRUE(p->MarkPersisting().ok());
    }
  }
  auto replayed = MakeTree(catalog);
  for (const auto& op : ops) ASSERT_TRUE(replayed->Apply(op).ok());

  auto a = original->Partitions();
  auto b = replayed->Partitions();
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a.size(), 18u);
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(a[i]->partition_key());
    EXPECT_EQ(a[i]->namespace_id(), b[i]->namespace_id());
    EXPECT_EQ(a[i]->table_id(), b[i]->table_id());
    EXPECT_EQ(a[i]->partition_key(), b[i]->partition_key());
    EXPECT_EQ(a[i]->partition_id(), b[i]->partition_id());
    EXPECT_EQ(*a[i]->table_name().Get(), *b[i]->table_name().Get());
    EXPECT_EQ(a[i]->SequenceNumbers(), b[i]->SequenceNumbers());
    auto qa = *a[i]->QueryData();
    auto qb = *b[i]->QueryData();
    EXPECT_EQ(FieldNames(*qa.schema), FieldNames(*qb.schema));
    EXPECT_EQ(qa.rows, qb.rows);
    EXPECT_EQ(qa.min_time, qb.min_time);
    EXPECT_EQ(qa.max_time, qb.max_time);
    auto rows = Rows(*a[i]);
    EXPECT_EQ(rows, Rows(*b[i]));
    EXPECT_GT(rows.size(), 0u);
  }
  EXPECT_EQ(original->BufferedRows(), replayed->BufferedRows());
}

TEST(BufferTree, ConcurrentWritersCreatingNodesGetOneNodePerPartition) {
  constexpr int kThreads = 16, kOps = 200;
  auto catalog = std::make_shared<FakeCatalog>();
  auto tree = MakeTree(catalog);
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOps; ++i) {
        SequenceNumber seq = static_cast<SequenceNumber>(t * kOps + i + 1);
        const int64_t ns = 1 + i % 2;
        auto op =
            Op(ns, "",
               {Write(10 * ns + (t + i) % 4, "", "2024-01-0" + std::to_string(1 + i % 3),
                      seq, Row("h" + std::to_string(t), i, i))});
        if (!tree->Apply(op).ok()) failed = true;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_FALSE(failed.load());
  auto partitions = tree->Partitions();
  EXPECT_EQ(partitions.size(), 2u * 4u * 3u);
  EXPECT_GE(catalog->partition_calls.load(), 24);
  std::set<PartitionId> ids;
  int64_t rows = 0;
  size_t seqs = 0;
  for (const auto& p : partitions) {
    ids.insert(p->partition_id());
    rows += p->Rows();
    seqs += p->SequenceNumbers().size();
  }
  EXPECT_EQ(ids.size(), partitions.size());
  EXPECT_EQ(rows, kThreads * kOps);
  EXPECT_EQ(seqs, static_cast<size_t>(kThreads * kOps));
  EXPECT_EQ(tree->BufferedRows(), kThreads * kOps);
}

TEST(BufferTree, MakeValidatesOptions) {
  EXPECT_TRUE(BufferTree::Make({}).status().IsInvalid());
  BufferTreeOptions options;
  options.partition_provider = std::make_shared<FakeCatalog>();
  options.buffer.compaction_fan_in = 0;
  EXPECT_TRUE(BufferTree::Make(std::move(options)).status().IsInvalid());
}

}  // namespace
}  // namespace ingester
