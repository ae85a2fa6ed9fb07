// A query response encoded in one of the output formats of POST /api/v3/query, pulled
// chunk by chunk: each Next() pulls batches from the response until the encoder has
// bytes to give, so a slow HTTP client holds back the query instead of the server
// buffering its result.
//
//   format   content type                         bytes
//   jsonl    application/jsonl                    one JSON object per row, keys in column
//                                                 order, nulls left out (value_format.h)
//   csv      text/csv; charset=utf-8              header line, then one line per row;
//                                                 CRLF, RFC 4180 quoting, nulls empty
//   arrow    application/vnd.apache.arrow.stream  Arrow IPC stream format: the schema,
//                                                 then per batch the dictionaries that
//                                                 changed and the batch, end-of-stream
//   parquet  application/vnd.apache.parquet       one Parquet file: row groups of at most
//                                                 `parquet_row_group_rows` rows (zstd),
//                                                 the Arrow schema stored (ARROW:schema),
//                                                 the footer last
//
// Memory: the response's current batch plus one chunk: a batch's encoding, or for
// Parquet the row group being filled (written out when full, and at the end).
#pragma once

#include <arrow/memory_pool.h>
#include <arrow/result.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ingester/query/query_exec.h"

namespace ingester::query {

enum class ResultFormat { kJsonl, kCsv, kArrow, kParquet };

// "jsonl", "csv", "arrow" or "parquet"; InvalidInput naming the known ones otherwise.
arrow::Result<ResultFormat> ParseResultFormat(std::string_view name);
std::string_view ResultFormatName(ResultFormat format);
std::string_view ContentTypeOf(ResultFormat format);
// True for the binary formats (arrow, parquet), which are downloads rather than text.
bool IsBinaryFormat(ResultFormat format);

struct ResultStreamOptions {
  ResultFormat format = ResultFormat::kJsonl;
  arrow::MemoryPool* pool = arrow::default_memory_pool();
  int64_t parquet_row_group_rows = 64 * 1024;

  arrow::Status Validate() const;
};

// Not thread-safe: one consumer pulls.
class ResultStream {
 public:
  static arrow::Result<std::unique_ptr<ResultStream>> Make(
      std::unique_ptr<QueryResponse> response, const ResultStreamOptions& options);
  ~ResultStream();

  // The next bytes of the encoded result (never empty), or nullopt once all of them have
  // been returned. The response is released as soon as it is exhausted or fails; after
  // an error every call returns that error again.
  arrow::Result<std::optional<std::string>> Next();

 private:
  struct Impl;
  explicit ResultStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ingester::query
