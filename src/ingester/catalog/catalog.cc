#include "ingester/catalog/catalog.h"

#include <string>

namespace ingester::catalog {

std::string SortKeyConflictDetail::ToString() const {
  return "sort key conflict, observed " + SortKeyToString(observed_);
}

arrow::Status SortKeyConflict(PartitionId partition_id,
                              std::vector<std::string> observed) {
  std::string message = "sort key of partition " + std::to_string(partition_id.value()) +
                        " changed concurrently: the catalog holds " +
                        SortKeyToString(observed);
  return arrow::Status(arrow::StatusCode::TypeError, std::move(message),
                       std::make_shared<SortKeyConflictDetail>(std::move(observed)));
}

const SortKeyConflictDetail* SortKeyConflictOf(const arrow::Status& status) {
  return dynamic_cast<const SortKeyConflictDetail*>(status.detail().get());
}

std::string SortKeyToString(const std::vector<std::string>& key) {
  std::string out = "[";
  for (size_t i = 0; i < key.size(); ++i) {
    if (i > 0) out += ", ";
    out += key[i];
  }
  return out + "]";
}

}  // namespace ingester::catalog
