// Where the buffer tree gets catalog identities from: the server implements both
// interfaces over the real catalog; tests implement them in memory.
#pragma once

#include <arrow/result.h>

#include <string>
#include <string_view>

#include "ingester/common/ids.h"

namespace ingester {

// Resolves (table, partition key) to the catalog's partition id, creating the catalog row
// on first use. Called when the tree creates a partition node (once per partition per
// process, plus rare duplicate calls when two writers race to create the same node),
// never per write, and never with a tree lock held. Must be thread-safe and idempotent:
// every call for the same (table, key) returns the same id.
class PartitionProvider {
 public:
  virtual ~PartitionProvider() = default;
  virtual arrow::Result<PartitionId> GetOrCreatePartitionId(TableId table,
                                                            std::string_view key) = 0;
};

// Looks up names by id, for nodes created from ops that do not carry them (WAL replay).
// Called lazily through DeferredLoad, at most once per successful lookup per node.
// Thread-safe.
class NameResolver {
 public:
  virtual ~NameResolver() = default;
  virtual arrow::Result<std::string> NamespaceName(NamespaceId id) = 0;
  virtual arrow::Result<std::string> TableName(NamespaceId ns, TableId table) = 0;
};

}  // namespace ingester
