// Catalog operations against SQLite (a file in the temp directory, synchronous=FULL) and
// PostgreSQL (a server of the benchmark's own on loopback with fsync on,
// postgres_test_server.h): creating a column,
// recording a Parquet file, listing a partition's files. Figures in docs/benchmarks.md.
//
//   build/src/ingester/catalog/catalog_benchmark --benchmark_min_time=1
//
// PostgreSQL is skipped (with a note on stderr) when its binaries are not installed.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "ingester/catalog/postgres_catalog.h"
#include "ingester/catalog/postgres_test_server.h"
#include "ingester/catalog/sqlite_catalog.h"
#include "ingester/common/temp_dir.h"
#include "ingester/common/uuid.h"

namespace ingester::catalog {
namespace {

void Check(const arrow::Status& st) {
  if (!st.ok()) {
    std::fprintf(stderr, "catalog_benchmark: %s\n", st.ToString().c_str());
    std::abort();
  }
}
template <typename T>
T Check(arrow::Result<T> r) {
  Check(r.status());
  return std::move(r).ValueUnsafe();
}

using Opener = std::function<std::unique_ptr<Catalog>()>;

// A namespace with room for every column and table the benchmarks create.
NamespaceRecord Namespace(Catalog& catalog) {
  return Check(
      catalog.GetOrCreateNamespace("bench", NamespaceLimits{1'000'000, 100'000}));
}

// One new column per iteration (a new table every 100 columns, so the table's size
// stays representative): the first write of a new field.
void BM_CreateColumn(benchmark::State& state, Opener open) {
  auto catalog = open();
  const NamespaceRecord ns = Namespace(*catalog);
  static int run = 0;
  const std::string prefix = "cc" + std::to_string(run++) + "_";
  TableId table;
  int64_t n = 0;
  for (auto _ : state) {
    if (n % 100 == 0) {
      state.PauseTiming();
      table = Check(catalog->GetOrCreateTable(ns.id, prefix + std::to_string(n))).id;
      state.ResumeTiming();
    }
    Check(
        catalog->GetOrCreateColumns(table, {{"f" + std::to_string(n), ColumnType::kF64}})
            .status());
    ++n;
  }
  state.SetItemsProcessed(state.iterations());
}

struct Partition {
  NamespaceId ns;
  TableId table;
  PartitionId partition;
};

Partition MakePartition(Catalog& catalog, const std::string& table_name) {
  const NamespaceRecord ns = Namespace(catalog);
  const TableRecord table = Check(catalog.GetOrCreateTable(ns.id, table_name));
  Check(catalog.GetOrCreateColumns(table.id, {{"time", ColumnType::kTime}}).status());
  const PartitionRecord p = Check(catalog.GetOrCreatePartition(table.id, "2024-01-01"));
  return {ns.id, table.id, p.id};
}

ParquetFileRecord File(const Partition& p) {
  ParquetFileRecord f;
  f.namespace_id = p.ns;
  f.table_id = p.table;
  f.partition_id = p.partition;
  f.object_store_id = GenerateUuidV4();
  f.min_time = 1;
  f.max_time = 2;
  f.row_count = 1000;
  f.file_size_bytes = 65536;
  return f;
}

// What a persist records at its end.
void BM_CreateParquetFile(benchmark::State& state, Opener open) {
  auto catalog = open();
  static int run = 0;
  const Partition p = MakePartition(*catalog, "pf" + std::to_string(run++));
  for (auto _ : state) {
    state.PauseTiming();
    const ParquetFileRecord f = File(p);
    state.ResumeTiming();
    Check(catalog->CreateParquetFile(f).status());
  }
  state.SetItemsProcessed(state.iterations());
}

// What a query asks for each partition it reads: the partition holds range(0) files.
void BM_ListParquetFiles(benchmark::State& state, Opener open) {
  auto catalog = open();
  static int run = 0;
  const Partition p = MakePartition(*catalog, "lf" + std::to_string(run++));
  for (int64_t i = 0; i < state.range(0); ++i) {
    Check(catalog->CreateParquetFile(File(p)).status());
  }
  for (auto _ : state) {
    auto files = Check(catalog->ListParquetFiles(p.partition));
    benchmark::DoNotOptimize(files);
    if (static_cast<int64_t>(files.size()) != state.range(0)) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
}

void Register(const std::string& backend, const Opener& open) {
  // Real time: the cost is mostly waiting (fsync, the server's round trips).
  benchmark::RegisterBenchmark(("BM_CreateColumn/" + backend).c_str(), BM_CreateColumn,
                               open)
      ->UseRealTime();
  benchmark::RegisterBenchmark(("BM_CreateParquetFile/" + backend).c_str(),
                               BM_CreateParquetFile, open)
      ->UseRealTime();
  benchmark::RegisterBenchmark(("BM_ListParquetFiles/" + backend).c_str(),
                               BM_ListParquetFiles, open)
      ->UseRealTime()
      ->Arg(10)
      ->Arg(100);
}

}  // namespace
}  // namespace ingester::catalog

int main(int argc, char** argv) {
  using namespace ingester::catalog;
  benchmark::Initialize(&argc, argv);
  ingester::TempDir dir("catalog-bench");
  Register("Sqlite", [&] {
    SqliteCatalogOptions options;
    options.path = (dir.path() / "catalog.sqlite").string();
    return std::unique_ptr<Catalog>(Check(SqliteCatalog::Make(options)));
  });
  std::unique_ptr<testing::PostgresTestServer> server;
  std::string url;
  testing::PostgresTestServerOptions server_options;
  server_options.durable = true;  // fsync on, as SQLite's synchronous=FULL
  if (auto started = testing::PostgresTestServer::Start(server_options); started.ok()) {
    server = std::move(*started);
    url = Check(server->CreateDatabase("bench"));
    Register("Postgres", [&] {
      PostgresCatalogOptions options;
      options.url = url;
      return std::unique_ptr<Catalog>(Check(PostgresCatalog::Make(options)));
    });
  } else {
    std::fprintf(stderr, "catalog_benchmark: PostgreSQL skipped: %s\n",
                 started.status().ToString().c_str());
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
