// One table of one namespace in the buffer tree: its partitions by key.
#pragma once

#include <arrow/result.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/buffer/deferred_load.h"
#include "ingester/buffer/partition_data.h"
#include "ingester/buffer/tree_context.h"
#include "ingester/common/ids.h"
#include "ingester/common/thread_annotations.h"

namespace ingester {

// Thread-safe. `mu_` guards only the map of partitions: lookups of existing partitions
// (every write) take it shared; creating one takes it exclusively for the insert only.
// The catalog lookup of a new partition's id runs with no lock held, so a slow catalog
// never stalls writers of other partitions. Nodes are never removed.
class TableData {
 public:
  TableData(TableId table_id, DeferredLoad<std::string> table_name,
            NamespaceId namespace_id, DeferredLoad<std::string> namespace_name,
            std::shared_ptr<const TreeContext> context);

  // The partition for `key`, created (its id resolved through the PartitionProvider) on
  // first use. Two writers racing to create it both ask the provider (idempotent), and
  // one node wins. Returns the provider's error.
  arrow::Result<std::shared_ptr<PartitionData>> GetOrCreatePartition(std::string_view key)
      EXCLUDES(mu_);

  // The partition for `key`, or null.
  std::shared_ptr<PartitionData> Partition(std::string_view key) const EXCLUDES(mu_);
  // The partitions existing now, in key order (for daily keys: time order).
  std::vector<std::shared_ptr<PartitionData>> Partitions() const EXCLUDES(mu_);

  TableId table_id() const { return table_id_; }
  NamespaceId namespace_id() const { return namespace_id_; }
  const DeferredLoad<std::string>& table_name() const { return table_name_; }
  const DeferredLoad<std::string>& namespace_name() const { return namespace_name_; }

 private:
  const TableId table_id_;
  const DeferredLoad<std::string> table_name_;
  const NamespaceId namespace_id_;
  const DeferredLoad<std::string> namespace_name_;
  const std::shared_ptr<const TreeContext> context_;

  mutable SharedMutex mu_;
  std::map<std::string, std::shared_ptr<PartitionData>, std::less<>> partitions_
      GUARDED_BY(mu_);
};

}  // namespace ingester
