// Write builders on the hot path: parsed line protocol (BuildWrite) and Arrow batches
// (BuildArrowWrite) turned into one batch per partition, against a warm SchemaCache
// (every column already in the catalog, so no catalog call runs in the loop).
//
//   build/src/ingester/write/write_builder_benchmark --benchmark_min_time=2
// (Debian's Google Benchmark 1.7 takes seconds as a bare number, not "2s".)
#include <benchmark/benchmark.h>

#include <arrow/api.h>

#include <memory>
#include <string>
#include <vector>

#include "ingester/catalog/open.h"
#include "ingester/common/temp_dir.h"
#include "ingester/lp/parser.h"
#include "ingester/testing/tsbs_generator.h"
#include "ingester/write/arrow_write_builder.h"
#include "ingester/write/write_builder.h"

namespace ingester {
namespace {

struct Fixture {
  TempDir dir{"write-bench"};
  std::unique_ptr<catalog::Catalog> catalog;
  std::unique_ptr<SchemaCache> cache;
  catalog::NamespaceRecord ns;

  Fixture() {
    catalog = catalog::OpenCatalog("sqlite://" + (dir.path() / "catalog.sqlite").string())
                  .ValueOrDie();
    cache = std::make_unique<SchemaCache>(catalog.get(), catalog::NamespaceLimits{});
    ns = cache->GetOrCreateNamespace("bench").ValueOrDie();
  }
};

// TSBS cpu-only lines (10 tags, 10 fields; 1000 hosts, so one day): state.range(0)
// lines per body.
void BM_BuildWriteTsbs(benchmark::State& state) {
  Fixture f;
  tsbs::CpuOptions options;
  options.hosts = 1000;
  const std::string body =
      tsbs::CpuGenerator(options).Generate(static_cast<uint64_t>(state.range(0)));
  lp::Parser parser;
  lp::ParsedBody parsed;
  parser.Parse(body, lp::ParseOptions{}, &parsed);
  if (!BuildWrite(f.ns, body, parsed, f.cache.get()).ok()) {  // creates the columns
    state.SkipWithError("warm-up write failed");
    return;
  }
  for (auto _ : state) {
    auto built = BuildWrite(f.ns, body, parsed, f.cache.get());
    benchmark::DoNotOptimize(built);
  }
  state.counters["lines/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * parsed.lines().size()),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BuildWriteTsbs)->Arg(5000)->Arg(100);

// One Arrow batch: two tags (host of 1000 values, region of 4), two float fields and
// a time column one second apart; state.range(0) rows.
std::shared_ptr<arrow::RecordBatch> MakeArrowBatch(int64_t rows) {
  arrow::StringDictionary32Builder host, region;
  arrow::DoubleBuilder usage, idle;
  arrow::TimestampBuilder time(arrow::timestamp(arrow::TimeUnit::NANO),
                               arrow::default_memory_pool());
  const char* regions[] = {"eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"};
  for (int64_t i = 0; i < rows; ++i) {
    (void)host.Append("host_" + std::to_string(i % 1000));
    (void)region.Append(regions[(i / 1000) % 4]);
    (void)usage.Append(static_cast<double>(i % 100));
    (void)idle.Append(static_cast<double>((i * 7) % 100));
    (void)time.Append(1'700'000'000'000'000'000LL + i * 1'000'000'000LL);
  }
  auto schema = arrow::schema(
      {arrow::field("host", arrow::dictionary(arrow::int32(), arrow::utf8())),
       arrow::field("region", arrow::dictionary(arrow::int32(), arrow::utf8())),
       arrow::field("usage", arrow::float64()), arrow::field("idle", arrow::float64()),
       arrow::field("time", arrow::timestamp(arrow::TimeUnit::NANO))});
  return arrow::RecordBatch::Make(
      schema, rows,
      {host.Finish().ValueOrDie(), region.Finish().ValueOrDie(),
       usage.Finish().ValueOrDie(), idle.Finish().ValueOrDie(),
       time.Finish().ValueOrDie()});
}

void BM_BuildArrowWrite(benchmark::State& state) {
  Fixture f;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches = {
      MakeArrowBatch(state.range(0))};
  if (!BuildArrowWrite(f.ns, "cpu", batches, f.cache.get()).ok()) {
    state.SkipWithError("warm-up write failed");
    return;
  }
  for (auto _ : state) {
    auto op = BuildArrowWrite(f.ns, "cpu", batches, f.cache.get());
    benchmark::DoNotOptimize(op);
  }
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BuildArrowWrite)->Arg(64 * 1024);

}  // namespace
}  // namespace ingester

BENCHMARK_MAIN();
