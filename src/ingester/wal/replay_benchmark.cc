// WAL replay at startup, as IOx's ingester `wal` benchmark: the fixed cost of replaying
// a WAL that holds a single line of line protocol, and the rate of replaying 1M TSBS
// cpu-only rows.
//
//   build/src/ingester/wal/replay_benchmark --benchmark_min_time=1
//
// The WALs are made once per process by the server's write chain in a temporary data
// directory laid out as the Ingester's: TSBS bodies are parsed, validated against the
// SQLite catalog (BuildWrite), sequenced, and applied through the WalSink to a
// BufferTree, then the WAL is closed and the buffer dropped, as if the server had been
// killed. The segments, the catalog and its partitions are what a restart finds. Then:
//
//   BM_Replay/sink:0   ReplayWal into a sink that only counts rows: reading, CRC32C,
//                      zstd and Arrow IPC decoding, i.e. the WAL's own cost.
//   BM_Replay/sink:1   ReplayWal into a real BufferTree wired as Ingester::Make wires it
//                      (partition cache warmed from the catalog, catalog name resolver):
//                      what startup spends before it can serve.
//   BM_Startup         Ingester::Make on a fresh copy of the data directory: open the
//                      catalog, warm the cache, replay, open a new segment. For one line,
//                      this is the fixed start-up cost a restart pays.
//
// Building the tree and copying the data directory happen with the timer paused. Once
// the Ingester persists replayed data at startup, BM_Startup includes that persist.
//
// It uses the catalog adapters that Ingester::Make uses (buffer/catalog_adapters.h);
// everything it calls (ReplayWal, BufferTree, PartitionCache, the catalog) is the
// modules' public API.
#include <arrow/api.h>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "ingester/buffer/buffer_tree.h"
#include "ingester/buffer/catalog_adapters.h"
#include "ingester/buffer/partition_cache.h"
#include "ingester/catalog/open.h"
#include "ingester/common/logging.h"
#include "ingester/dml/timestamp_oracle.h"
#include "ingester/lp/parser.h"
#include "ingester/server/ingester.h"
#include "ingester/testing/tsbs_generator.h"
#include "ingester/wal/payload_codec.h"
#include "ingester/wal/replay.h"
#include "ingester/wal/wal.h"
#include "ingester/wal/wal_sink.h"
#include "ingester/write/write_builder.h"

