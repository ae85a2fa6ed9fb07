// Read path benchmarks: Arrow Flight DoGet over loopback gRPC against a BufferTree of
// TSBS cpu-only rows built through the real parser and write builder.
//
//   BM_FlightRead/whole_table      every row and column of INGESTER_BENCH_ROWS rows
//                                  (default 10 million, 100 hosts, 10 s apart)
//   BM_FlightRead/one_host         hostname = host_7: a selective tag predicate (1 %)
//   BM_FlightRead/one_day          a one-day time range (about 1/12 of the rows)
//   BM_ExecRead/...                the same through QueryExec alone, without Flight
//   BM_SmallQueryUnderIngest/ingest:I/queries:Q
//                                  for INGESTER_BENCH_SECONDS (default 5): with I, 4
//                                  writers push 5,000-line TSBS bodies through parse,
//                                  write builder, oracle, a real WAL (fdatasync, group
//                                  commit) and the buffer as fast as they can; with Q, a
//                                  client sends 50 small queries a second (one host, the
//                                  last minute) over Flight. Counters: ingest rows/s,
//                                  query p50/p99 latency.
//
// Run: build-query/src/ingester/query/flight_benchmark --benchmark_counters_tabular=true
#include <arrow/flight/api.h>
#include <arrow/util/byte_size.h>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "ingester/buffer/buffer_tree.h"
#include "ingester/buffer/catalog_adapters.h"
#include "ingester/catalog/open.h"
#include "ingester/common/temp_dir.h"
#include "ingester/dml/timestamp_oracle.h"
#include "ingester/lp/parser.h"
#include "ingester/query/buffer_tree_query_exec.h"
#include "ingester/query/catalog_table_resolver.h"
#include "ingester/query/flight_service.h"
#include "ingester/query/ticket.h"
#include "ingester/testing/tsbs_generator.h"
#include "ingester/wal/wal.h"
#include "ingester/wal/wal_sink.h"
#include "ingester/write/schema_cache.h"
#include "ingester/write/write_builder.h"

namespace ingester::query {
namespace {

namespace flight = arrow::flight;
using Clock = std::chrono::steady_clock;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoll(v) : fallback;
}

template <typename T>
T Check(arrow::Result<T> r) {
  if (!r.ok()) {
    std::fprintf(stderr, "benchmark setup failed: %s\n", r.status().ToString().c_str());
    std::abort();
  }
  return std::move(r).ValueOrDie();
}
void Check(const arrow::Status& st) {
  if (!st.ok()) {
    std::fprintf(stderr, "benchmark setup failed: %s\n", st.ToString().c_str());
    std::abort();
  }
}

// A catalog, a buffer tree (optionally behind a WAL), the query exec, a Flight service
// and a client, in a temp dir.
class Stack {
 public:
  explicit Stack(bool with_wal) {
    catalog_ = Check(
        catalog::OpenCatalog("sqlite://" + (dir_.path() / "catalog.sqlite").string()));
    cache_ = std::make_unique<SchemaCache>(catalog_.get(), catalog::NamespaceLimits{});
    BufferTreeOptions tree;
    tree.partition_provider = std::make_shared<CatalogPartitionProvider>(catalog_.get());
    buffer_ = Check(BufferTree::Make(std::move(tree)));
    sink_ = buffer_;
    if (with_wal) {
      wal::WalOptions wal_options;
      wal_options.dir = (dir_.path() / "wal").string();
      wal_ = Check(wal::Wal::Make(std::move(wal_options)));
      sink_ = std::make_shared<wal::WalSink>(wal_, buffer_);
    }
    BufferTreeQueryExecOptions exec;
    exec.buffer = buffer_;
    exec.resolver = std::make_shared<CatalogTableResolver>(catalog_.get());
    exec_ = Check(BufferTreeQueryExec::Make(std::move(exec)));
    FlightServiceOptions options;
    options.port = 0;
    options.ingester_id = "bench";
    service_ = Check(FlightService::Start(options, exec_.get(), nullptr, {}));
    client_ = Check(flight::FlightClient::Connect(
        Check(flight::Location::ForGrpcTcp("127.0.0.1", service_->port()))));
    ns_ = Check(cache_->GetOrCreateNamespace("bench"));
  }
  ~Stack() {
    client_.reset();
    (void)service_->Shutdown();
    service_.reset();
    if (wal_) (void)wal_->Close();
  }

