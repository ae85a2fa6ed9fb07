// Parser throughput on TSBS cpu-only bodies and on a few other line shapes.
//
//   build-lp/src/ingester/lp/parser_benchmark --benchmark_min_time=2
// (Debian's Google Benchmark 1.7 takes seconds as a bare number, not "2s".)
#include <benchmark/benchmark.h>

#include <string>

#include "ingester/lp/parser.h"
#include "ingester/testing/tsbs_generator.h"

namespace ingester::lp {
namespace {

void RunParse(benchmark::State& state, const std::string& body,
              const ParseOptions& options) {
  Parser parser;
  ParsedBody parsed;
  parser.Parse(body, options, &parsed);
  const size_t lines = parsed.lines().size();
  if (parsed.has_errors()) {
    state.SkipWithError(parsed.ErrorStatus().ToString().c_str());
    return;
  }
  for (auto _ : state) {
    parser.Parse(body, options, &parsed);
    benchmark::DoNotOptimize(parsed.lines().data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["lines/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * lines), benchmark::Counter::kIsRate);
}

// TSBS cpu-only: 10 tags, 10 integer fields, ns timestamps; state.range(0) lines per
// body.
void BM_ParseTsbsCpu(benchmark::State& state) {
  tsbs::CpuOptions options;
  options.hosts = 1000;
  const std::string body =
      tsbs::CpuGenerator(options).Generate(static_cast<uint64_t>(state.range(0)));
  RunParse(state, body, ParseOptions{});
}
BENCHMARK(BM_ParseTsbsCpu)->Arg(5000)->Arg(100);

// The same bodies in seconds with auto precision (the HTTP v3 default).
void BM_ParseTsbsCpuAutoPrecision(benchmark::State& state) {
  tsbs::CpuOptions options;
  options.hosts = 1000;
  options.start_ns = 1'451'606'400;  // seconds
  options.interval_ns = 10;
  const std::string body = tsbs::CpuGenerator(options).Generate(5000);
  ParseOptions parse;
  parse.precision = Precision::kAuto;
  RunParse(state, body, parse);
}
BENCHMARK(BM_ParseTsbsCpuAutoPrecision);

// Telegraf-like mixed lines: floats, strings with escapes, escaped tag values.
void BM_ParseMixed(benchmark::State& state) {
  std::string body;
  for (int i = 0; i < 5000; ++i) {
    body += "mem,host=server\\ " + std::to_string(i % 50) +
            ",region=us-west active=" + std::to_string(i * 1.37) +
            ",available_percent=65.12345678,free=" + std::to_string(i) +
            "u,note=\"say \\\"hi\\\"\",ok=true 1700000000" +
            std::to_string(100000000 + i) + "\n";
    body += "disk,host=server" + std::to_string(i % 50) +
            ",path=/var/lib used_percent=12.5,inodes_free=12345i 1700000000000000000\n";
  }
  RunParse(state, body, ParseOptions{});
}
BENCHMARK(BM_ParseMixed);

}  // namespace
}  // namespace ingester::lp

BENCHMARK_MAIN();
