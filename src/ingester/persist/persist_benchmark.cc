// Persist throughput for one 1M-row TSBS-shaped partition (cpu-only: 10 dictionary tags,
// 10 int64 fields, time; 1,000 hosts x 1,000 timestamps, written as 5,000-row batches
// like a bulk loader's), stage by stage and end to end:
//
//   BM_Compact        sort + de-duplicate (CompactBatches)
//   BM_Encode         Parquet encoding of the compacted table (zstd)
//   BM_EncodeFloats   the same with the fields as float64 gauges (the integers plus a
//                     random 6-digit fraction: high-cardinality values), one thread
//   BM_PersistJob     RunPersistJob: sort key CAS, compaction, encoding, upload to a
//   local
//                     directory, catalog row (SQLite)
//
// Counters: rows/s (items_per_second), file bytes per row, peak memory of the job under
// the limited pool, and cpu_s_per_Mrow: CPU seconds of the whole process (every thread:
// the helper pool's and Arrow's too, which the CPU column of a threaded run misses) per
// million input rows, over the timed part of the iterations. `--dump_sorted=PATH` also
// writes the compacted (sorted) rows as an Arrow IPC file, so bench/persist_vs_pyarrow.py
// can time pyarrow.parquet.write_table on exactly the same rows, and
// `--write_parquet=PATH` the Parquet file a persist makes of them, for the script to
// check with pyarrow and DuckDB.
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/ipc/writer.h>
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "ingester/catalog/open.h"
#include "ingester/common/temp_dir.h"
#include "ingester/persist/compaction.h"
#include "ingester/persist/parquet_writer.h"
#include "ingester/persist/persist_job.h"

namespace ingester::persist {
namespace {

constexpr int kHosts = 1000;
constexpr int kTimestamps = 1000;
constexpr int kBatchRows = 5000;
constexpr std::array<const char*, 10> kTags = {
    "hostname", "region",          "datacenter",         "rack", "os", "arch", "team",
    "service",  "service_version", "service_environment"};
constexpr std::array<const char*, 10> kFields = {
    "usage_user", "usage_system",  "usage_idle",  "usage_nice",  "usage_iowait",
    "usage_irq",  "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"};

void Check(const arrow::Status& st) {
  if (!st.ok()) {
    std::fprintf(stderr, "benchmark setup failed: %s\n", st.ToString().c_str());
    std::abort();
  }
}

template <typename T>
T Check(arrow::Result<T> r) {
  Check(r.status());
  return std::move(r).ValueUnsafe();
}

// CPU seconds (user + system) of every thread of the process so far.
double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Process CPU per million rows over the timed parts of a benchmark's iterations.
class CpuPerRow {
 public:
  void Start() { start_ = ProcessCpuSeconds(); }
  void Stop() { total_ += ProcessCpuSeconds() - start_; }
  void Report(benchmark::State& state, int64_t rows_per_iteration) const {
    state.counters["cpu_s_per_Mrow"] =
        total_ / (static_cast<double>(state.iterations()) * rows_per_iteration) * 1e6;
  }

