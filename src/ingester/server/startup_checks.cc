#include "ingester/server/startup_checks.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "ingester/catalog/catalog.h"
#include "ingester/catalog/open.h"
#include "ingester/common/error.h"
#include "ingester/persist/object_store.h"
#include "ingester/wal/file_system.h"
#include "ingester/wal/format.h"
#include "ingester/wal/replay.h"

namespace ingester {

namespace {

arrow::Status RefuseEmptyCatalog(const std::string& catalog_url,
                                 const std::string& where) {
  return DataLoss("the catalog " + catalog::DescribeCatalogUrl(catalog_url) +
                  " holds no database, but " + where +
                  " holds data written through a catalog: it was lost, or --catalog "
                  "points at the wrong one. Restore it (or point --catalog at it); to "
                  "start afresh, move the data directory aside");
}

}  // namespace

arrow::Result<bool> CatalogIsEmpty(catalog::Catalog& catalog) {
  ARROW_ASSIGN_OR_RAISE(auto namespaces, catalog.ListNamespaces());
  return namespaces.empty();
}

arrow::Status CheckEmptyCatalogAgainstWal(const std::string& catalog_url,
                                          const std::string& wal_dir) {
  auto fs = wal::PosixFileSystem();
  ARROW_ASSIGN_OR_RAISE(auto ids, wal::ListSegments(*fs, wal_dir));
  for (auto id : ids) {
    ARROW_ASSIGN_OR_RAISE(uint64_t size,
                          fs->FileSize(wal::JoinPath(wal_dir, wal::SegmentFileName(id))));
    // A segment holding more than its header holds entries.
    if (size > wal::kSegmentHeaderSize) {
      return RefuseEmptyCatalog(catalog_url, "the WAL in " + wal_dir);
    }
  }
  return arrow::Status::OK();
}

arrow::Status CheckEmptyCatalogAgainstObjects(const std::string& catalog_url,
                                              persist::ObjectStore& store) {
  auto objects = store.List();
  if (!objects.ok()) {
    spdlog::warn("cannot check the object store {} for files an empty catalog lacks: {}",
                 store.url(), objects.status().ToString());
    return arrow::Status::OK();
  }
  const bool any_parquet =
      std::any_of(objects->begin(), objects->end(),
                  [](const auto& o) { return o.path.ends_with(".parquet"); });
  if (any_parquet)
    return RefuseEmptyCatalog(catalog_url, "the object store " + store.url());
  return arrow::Status::OK();
}

}  // namespace ingester
