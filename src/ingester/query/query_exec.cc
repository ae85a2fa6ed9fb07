#include "ingester/query/query_exec.h"

namespace ingester::query {

arrow::Result<std::vector<CollectedPartition>> CollectAll(QueryResponse* response) {
  std::vector<CollectedPartition> out;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto partition, response->NextPartition());
    if (partition == nullptr) return out;
    CollectedPartition collected{partition->info(), {}};
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto batch, partition->Next());
      if (batch == nullptr) break;
      collected.batches.push_back(std::move(batch));
    }
    out.push_back(std::move(collected));
  }
}

}  // namespace ingester::query
