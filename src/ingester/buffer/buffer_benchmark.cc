// Ingest throughput of the buffer tree with TSBS "cpu"-shaped data: 10 dictionary tags,
// 10 int64 fields and time per row. Batches are built up front (the parser's cost is not
// measured here); each iteration applies one write op. A persist is simulated every
// `kPersistEveryRows` rows (MarkPersisting + MarkPersisted) to keep memory bounded.
//
// Counters: items_per_second = rows/s; bytes_per_second = Arrow bytes of the applied
// batches per second; buffered_bytes_per_row = the tree's accounting of memory held per
// buffered row (compare with arrow_bytes_per_row, the Arrow size of the input).
#include <arrow/api.h>
#include <arrow/util/byte_size.h>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "ingester/buffer/buffer_tree.h"

namespace ingester {
namespace {

constexpr int64_t kPersistEveryRows = 2'000'000;

class FixedProvider : public PartitionProvider {
 public:
  arrow::Result<PartitionId> GetOrCreatePartitionId(TableId, std::string_view) override {
    return PartitionId(next_++);
  }

 private:
  int64_t next_ = 1;
};

// One TSBS-like batch of `rows` rows starting at row `start` of the data set (1000 hosts,
// one reading per host every 10 s).
std::shared_ptr<arrow::RecordBatch> TsbsBatch(int64_t start, int rows) {
  static const char* kTags[] = {
      "hostname", "region",          "datacenter",         "rack", "os", "arch", "team",
      "service",  "service_version", "service_environment"};
  static const int kCardinality[] = {1000, 9, 27, 100, 3, 2, 4, 20, 2, 3};
  static const char* kFields[] = {
      "usage_user", "usage_system",  "usage_idle",  "usage_nice",  "usage_iowait",
      "usage_irq",  "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"};
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (int t = 0; t < 10; ++t) {
    arrow::StringDictionary32Builder b;
    for (int r = 0; r < rows; ++r) {
      const int64_t host = (start + r) % 1000;
      // Tags are functions of the host, as in TSBS.
      (void)b.Append(std::string(kTags[t]) + "_" +
                     std::to_string((host * (t + 7)) % kCardinality[t]));
    }
    columns.push_back(b.Finish().ValueOrDie());
    fields.push_back(arrow::field(kTags[t], columns.back()->type()));
  }
  for (int f = 0; f < 10; ++f) {
    arrow::Int64Builder b;
    (void)b.Reserve(rows);
    for (int r = 0; r < rows; ++r)
      b.UnsafeAppend(((start + r) * 7919 + f * 104729) % 100);
    columns.push_back(b.Finish().ValueOrDie());
    fields.push_back(arrow::field(kFields[f], arrow::int64()));
  }
  arrow::TimestampBuilder tb(arrow::timestamp(arrow::TimeUnit::NANO),
                             arrow::default_memory_pool());
  (void)tb.Reserve(rows);
  for (int r = 0; r < rows; ++r) {
    tb.UnsafeAppend(int64_t{1'700'000'000'000'000'000} +
                    (start + r) / 1000 * 10'000'000'000);
  }
  columns.push_back(tb.Finish().ValueOrDie());
  fields.push_back(arrow::field("time", columns.back()->type(), false));
  return arrow::RecordBatch::Make(arrow::schema(fields), rows, columns);
}

std::unique_ptr<BufferTree> MakeTree() {
  BufferTreeOptions options;
  options.partition_provider = std::make_shared<FixedProvider>();
  return BufferTree::Make(std::move(options)).ValueOrDie();
}

void PersistAll(BufferTree& tree) {
  for (const auto& p : tree.Partitions()) {
    auto snap = p->MarkPersisting().ValueOrDie();
    if (snap != nullptr) (void)p->MarkPersisted(snap);
  }
}

// Applies batches of state.range(0) rows, round-robin over a pre-built set.
void BM_ApplyTsbs(benchmark::State& state) {
  const int rows = static_cast<int>(state.range(0));
  const int distinct = static_cast<int>(std::clamp<int64_t>(200'000 / rows, 4, 2000));
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t arrow_bytes = 0;
  for (int i = 0; i < distinct; ++i) {
    batches.push_back(TsbsBatch(int64_t{i} * rows, rows));
    arrow_bytes += arrow::util::TotalBufferSize(*batches.back());
  }
  const double arrow_bytes_per_row = static_cast<double>(arrow_bytes) / (distinct * rows);

  auto tree = MakeTree();
  SequenceNumber seq = 1;
  size_t next = 0;
  int64_t rows_since_persist = 0;
  double buffered_bytes_per_row = 0;
  for (auto _ : state) {
    WriteOp op{NamespaceId(1), "bench", {}};
    op.writes.push_back(
        PartitionWrite{TableId(1), "cpu", "2023-11-14", seq++, batches[next]});
    next = (next + 1) % batches.size();
    auto st = tree->Apply(op);
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
    rows_since_persist += rows;
    if (rows_since_persist >= kPersistEveryRows) {
      state.PauseTiming();
      buffered_bytes_per_row =
          static_cast<double>(tree->BufferedBytes()) / tree->BufferedRows();
      PersistAll(*tree);
      rows_since_persist = 0;
      state.ResumeTiming();
    }
  }
  if (tree->BufferedRows() > 0 && buffered_bytes_per_row == 0) {
    buffered_bytes_per_row =
        static_cast<double>(tree->BufferedBytes()) / tree->BufferedRows();
  }
  state.SetItemsProcessed(state.iterations() * rows);
  state.SetBytesProcessed(
      static_cast<int64_t>(state.iterations() * rows * arrow_bytes_per_row));
  state.counters["buffered_bytes_per_row"] = buffered_bytes_per_row;
  state.counters["arrow_bytes_per_row"] = arrow_bytes_per_row;
}
// 5000 rows: the TSBS loader's batch size. 10 and 1: small HTTP writes, which go through
// the compaction of small batches.
BENCHMARK(BM_ApplyTsbs)->Arg(5000)->Arg(10)->Arg(1)->Unit(benchmark::kMicrosecond);

// The cost of a query's snapshot of one partition holding state.range(0) rows in
// 5000-row batches.
void BM_QueryData(benchmark::State& state) {
  const int64_t total = state.range(0);
  auto tree = MakeTree();
  auto batch = TsbsBatch(0, 5000);
  SequenceNumber seq = 1;
  for (int64_t r = 0; r < total; r += 5000) {
    WriteOp op{NamespaceId(1), "bench", {}};
    op.writes.push_back(PartitionWrite{TableId(1), "cpu", "2023-11-14", seq++, batch});
    (void)tree->Apply(op);
  }
  auto partition = tree->Partitions().at(0);
  for (auto _ : state) {
    auto q = partition->QueryData();
    benchmark::DoNotOptimize(q);
  }
  state.counters["batches"] = static_cast<double>(partition->QueryData()->batches.size());
}
BENCHMARK(BM_QueryData)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace ingester

BENCHMARK_MAIN();
