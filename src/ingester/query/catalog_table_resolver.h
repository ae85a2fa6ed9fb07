// TableResolver over the catalog: what the server wires into BufferTreeQueryExec.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "ingester/catalog/catalog.h"
#include "ingester/common/thread_annotations.h"
#include "ingester/query/buffer_tree_query_exec.h"

namespace ingester::query {

// Namespace and table ids are remembered once found (the catalog never renames or
// deletes, so they cannot go stale); unknown names are asked again every time, since
// they may be created at any moment. The columns are read from the catalog on every call
// (one query): a column created by a write just acknowledged must be visible.
// Thread-safe.
class CatalogTableResolver final : public TableResolver {
 public:
  // `catalog` must outlive the resolver.
  explicit CatalogTableResolver(catalog::Catalog* catalog) : catalog_(catalog) {}

  arrow::Result<ResolvedTable> Resolve(const std::string& namespace_name,
                                       const std::string& table_name) override;

 private:
  catalog::Catalog* const catalog_;
  Mutex mu_;
  std::map<std::string, NamespaceId> namespaces_ GUARDED_BY(mu_);
  std::map<std::pair<NamespaceId, std::string>, TableId> tables_ GUARDED_BY(mu_);
};

}  // namespace ingester::query
