// Where a persist puts a Parquet file in the object store.
//
//   <namespace id>/<table id>/<partition id>/<ingester id>/<object store id>.parquet
//
// Ids only, never names, so no client-chosen string reaches a path (the ingester id is
// checked to be [A-Za-z0-9_-] at startup, server/ingester_id.h). The ingester id keeps
// ingesters that share one bucket and one catalog apart: each writes under its own
// prefix of a partition, on top of the random object store id. The catalog stores each
// file's path (ParquetFileRecord::path), so files written under an older layout
// (catalog::ParquetFilePath, without the ingester id) stay readable.
#pragma once

#include <string>
#include <string_view>

#include "ingester/common/ids.h"

namespace ingester::persist {

// The path above; without an ingester id (tests, tools), catalog::ParquetFilePath.
std::string ObjectPath(NamespaceId namespace_id, TableId table_id,
                       PartitionId partition_id, std::string_view ingester_id,
                       std::string_view object_store_id);

}  // namespace ingester::persist
