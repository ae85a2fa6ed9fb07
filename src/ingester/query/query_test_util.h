// Test support for the query module: the real write path in miniature (a SQLite catalog
// file, SchemaCache, the line protocol parser and write builders, the oracle, a real WAL
// with its WalSink, the BufferTree) and the real query side over it, wired the way the
// server's facade wires them.
#pragma once

#include <arrow/api.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ingester/buffer/buffer_test_util.h"
#include "ingester/buffer/buffer_tree.h"
#include "ingester/buffer/catalog_adapters.h"
#include "ingester/catalog/open.h"
#include "ingester/common/temp_dir.h"
#include "ingester/dml/timestamp_oracle.h"
#include "ingester/lp/parser.h"
#include "ingester/persist/compaction.h"
#include "ingester/persist/object_store.h"
#include "ingester/persist/persist_job.h"
#include "ingester/query/buffer_tree_query_exec.h"
#include "ingester/query/catalog_table_resolver.h"
#include "ingester/query/flight_service.h"
#include "ingester/query/read_metrics.h"
#include "ingester/wal/wal.h"
#include "ingester/wal/wal_sink.h"
#include "ingester/write/arrow_write_builder.h"
#include "ingester/write/schema_cache.h"
#include "ingester/write/write_builder.h"

#define ASSERT_OK(expr)                                       \
  do {                                                        \
    auto _st = (expr);                                        \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (false)

#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                                \
  auto lhs##_result = (expr);                                                          \
  ASSERT_TRUE(lhs##_result.ok()) << #expr << ": " << lhs##_result.status().ToString(); \
  auto lhs = std::move(lhs##_result).ValueOrDie()

namespace ingester::query::testing {

inline constexpr int64_t kDay = 86'400'000'000'000LL;
// 2023-11-14T00:00:00Z
inline constexpr int64_t kDay1 = 19'675 * kDay;
inline constexpr int64_t kDay2 = kDay1 + kDay;
inline constexpr int64_t kDay3 = kDay2 + kDay;

// The facade's write path for Arrow batches, as the server implements BatchWriter.
class TestBatchWriter final : public BatchWriter {
 public:
  TestBatchWriter(SchemaCache* cache, TimestampOracle* oracle, wal::WalSink* sink)
      : cache_(cache), oracle_(oracle), sink_(sink) {}

  arrow::Result<BatchWriteResult> WriteBatches(
      const std::string& namespace_name, const std::string& table_name,
      const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) override {
    ARROW_ASSIGN_OR_RAISE(auto ns, cache_->GetOrCreateNamespace(namespace_name));
    ARROW_ASSIGN_OR_RAISE(WriteOp op, BuildArrowWrite(ns, table_name, batches, cache_));
    if (op.writes.empty()) return BatchWriteResult{0};
    SequenceNumber first = oracle_->Next(op.writes.size());
    for (size_t i = 0; i < op.writes.size(); ++i)
      op.writes[i].sequence_number = first + i;
    ARROW_RETURN_NOT_OK(sink_->Apply(op));
    return BatchWriteResult{op.RowCount()};
  }

 private:
  SchemaCache* const cache_;
  TimestampOracle* const oracle_;
  wal::WalSink* const sink_;
};

struct QueryFixtureOptions {
  MutableBufferOptions buffer;
  arrow::MemoryPool* query_pool = arrow::default_memory_pool();
  int64_t max_batch_rows = 64 * 1024;
  // Row groups of the Parquet files Persist() writes.
  int64_t parquet_row_group_rows = 1024 * 1024;
  // Rows of their data pages (the page index lets a scan skip pages).
  int64_t parquet_page_rows = 8192;
  // Whether they carry the page index (files persisted before it was written lack it).
  bool parquet_page_index = true;
};

// Catalog, buffer tree, WAL and a local object store in a temp dir; a BufferTreeQueryExec
// over the buffer and the catalog's files; Persist() runs the real persist job.
class QueryFixture {
 public:
  explicit QueryFixture(QueryFixtureOptions options = {}) {
    catalog_ =
        catalog::OpenCatalog("sqlite://" + (dir_.path() / "catalog.sqlite").string())
            .ValueOrDie();
    cache_ = std::make_unique<SchemaCache>(catalog_.get(), catalog::NamespaceLimits{});
    BufferTreeOptions tree;
    tree.partition_provider = std::make_shared<CatalogPartitionProvider>(catalog_.get());
    tree.buffer = options.buffer;
    buffer_ = BufferTree::Make(std::move(tree)).ValueOrDie();
    wal::WalOptions wal_options;
    wal_options.dir = (dir_.path() / "wal").string();
    wal_ = wal::Wal::Make(std::move(wal_options)).ValueOrDie();
    sink_ = std::make_shared<wal::WalSink>(wal_, buffer_);
    writer_ = std::make_unique<TestBatchWriter>(cache_.get(), &oracle_, sink_.get());
    persist::ObjectStoreOptions store;
    store.url = "file://" + (dir_.path() / "objects").string();
    store_ = persist::ObjectStore::Make(store).ValueOrDie();
    compaction_ = persist::CompactionExecutor::Make({}).ValueOrDie();
    job_.catalog = catalog_.get();
    job_.object_store = store_.get();
    job_.executor = compaction_.get();
    job_.parquet.max_row_group_rows = options.parquet_row_group_rows;
    job_.parquet.max_rows_per_page = options.parquet_page_rows;
    job_.parquet.write_page_index = options.parquet_page_index;
    BufferTreeQueryExecOptions exec;
    exec.buffer = buffer_;
    exec.resolver = std::make_shared<CatalogTableResolver>(catalog_.get());
    exec.pool = options.query_pool;
    exec.max_batch_rows = options.max_batch_rows;
    exec.catalog = catalog_.get();
    exec.files = store_->filesystem();
    exec.metrics = &read_metrics_;
    exec_ = BufferTreeQueryExec::Make(std::move(exec)).ValueOrDie();
  }

  // The three steps of a persist, for tests that interleave them with queries: the
  // snapshot (MarkPersisting), the file and its catalog row (the persist job), and its
  // removal from the buffer (MarkPersisted).
  std::shared_ptr<const PersistingSnapshot> MarkPersisting(const std::string& table,
                                                           const std::string& key) {
    return Partition(table, key)->MarkPersisting().ValueOrDie();
  }
  arrow::Status RunJob(const PersistingSnapshot& snapshot) {
    return persist::RunPersistJob(job_, snapshot).status();
  }
  arrow::Status MarkPersisted(const std::string& table, const std::string& key,
                              const std::shared_ptr<const PersistingSnapshot>& snapshot) {
    return Partition(table, key)->MarkPersisted(snapshot).status();
  }
  // All three: what the partition buffers now becomes a Parquet file.
  void Persist(const std::string& table, const std::string& key) {
    auto snapshot = MarkPersisting(table, key);
    ASSERT_NE(snapshot, nullptr);
    ASSERT_OK(RunJob(*snapshot));
    ASSERT_OK(MarkPersisted(table, key, snapshot));
  }

  // Writes line protocol (ns timestamps) through the whole chain; every line must be
  // accepted.
  void Write(const std::string& body, const std::string& ns = "db") {
    ASSERT_OK(WriteLp(body, ns));
  }
  // The same without gtest (benchmarks): Invalid naming the first rejected line.
  arrow::Status WriteLp(const std::string& body, const std::string& ns = "db") {
    auto parsed = lp::Parse(body, {lp::Precision::kNanosecond, 0});
    ARROW_ASSIGN_OR_RAISE(auto record, cache_->GetOrCreateNamespace(ns));
    ARROW_ASSIGN_OR_RAISE(auto built, BuildWrite(record, body, parsed, cache_.get()));
    if (!built.rejected.empty()) {
      return arrow::Status::Invalid("line rejected: ", built.rejected[0].message);
    }
    SequenceNumber first = oracle_.Next(built.op.writes.size());
    for (size_t i = 0; i < built.op.writes.size(); ++i) {
      built.op.writes[i].sequence_number = first + i;
    }
    return sink_->Apply(built.op);
  }

  // The namespace listing the server derives from the catalog.
  CatalogLister Lister() {
    return [catalog = catalog_.get()]() -> arrow::Result<std::vector<NamespaceListing>> {
      std::vector<NamespaceListing> out;
      ARROW_ASSIGN_OR_RAISE(auto namespaces, catalog->ListNamespaces());
      for (const auto& ns : namespaces) {
        NamespaceListing listing{ns.name, {}};
        ARROW_ASSIGN_OR_RAISE(auto tables, catalog->ListTables(ns.id));
        for (const auto& t : tables) listing.tables.push_back(t.name);
        out.push_back(std::move(listing));
      }
      return out;
    };
  }

  std::shared_ptr<PartitionData> Partition(const std::string& table,
                                           const std::string& key,
                                           const std::string& ns = "db") {
    auto ns_record = catalog_->GetNamespaceByName(ns).ValueOrDie();
    auto t = catalog_->GetTableByName(ns_record->id, table).ValueOrDie();
    return buffer_->Namespace(ns_record->id)->Table(t->id)->Partition(key);
  }

  catalog::Catalog* catalog() { return catalog_.get(); }
  BufferTree* buffer() { return buffer_.get(); }
  BufferTreeQueryExec* exec() { return exec_.get(); }
  TestBatchWriter* writer() { return writer_.get(); }
  wal::Wal* wal() { return wal_.get(); }
  persist::ObjectStore* store() { return store_.get(); }
  const ReadMetrics& read_metrics() const { return read_metrics_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<SchemaCache> cache_;
  std::shared_ptr<BufferTree> buffer_;
  std::shared_ptr<wal::Wal> wal_;
  std::shared_ptr<wal::WalSink> sink_;
  TimestampOracle oracle_;
  std::unique_ptr<TestBatchWriter> writer_;
  std::unique_ptr<persist::ObjectStore> store_;
  std::unique_ptr<persist::CompactionExecutor> compaction_;
  persist::PersistJobContext job_;
  MetricsRegistry registry_;
  ReadMetrics read_metrics_{&registry_};
  std::unique_ptr<BufferTreeQueryExec> exec_;
};

// A QueryExec owned elsewhere, as the shared_ptr decorators take.
inline std::shared_ptr<QueryExec> Borrow(QueryExec* exec) {
  return std::shared_ptr<QueryExec>(exec, [](QueryExec*) {});
}

// A query exec whose responses, under `schema`, fail mid-stream (at their first
// partition) with IOError "disk on fire".
class FailingExec final : public QueryExec {
 public:
  explicit FailingExec(std::shared_ptr<arrow::Schema> schema = arrow::schema({}))
      : schema_(std::move(schema)) {}
  arrow::Result<std::unique_ptr<QueryResponse>> Query(const QueryRequest&) override {
    class Response final : public QueryResponse {
     public:
      explicit Response(std::shared_ptr<arrow::Schema> schema)
          : schema_(std::move(schema)) {}
      const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }
      arrow::Result<std::unique_ptr<PartitionResponse>> NextPartition() override {
        return arrow::Status::IOError("disk on fire");
      }

     private:
      const std::shared_ptr<arrow::Schema> schema_;
    };
    return std::make_unique<Response>(schema_);
  }

 private:
  const std::shared_ptr<arrow::Schema> schema_;
};

inline QueryRequest Request(std::vector<std::string> columns = {},
                            Predicate predicate = {}, std::string table = "cpu",
                            std::string ns = "db") {
  QueryRequest r;
  r.namespace_name = std::move(ns);
  r.table_name = std::move(table);
  r.columns = std::move(columns);
  r.predicate = std::move(predicate);
  return r;
}

// Every row of every partition as "a=1 b=null time=5", partitions in order.
inline std::vector<std::string> Rows(const std::vector<CollectedPartition>& partitions) {
  std::vector<std::string> rows;
  for (const auto& p : partitions) {
    auto more = buffer_test::RowStrings(p.batches);
    rows.insert(rows.end(), more.begin(), more.end());
  }
  return rows;
}

inline std::vector<std::string> Keys(const std::vector<CollectedPartition>& partitions) {
  std::vector<std::string> keys;
  for (const auto& p : partitions) keys.push_back(p.info.partition_key);
  return keys;
}

}  // namespace ingester::query::testing
