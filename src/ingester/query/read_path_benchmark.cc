// Read path benchmarks over persisted data: one partition of TSBS cpu-only rows (100
// hosts, one row per host per second, INGESTER_BENCH_ROWS rows, default 1 million) held
// as four Parquet files written by the real persist job plus the buffer, read in full
// through BufferTreeQueryExec (no Flight), and the buffer-only de-duplication check.
//
//   BM_PartitionRead/layout:L  every row and column; rows/s of the query. The rows are
//     cut into five sources in 5,000-line bodies (50 timestamps x 100 hosts), the first
//     four persisted in order, the fifth left buffered:
//       0 disjoint       consecutive time ranges: each source is streamed as it is
//       1 edge overlap   as 0, but at each boundary two bodies change sides, as with
//                        concurrent writers: the ranges overlap by three bodies, so the
//                        five sources form one group that is merged
//       2 interleaved    bodies dealt round-robin: every source spans the whole range
//                        and each series alternates between sources every 50 rows
//       3 overwrites     as 1, and the buffer writes one body of the fourth file again
//                        (5,000 keys merged across sources)
//     Counters: rows/query, merges/query (groups of overlapping sources merged).
//   BM_BufferDedupCheck/warm:W  MayHaveDuplicateKeys over a buffer-only partition of the
//     same rows written forward in time (one batch per 5,000-line write): the check a
//     query makes before streaming a buffer unsorted. warm:0 computes each batch's key
//     facts (a query's first look at new batches); warm:1 with the facts cached (every
//     later query). items/s = buffered rows checked per second.
//   BM_BufferOnlyRead  the full query of that buffer-only partition, for scale.
//
// Run: build/src/ingester/query/read_path_benchmark --benchmark_min_time=1
#include <arrow/util/byte_size.h>
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "ingester/query/duplicate_keys.h"
#include "ingester/query/query_test_util.h"
#include "ingester/testing/tsbs_generator.h"

