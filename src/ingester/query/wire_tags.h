// Tag columns with int16 indices, for readers that ask for them: a ticket with
// "tag_index_type": "int16" gets dictionary<int16, utf8> tags where the data model
// (common/column_type.h) and every stage before the output use dictionary<int32, utf8>.
//
//   QueryResponse (int32 indices) ──WireResponse──> the same rows, int16 indices
//     └─ used by: the Flight DoGet stream and the schema GetSchema / GetFlightInfo
//        announce, and format=arrow of POST /api/v3/query, when the ticket asks
//
// Why: a full scan is bound by the bytes it moves (the server's copy into the socket,
// the client's copy out of it and its page faults). A TSBS cpu row is 128 bytes with
// int32 indices for its ten tags and 108 with int16 (-16 %).
//
// Why not by default: Arrow combines the batches of a result (pyarrow's combine_chunks,
// to_pandas, sort_by) under their index type, which fails once a tag has more than
// 32,768 distinct values over the whole result. The server cannot know that before the
// schema is sent, so the reader chooses.
//
// Each output batch carries its own dictionary (the stream sends a replacement when it
// changes), so what has to fit int16 is the dictionary of one batch: a batch whose
// dictionary has more than 32,768 entries is compacted to the values its rows use, and
// one whose rows use more is cut where the 32,769th value appears (only possible in
// batches of more than 32,768 rows). No row is ever refused.
#pragma once

#include <arrow/memory_pool.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "ingester/query/query_exec.h"

namespace ingester::query {

// The most entries a wire dictionary may have (int16 indices 0..32767).
inline constexpr int64_t kMaxWireDictionary = 32768;

// `schema` with every dictionary<int32, utf8> field as dictionary<int16, utf8> (same
// name, nullability and metadata); other fields and the schema metadata unchanged.
std::shared_ptr<arrow::Schema> WireSchema(const std::shared_ptr<arrow::Schema>& schema);

// `batch` (under the data model) as one or more batches under `wire_schema`
// (WireSchema of its schema), the same rows in the same order. (What an index under a
// null becomes is left unspecified: readers never look at it.) Invalid when a valid
// index lies outside its dictionary.
arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ToWire(
    const std::shared_ptr<arrow::RecordBatch>& batch,
    const std::shared_ptr<arrow::Schema>& wire_schema,
    arrow::MemoryPool* pool = arrow::default_memory_pool());

// `response` with its schema and every batch in the wire form. Not thread-safe, as any
// response.
std::unique_ptr<QueryResponse> WireResponse(
    std::unique_ptr<QueryResponse> response,
    arrow::MemoryPool* pool = arrow::default_memory_pool());

// What a ticket's "tag_index_type" asks of an output: the response (or its schema) as
// it is for kInt32, in the wire form for kInt16. Every output decides through these.
std::unique_ptr<QueryResponse> WithTagIndexType(std::unique_ptr<QueryResponse> response,
                                                TagIndexType type);
std::shared_ptr<arrow::Schema> SchemaWithTagIndexType(
    const std::shared_ptr<arrow::Schema>& schema, TagIndexType type);

}  // namespace ingester::query
