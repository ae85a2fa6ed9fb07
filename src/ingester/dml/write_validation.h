// The rules a write's data must obey before it may reach the WAL or the buffer, for the
// paths whose batches we did not build ourselves: Flight DoPut (batches from a client)
// and WAL replay (batches written by an earlier version that may have let bad data
// through). Line protocol needs none of this at run time: its parser enforces the same
// rules while it builds the batches.
//
// Two kinds of rule:
//
//   well-formed Arrow   arrow::Array::ValidateFull: buffers large enough, string offsets
//                       ascending and inside the data, dictionary indices inside the
//                       dictionary, utf8 values valid UTF-8. A batch that fails would
//                       read out of bounds in the buffer, the persist or a query.
//                       Settled by a direct read of the buffers for the data model's
//                       column types (dml/well_formed.h, which implies ValidateFull);
//                       ValidateFull itself decides any column that check does not.
//   line protocol's     names (catalog/names.h: non-empty, bounded, valid UTF-8, no
//   value rules         control characters); tag values non-empty; floats finite (NaN
//                       and infinities are rejected); `time` never null.
//
// Errors are InvalidInput (common/error.h) naming the column, the row (0-based within
// the batch) and what is wrong, e.g.
//   column 'host' row 0: dictionary index 2147483647 is out of range (the dictionary
//   has 1 value)
// O(rows) per column; the checks stop at the first problem. Thread-safe (pure).
#pragma once

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/status.h>

#include <string_view>

#include "ingester/common/column_type.h"
#include "ingester/dml/write_op.h"

namespace ingester {

// The values of one column in the role `role`. The Arrow types a role accepts are those
// of the Flight input (write/arrow_write_builder.h) and of the data model: a tag is a
// dictionary of utf8 values (any integer index type) or a plain utf8 array, time any
// integer or timestamp array; a column whose type does not fit its role is only checked
// to be well-formed. Does not check the name.
arrow::Status ValidateColumnValues(std::string_view name, ColumnType role,
                                   const arrow::Array& array);

// A PartitionWrite's batch in the data model (dml/write_op.h): every column's type is
// exactly ArrowTypeFor of its role, names are valid and unique, `time` is present (the
// only timestamp column), columns have the batch's length, then ValidateColumnValues
// for each column.
arrow::Status ValidateWriteBatch(const arrow::RecordBatch& batch);

// Every PartitionWrite of `op`: namespace and table names, partition key, a non-null
// batch that passes ValidateWriteBatch. Errors name the table and partition.
arrow::Status ValidateWriteOp(const WriteOp& op);

}  // namespace ingester