namespace ingester::query {
namespace {

using testing::QueryFixture;
using testing::QueryFixtureOptions;

constexpr int kLinesPerBody = 5000;
constexpr int kSources = 5;  // four files, then the buffer

int64_t BenchRows() {
  const char* v = std::getenv("INGESTER_BENCH_ROWS");
  const int64_t rows = v != nullptr && *v != '\0' ? std::atoll(v) : 1'000'000;
  return std::max<int64_t>(rows / (kSources * kLinesPerBody), 4) * kSources *
         kLinesPerBody;
}

void Check(const arrow::Status& st) {
  if (!st.ok()) {
    std::fprintf(stderr, "benchmark setup failed: %s\n", st.ToString().c_str());
    std::abort();
  }
}

// 5,000-line TSBS bodies in time order; one day holds them all (one partition).
std::vector<std::string> Bodies() {
  tsbs::CpuOptions options;
  options.hosts = 100;
  options.interval_ns = 1'000'000'000;
  tsbs::CpuGenerator generator(options);
  std::vector<std::string> bodies;
  for (int64_t i = 0; i < BenchRows() / kLinesPerBody; ++i) {
    bodies.push_back(generator.Generate(kLinesPerBody));
  }
  return bodies;
}

// Body indices per source for `layout` (see the header comment).
std::vector<std::vector<size_t>> Split(size_t bodies, int layout) {
  std::vector<std::vector<size_t>> sources(kSources);
  const size_t per = bodies / kSources;
  for (size_t b = 0; b < bodies; ++b) {
    sources[layout == 2 ? b % kSources : std::min<size_t>(b / per, kSources - 1)]
        .push_back(b);
  }
  if (layout == 1 || layout == 3) {
    // Source s gives its last-but-one body to s + 1 and takes s + 1's first.
    for (int s = 0; s + 1 < kSources; ++s) {
      auto& a = sources[s];
      auto& b = sources[s + 1];
      std::swap(a[a.size() - 2], b.front());
    }
  }
  return sources;
}

std::unique_ptr<QueryFixture> MakeFixture() {
  QueryFixtureOptions options;
  options.parquet_row_group_rows = 1024 * 1024;  // the server's default
  return std::make_unique<QueryFixture>(options);
}

void Persist(QueryFixture* fixture) {
  auto partitions = fixture->buffer()->Partitions();
  if (partitions.size() != 1) {
    std::fprintf(stderr, "expected one partition, found %zu\n", partitions.size());
    std::abort();
  }
  auto snapshot = partitions[0]->MarkPersisting().ValueOrDie();
  Check(fixture->RunJob(*snapshot));
  Check(partitions[0]->MarkPersisted(snapshot).status());
}

// The partition of `layout`, built once per layout (the last one is kept).
QueryFixture& LayoutFixture(int layout) {
  static int built = -1;
  static std::unique_ptr<QueryFixture> fixture;
  if (built != layout) {
    fixture.reset();
    fixture = MakeFixture();
    const std::vector<std::string> bodies = Bodies();
    const auto sources = Split(bodies.size(), layout);
    for (int s = 0; s < kSources; ++s) {
      for (size_t b : sources[s]) Check(fixture->WriteLp(bodies[b]));
      if (layout == 3 && s == kSources - 1) {
        Check(fixture->WriteLp(bodies[sources[kSources - 2][1]]));
      }
      if (s < kSources - 1) Persist(fixture.get());
    }
    built = layout;
  }
  return *fixture;
}

int64_t ReadAll(QueryExec* exec, int64_t* bytes) {
  auto response = exec->Query(testing::Request()).ValueOrDie();
  int64_t rows = 0;
  while (auto partition = response->NextPartition().ValueOrDie()) {
    while (auto batch = partition->Next().ValueOrDie()) {
      rows += batch->num_rows();
      *bytes += arrow::util::ReferencedBufferSize(*batch).ValueOr(0);
    }
  }
  return rows;
}

void BM_PartitionRead(benchmark::State& state) {
  static const char* kNames[] = {"disjoint", "edge_overlap", "interleaved", "overwrites"};
  const int layout = static_cast<int>(state.range(0));
  QueryFixture& fixture = LayoutFixture(layout);
  const int64_t merges0 = fixture.read_metrics().partition_merges->value();
  int64_t rows = 0, bytes = 0;
  for (auto _ : state) rows += ReadAll(fixture.exec(), &bytes);
  if (rows != BenchRows() * state.iterations()) {
    state.SkipWithError("the query did not return every row once");
  }
  state.SetItemsProcessed(rows);
  state.SetBytesProcessed(bytes);
  state.counters["rows/query"] = static_cast<double>(rows) / state.iterations();
  state.counters["merges/query"] =
      static_cast<double>(fixture.read_metrics().partition_merges->value() - merges0) /
      state.iterations();
  state.SetLabel(kNames[layout]);
}
BENCHMARK(BM_PartitionRead)
    ->ArgName("layout")
    ->DenseRange(0, 3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A buffer-only partition of the rows, written forward in time.
QueryFixture& BufferFixture() {
  static std::unique_ptr<QueryFixture> fixture = [] {
    auto f = MakeFixture();
    for (const auto& body : Bodies()) Check(f->WriteLp(body));
    return f;
  }();
  return *fixture;
}

void BM_BufferDedupCheck(benchmark::State& state) {
  const bool warm = state.range(0) != 0;
  QueryFixture& fixture = BufferFixture();
  const auto data = fixture.buffer()->Partitions()[0]->QueryData().ValueOrDie();
  BatchKeyFactsCache warm_cache;
  if (warm) (void)MayHaveDuplicateKeys(data.batches, &warm_cache).ValueOrDie();
  for (auto _ : state) {
    BatchKeyFactsCache cold_cache;
    const bool duplicates =
        MayHaveDuplicateKeys(data.batches, warm ? &warm_cache : &cold_cache).ValueOrDie();
    if (duplicates) state.SkipWithError("forward-in-time rows reported as duplicates");
  }
  state.SetItemsProcessed(data.rows * state.iterations());
  state.counters["batches"] = static_cast<double>(data.batches.size());
}
BENCHMARK(BM_BufferDedupCheck)
    ->ArgName("warm")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_BufferOnlyRead(benchmark::State& state) {
  QueryFixture& fixture = BufferFixture();
  int64_t rows = 0, bytes = 0;
  for (auto _ : state) rows += ReadAll(fixture.exec(), &bytes);
  if (rows != BenchRows() * state.iterations()) {
    state.SkipWithError("the query did not return every row once");
  }
  state.SetItemsProcessed(rows);
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_BufferOnlyRead)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace ingester::query

BENCHMARK_MAIN();
