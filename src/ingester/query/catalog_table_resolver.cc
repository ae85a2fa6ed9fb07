#include "ingester/query/catalog_table_resolver.h"

#include "ingester/common/error.h"

namespace ingester::query {

arrow::Result<ResolvedTable> CatalogTableResolver::Resolve(
    const std::string& namespace_name, const std::string& table_name) {
  std::optional<NamespaceId> ns_id;
  std::optional<TableId> table_id;
  {
    MutexLock lock(&mu_);
    if (auto it = namespaces_.find(namespace_name); it != namespaces_.end()) {
      ns_id = it->second;
      if (auto t = tables_.find({*ns_id, table_name}); t != tables_.end()) {
        table_id = t->second;
      }
    }
  }
  // Catalog calls run with no lock held.
  if (!ns_id) {
    ARROW_ASSIGN_OR_RAISE(auto ns, catalog_->GetNamespaceByName(namespace_name));
    if (!ns) return NotFound("namespace '" + namespace_name + "' not found");
    ns_id = ns->id;
    MutexLock lock(&mu_);
    namespaces_.emplace(namespace_name, *ns_id);
  }
  if (!table_id) {
    ARROW_ASSIGN_OR_RAISE(auto table, catalog_->GetTableByName(*ns_id, table_name));
    if (!table) {
      return NotFound("table '" + table_name + "' not found in namespace '" +
                      namespace_name + "'");
    }
    table_id = table->id;
    MutexLock lock(&mu_);
    tables_.emplace(std::make_pair(*ns_id, table_name), *table_id);
  }
  ARROW_ASSIGN_OR_RAISE(catalog::TableSchema schema, catalog_->GetTableSchema(*table_id));
  return ResolvedTable{*ns_id, *table_id, std::move(schema.columns),
                       std::move(schema.table.partition_template)};
}

}  // namespace ingester::query
