// Turns Arrow record batches for one table (Flight DoPut) into a validated WriteOp, the
// way write_builder.h does for line protocol: the catalog decides column types (creating
// the table and new columns on first write), conflicts are rejected naming the column
// and both types, and rows become one PartitionWrite per partition key of the table's
// template (partition/partition_template.h) in the data model of common/column_type.h.
//
// Column roles, from each column's Arrow type:
//
//   Arrow type of the column                              becomes
//   ----------------------------------------------------  ------------------------------
//   dictionary<int8|int16|int32, utf8>                    tag (indices widened to int32)
//   utf8 with field metadata ingester.column_type=tag     tag (dictionary-encoded)
//   `time`: timestamp[s|ms|us|ns] (any time zone)         time, timestamp[ns], UTC
//   `time`: int64 (nanoseconds since the epoch)           time
//   int64 / uint64 / float64 / bool / utf8                i64 / u64 / f64 / bool / string
//   anything else                                         InvalidInput naming column+type
//
// Batches come from clients, so nothing in them is trusted: before any value is read,
// each batch is checked as dml/write_validation.h describes (well-formed Arrow, i.e.
// arrow::Array::ValidateFull: string offsets, dictionary indices, UTF-8; and the value
// rules of line protocol: valid names, non-empty tag values, finite floats, non-null
// time). Unlike line protocol, a batch is all or nothing: any bad column or value (or an
// out-of-range time) rejects the whole call, and nothing reaches the catalog unless
// every batch passes.
#pragma once

#include <arrow/memory_pool.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/catalog/types.h"
#include "ingester/dml/write_op.h"
#include "ingester/write/schema_cache.h"

namespace ingester {

// Field metadata key (and its value "tag") that marks a utf8 column as a tag.
inline constexpr std::string_view kColumnTypeMetadataKey = "ingester.column_type";

// Validates and builds. Batches may differ in columns; rows keep their order (batch by
// batch) within each partition. Empty batches are checked but add no rows; the op then
// has no writes. Sequence numbers are 0: the caller takes them from the oracle. Errors:
// InvalidInput (bad column, name or value, naming the column and row; "batch i: ..."
// when there are several batches), Conflict (type
// clash with the catalog), LimitExceeded (namespace limits), or the catalog's error.
// Thread-safe if `cache` is.
arrow::Result<WriteOp> BuildArrowWrite(
    const catalog::NamespaceRecord& ns, const std::string& table_name,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches, SchemaCache* cache,
    arrow::MemoryPool* pool = arrow::default_memory_pool());

}  // namespace ingester
