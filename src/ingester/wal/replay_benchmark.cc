// WAL replay at startup, as IOx's ingester `wal` benchmark: the cost of replaying a WAL
// that holds a single line of line protocol, and the rate of replaying 1M TSBS cpu-only
// rows.
//
//   build/src/ingester/wal/replay_benchmark --benchmark_min_time=1
//
// The WALs are made once per process by the real write pipeline in a temporary data
// directory laid out as the Ingester's (testing/wal_fixture.h), then left as after
// kill -9: the segments, the catalog and its partitions are what a restart finds. Then:
//
//   BM_Replay/sink:0   ReplayWal into a sink that only counts rows: reading, CRC32C,
//                      decompression and Arrow IPC decoding, i.e. the WAL's own cost.
//   BM_Replay/sink:1   ReplayWal into a real BufferTree wired as Ingester::Make wires it
//                      (partition cache warmed from the catalog, catalog name resolver):
//                      what startup spends before it can serve.
//
// Building the tree happens with the timer paused. Ingester::Make as a whole is timed by
// server/startup_benchmark.cc; this benchmark links no server code.
#include <arrow/api.h>
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <string>
#include <tuple>

#include "ingester/buffer/buffer_tree.h"
#include "ingester/catalog/open.h"
#include "ingester/common/logging.h"
#include "ingester/testing/wal_fixture.h"
#include "ingester/wal/payload_codec.h"
#include "ingester/wal/replay.h"

namespace ingester::wal {
namespace {

using ::ingester::testing::MakeRestartedTree;
using ::ingester::testing::WalFixture;

::ingester::testing::WalFixtures& GetFixtures() {
  static ::ingester::testing::WalFixtures fixtures("replay-bench");
  return fixtures;
}

class CountingSink final : public DmlSink {
 public:
  using DmlSink::Apply;
  arrow::Status Apply(const WriteOp& op, const ApplyOptions&) override {
    rows_ += op.RowCount();
    return arrow::Status::OK();
  }
  int64_t rows() const { return rows_; }

 private:
  int64_t rows_ = 0;
};

void SetReplayCounters(benchmark::State& state, const WalFixture& f, uint64_t wal_bytes) {
  state.SetItemsProcessed(state.iterations() * f.rows);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(wal_bytes));
  state.counters["rows"] = static_cast<double>(f.rows);
  state.counters["entries"] = static_cast<double>(f.entries);
  state.counters["rows_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * f.rows), benchmark::Counter::kIsRate);
}

// Args: rows, lines per request (one WAL entry each), sink (0 counting, 1 BufferTree),
// and for BM_ReplayCodec the WAL codec of the fixture (PayloadCompression: 0 none,
// 1 zstd, 2 lz4; BM_Replay: the WAL's default).
void ReplayBench(benchmark::State& state, PayloadCompression compression) {
  (void)SetLogLevel("warn");
  auto fixture = GetFixtures().Get(state.range(0), state.range(1), compression);
  if (!fixture.ok()) {
    state.SkipWithError(fixture.status().ToString().c_str());
    return;
  }
  const WalFixture& f = **fixture;
  const bool into_tree = state.range(2) != 0;
  const std::string wal_dir = (f.data_dir / "wal").string();
  auto file_system = PosixFileSystem();
  auto catalog =
      catalog::OpenCatalog("sqlite://" + (f.data_dir / "catalog.sqlite").string());
  if (!catalog.ok()) {
    state.SkipWithError(catalog.status().ToString().c_str());
    return;
  }
  ReplayOptions options;
  options.mode = RecoveryMode::kAbsoluteConsistency;  // a fixture is never torn
  uint64_t wal_bytes = 0;
  for (auto _ : state) {
    std::unique_ptr<BufferTree> tree;
    CountingSink counter;
    if (into_tree) {
      state.PauseTiming();
      auto made = MakeRestartedTree(catalog->get());
      if (!made.ok()) {
        state.SkipWithError(made.status().ToString().c_str());
        return;
      }
      tree = std::move(*made);
      state.ResumeTiming();
    }
    DmlSink& sink = into_tree ? static_cast<DmlSink&>(*tree) : counter;
    auto stats = ReplayWal(*file_system, wal_dir, sink, options);
    if (!stats.ok() || stats->rows != f.rows) {
      state.SkipWithError(stats.ok() ? "replayed a different row count"
                                     : stats.status().ToString().c_str());
      return;
    }
    wal_bytes = stats->bytes;
    if (into_tree) {
      state.PauseTiming();
      if (tree->BufferedRows() != f.rows) {
        state.SkipWithError("the tree buffered a different row count");
        return;
      }
      tree.reset();
      state.ResumeTiming();
    }
  }
  SetReplayCounters(state, f, wal_bytes);
}
void BM_Replay(benchmark::State& state) { ReplayBench(state, WalOptions{}.compression); }
void BM_ReplayCodec(benchmark::State& state) {
  ReplayBench(state, static_cast<PayloadCompression>(state.range(3)));
}
BENCHMARK(BM_Replay)
    ->ArgNames({"rows", "lines_per_entry", "sink"})
    ->Args({1, 1, 0})
    ->Args({1, 1, 1})
    ->Args({1'000'000, 5000, 0})
    ->Args({1'000'000, 5000, 1})
    ->Args({1'000'000, 100, 0})
    ->Args({1'000'000, 100, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
// The same replay of WALs written with each codec (--wal-compression).
BENCHMARK(BM_ReplayCodec)
    ->ArgNames({"rows", "lines_per_entry", "sink", "codec"})
    ->ArgsProduct({{1'000'000}, {5000, 100}, {0}, {0, 1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
// The same replay of WALs written with each codec (--wal-compression).
BENCHMARK(BM_ReplayCodec)
    ->ArgNames({"rows", "lines_per_entry", "sink", "codec"})
    ->ArgsProduct({{1'000'000}, {5000, 100}, {0}, {0, 1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ingester::wal

BENCHMARK_MAIN();
