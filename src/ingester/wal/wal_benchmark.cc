// WAL append throughput and latency with fsync, 1 / 8 / 64 concurrent writers, each op a
// TSBS-like cpu batch of 100 rows (10 dictionary tags, 10 int64 fields, time).
//
//   build-wal/src/ingester/wal/wal_benchmark [--benchmark_min_time=3]
//
// The WAL directory is $INGESTER_WAL_BENCH_DIR, or wal-bench-<pid> in the working
// directory: run it on the disk you care about (tmpfs makes fsync free).
#include <arrow/api.h>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "ingester/common/logging.h"
#include "ingester/wal/wal.h"

namespace ingester::wal {
namespace {

constexpr int kRows = 100;
constexpr int kAppendsPerWriter = 16;  // per benchmark iteration

std::shared_ptr<arrow::RecordBatch> MakeCpuBatch() {
  static const char* const kTags[] = {
      "hostname", "region",          "datacenter",         "rack", "os", "arch", "team",
      "service",  "service_version", "service_environment"};
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (int t = 0; t < 10; ++t) {
    arrow::StringDictionary32Builder b;
    for (int i = 0; i < kRows; ++i) {
      (void)b.Append(std::string(kTags[t]) + "_" + std::to_string(i % (t + 3)));
    }
    fields.push_back(
        arrow::field(kTags[t], arrow::dictionary(arrow::int32(), arrow::utf8())));
    columns.push_back(b.Finish().ValueOrDie());
  }
  for (int f = 0; f < 10; ++f) {
    arrow::Int64Builder b;
    for (int i = 0; i < kRows; ++i) (void)b.Append((i * 7919 + f * 13) % 100);
    fields.push_back(arrow::field("usage_" + std::to_string(f), arrow::int64()));
    columns.push_back(b.Finish().ValueOrDie());
  }
  arrow::TimestampBuilder time(arrow::timestamp(arrow::TimeUnit::NANO),
                               arrow::default_memory_pool());
  for (int i = 0; i < kRows; ++i)
    (void)time.Append(1'700'000'000'000'000'000LL + i * 10'000'000'000LL);
  fields.push_back(arrow::field("time", arrow::timestamp(arrow::TimeUnit::NANO), false));
  columns.push_back(time.Finish().ValueOrDie());
  return arrow::RecordBatch::Make(arrow::schema(fields), kRows, columns);
}

std::string BenchDir() {
  const char* env = std::getenv("INGESTER_WAL_BENCH_DIR");
  std::filesystem::path base =
      env != nullptr ? std::filesystem::path(env) : std::filesystem::current_path();
  return (base / ("wal-bench-" + std::to_string(::getpid()))).string();
}

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

void BM_WalAppend(benchmark::State& state) {
  const int writers = static_cast<int>(state.range(0));
  const bool sync = state.range(1) != 0;
  (void)SetLogLevel("warn");
  const std::string dir = BenchDir();
  std::filesystem::remove_all(dir);
  WalOptions options;
  options.dir = dir;
  auto made = Wal::Make(options);
  if (!made.ok()) {
    state.SkipWithError(made.status().ToString().c_str());
    return;
  }
  std::unique_ptr<Wal> wal = std::move(*made);

  WriteOp op;
  op.namespace_id = NamespaceId(1);
  op.namespace_name = "benchmark";
  op.writes.push_back(PartitionWrite{TableId(1), "cpu", "2023-11-14", 0, MakeCpuBatch()});

  std::vector<double> latencies_us;
  std::atomic<SequenceNumber> next_seq{1};
  std::atomic<bool> failed{false};
  int64_t appends = 0;
  for (auto _ : state) {
    std::vector<std::vector<double>> per_thread(writers);
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        WriteOp mine = op;
        per_thread[w].reserve(kAppendsPerWriter);
        for (int i = 0; i < kAppendsPerWriter; ++i) {
          mine.writes[0].sequence_number = next_seq.fetch_add(1);
          auto start = std::chrono::steady_clock::now();
          if (!wal->Append(mine, sync).ok()) failed = true;
          per_thread[w].push_back(std::chrono::duration<double, std::micro>(
                                      std::chrono::steady_clock::now() - start)
                                      .count());
        }
      });
    }
    for (auto& t : threads) t.join();
    for (auto& v : per_thread)
      latencies_us.insert(latencies_us.end(), v.begin(), v.end());
    appends += static_cast<int64_t>(writers) * kAppendsPerWriter;
  }
  if (failed) state.SkipWithError("an append failed");
  std::sort(latencies_us.begin(), latencies_us.end());
  WalStats stats = wal->stats();
  state.counters["rows_per_s"] = benchmark::Counter(static_cast<double>(appends * kRows),
                                                    benchmark::Counter::kIsRate);
  state.counters["appends_per_s"] =
      benchmark::Counter(static_cast<double>(appends), benchmark::Counter::kIsRate);
  state.counters["p50_us"] = Percentile(latencies_us, 0.50);
  state.counters["p99_us"] = Percentile(latencies_us, 0.99);
  state.counters["appends_per_fsync"] =
      stats.syncs > 0
          ? static_cast<double>(stats.appends) / static_cast<double>(stats.syncs)
          : 0.0;
  state.counters["bytes_per_append"] =
      stats.appends > 0
          ? static_cast<double>(stats.bytes) / static_cast<double>(stats.appends)
          : 0.0;
  wal.reset();
  std::filesystem::remove_all(dir);
}

BENCHMARK(BM_WalAppend)
    ->ArgNames({"writers", "sync"})
    ->Args({1, 1})
    ->Args({8, 1})
    ->Args({64, 1})
    ->Args({64, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ingester::wal

BENCHMARK_MAIN();
