// Checks made before the ingester serves: it must never start silently on an empty
// catalog next to data written through another one (a lost catalog file, or --catalog
// pointing elsewhere), which would orphan the Parquet files or fail replaying the WAL
// against ids the catalog does not have.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <string>

namespace ingester::catalog {
class Catalog;
}
namespace ingester::persist {
class ObjectStore;
}

namespace ingester {

// Whether the catalog records no namespace at all (new, or lost and recreated).
arrow::Result<bool> CatalogIsEmpty(catalog::Catalog& catalog);

// For an empty catalog: DataLoss naming both when the WAL in `wal_dir` holds entries.
arrow::Status CheckEmptyCatalogAgainstWal(const std::string& catalog_url,
                                          const std::string& wal_dir);

// For an empty catalog: DataLoss naming both when the object store holds Parquet files.
// A store that cannot be reached now must not stop the start (writes go to the WAL and
// persists retry): the check is then skipped with a warning.
arrow::Status CheckEmptyCatalogAgainstObjects(const std::string& catalog_url,
                                              persist::ObjectStore& store);

}  // namespace ingester
