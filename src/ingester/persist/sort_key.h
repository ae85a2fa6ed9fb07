// The sort key of a partition: the column order its Parquet files are sorted by, most
// significant first, stored in the catalog (PartitionRecord::sort_key).
//
//  - First persist (the catalog holds no key): every tag column of the data by
//    ascending cardinality (distinct values; ties by name), then `time`. Low-cardinality
//    tags first give long runs of equal values, which compress best and let readers
//    skip row groups.
//  - Later persists keep the catalog's order and insert the tags the key lacks just
//    before `time`, themselves by ascending cardinality. A key only ever grows, so
//    files written under an older key stay sorted by a prefix-compatible order.
//
// The pure functions are thread-safe. UpdateCatalogSortKey does the compare-and-swap
// in the catalog, retrying on top of the key a concurrent writer stored.
#pragma once

#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ingester/common/ids.h"

namespace ingester::catalog {
class Catalog;
}

namespace ingester::persist {

struct TagCardinality {
  std::string name;
  // Distinct non-null values of the tag over the data.
  int64_t distinct = 0;

  bool operator==(const TagCardinality&) const = default;
};

// The tag columns of `schema` (dictionary<int32, utf8>, see column_set.h) with their
// distinct non-null values over `batches`, in schema order. Batches may lack some of the
// tags (absent = all null) and each carries its own dictionaries; only dictionary
// entries some row references are counted. Batches are matched to tags by name.
arrow::Result<std::vector<TagCardinality>> ComputeTagCardinalities(
    const arrow::Schema& schema,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches);

// The sort key for data whose tags are `tags`, given the key the catalog holds
// (`existing`, empty on first persist). See the top of the file for the rules. The
// result always ends with `time`, unless `existing` already has `time` elsewhere (a
// key written by another tool), in which case new tags go just before it.
std::vector<std::string> ComputeSortKey(const std::vector<std::string>& existing,
                                        const std::vector<TagCardinality>& tags);

// `key` restricted to the names in `columns`, in key order (the order to sort data that
// lacks some of the key's columns).
std::vector<std::string> FilterSortKey(const std::vector<std::string>& key,
                                       const std::vector<std::string>& columns);

struct SortKeyUpdate {
  // The key the catalog holds after the call (the one to sort the data by).
  std::vector<std::string> key;
  // Compare-and-swap attempts made (0 when the catalog key already covered the data).
  int cas_attempts = 0;
};

// Makes the catalog key of `partition_id` cover `tags`: computes
// ComputeSortKey(expected, tags) and, when it differs from `expected`, swaps it in with
// Catalog::CasSortKey. On a sort key conflict the computation restarts from the key the
// catalog reported (another ingester got there first), up to `max_attempts` swaps
// (then Conflict). Other catalog errors are returned as they are (the caller decides
// about retrying). `expected` is the caller's idea of the stored key (e.g. a cached
// PartitionRecord); a stale one just costs one more attempt.
arrow::Result<SortKeyUpdate> UpdateCatalogSortKey(catalog::Catalog* catalog,
                                                  PartitionId partition_id,
                                                  std::vector<std::string> expected,
                                                  const std::vector<TagCardinality>& tags,
                                                  int max_attempts = 16);

}  // namespace ingester::persist