namespace ingester::wal {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kHosts = 1000;  // TSBS scale

// The buffer tree of a restarted server, wired as Ingester::Make wires it.
arrow::Result<std::unique_ptr<BufferTree>> MakeTree(catalog::Catalog* catalog) {
  PartitionCacheOptions cache_options;
  cache_options.inner = std::make_shared<CatalogPartitionProvider>(catalog);
  ARROW_ASSIGN_OR_RAISE(auto recent, catalog->ListRecentPartitions(10'000));
  for (const auto& p : recent) cache_options.entries.push_back({p.table_id, p.key, p.id});
  ARROW_ASSIGN_OR_RAISE(auto cache, PartitionCache::Make(std::move(cache_options)));
  BufferTreeOptions tree_options;
  tree_options.partition_provider = std::move(cache);
  tree_options.name_resolver = std::make_shared<CatalogNameResolver>(catalog);
  return BufferTree::Make(std::move(tree_options));
}

// A data directory (catalog.sqlite + wal/) holding `rows` TSBS rows written in requests
// of `lines_per_request` lines.
struct Fixture {
  fs::path data_dir;
  int64_t rows = 0;
  int64_t entries = 0;
};

// Owns the fixtures of this process and removes them at exit.
class Fixtures {
 public:
  ~Fixtures() {
    if (!root_.empty()) fs::remove_all(root_);
  }

  fs::path root() {
    if (root_.empty()) {
      root_ = fs::temp_directory_path() / ("replay-bench-" + std::to_string(::getpid()));
      fs::remove_all(root_);
      fs::create_directories(root_);
    }
    return root_;
  }

  // Made on first use; an error is returned as the skip message.
  arrow::Result<const Fixture*> Get(
      int64_t rows, int64_t lines_per_request,
      PayloadCompression compression = WalOptions{}.compression) {
    auto key = std::make_tuple(rows, lines_per_request, compression);
    if (auto it = made_.find(key); it != made_.end()) return &it->second;
    Fixture f;
    f.data_dir = root() / ("data-" + std::to_string(rows) + "-" +
                           std::to_string(lines_per_request) + "-" +
                           std::string(PayloadCompressionName(compression)));
    ARROW_RETURN_NOT_OK(Write(f.data_dir, rows, lines_per_request, compression, &f));
    return &made_.emplace(key, std::move(f)).first->second;
  }

 private:
  // The server's write chain (parse -> BuildWrite over the catalog -> sequence numbers
  // -> WalSink -> BufferTree), laid out as an Ingester data directory. Not through the
  // Ingester facade: its clean shutdown persists everything and deletes the WAL, and
  // what a restart replays is a WAL left by a crash. The Wal is closed (synced), the
  // buffer dropped: the state after kill -9 of a server that had acknowledged it all.
  static arrow::Status Write(const fs::path& data_dir, int64_t rows,
                             int64_t lines_per_request, PayloadCompression compression,
                             Fixture* f) {
    fs::create_directories(data_dir);
    ARROW_ASSIGN_OR_RAISE(
        auto catalog,
        catalog::OpenCatalog("sqlite://" + (data_dir / "catalog.sqlite").string()));
    SchemaCache schema_cache(catalog.get(), catalog::NamespaceLimits{});
    ARROW_ASSIGN_OR_RAISE(auto tree, MakeTree(catalog.get()));
    std::shared_ptr<BufferTree> buffer = std::move(tree);
    WalOptions wal_options;
    wal_options.dir = (data_dir / "wal").string();
    wal_options.compression = compression;
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<Wal> wal, Wal::Make(wal_options));
    WalSink sink(wal, buffer);
    TimestampOracle oracle;
    ARROW_ASSIGN_OR_RAISE(auto ns, schema_cache.GetOrCreateNamespace("bench"));

    tsbs::CpuOptions gen_options;
    gen_options.hosts = kHosts;
    tsbs::CpuGenerator generator(gen_options);
    lp::Parser parser;
    lp::ParsedBody parsed;
    for (int64_t done = 0; done < rows; done += lines_per_request) {
      const std::string body = generator.Generate(
          static_cast<uint64_t>(std::min(lines_per_request, rows - done)));
      parser.Parse(body, lp::ParseOptions{}, &parsed);
      ARROW_ASSIGN_OR_RAISE(auto built, BuildWrite(ns, body, parsed, &schema_cache));
      if (parsed.has_errors() || !built.rejected.empty()) {
        return arrow::Status::Invalid("a fixture line was rejected");
      }
      const SequenceNumber first = oracle.Next(built.op.writes.size());
      for (size_t i = 0; i < built.op.writes.size(); ++i) {
        built.op.writes[i].sequence_number = first + i;
      }
      // Synced or not, the bytes in the segment are the same; not waiting for an fsync
      // per request keeps the setup quick (Close() syncs at the end).
      ARROW_RETURN_NOT_OK(sink.ApplyWithOptions(built.op, {.no_sync = true}));
      f->rows += built.op.RowCount();
      f->entries += 1;
    }
    return wal->Close();
  }

  fs::path root_;
  std::map<std::tuple<int64_t, int64_t, PayloadCompression>, Fixture> made_;
};

Fixtures& GetFixtures() {
  static Fixtures fixtures;
  return fixtures;
}

class CountingSink final : public DmlSink {
 public:
  arrow::Status Apply(const WriteOp& op) override {
    rows_ += op.RowCount();
    return arrow::Status::OK();
  }
  int64_t rows() const { return rows_; }

 private:
  int64_t rows_ = 0;
};

void SetReplayCounters(benchmark::State& state, const Fixture& f, uint64_t wal_bytes) {
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
  const Fixture& f = **fixture;
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
      auto made = MakeTree(catalog->get());
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

// Args: rows, lines per request. Ingester::Make on a fresh copy of the fixture.
void BM_Startup(benchmark::State& state) {
  (void)SetLogLevel("warn");
  auto fixture = GetFixtures().Get(state.range(0), state.range(1));
  if (!fixture.ok()) {
    state.SkipWithError(fixture.status().ToString().c_str());
    return;
  }
  const Fixture& f = **fixture;
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
}  // namespace ingester::wal

BENCHMARK_MAIN();
