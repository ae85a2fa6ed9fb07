// Turns parsed line protocol into a WriteOp: validates every line against the catalog
// schema (creating tables and columns on first write), rejects lines whose types
// conflict, and builds one Arrow record batch per (table, partition key), the key
// formed by the table's partition template (partition/partition_template.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "ingester/catalog/types.h"
#include "ingester/dml/write_op.h"
#include "ingester/lp/parser.h"
#include "ingester/write/schema_cache.h"

namespace ingester {

struct LineRejection {
  uint32_t line_number = 0;  // 1-based
  uint32_t column = 0;       // 1-based byte column, 0 when unknown
  std::string message;
};

struct BuiltWrite {
  // Sequence numbers are still 0: the caller takes them from the oracle.
  WriteOp op;
  std::vector<LineRejection> rejected;  // in line order
  int64_t lines_accepted = 0;
};

// Validates and builds. `body` is the request text the lines point into (for columns of
// rejections). Rejections of the parser are merged in. Thread-safe if `cache` is.
arrow::Result<BuiltWrite> BuildWrite(const catalog::NamespaceRecord& ns,
                                     std::string_view body, const lp::ParsedBody& parsed,
                                     SchemaCache* cache);

}  // namespace ingester
