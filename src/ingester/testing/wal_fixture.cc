#include "ingester/testing/wal_fixture.h"

#include <unistd.h>

#include <string>

#include "ingester/buffer/catalog_adapters.h"
#include "ingester/buffer/partition_cache.h"
#include "ingester/catalog/open.h"
#include "ingester/pipeline/write_pipeline.h"
#include "ingester/testing/tsbs_generator.h"
#include "ingester/wal/wal.h"
#include "ingester/wal/wal_sink.h"
#include "ingester/write/schema_cache.h"

namespace ingester::testing {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kHosts = 1000;  // TSBS scale

// Writes the fixture's rows through the write pipeline into a fresh data directory.
arrow::Status WriteFixture(int64_t rows, int64_t lines_per_request,
                           wal::PayloadCompression compression, WalFixture* f) {
  fs::create_directories(f->data_dir);
  ARROW_ASSIGN_OR_RAISE(
      auto catalog,
      catalog::OpenCatalog("sqlite://" + (f->data_dir / "catalog.sqlite").string()));
  SchemaCache schema_cache(catalog.get(), catalog::NamespaceLimits{});
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<BufferTree> buffer,
                        MakeRestartedTree(catalog.get()));
  wal::WalOptions wal_options;
  wal_options.dir = (f->data_dir / "wal").string();
  wal_options.compression = compression;
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<wal::Wal> wal, wal::Wal::Make(wal_options));
  WritePipelineOptions pipeline_options;
  pipeline_options.schema_cache = &schema_cache;
  pipeline_options.sink = std::make_shared<wal::WalSink>(wal, buffer);
  ARROW_ASSIGN_OR_RAISE(auto pipeline, WritePipeline::Make(std::move(pipeline_options)));

  tsbs::CpuOptions gen_options;
  gen_options.hosts = kHosts;
  tsbs::CpuGenerator generator(gen_options);
  for (int64_t done = 0; done < rows; done += lines_per_request) {
    const std::string body = generator.Generate(
        static_cast<uint64_t>(std::min(lines_per_request, rows - done)));
    LineProtocolWrite write;
    write.namespace_name = "bench";
    write.body = body;
    write.precision = "ns";
    write.accept_partial = false;
    // Synced or not, the bytes in the segment are the same; not waiting for an fsync
    // per request keeps the setup quick (Close() syncs at the end).
    write.sync = false;
    ARROW_ASSIGN_OR_RAISE(auto summary, pipeline->WriteLineProtocol(write));
    if (!summary.rejected.empty()) {
      return arrow::Status::Invalid("a fixture line was rejected: ",
                                    summary.rejected[0].message);
    }
    f->rows += summary.rows_written;
    f->entries += 1;
  }
  return wal->Close();
}

}  // namespace

arrow::Result<std::unique_ptr<BufferTree>> MakeRestartedTree(catalog::Catalog* catalog) {
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

WalFixtures::~WalFixtures() {
  if (!root_.empty()) fs::remove_all(root_);
}

fs::path WalFixtures::root() {
  if (root_.empty()) {
    root_ = fs::temp_directory_path() / (tag_ + "-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  return root_;
}

arrow::Result<const WalFixture*> WalFixtures::Get(int64_t rows, int64_t lines_per_request,
                                                  wal::PayloadCompression compression) {
  auto key = std::make_tuple(rows, lines_per_request, compression);
  if (auto it = made_.find(key); it != made_.end()) return &it->second;
  WalFixture f;
  f.data_dir =
      root() / ("data-" + std::to_string(rows) + "-" + std::to_string(lines_per_request) +
                "-" + std::string(wal::PayloadCompressionName(compression)));
  ARROW_RETURN_NOT_OK(WriteFixture(rows, lines_per_request, compression, &f));
  return &made_.emplace(key, std::move(f)).first->second;
}

}  // namespace ingester::testing
