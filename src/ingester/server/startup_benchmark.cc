// Ingester::Make on a data directory a crashed server left (testing/wal_fixture.h): open
// the catalog, warm the partition cache, replay the WAL, open a new segment, and whatever
// else startup does as the server grows (replayed data is persisted in the background).
// For one line, this is the fixed start-up cost a restart pays.
//
//   build/src/ingester/server/startup_benchmark --benchmark_min_time=1
//
// Copying the data directory happens with the timer paused. The replay alone is timed by
// wal/replay_benchmark.cc.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "ingester/common/logging.h"
#include "ingester/server/ingester.h"
#include "ingester/testing/wal_fixture.h"

namespace ingester {
namespace {

namespace fs = std::filesystem;

testing::WalFixtures& GetFixtures() {
  static testing::WalFixtures fixtures("startup-bench");
  return fixtures;
}

// Args: rows, lines per request. Ingester::Make on a fresh copy of the fixture.
void BM_Startup(benchmark::State& state) {
  (void)SetLogLevel("warn");
  auto fixture = GetFixtures().Get(state.range(0), state.range(1));
  if (!fixture.ok()) {
    state.SkipWithError(fixture.status().ToString().c_str());
    return;
  }
  const testing::WalFixture& f = **fixture;
  const fs::path copy = GetFixtures().root() / "startup";
  for (auto _ : state) {
    state.PauseTiming();
    fs::remove_all(copy);
    fs::copy(f.data_dir, copy, fs::copy_options::recursive);
    IngesterOptions options;
    options.data_dir = copy.string();
    options.log_level = "warn";
    state.ResumeTiming();
    auto ingester = Ingester::Make(options);
    state.PauseTiming();
    if (!ingester.ok()) {
      state.SkipWithError(ingester.status().ToString().c_str());
      return;
    }
    const std::string replayed =
        "\ningester_wal_replayed_rows_total " + std::to_string(f.rows) + "\n";
    if ((*ingester)->MetricsText().find(replayed) == std::string::npos) {
      state.SkipWithError("startup replayed a different row count");
      return;
    }
    ingester->reset();
    state.ResumeTiming();
  }
  fs::remove_all(copy);
  state.SetItemsProcessed(state.iterations() * f.rows);
  state.counters["rows"] = static_cast<double>(f.rows);
}
BENCHMARK(BM_Startup)
    ->ArgNames({"rows", "lines_per_entry"})
    ->Args({1, 1})
    ->Args({1'000'000, 5000})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ingester

BENCHMARK_MAIN();
