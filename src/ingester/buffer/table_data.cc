#include "ingester/buffer/table_data.h"

#include <utility>

namespace ingester {

TableData::TableData(TableId table_id, DeferredLoad<std::string> table_name,
                     NamespaceId namespace_id, DeferredLoad<std::string> namespace_name,
                     std::shared_ptr<const TreeContext> context)
    : table_id_(table_id),
      table_name_(std::move(table_name)),
      namespace_id_(namespace_id),
      namespace_name_(std::move(namespace_name)),
      context_(std::move(context)) {}

arrow::Result<std::shared_ptr<PartitionData>> TableData::GetOrCreatePartition(
    std::string_view key) {
  if (auto existing = Partition(key)) return existing;
  // No lock held: this may be a catalog round-trip.
  ARROW_ASSIGN_OR_RAISE(
      PartitionId id,
      context_->partition_provider->GetOrCreatePartitionId(table_id_, key));
  WriterLock lock(&mu_);
  auto it = partitions_.find(key);
  if (it != partitions_.end()) return it->second;  // another writer won the race
  PartitionIdentity identity{id,        std::string(key), namespace_id_, namespace_name_,
                             table_id_, table_name_};
  auto partition = std::make_shared<PartitionData>(
      std::move(identity), context_->buffer_options, context_->totals);
  partitions_.emplace(std::string(key), partition);
  return partition;
}

std::shared_ptr<PartitionData> TableData::Partition(std::string_view key) const {
  ReaderLock lock(&mu_);
  auto it = partitions_.find(key);
  return it == partitions_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<PartitionData>> TableData::Partitions() const {
  ReaderLock lock(&mu_);
  std::vector<std::shared_ptr<PartitionData>> out;
  out.reserve(partitions_.size());
  for (const auto& [key, partition] : partitions_) out.push_back(partition);
  return out;
}

}  // namespace ingester
