// The buffer tree's identity lookups (partition_provider.h) served by the catalog: what
// the server uses, and what tests and benchmarks with a real catalog use too.
#pragma once

#include "ingester/buffer/partition_provider.h"
#include "ingester/catalog/catalog.h"

namespace ingester {

class CatalogPartitionProvider final : public PartitionProvider {
 public:
  explicit CatalogPartitionProvider(catalog::Catalog* catalog) : catalog_(catalog) {}
  arrow::Result<PartitionId> GetOrCreatePartitionId(TableId table,
                                                    std::string_view key) override;

 private:
  catalog::Catalog* const catalog_;
};

class CatalogNameResolver final : public NameResolver {
 public:
  explicit CatalogNameResolver(catalog::Catalog* catalog) : catalog_(catalog) {}
  arrow::Result<std::string> NamespaceName(NamespaceId id) override;
  arrow::Result<std::string> TableName(NamespaceId ns, TableId table) override;

 private:
  catalog::Catalog* const catalog_;
};

}  // namespace ingester
