#include "ingester/query/value_format.h"

#include <arrow/scalar.h>

#include <charconv>
#include <cmath>

#include "ingester/common/json.h"
#include "ingester/query/time_format.h"

namespace ingester::query {

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string text = ec == std::errc() ? std::string(buf, ptr) : std::to_string(v);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

bool IsNumericType(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::INT64:
    case arrow::Type::UINT64:
    case arrow::Type::DOUBLE:
      return true;
    default:
      return false;
  }
}

std::optional<std::string> CellText(const arrow::Array& array, int64_t row) {
  if (array.IsNull(row)) return std::nullopt;
  switch (array.type_id()) {
    case arrow::Type::DICTIONARY: {
      const auto& dict = static_cast<const arrow::DictionaryArray&>(array);
      return CellText(*dict.dictionary(), dict.GetValueIndex(row));
    }
    case arrow::Type::STRING:
      return std::string(static_cast<const arrow::StringArray&>(array).GetView(row));
    case arrow::Type::INT64:
      return std::to_string(static_cast<const arrow::Int64Array&>(array).Value(row));
    case arrow::Type::UINT64:
      return std::to_string(static_cast<const arrow::UInt64Array&>(array).Value(row));
    case arrow::Type::DOUBLE:
      return FormatDouble(static_cast<const arrow::DoubleArray&>(array).Value(row));
    case arrow::Type::BOOL:
      return static_cast<const arrow::BooleanArray&>(array).Value(row) ? "true" : "false";
    case arrow::Type::TIMESTAMP:
      return FormatTimestamp(static_cast<const arrow::TimestampArray&>(array).Value(row));
    default: {
      auto scalar = array.GetScalar(row);
      return scalar.ok() ? (*scalar)->ToString() : "?";
    }
  }
}

std::optional<std::string> CellJson(const arrow::Array& array, int64_t row) {
  auto text = CellText(array, row);
  if (!text) return std::nullopt;
  switch (array.type_id()) {
    case arrow::Type::DOUBLE:
      return std::isfinite(static_cast<const arrow::DoubleArray&>(array).Value(row))
                 ? std::move(*text)
                 : "null";
    case arrow::Type::INT64:
    case arrow::Type::UINT64:
    case arrow::Type::BOOL:
      return text;
    default:
      return json::Quote(*text);
  }
}

std::string CsvField(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + '"';
}

void AppendCsvHeader(const arrow::Schema& schema, std::string* out) {
  for (int c = 0; c < schema.num_fields(); ++c) {
    if (c) *out += ',';
    *out += CsvField(schema.field(c)->name());
  }
  *out += "\r\n";
}

void AppendCsvRows(const arrow::RecordBatch& batch, std::string* out) {
  for (int64_t r = 0; r < batch.num_rows(); ++r) {
    for (int c = 0; c < batch.num_columns(); ++c) {
      if (c) *out += ',';
      if (auto text = CellText(*batch.column(c), r)) *out += CsvField(*text);
    }
    *out += "\r\n";
  }
}

void AppendJsonLines(const arrow::RecordBatch& batch, std::string* out) {
  const arrow::Schema& schema = *batch.schema();
  for (int64_t r = 0; r < batch.num_rows(); ++r) {
    *out += '{';
    bool first = true;
    for (int c = 0; c < batch.num_columns(); ++c) {
      auto value = CellJson(*batch.column(c), r);
      if (!value) continue;
      if (!first) *out += ',';
      first = false;
      json::AppendString(out, schema.field(c)->name());
      *out += ':';
      *out += *value;
    }
    *out += "}\n";
  }
}

}  // namespace ingester::query
