// The catalog as JSON documents, for the HTTP catalog listing (GET /api/v3/catalog) and
// the v3 configure API's database list. Built from the catalog alone plus what the
// caller says the buffer holds of each partition, so this module knows no buffer type.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <string>
#include <unordered_map>

#include "ingester/catalog/catalog.h"
#include "ingester/common/ids.h"

namespace ingester::catalog {

// What the in-memory buffer holds of one partition (the mutable buffer plus the
// snapshots being persisted), as the listing shows it.
struct BufferedPartition {
  int64_t rows = 0;
  int64_t bytes = 0;
  uint64_t completed_persists = 0;
};

// {"namespaces":[{"id","name","max_tables","max_columns_per_table",
// "partition_template","tables":[{"id","name","partition_template","columns":[{"name",
// "type"}],"partitions":[{"id","key","buffered_rows","buffered_bytes",
// "completed_persists","parquet_files","persisted_rows"[,"files":[{"path","rows",
// "bytes","min_time","max_time"}]]}]}]}]}, in the catalog's order. A partition missing
// from `buffered` holds nothing in memory. `with_files` adds each partition's Parquet
// files: what a reader of the object store goes by.
arrow::Result<std::string> CatalogListingJson(
    Catalog& catalog, const std::unordered_map<PartitionId, BufferedPartition>& buffered,
    bool with_files);

// {"databases":[{"name":"db","partition_template":{"parts":[...]},"max_tables":N,
// "max_columns_per_table":M}, ...]}, in the catalog's order.
arrow::Result<std::string> DatabasesJson(Catalog& catalog);

}  // namespace ingester::catalog
