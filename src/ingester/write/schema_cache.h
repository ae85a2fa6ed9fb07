// Caches namespaces and table schemas from the catalog so that a write of known columns
// makes no catalog query; only new namespaces, tables and columns reach the catalog.
// A cached table schema carries the table's partition template (TableRecord), which
// the write builders key rows by.
#pragma once

#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <arrow/result.h>

#include "ingester/catalog/catalog.h"
#include "ingester/common/thread_annotations.h"

namespace ingester {

class SchemaCache {
 public:
  // `catalog` must outlive the cache. New namespaces are created with `limits` and,
  // unless told otherwise, `default_template`.
  SchemaCache(catalog::Catalog* catalog, catalog::NamespaceLimits limits,
              partition::PartitionTemplate default_template = {})
      : catalog_(catalog),
        limits_(limits),
        default_template_(std::move(default_template)) {}

  // The namespace called `name`, created on first use with `partition_template` (or
  // the default template). An existing namespace keeps its template: compare the
  // record's to tell.
  arrow::Result<catalog::NamespaceRecord> GetOrCreateNamespace(
      const std::string& name,
      const std::optional<partition::PartitionTemplate>& partition_template =
          std::nullopt);

  // The schema of table `name` in `ns`, created on first use with `partition_template`
  // (or the namespace's), its `time` column and a tag column for each tag the template
  // names (unless the table already has a column of that name). An existing table
  // keeps its template.
  arrow::Result<std::shared_ptr<const catalog::TableSchema>> GetOrCreateTable(
      const catalog::NamespaceRecord& ns, const std::string& name,
      const std::optional<partition::PartitionTemplate>& partition_template =
          std::nullopt);

  const partition::PartitionTemplate& default_template() const {
    return default_template_;
  }

  // Adds `columns` to the table (all or nothing, see Catalog::GetOrCreateColumns) and
  // returns the new schema. On Conflict the cached schema is refreshed from the catalog,
  // so a retry sees what a concurrent writer created.
  arrow::Result<std::shared_ptr<const catalog::TableSchema>> AddColumns(
      const catalog::NamespaceRecord& ns, TableId table,
      const std::vector<catalog::ColumnSpec>& columns);

  // Forgets everything (tests; a catalog changed behind our back).
  void Clear();

 private:
  using TableKey = std::pair<int64_t, std::string>;  // namespace id, table name
  struct TableKeyHash {
    size_t operator()(const TableKey& k) const {
      return std::hash<int64_t>{}(k.first) * 31 + std::hash<std::string>{}(k.second);
    }
  };

  void Store(NamespaceId ns, std::shared_ptr<const catalog::TableSchema> schema);

  catalog::Catalog* const catalog_;
  const catalog::NamespaceLimits limits_;
  const partition::PartitionTemplate default_template_;
  // Readers (every write) take it shared; inserts take it exclusively. Never held across
  // a catalog call.
  mutable SharedMutex mu_;
  std::unordered_map<std::string, catalog::NamespaceRecord> namespaces_ GUARDED_BY(mu_);
  std::unordered_map<TableKey, std::shared_ptr<const catalog::TableSchema>, TableKeyHash>
      tables_ GUARDED_BY(mu_);
};

}  // namespace ingester