  // Parses and writes one line protocol body (thread-safe; one parser per thread).
  int64_t Write(const std::string& body) {
    thread_local lp::Parser parser;
    lp::ParsedBody parsed;
    parser.Parse(body, {lp::Precision::kNanosecond, 0}, &parsed);
    auto built = Check(BuildWrite(ns_, body, parsed, cache_.get()));
    SequenceNumber first = oracle_.Next(built.op.writes.size());
    for (size_t i = 0; i < built.op.writes.size(); ++i) {
      built.op.writes[i].sequence_number = first + i;
    }
    Check(sink_->Apply(built.op));
    return built.op.RowCount();
  }

  QueryExec* exec() { return exec_.get(); }
  flight::FlightClient* client() { return client_.get(); }
  BufferTree* buffer() { return buffer_.get(); }

 private:
  TempDir dir_{"flight-bench"};  // first: removed after everything else is closed
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<SchemaCache> cache_;
  std::shared_ptr<BufferTree> buffer_;
  std::shared_ptr<wal::Wal> wal_;
  std::shared_ptr<DmlSink> sink_;
  TimestampOracle oracle_;
  std::unique_ptr<BufferTreeQueryExec> exec_;
  std::unique_ptr<FlightService> service_;
  std::unique_ptr<flight::FlightClient> client_;
  catalog::NamespaceRecord ns_;
};

// The read benchmarks' data, built once.
Stack& ReadStack() {
  static Stack* stack = [] {
    auto* s = new Stack(/*with_wal=*/false);
    const int64_t rows = EnvInt("INGESTER_BENCH_ROWS", 10'000'000);
    tsbs::CpuGenerator generator({});
    const auto start = Clock::now();
    for (int64_t done = 0; done < rows;) {
      const int64_t n = std::min<int64_t>(10'000, rows - done);
      done += s->Write(generator.Generate(static_cast<uint64_t>(n)));
    }
    std::fprintf(stderr, "buffered %lld TSBS rows (%.0f MB) in %.1f s\n",
                 static_cast<long long>(s->buffer()->BufferedRows()),
                 s->buffer()->BufferedBytes() / 1e6,
                 std::chrono::duration<double>(Clock::now() - start).count());
    return s;
  }();
  return *stack;
}

QueryRequest ReadRequest(int which) {
  QueryRequest r;
  r.namespace_name = "bench";
  r.table_name = "cpu";
  if (which == 1) r.predicate.tags.push_back({"hostname", {"host_7"}});
  if (which == 2) {
    const int64_t day = 86'400'000'000'000LL;
    const int64_t start = tsbs::CpuOptions{}.start_ns;
    r.predicate.time = {start + 3 * day, start + 4 * day};
  }
  return r;
}

void SetReadLabel(benchmark::State& state, int which) {
  static const char* kNames[] = {"whole_table", "one_host", "one_day"};
  state.SetLabel(kNames[which]);
}

void BM_FlightRead(benchmark::State& state) {
  Stack& stack = ReadStack();
  const int which = static_cast<int>(state.range(0));
  const flight::Ticket ticket{TicketJson(ReadRequest(which))};
  int64_t rows = 0, bytes = 0, batches = 0;
  for (auto _ : state) {
    auto reader = Check(stack.client()->DoGet(ticket));
    while (true) {
      auto chunk = Check(reader->Next());
      if (chunk.data == nullptr) break;
      rows += chunk.data->num_rows();
      bytes += Check(arrow::util::ReferencedBufferSize(*chunk.data));
      ++batches;
    }
  }
  state.SetItemsProcessed(rows);
  state.SetBytesProcessed(bytes);
  state.counters["rows/query"] = static_cast<double>(rows) / state.iterations();
  state.counters["messages/query"] = static_cast<double>(batches) / state.iterations();
  SetReadLabel(state, which);
}
BENCHMARK(BM_FlightRead)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_ExecRead(benchmark::State& state) {
  Stack& stack = ReadStack();
  const int which = static_cast<int>(state.range(0));
  const QueryRequest request = ReadRequest(which);
  int64_t rows = 0, bytes = 0;
  for (auto _ : state) {
    auto response = Check(stack.exec()->Query(request));
    while (auto partition = Check(response->NextPartition())) {
      while (auto batch = Check(partition->Next())) {
        rows += batch->num_rows();
        bytes += Check(arrow::util::ReferencedBufferSize(*batch));
      }
    }
  }
  state.SetItemsProcessed(rows);
  state.SetBytesProcessed(bytes);
  state.counters["rows/query"] = static_cast<double>(rows) / state.iterations();
  SetReadLabel(state, which);
}
BENCHMARK(BM_ExecRead)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

void BM_SmallQueryUnderIngest(benchmark::State& state) {
  const bool ingest = state.range(0) != 0;
  const bool queries = state.range(1) != 0;
  const auto duration = std::chrono::seconds(EnvInt("INGESTER_BENCH_SECONDS", 5));
  constexpr int kWriters = 4;
  constexpr int kLines = 5000;
  constexpr int kBodies = 20;  // per writer, reused round-robin
  Stack stack(/*with_wal=*/true);

  // Each writer has its own hosts; bodies are generated before the clock starts.
  std::vector<std::vector<std::string>> bodies(kWriters);
  for (int w = 0; w < kWriters; ++w) {
    tsbs::CpuOptions options;
    options.hosts = 100;
    options.seed = static_cast<uint64_t>(w + 1);
    options.start_ns += w;  // distinct rows per writer
    tsbs::CpuGenerator generator(options);
    for (int b = 0; b < kBodies; ++b) bodies[w].push_back(generator.Generate(kLines));
  }
  stack.Write(bodies[0][0]);  // the table exists before the first query

  for (auto _ : state) {
    std::atomic<bool> stop{false};
    std::atomic<int64_t> rows{0};
    std::vector<std::thread> writers;
    const auto start = Clock::now();
    if (ingest) {
      for (int w = 0; w < kWriters; ++w) {
        writers.emplace_back([&, w] {
          for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
            rows.fetch_add(stack.Write(bodies[w][i % kBodies]));
          }
        });
      }
    }
    std::vector<double> latencies_ms;
    QueryRequest small;
    small.namespace_name = "bench";
    small.table_name = "cpu";
    small.predicate.tags.push_back({"hostname", {"host_1"}});
    const int64_t first = tsbs::CpuOptions{}.start_ns;
    small.predicate.time = {first + 19 * 10'000'000'000LL, first + 25 * 10'000'000'000LL};
    const flight::Ticket ticket{TicketJson(small)};
    int64_t small_rows = 0;
    while (Clock::now() - start < duration) {
      if (!queries) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      const auto q0 = Clock::now();
      auto reader = Check(stack.client()->DoGet(ticket));
      while (true) {
        auto chunk = Check(reader->Next());
        if (chunk.data == nullptr) break;
        small_rows += chunk.data->num_rows();
      }
      const auto q1 = Clock::now();
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(q1 - q0).count());
      // 50 queries a second.
      std::this_thread::sleep_until(q0 + std::chrono::milliseconds(20));
    }
    stop.store(true);
    for (auto& t : writers) t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    state.counters["ingest_rows/s"] = rows.load() / seconds;
    if (queries) {
      state.counters["queries"] = static_cast<double>(latencies_ms.size());
      state.counters["query_p50_ms"] = Percentile(latencies_ms, 0.50);
      state.counters["query_p99_ms"] = Percentile(latencies_ms, 0.99);
      state.counters["rows/query"] =
          latencies_ms.empty() ? 0
                               : static_cast<double>(small_rows) / latencies_ms.size();
    }
  }
}
BENCHMARK(BM_SmallQueryUnderIngest)
    ->ArgNames({"ingest", "queries"})
    ->Args({0, 1})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace
}  // namespace ingester::query

BENCHMARK_MAIN();