 private:
  double start_ = 0;
  double total_ = 0;
};

// TSBS value sets: each host has fixed tags; fields take a bounded random walk.
struct Host {
  std::array<std::string, 10> tags;
  std::array<int64_t, 10> values;
};

std::vector<Host> MakeHosts(std::mt19937_64& rng) {
  static const char* regions[] = {"us-east-1",      "us-west-1",      "us-west-2",
                                  "eu-west-1",      "eu-central-1",   "ap-southeast-1",
                                  "ap-southeast-2", "ap-northeast-1", "sa-east-1"};
  static const char* oses[] = {"Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"};
  static const char* arches[] = {"x64", "x86"};
  static const char* teams[] = {"SF", "NYC", "LON", "CHI"};
  static const char* envs[] = {"production", "staging", "test"};
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  std::vector<Host> hosts(kHosts);
  for (int h = 0; h < kHosts; ++h) {
    const std::string region = regions[pick(9)];
    hosts[h].tags = {"host_" + std::to_string(h),
                     region,
                     region + static_cast<char>('a' + pick(3)),
                     std::to_string(pick(100)),
                     oses[pick(3)],
                     arches[pick(2)],
                     teams[pick(4)],
                     std::to_string(pick(20)),
                     std::to_string(pick(2)),
                     envs[pick(3)]};
    for (auto& v : hosts[h].values) v = pick(101);
  }
  return hosts;
}

// The partition's batches in buffering order: interval by interval, host by host.
std::vector<std::shared_ptr<arrow::RecordBatch>> MakeBatches() {
  std::mt19937_64 rng(42);
  auto hosts = MakeHosts(rng);
  arrow::FieldVector fields;
  for (const char* t : kTags) {
    fields.push_back(arrow::field(t, arrow::dictionary(arrow::int32(), arrow::utf8())));
  }
  for (const char* f : kFields) fields.push_back(arrow::field(f, arrow::int64()));
  fields.push_back(arrow::field("time", arrow::timestamp(arrow::TimeUnit::NANO), false));
  auto schema = arrow::schema(fields);
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  const int64_t start = 1'451'606'400'000'000'000;
  int64_t row = 0;
  const int64_t total = static_cast<int64_t>(kHosts) * kTimestamps;
  while (row < total) {
    std::vector<arrow::StringDictionary32Builder> tag_builders(kTags.size());
    std::vector<arrow::Int64Builder> field_builders(kFields.size());
    arrow::TimestampBuilder time_builder(arrow::timestamp(arrow::TimeUnit::NANO),
                                         arrow::default_memory_pool());
    for (int i = 0; i < kBatchRows && row < total; ++i, ++row) {
      Host& host = hosts[row % kHosts];
      for (size_t t = 0; t < kTags.size(); ++t)
        Check(tag_builders[t].Append(host.tags[t]));
      for (size_t f = 0; f < kFields.size(); ++f) {
        int64_t& v = host.values[f];
        v = std::clamp<int64_t>(v + static_cast<int64_t>(rng() % 5) - 2, 0, 100);
        Check(field_builders[f].Append(v));
      }
      Check(time_builder.Append(start + (row / kHosts) * 10'000'000'000LL));
    }
    arrow::ArrayVector columns;
    for (auto& b : tag_builders) columns.push_back(Check(b.Finish()));
    for (auto& b : field_builders) columns.push_back(Check(b.Finish()));
    columns.push_back(Check(time_builder.Finish()));
    const int64_t rows = columns[0]->length();
    batches.push_back(arrow::RecordBatch::Make(schema, rows, std::move(columns)));
  }
  return batches;
}

const std::vector<std::shared_ptr<arrow::RecordBatch>>& Batches() {
  static const auto batches = MakeBatches();
  return batches;
}

// Tags by ascending cardinality, then time: the key a first persist computes.
std::vector<std::string> FirstSortKey() {
  return {"arch", "service_version", "os",      "service_environment",
          "team", "region",          "service", "datacenter",
          "rack", "hostname",        "time"};
}

void BM_Compact(benchmark::State& state) {
  const auto& batches = Batches();
  auto pool = Check(LimitedMemoryPool::Make({}));
  int64_t peak = 0;
  CpuPerRow cpu;
  for (auto _ : state) {
    cpu.Start();
    JobMemoryPool job(pool.get());
    auto result = Check(CompactBatches(batches, FirstSortKey(), &job));
    benchmark::DoNotOptimize(result.table);
    result.table.reset();
    peak = std::max(peak, job.max_memory());
    cpu.Stop();
  }
  state.SetItemsProcessed(state.iterations() * kHosts * kTimestamps);
  cpu.Report(state, kHosts * kTimestamps);
  state.counters["peak_MiB"] = static_cast<double>(peak) / (1 << 20);
}
BENCHMARK(BM_Compact)->Unit(benchmark::kMillisecond)->UseRealTime();

// Times EncodeParquet of `table` (the compacted rows of `compacted`, or a variant of
// them) and reports its CPU and bytes per row.
void TimeEncode(benchmark::State& state, const CompactionResult& compacted,
                const arrow::Table& table, bool use_threads) {
  ParquetFileMetadata meta;
  meta.sort_key = compacted.sort_key;
  meta.row_count = compacted.output_rows;
  ParquetWriterOptions options;
  options.use_threads = use_threads;
  int64_t bytes = 0;
  CpuPerRow cpu;
  for (auto _ : state) {
    cpu.Start();
    auto encoded =
        Check(EncodeParquet(table, meta, options, arrow::default_memory_pool()));
    bytes = encoded.data->size();
    encoded.data.reset();
    cpu.Stop();
  }
  state.SetItemsProcessed(state.iterations() * compacted.output_rows);
  cpu.Report(state, compacted.output_rows);
  state.counters["bytes_per_row"] = static_cast<double>(bytes) / compacted.output_rows;
}

void BM_Encode(benchmark::State& state) {
  auto compacted = Check(CompactBatches(Batches(), FirstSortKey()));
  TimeEncode(state, compacted, *compacted.table, /*use_threads=*/state.range(0) != 0);
}
// Arg: use_threads (parallel column encoding; the persist job's default).
BENCHMARK(BM_Encode)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();

// `table` with its int64 columns as float64: each value plus a random fraction.
std::shared_ptr<arrow::Table> WithFloatFields(const arrow::Table& table) {
  std::mt19937_64 rng(7);
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (int c = 0; c < table.num_columns(); ++c) {
    auto column = table.column(c)->chunk(0);
    auto field = table.schema()->field(c);
    if (column->type_id() == arrow::Type::INT64) {
      const auto& ints = static_cast<const arrow::Int64Array&>(*column);
      arrow::DoubleBuilder builder;
      Check(builder.Reserve(ints.length()));
      for (int64_t i = 0; i < ints.length(); ++i) {
        builder.UnsafeAppend(static_cast<double>(ints.Value(i)) +
                             static_cast<double>(rng() % 1'000'000) / 1e6);
      }
      column = Check(builder.Finish());
      field = arrow::field(field->name(), arrow::float64());
    }
    fields.push_back(field);
    columns.push_back(column);
  }
  return arrow::Table::Make(arrow::schema(fields), columns);
}

void BM_EncodeFloats(benchmark::State& state) {
  auto compacted = Check(CompactBatches(Batches(), FirstSortKey()));
  TimeEncode(state, compacted, *WithFloatFields(*compacted.table), /*use_threads=*/false);
}
BENCHMARK(BM_EncodeFloats)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_PersistJob(benchmark::State& state) {
  const auto& batches = Batches();
  TempDir dir;
  auto catalog =
      Check(catalog::OpenCatalog("sqlite://" + (dir.path() / "catalog.sqlite").string()));
  auto ns = Check(catalog->GetOrCreateNamespace("bench"));
  auto table = Check(catalog->GetOrCreateTable(ns.id, "cpu"));
  std::vector<catalog::ColumnSpec> columns;
  for (const char* t : kTags) columns.push_back({t, ColumnType::kTag});
  for (const char* f : kFields) columns.push_back({f, ColumnType::kI64});
  columns.push_back({"time", ColumnType::kTime});
  Check(catalog->GetOrCreateColumns(table.id, columns).status());
  ObjectStoreOptions store_options;
  store_options.url = "file://" + (dir.path() / "objects").string();
  auto store = Check(ObjectStore::Make(store_options));
  auto executor = Check(CompactionExecutor::Make({}));
  PersistJobContext context;
  context.catalog = catalog.get();
  context.object_store = store.get();
  context.executor = executor.get();

  int64_t bytes = 0;
  int64_t peak = 0;
  int64_t rows = 0;
  int run = 0;
  CpuPerRow cpu;
  PersistJobResult last;
  for (auto _ : state) {
    state.PauseTiming();
    // A fresh partition each time, so every run is a first persist (the key is computed
    // from the data's cardinalities and swapped into the catalog).
    auto partition = Check(
        catalog->GetOrCreatePartition(table.id, "2016-01-" + std::to_string(++run)));
    PersistingSnapshot snapshot;
    snapshot.partition_id = partition.id;
    snapshot.partition_key = partition.key;
    snapshot.namespace_id = ns.id;
    snapshot.table_id = table.id;
    snapshot.namespace_name = DeferredLoad<std::string>::Ready("bench");
    snapshot.table_name = DeferredLoad<std::string>::Ready("cpu");
    snapshot.schema = batches.front()->schema();
    snapshot.batches = batches;
    snapshot.rows = static_cast<int64_t>(kHosts) * kTimestamps;
    state.ResumeTiming();
    cpu.Start();
    last = Check(RunPersistJob(context, snapshot));
    cpu.Stop();
    bytes = last.file_bytes;
    rows = last.output_rows;
    peak = std::max(peak, last.peak_memory_bytes);
  }
  state.SetItemsProcessed(state.iterations() * kHosts * kTimestamps);
  state.counters["bytes_per_row"] = static_cast<double>(bytes) / rows;
  cpu.Report(state, kHosts * kTimestamps);
  state.counters["peak_MiB"] = static_cast<double>(peak) / (1 << 20);
  state.counters["compact_ms"] =
      std::chrono::duration<double, std::milli>(last.compact_time).count();
  state.counters["encode_ms"] =
      std::chrono::duration<double, std::milli>(last.encode_time).count();
  state.counters["upload_ms"] =
      std::chrono::duration<double, std::milli>(last.upload_time).count();
  state.counters["sort_key_ms"] =
      std::chrono::duration<double, std::milli>(last.sort_key_time).count();
  state.counters["catalog_ms"] =
      std::chrono::duration<double, std::milli>(last.catalog_time).count();
  state.counters["total_ms"] =
      std::chrono::duration<double, std::milli>(last.total_time).count();
}
BENCHMARK(BM_PersistJob)->Unit(benchmark::kMillisecond)->UseRealTime();

// Writes the compacted rows as Arrow IPC (`ipc_path`) and as the Parquet file a persist
// would upload (`parquet_path`), for bench/persist_vs_pyarrow.py; empty paths are
// skipped.
void DumpSorted(const std::string& ipc_path, const std::string& parquet_path) {
  auto compacted = Check(CompactBatches(Batches(), FirstSortKey()));
  if (!ipc_path.empty()) {
    auto file = Check(arrow::io::FileOutputStream::Open(ipc_path));
    auto writer = Check(arrow::ipc::MakeFileWriter(file, compacted.table->schema()));
    Check(writer->WriteTable(*compacted.table));
    Check(writer->Close());
    Check(file->Close());
  }
  if (!parquet_path.empty()) {
    ParquetFileMetadata meta;
    meta.namespace_name = "bench";
    meta.table_name = "cpu";
    meta.sort_key = compacted.sort_key;
    meta.min_time = compacted.min_time;
    meta.max_time = compacted.max_time;
    meta.row_count = compacted.output_rows;
    auto encoded =
        Check(EncodeParquet(*compacted.table, meta, {}, arrow::default_memory_pool()));
    auto file = Check(arrow::io::FileOutputStream::Open(parquet_path));
    Check(file->Write(encoded.data));
    Check(file->Close());
  }
}

}  // namespace
}  // namespace ingester::persist

int main(int argc, char** argv) {
  // Our own flag first, then Google Benchmark's.
  std::vector<char*> args;
  std::string dump_sorted;
  std::string write_parquet;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--dump_sorted=", 0) == 0) {
      dump_sorted = arg.substr(14);
    } else if (arg.rfind("--write_parquet=", 0) == 0) {
      write_parquet = arg.substr(16);
    } else {
      args.push_back(argv[i]);
    }
  }
  int count = static_cast<int>(args.size());
  if (!dump_sorted.empty() || !write_parquet.empty()) {
    ingester::persist::DumpSorted(dump_sorted, write_parquet);
  }
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
