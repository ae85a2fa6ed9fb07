// The column types of the data model and their Arrow representation.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include <arrow/type_fwd.h>

namespace ingester {

// Stored in the catalog by name (see ColumnTypeName); never renumber.
enum class ColumnType { kTag, kI64, kU64, kF64, kBool, kString, kTime };

// The name of the time column of every table: nanoseconds since the epoch, UTC.
inline constexpr std::string_view kTimeColumnName = "time";

// "tag", "i64", "u64", "f64", "bool", "string", "time".
std::string_view ColumnTypeName(ColumnType type);
std::optional<ColumnType> ColumnTypeFromName(std::string_view name);

// Tags are dictionary<int32, utf8>; time is timestamp[ns] (no time zone, UTC by
// convention); fields map to int64, uint64, float64, boolean and utf8.
std::shared_ptr<arrow::DataType> ArrowTypeFor(ColumnType type);
// The inverse of ArrowTypeFor, for a column named `name`; nullopt for any other type.
std::optional<ColumnType> ColumnTypeFromArrow(std::string_view name,
                                              const arrow::DataType& type);

}  // namespace ingester
