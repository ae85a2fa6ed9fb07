// What every node of one BufferTree shares: providers, options and the tree's totals.
// Immutable after the tree is built; nodes hold it by shared_ptr.
#pragma once

#include <memory>

#include "ingester/buffer/deferred_load.h"
#include "ingester/buffer/mutable_buffer.h"
#include "ingester/buffer/partition_data.h"
#include "ingester/buffer/partition_provider.h"

namespace ingester {

struct TreeContext {
  std::shared_ptr<PartitionProvider> partition_provider;  // never null
  std::shared_ptr<NameResolver> name_resolver;            // may be null
  // Runs background name loads of nodes created without a name; null: load on first use.
  DeferredLoad<std::string>::Executor name_prefetch;
  MutableBufferOptions buffer_options;
  std::shared_ptr<BufferTotals> totals;  // never null
};

}  // namespace ingester
