// The Flight DoGet ticket: a JSON document naming the query (DESIGN.md, "Interfaces").
//
//   {"namespace": "db",                        required, non-empty string
//    "table": "cpu",                           required, non-empty string
//    "columns": ["host", "usage", "time"],     optional; absent, null or [] = all
//    "predicate": {                            optional
//      "time": {"start": 0,                    optional; [start, end) in ns since the
//               "end": 1700000000000000000},   epoch, each bound an integer or
//               absent/null
//      "tags": {"host": ["a", "b"],            optional; tag -> one string (equality)
//               "region": "eu"}},                or a list of strings (IN)
//    "scope": "all",                           optional; "all" (the default): this
//                                                ingester's buffer, the Parquet files
//                                                and the peers' buffers; "buffer": this
//                                                ingester's buffer only (what peers ask
//                                                each other; never fans out again)
//    "partial": false,                         optional boolean; true: a peer that fails
//                                                is left out and named in the response
//                                                (schema metadata
//                                                "ingester.missing_peers") instead of
//                                                failing the query
//    "tag_index_type": "int32"}                optional; "int32" (the default) or
//                                                "int16": the index type of the tag
//                                                columns in Arrow outputs (Flight, HTTP
//                                                format=arrow; query/wire_tags.h)
//
// Unknown keys are refused, so a misspelt "colums" is an error, not a silent full scan.
#pragma once

#include <arrow/result.h>

#include <string>
#include <string_view>

#include "ingester/query/query_exec.h"

namespace ingester::query {

// InvalidInput (common/error.h) saying what is wrong, with the JSON path of the bad part.
arrow::Result<QueryRequest> ParseTicket(std::string_view json);

// The ticket of `request`; ParseTicket(TicketJson(r)) == r (tag predicates in name order,
// one value written as a string).
std::string TicketJson(const QueryRequest& request);

// The PutResult / descriptor JSON helpers of DoPut: {"namespace": ..., "table": ...}.
struct TableRef {
  std::string namespace_name;
  std::string table_name;
};
arrow::Result<TableRef> ParseTableRef(std::string_view json);

}  // namespace ingester::query
