// One namespace in the buffer tree: its tables by id.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/buffer/deferred_load.h"
#include "ingester/buffer/table_data.h"
#include "ingester/buffer/tree_context.h"
#include "ingester/common/ids.h"
#include "ingester/common/thread_annotations.h"

namespace ingester {

// Thread-safe. `mu_` guards only the map of tables: lookups (every write) take it
// shared, creation exclusively for the insert. Creating a table does no I/O (its name is
// either given or loaded later through a DeferredLoad). Nodes are never removed.
class NamespaceData {
 public:
  NamespaceData(NamespaceId namespace_id, DeferredLoad<std::string> namespace_name,
                std::shared_ptr<const TreeContext> context);

  // The table `table_id`, created on first use. A non-empty `table_name` seeds the
  // table's name (created with it, or given to a node created without one); an empty one
  // makes the name load later through the tree's NameResolver.
  std::shared_ptr<TableData> GetOrCreateTable(TableId table_id,
                                              std::string_view table_name) EXCLUDES(mu_);

  // The table, or null.
  std::shared_ptr<TableData> Table(TableId table_id) const EXCLUDES(mu_);
  // The tables existing now, by id.
  std::vector<std::shared_ptr<TableData>> Tables() const EXCLUDES(mu_);

  NamespaceId namespace_id() const { return namespace_id_; }
  const DeferredLoad<std::string>& namespace_name() const { return namespace_name_; }

 private:
  DeferredLoad<std::string> MakeTableName(TableId table_id, std::string_view given) const;

  const NamespaceId namespace_id_;
  const DeferredLoad<std::string> namespace_name_;
  const std::shared_ptr<const TreeContext> context_;

  mutable SharedMutex mu_;
  std::map<TableId, std::shared_ptr<TableData>> tables_ GUARDED_BY(mu_);
};

// A namespace or table name: `given` when not empty, else loaded on first use through
// `load` on the context's NameResolver (NotFound when there is none). No I/O.
DeferredLoad<std::string> MakeDeferredName(
    std::string_view given, const TreeContext& context,
    std::function<arrow::Result<std::string>(NameResolver&)> load, std::string what);
// Starts loading `name` on the context's prefetch executor, if it has one and the name is
// not loaded. Call with no lock held.
void MaybePrefetch(const DeferredLoad<std::string>& name, const TreeContext& context);

}  // namespace ingester
