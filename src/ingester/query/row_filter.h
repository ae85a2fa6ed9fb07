// Evaluation of a query Predicate: selecting the rows of batches (buffered or read from
// Parquet) with Arrow compute kernels. Partitions are pruned by their key elsewhere
// (partition/partition_key.h).
//
// IOx's ingester pruned partitions only; we also filter rows, so a client gets exactly
// the rows its predicate asks for.
#pragma once

#include <arrow/compute/exec.h>
#include <arrow/memory_pool.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/query/query_exec.h"

namespace ingester::query {

// Which rows of a batch match.
struct RowMask {
  enum class Kind { kAll, kNone, kSome };
  Kind kind = Kind::kAll;
  // A boolean array as long as the batch when kind is kSome; null marks a non-match.
  std::shared_ptr<arrow::Array> mask;
};

// Evaluates one predicate over batches of buffered data (the data model of
// common/column_type.h: tags dictionary<int32, utf8>, `time` timestamp[ns]). Not
// thread-safe (it keeps the compute context); one per partition response is cheap.
class RowFilter {
 public:
  // `predicate` must be valid for the table (tag predicates name tag columns). Kernels
  // allocate from `pool`.
  RowFilter(Predicate predicate, arrow::MemoryPool* pool);

  // The rows of `batch` that match. `time_covered` says the caller knows every row's
  // time is in the range (partition statistics), which skips the time comparison. A
  // batch lacking a tag the predicate names matches no row (its value is null).
  arrow::Result<RowMask> Evaluate(const arrow::RecordBatch& batch, bool time_covered);

  // The rows of `batch` that `mask` selects (`batch` itself for kAll; null for kNone).
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Apply(
      const std::shared_ptr<arrow::RecordBatch>& batch, const RowMask& mask);

  const Predicate& predicate() const { return predicate_; }

 private:
  arrow::Status AndInto(std::optional<arrow::Datum>* acc, arrow::Datum mask);

  const Predicate predicate_;
  arrow::compute::ExecContext ctx_;
  // One value set per tag predicate (utf8), built once.
  std::vector<std::shared_ptr<arrow::Array>> value_sets_;
};

}  // namespace ingester::query
