// The text of query result values, shared by every text output of a query: the
// `ingester query` CLI (table, csv, json) and POST /api/v3/query (jsonl, csv).
//
//   column type              text                       JSON value
//   time (timestamp ns)      RFC 3339 UTC, as many      string
//                            fractional digits as
//                            needed (time_format.h)
//   f64                      shortest round trip, with  number; NaN and infinities
//                            a decimal point or an      (which JSON lacks) null
//                            exponent: 1.0, 0.5, 1e+20
//   i64, u64                 decimal                    number
//   bool                     true / false               true / false
//   tag (dictionary), string the string                 string
//   null                     (none)                     (none: the caller omits it or
//                                                        writes null)
#pragma once

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ingester::query {

// Shortest text that reads back as `v`, keeping a decimal point when it would look like
// an integer ("1.0", not "1"); "NaN", "inf", "-inf" for the non-finite.
std::string FormatDouble(double v);

// True for the types printed as numbers (right-aligned in tables).
bool IsNumericType(const arrow::DataType& type);

// The text of one value; nullopt for null.
std::optional<std::string> CellText(const arrow::Array& array, int64_t row);

// The JSON of one value (above); nullopt for null.
std::optional<std::string> CellJson(const arrow::Array& array, int64_t row);

// `text` as an RFC 4180 field: quoted (quotes doubled) when it holds a comma, a quote or
// a line break.
std::string CsvField(std::string_view text);

// CSV lines ending in CRLF: the header of `schema`, and the rows of `batch` (nulls as
// empty fields), appended to `out`.
void AppendCsvHeader(const arrow::Schema& schema, std::string* out);
void AppendCsvRows(const arrow::RecordBatch& batch, std::string* out);

// JSON Lines: one object per row of `batch`, keys in column order, null values left out
// (a NaN or infinite float, which JSON cannot hold, is written as null), each ending in
// "\n", appended to `out`.
void AppendJsonLines(const arrow::RecordBatch& batch, std::string* out);

}  // namespace ingester::query
