#include "ingester/buffer/catalog_adapters.h"

namespace ingester {

arrow::Result<PartitionId> CatalogPartitionProvider::GetOrCreatePartitionId(
    TableId table, std::string_view key) {
  ARROW_ASSIGN_OR_RAISE(auto partition,
                        catalog_->GetOrCreatePartition(table, std::string(key)));
  return partition.id;
}

arrow::Result<std::string> CatalogNameResolver::NamespaceName(NamespaceId id) {
  ARROW_ASSIGN_OR_RAISE(auto ns, catalog_->GetNamespace(id));
  return ns.name;
}

arrow::Result<std::string> CatalogNameResolver::TableName(NamespaceId, TableId table) {
  ARROW_ASSIGN_OR_RAISE(auto schema, catalog_->GetTableSchema(table));
  return schema.table.name;
}

}  // namespace ingester
