#include "ingester/write/schema_cache.h"

#include <mutex>

#include "ingester/common/error.h"

namespace ingester {

arrow::Result<catalog::NamespaceRecord> SchemaCache::GetOrCreateNamespace(
    const std::string& name,
    const std::optional<partition::PartitionTemplate>& partition_template) {
  {
    ReaderLock lock(&mu_);
    if (auto it = namespaces_.find(name); it != namespaces_.end()) return it->second;
  }
  ARROW_ASSIGN_OR_RAISE(
      auto ns, catalog_->GetOrCreateNamespace(
                   name, limits_, partition_template.value_or(default_template_)));
  WriterLock lock(&mu_);
  namespaces_.emplace(name, ns);
  return ns;
}

arrow::Result<std::shared_ptr<const catalog::TableSchema>> SchemaCache::GetOrCreateTable(
    const catalog::NamespaceRecord& ns, const std::string& name,
    const std::optional<partition::PartitionTemplate>& partition_template) {
  {
    ReaderLock lock(&mu_);
    if (auto it = tables_.find({ns.id.value(), name}); it != tables_.end())
      return it->second;
  }
  ARROW_ASSIGN_OR_RAISE(auto table,
                        catalog_->GetOrCreateTable(ns.id, name, partition_template));
  ARROW_ASSIGN_OR_RAISE(
      auto schema, catalog_->GetOrCreateColumns(
                       table.id, {{std::string(kTimeColumnName), ColumnType::kTime}}));
  // The template's tags become tag columns, so a query can name them (and prune by
  // them) before any row has the tag. A column of that name keeps its type.
  std::vector<catalog::ColumnSpec> tags;
  for (const auto& tag : schema.table.partition_template.tag_names()) {
    if (schema.FindColumn(tag) == nullptr) tags.push_back({tag, ColumnType::kTag});
  }
  if (!tags.empty()) {
    ARROW_ASSIGN_OR_RAISE(schema, catalog_->GetOrCreateColumns(table.id, tags));
  }
  auto shared = std::make_shared<const catalog::TableSchema>(std::move(schema));
  Store(ns.id, shared);
  return shared;
}

arrow::Result<std::shared_ptr<const catalog::TableSchema>> SchemaCache::AddColumns(
    const catalog::NamespaceRecord& ns, TableId table,
    const std::vector<catalog::ColumnSpec>& columns) {
  auto schema = catalog_->GetOrCreateColumns(table, columns);
  if (!schema.ok()) {
    if (ErrorKindOf(schema.status()) == ErrorKind::kConflict) {
      // Another writer may have created one of the columns with another type.
      ARROW_ASSIGN_OR_RAISE(auto fresh, catalog_->GetTableSchema(table));
      Store(ns.id, std::make_shared<const catalog::TableSchema>(std::move(fresh)));
    }
    return schema.status();
  }
  auto shared = std::make_shared<const catalog::TableSchema>(std::move(*schema));
  Store(ns.id, shared);
  return shared;
}

void SchemaCache::Store(NamespaceId ns,
                        std::shared_ptr<const catalog::TableSchema> schema) {
  WriterLock lock(&mu_);
  auto& slot = tables_[{ns.value(), schema->table.name}];
  // Keep the larger schema: columns are only ever added, so a racing writer's older
  // snapshot must not replace a newer one.
  if (slot == nullptr || slot->columns.size() <= schema->columns.size())
    slot = std::move(schema);
}

void SchemaCache::Clear() {
  WriterLock lock(&mu_);
  namespaces_.clear();
  tables_.clear();
}

}  // namespace ingester
