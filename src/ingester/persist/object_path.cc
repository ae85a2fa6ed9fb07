#include "ingester/persist/object_path.h"

#include "ingester/catalog/types.h"

namespace ingester::persist {

std::string ObjectPath(NamespaceId namespace_id, TableId table_id,
                       PartitionId partition_id, std::string_view ingester_id,
                       std::string_view object_store_id) {
  if (ingester_id.empty()) {
    return catalog::ParquetFilePath(namespace_id, table_id, partition_id,
                                    object_store_id);
  }
  return std::to_string(namespace_id.value()) + "/" + std::to_string(table_id.value()) +
         "/" + std::to_string(partition_id.value()) + "/" + std::string(ingester_id) +
         "/" + std::string(object_store_id) + ".parquet";
}

}  // namespace ingester::persist
