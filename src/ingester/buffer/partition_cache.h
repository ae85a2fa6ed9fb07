// A PartitionProvider decorator that answers from memory what it was told at startup.
//
// At startup the server loads the most recent partitions of every table from the
// catalog (IOx: the last few days) and builds the cache with them. Partition nodes
// are then created after a restart or WAL replay without one catalog query each; only a
// partition the cache does not know (a new day, an old partition written late) goes to
// the inner provider, and its answer is remembered.
#pragma once

#include <arrow/result.h>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ingester/buffer/partition_provider.h"
#include "ingester/common/thread_annotations.h"

namespace ingester {

struct PartitionCacheEntry {
  TableId table_id;
  std::string partition_key;
  PartitionId partition_id;
};

struct PartitionCacheOptions {
  // Asked on a miss. Required.
  std::shared_ptr<PartitionProvider> inner;
  // The pre-warmed entries.
  std::vector<PartitionCacheEntry> entries;

  arrow::Status Validate() const;
};

class PartitionCache final : public PartitionProvider {
 public:
  static arrow::Result<std::unique_ptr<PartitionCache>> Make(
      PartitionCacheOptions options);

  // Thread-safe. A hit takes a shared lock only; a miss calls the inner provider with no
  // lock held, then records the answer.
  arrow::Result<PartitionId> GetOrCreatePartitionId(TableId table,
                                                    std::string_view key) override;

  size_t size() const;
  // Lookups answered from memory, and lookups passed to the inner provider.
  uint64_t hits() const;
  uint64_t misses() const;

 private:
  struct Key {
    TableId table;
    std::string partition_key;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };

  explicit PartitionCache(PartitionCacheOptions options);

  const std::shared_ptr<PartitionProvider> inner_;
  mutable SharedMutex mu_;
  std::unordered_map<Key, PartitionId, KeyHash> entries_ GUARDED_BY(mu_);
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace ingester
