// The rules every catalog backend applies the same way, whatever stores the records:
// argument checks, the decisions of get-or-create (type conflicts, limits, sort key
// columns, parquet file identity) and the wording of their errors. Internal to the
// catalog module; SqliteCatalog and PostgresCatalog call these so both backends give
// the same answers and messages (the conformance suite, catalog_test.cc, checks it).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/catalog/types.h"
#include "ingester/common/clock.h"

namespace ingester::catalog::rules {

// A stored partition template (its JSON form); DataLoss naming `owner` when it does
// not parse.
arrow::Result<partition::PartitionTemplate> TemplateFromText(const std::string& text,
                                                             const std::string& owner);

// ValidateNamespaceName plus positive limits.
arrow::Status ValidateNamespaceRequest(const std::string& name,
                                       const NamespaceLimits& limits);

// "table "cpu" (id 3)".
std::string DescribeTable(const TableRecord& table);

// IOError: a row inserted (or found conflicting) in this transaction cannot be read.
arrow::Status Vanished(std::string_view what);

// The columns of `wanted` once each, in first-seen order; Conflict if one name is
// offered with two types. Every spec must already be valid (ValidateColumnSpec).
arrow::Result<std::vector<ColumnSpec>> Dedupe(const std::vector<ColumnSpec>& wanted);

// Compares `unique` (from Dedupe) with the stored `schema`: Conflict naming the column
// and both types when one exists with another type; otherwise the specs missing from
// the schema.
arrow::Result<std::vector<const ColumnSpec*>> MissingColumns(
    const TableSchema& schema, const std::vector<ColumnSpec>& unique);

// LimitExceeded when the table would have more than max_columns_per_table columns.
arrow::Status CheckColumnLimit(const NamespaceRecord& ns, const TableSchema& schema,
                               size_t missing);

// LimitExceeded when a namespace holding `count` tables cannot take table `name`.
arrow::Status CheckTableLimit(const NamespaceRecord& ns, int64_t count,
                              const std::string& name);

// Valid column names, none twice.
arrow::Status ValidateSortKey(const std::vector<std::string>& new_key);

// InvalidInput when a name of `new_key` is not one of `columns`.
arrow::Status CheckSortKeyColumns(const PartitionRecord& partition,
                                  const std::vector<ColumnRecord>& columns,
                                  const std::vector<std::string>& new_key);

// Checks `record` and fills its defaults (path, created_at from `clock`): the record
// CreateParquetFile stores.
arrow::Result<ParquetFileRecord> PrepareParquetFile(const ParquetFileRecord& record,
                                                    const Clock& clock);

// InvalidInput when `wanted` names another table or namespace than the partition's.
arrow::Status CheckParquetOwner(const ParquetFileRecord& wanted,
                                const PartitionRecord& partition,
                                const TableRecord& table);

// The id of `stored` when it is the file `wanted` (prepared from `input`) describes,
// Conflict when the object_store_id is used by a different file.
arrow::Result<ParquetFileId> MatchStoredParquet(const ParquetFileRecord& input,
                                                const ParquetFileRecord& wanted,
                                                const ParquetFileRecord& stored);

// A jittered exponential back-off: 2 ms doubling up to 250 ms, full jitter.
std::chrono::microseconds BackoffDelay(int attempt);

// The status of a transaction body's outcome, whether it returns a Status or a Result
// (the retry loops of both catalogs look at it).
inline const arrow::Status& StatusOf(const arrow::Status& status) { return status; }
template <typename T>
const arrow::Status& StatusOf(const arrow::Result<T>& result) {
  return result.status();
}

}  // namespace ingester::catalog::rules
