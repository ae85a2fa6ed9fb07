// Validation of the names clients choose. Catalog::GetOrCreate* applies these before
// touching storage; callers may apply them earlier to reject a write up front.
//
// Object store paths are built from ids, never names (see ParquetFilePath), so these
// rules are not what keeps paths safe; they keep names printable, bounded and free of
// the characters that make logs, URLs and file-based tools misbehave.
#pragma once

#include <arrow/status.h>

#include <string>
#include <string_view>

#include "ingester/catalog/types.h"

namespace ingester::catalog {

inline constexpr size_t kMaxNamespaceNameLength = 64;
inline constexpr size_t kMaxTableNameBytes = 255;
inline constexpr size_t kMaxColumnNameBytes = 255;
// The longest key a partition template can form: 7 tag values of at most 200 bytes, a
// time part of at most 72 and 7 delimiters (partition/partition_template.h) is 1479.
inline constexpr size_t kMaxPartitionKeyBytes = 2048;

// 1..64 characters of [A-Za-z0-9_.-], not starting with '.'.
arrow::Status ValidateNamespaceName(std::string_view name);

// 1..255 bytes of valid UTF-8 without control characters (0x00-0x1F, 0x7F), not "."
// or "..", and no '/'.
arrow::Status ValidateTableName(std::string_view name);

// As a table name, but '/' is allowed.
arrow::Status ValidateColumnName(std::string_view name);

// ValidateColumnName plus the time rule: the column named "time" has type time and no
// other column does.
arrow::Status ValidateColumnSpec(const ColumnSpec& spec);

// 1..1024 bytes of valid UTF-8 (partition keys carry tag values, so any printable
// text may appear).
arrow::Status ValidatePartitionKey(std::string_view key);

// True when `bytes` is well-formed UTF-8 (no overlong forms, surrogates or code points
// above U+10FFFF).
bool IsValidUtf8(std::string_view bytes);

// `name` in double quotes for an error message: well-formed UTF-8 as is, control
// characters, invalid bytes, '"' and '\' escaped (\xNN, \", \\), cut after about
// `max_bytes` with "..." so a hostile name cannot flood a log.
std::string QuoteForMessage(std::string_view name, size_t max_bytes = 80);

}  // namespace ingester::catalog
