// The persist pipeline's cost on ingest, at the buffer level (no HTTP, parsing or WAL):
//
//   BM_BufferIngest/persist:0   writers apply 1,000-row TSBS cpu batches to a BufferTree
//   BM_BufferIngest/persist:1   the same, with the hot-partition trigger persisting each
//                               partition every --persist-hot-partition-cost bytes
//                               through the real job (sort, dedup, Parquet zstd, local
//                               object store, SQLite catalog) on 2 persist workers
//   BM_PipelineOverhead         MarkAndEnqueue -> worker -> MarkPersisted -> WAL release
//                               with a no-op job: the pipeline's own cost per persist
//
// Counters: rows/s ingested; for persist:1 also rows persisted during the timed loop.
#include <benchmark/benchmark.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "ingester/buffer/buffer_tree.h"
#include "ingester/buffer/catalog_adapters.h"
#include "ingester/catalog/open.h"
#include "ingester/common/temp_dir.h"
#include "ingester/persist/compaction.h"
#include "ingester/persist/object_store.h"
#include "ingester/persist/persist_handle.h"
#include "ingester/persist/persist_triggers.h"
#include "ingester/wal/reference_tracker.h"
#include "ingester/wal/wal_test_util.h"

namespace ingester::persist {
namespace {

constexpr int kRowsPerBatch = 1000;
constexpr int kBatches = 256;
constexpr int kPartitions = 4;

const std::vector<std::shared_ptr<arrow::RecordBatch>>& Batches() {
  static const auto* batches = [] {
    auto* out = new std::vector<std::shared_ptr<arrow::RecordBatch>>();
    for (int i = 0; i < kBatches; ++i) {
      out->push_back(wal::testing::MakeCpuBatch(kRowsPerBatch, i));
    }
    return out;
  }();
  return *batches;
}

// A catalog with the cpu table, an object store and a compaction executor in a temp dir.
struct Storage {
  TempDir dir{"persist-bench"};  // first: removed after everything else is closed
  std::unique_ptr<catalog::Catalog> catalog;
  catalog::NamespaceRecord ns;
  catalog::TableRecord table;
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<CompactionExecutor> executor;

  Storage() {
    catalog =
        *catalog::OpenCatalog("sqlite://" + (dir.path() / "catalog.sqlite").string());
    ns = *catalog->GetOrCreateNamespace("bench");
    table = *catalog->GetOrCreateTable(ns.id, "cpu");
    std::vector<catalog::ColumnSpec> columns;
    for (const auto& field : Batches()[0]->schema()->fields()) {
      columns.push_back({field->name(), field->name() == "time" ? ColumnType::kTime
                                        : field->type()->id() == arrow::Type::DICTIONARY
                                            ? ColumnType::kTag
                                            : ColumnType::kI64});
    }
    (void)*catalog->GetOrCreateColumns(table.id, columns);
    ObjectStoreOptions store_options;
    store_options.url = "file://" + (dir.path() / "objects").string();
    store = *ObjectStore::Make(store_options);
    executor = *CompactionExecutor::Make({});
  }
  ~Storage() {
    executor.reset();
    store.reset();
    catalog.reset();
  }
};

void BM_BufferIngest(benchmark::State& state) {
  const bool persist = state.range(0) != 0;
  Storage storage;
  auto observer = std::make_shared<PersistWriteObserver>();
  BufferTreeOptions tree_options;
  tree_options.partition_provider =
      std::make_shared<CatalogPartitionProvider>(storage.catalog.get());
  tree_options.post_write_observer = observer;
  std::shared_ptr<BufferTree> tree = *BufferTree::Make(std::move(tree_options));

  PersistJobContext context;
  context.catalog = storage.catalog.get();
  context.object_store = storage.store.get();
  context.executor = storage.executor.get();
  PersistHandleOptions handle_options;
  handle_options.workers = 2;
  handle_options.job = MakePersistJobFn(context);
  PersistHandle handle = *PersistHandle::Make(std::move(handle_options));
  PersistTriggersOptions trigger_options;
  trigger_options.tree = tree;
  trigger_options.handle = handle;
  trigger_options.observer = observer;
  trigger_options.hot_partition_cost = persist ? 20'000'000 : 0;  // the default
  trigger_options.disk_check_interval = std::chrono::nanoseconds::zero();
  auto triggers = *PersistTriggers::Make(std::move(trigger_options));

  const auto& batches = Batches();
  SequenceNumber seq = 1;
  int64_t rows = 0;
  size_t i = 0;
  for (auto _ : state) {
    WriteOp op;
    op.namespace_id = storage.ns.id;
    op.namespace_name = storage.ns.name;
    PartitionWrite w;
    w.table_id = storage.table.id;
    w.table_name = storage.table.name;
    w.partition_key = "2024-01-0" + std::to_string(1 + i % kPartitions);
    w.sequence_number = seq++;
    w.batch = batches[i % batches.size()];
    op.writes.push_back(std::move(w));
    ++i;
    if (!tree->Apply(op).ok()) state.SkipWithError("Apply failed");
    rows += kRowsPerBatch;
  }
  const auto persisted = handle.stats();
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
  state.counters["persisted_rows"] = static_cast<double>(persisted.rows);
  state.counters["persists"] = static_cast<double>(persisted.completed);
  triggers->Stop();
  handle.Stop();
}
BENCHMARK(BM_BufferIngest)
    ->ArgName("persist")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(3000)  // 3M rows
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_PipelineOverhead(benchmark::State& state) {
  BufferTreeOptions tree_options;
  struct Ids final : PartitionProvider {
    arrow::Result<PartitionId> GetOrCreatePartitionId(TableId t,
                                                      std::string_view) override {
      return PartitionId(t.value());
    }
  };
  tree_options.partition_provider = std::make_shared<Ids>();
  std::shared_ptr<BufferTree> tree = *BufferTree::Make(std::move(tree_options));
  wal::ReferenceTrackerOptions tracker_options;
  tracker_options.delete_segment = [](wal::SegmentId) { return arrow::Status::OK(); };
  std::shared_ptr<wal::ReferenceTracker> tracker =
      *wal::ReferenceTracker::Make(std::move(tracker_options));
  PersistHandleOptions options;
  options.workers = 2;
  options.queue_depth = 64;
  options.on_persisted = [tracker](const std::vector<SequenceNumber>& numbers) {
    tracker->Release(numbers);
  };
  options.job = [](const PersistingSnapshot& s, const auto&, std::stop_token) {
    PersistJobResult r;
    r.output_rows = s.rows;
    return arrow::Result<PersistJobResult>(std::move(r));
  };
  PersistHandle handle = *PersistHandle::Make(std::move(options));
  auto small = wal::testing::MakeCpuBatch(1, 0);
  SequenceNumber seq = 1;
  for (auto _ : state) {
    WriteOp op;
    op.namespace_id = NamespaceId(1);
    PartitionWrite w;
    w.table_id = TableId(1 + static_cast<int64_t>(seq % 16));
    w.partition_key = "k";
    w.sequence_number = seq++;
    w.batch = small;
    op.writes.push_back(std::move(w));
    (void)tree->Apply(op);
    auto partition =
        tree->Namespace(NamespaceId(1))->Table(op.writes[0].table_id)->Partition("k");
    if (!handle.MarkAndEnqueue(partition).ok()) state.SkipWithError("enqueue failed");
  }
  handle.WaitIdle(std::chrono::seconds(60));
  state.counters["persists/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  handle.Stop();
}
BENCHMARK(BM_PipelineOverhead)->UseRealTime();

}  // namespace
}  // namespace ingester::persist

BENCHMARK_MAIN();
