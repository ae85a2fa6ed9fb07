#include "ingester/common/column_type.h"

#include <array>
#include <utility>

#include <arrow/type.h>

namespace ingester {

namespace {
constexpr std::array<std::pair<ColumnType, std::string_view>, 7> kNames = {{
    {ColumnType::kTag, "tag"},
    {ColumnType::kI64, "i64"},
    {ColumnType::kU64, "u64"},
    {ColumnType::kF64, "f64"},
    {ColumnType::kBool, "bool"},
    {ColumnType::kString, "string"},
    {ColumnType::kTime, "time"},
}};
}  // namespace

std::string_view ColumnTypeName(ColumnType type) {
  for (const auto& [t, name] : kNames) {
    if (t == type) return name;
  }
  return "unknown";
}

std::optional<ColumnType> ColumnTypeFromName(std::string_view name) {
  for (const auto& [t, n] : kNames) {
    if (n == name) return t;
  }
  return std::nullopt;
}

std::shared_ptr<arrow::DataType> ArrowTypeFor(ColumnType type) {
  switch (type) {
    case ColumnType::kTag:
      return arrow::dictionary(arrow::int32(), arrow::utf8());
    case ColumnType::kI64:
      return arrow::int64();
    case ColumnType::kU64:
      return arrow::uint64();
    case ColumnType::kF64:
      return arrow::float64();
    case ColumnType::kBool:
      return arrow::boolean();
    case ColumnType::kString:
      return arrow::utf8();
    case ColumnType::kTime:
      return arrow::timestamp(arrow::TimeUnit::NANO);
  }
  return nullptr;
}

std::optional<ColumnType> ColumnTypeFromArrow(std::string_view name,
                                              const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::DICTIONARY:
      return ColumnType::kTag;
    case arrow::Type::INT64:
      return ColumnType::kI64;
    case arrow::Type::UINT64:
      return ColumnType::kU64;
    case arrow::Type::DOUBLE:
      return ColumnType::kF64;
    case arrow::Type::BOOL:
      return ColumnType::kBool;
    case arrow::Type::STRING:
      return ColumnType::kString;
    case arrow::Type::TIMESTAMP:
      if (name == kTimeColumnName) return ColumnType::kTime;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

}  // namespace ingester
