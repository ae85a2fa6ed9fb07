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

// The namespace's partition template by benchmark argument: 0 the default (daily),
// 1 region and day (a few partitions per write), 2 host and day (1000 hosts: many).
partition::PartitionTemplate TemplateFor(int64_t which) {
  if (which == 0) return partition::PartitionTemplate();
  return partition::PartitionTemplate::FromJson(
             which == 1
                 ? R"({"parts":[{"tag_value":"region"},{"time_format":"%Y-%m-%d"}]})"
                 : R"({"parts":[{"tag_value":"hostname"},{"time_format":"%Y-%m-%d"}]})")
      .ValueOrDie();
}

struct Fixture {
  TempDir dir{"write-bench"};
  std::unique_ptr<catalog::Catalog> catalog;
  std::unique_ptr<SchemaCache> cache;
  catalog::NamespaceRecord ns;

  explicit Fixture(int64_t which_template) {
    catalog = catalog::OpenCatalog("sqlite://" + (dir.path() / "catalog.sqlite").string())
                  .ValueOrDie();
    cache = std::make_unique<SchemaCache>(catalog.get(), catalog::NamespaceLimits{},
                                          TemplateFor(which_template));
    ns = cache->GetOrCreateNamespace("bench").ValueOrDie();
  }
};

// TSBS cpu-only lines (10 tags, 10 fields; 1000 hosts, so one day): state.range(0)
// lines per body; state.range(1) picks the template (TemplateFor).
void BM_BuildWriteTsbs(benchmark::State& state) {
  Fixture f(state.range(1));
  tsbs::CpuOptions options;
  options.hosts = 1000;
  const std::string body =
      tsbs::CpuGenerator(options).Generate(static_cast<uint64_t>(state.range(0)));
  lp::Parser parser;
  lp::ParsedBody parsed;
  parser.Parse(body, lp::ParseOptions{}, &parsed);
  auto warm = BuildWrite(f.ns, body, parsed, f.cache.get());  // creates the columns
  if (!warm.ok()) {
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
  state.counters["partitions"] = static_cast<double>(warm->op.writes.size());
}
BENCHMARK(BM_BuildWriteTsbs)
    ->Args({5000, 0})
    ->Args({100, 0})
    ->Args({5000, 1})
    ->Args({5000, 2});

// One Arrow batch: two tags (hostname of 1000 values cycling row by row, region of 4
// in runs of 1000 rows), two float fields and a time column one second apart;
// state.range(0) rows.
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
  auto tag = arrow::dictionary(arrow::int32(), arrow::utf8());
  auto schema = arrow::schema(
      {arrow::field("hostname", tag), arrow::field("region", tag),
       arrow::field("usage", arrow::float64()), arrow::field("idle", arrow::float64()),
       arrow::field("time", arrow::timestamp(arrow::TimeUnit::NANO))});
  return arrow::RecordBatch::Make(
      schema, rows,
      {host.Finish().ValueOrDie(), region.Finish().ValueOrDie(),
       usage.Finish().ValueOrDie(), idle.Finish().ValueOrDie(),
       time.Finish().ValueOrDie()});
}

// state.range(0) rows; state.range(1) picks the template (TemplateFor).
void BM_BuildArrowWrite(benchmark::State& state) {
  Fixture f(state.range(1));
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches = {
      MakeArrowBatch(state.range(0))};
  auto warm = BuildArrowWrite(f.ns, "cpu", batches, f.cache.get());
  if (!warm.ok()) {
    state.SkipWithError(warm.status().ToString().c_str());
    return;
  }
  for (auto _ : state) {
    auto op = BuildArrowWrite(f.ns, "cpu", batches, f.cache.get());
    benchmark::DoNotOptimize(op);
  }
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)),
                         benchmark::Counter::kIsRate);
  state.counters["partitions"] = static_cast<double>(warm->writes.size());
}
BENCHMARK(BM_BuildArrowWrite)
    ->Args({64 * 1024, 0})
    ->Args({64 * 1024, 1})
    ->Args({64 * 1024, 2});

}  // namespace
}  // namespace ingester

BENCHMARK_MAIN();
