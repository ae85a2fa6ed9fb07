#include "ingester/buffer/partition_cache.h"

#include <functional>
#include <utility>

namespace ingester {

arrow::Status PartitionCacheOptions::Validate() const {
  if (!inner) return arrow::Status::Invalid("PartitionCache needs an inner provider");
  return arrow::Status::OK();
}

size_t PartitionCache::KeyHash::operator()(const Key& k) const {
  return std::hash<std::string_view>{}(k.partition_key) * 31 +
         std::hash<TableId>{}(k.table);
}

arrow::Result<std::unique_ptr<PartitionCache>> PartitionCache::Make(
    PartitionCacheOptions options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  return std::unique_ptr<PartitionCache>(new PartitionCache(std::move(options)));
}

PartitionCache::PartitionCache(PartitionCacheOptions options)
    : inner_(std::move(options.inner)) {
  WriterLock lock(&mu_);
  entries_.reserve(options.entries.size());
  for (auto& e : options.entries) {
    entries_.insert_or_assign(Key{e.table_id, std::move(e.partition_key)},
                              e.partition_id);
  }
}

arrow::Result<PartitionId> PartitionCache::GetOrCreatePartitionId(TableId table,
                                                                  std::string_view key) {
  Key k{table, std::string(key)};
  {
    ReaderLock lock(&mu_);
    auto it = entries_.find(k);
    if (it != entries_.end()) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      return it->second;
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  ARROW_ASSIGN_OR_RAISE(PartitionId id, inner_->GetOrCreatePartitionId(table, key));
  WriterLock lock(&mu_);
  entries_.emplace(std::move(k), id);
  return id;
}

size_t PartitionCache::size() const {
  ReaderLock lock(&mu_);
  return entries_.size();
}

uint64_t PartitionCache::hits() const { return hits_.load(std::memory_order_relaxed); }
uint64_t PartitionCache::misses() const {
  return misses_.load(std::memory_order_relaxed);
}

}  // namespace ingester
