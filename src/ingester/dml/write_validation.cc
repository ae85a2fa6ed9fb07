#include "ingester/dml/write_validation.h"

#include <arrow/type.h>

#include <cmath>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "ingester/catalog/names.h"
#include "ingester/catalog/types.h"
#include "ingester/common/error.h"
#include "ingester/dml/well_formed.h"

namespace ingester {

namespace {

std::string ColumnPrefix(std::string_view name) {
  return "column '" + std::string(name) + "'";
}

arrow::Status RowError(std::string_view name, int64_t row, const std::string& what) {
  return InvalidInput(ColumnPrefix(name) + " row " + std::to_string(row) + ": " + what);
}

// Whether `buffer` holds at least `bytes` bytes (a missing buffer holds none).
bool Holds(const std::shared_ptr<arrow::Buffer>& buffer, int64_t bytes) {
  return bytes <= 0 || (buffer != nullptr && buffer->size() >= bytes);
}

// The first value of a utf8 array whose offsets are out of order or outside the data,
// or whose bytes are not UTF-8, described as "<unit> <i>: what"; nullopt when none is
// found (or the offsets buffer itself is too short to look). Only reads memory the
// buffers' sizes allow: this runs on arrays that failed Arrow's validation.
std::optional<std::string> LocateStringProblem(const arrow::ArrayData& data,
                                               std::string_view unit) {
  if (data.buffers.size() < 3) return std::nullopt;
  const int64_t n = data.length;
  if (data.offset < 0 || n < 0 ||
      !Holds(data.buffers[1], (data.offset + n + 1) * int64_t{sizeof(int32_t)})) {
    return std::nullopt;
  }
  if (n == 0) return std::nullopt;
  const int32_t* offsets = data.GetValues<int32_t>(1);
  const auto& values = data.buffers[2];
  const int64_t size = values == nullptr ? 0 : values->size();
  const char* bytes = values == nullptr ? nullptr : values->data_as<char>();
  const uint8_t* validity =
      data.buffers[0] == nullptr ? nullptr : data.buffers[0]->data();
  const bool validity_ok =
      validity == nullptr || Holds(data.buffers[0], (data.offset + n + 7) / 8);
  auto where = [&](int64_t i) {
    return std::string(unit) + " " + std::to_string(i) + ": ";
  };
  for (int64_t i = 0; i < n; ++i) {
    const int64_t start = offsets[i];
    const int64_t end = offsets[i + 1];
    if (start < 0 || end < start || end > size) {
      return where(i) + "string offsets " + std::to_string(start) + ".." +
             std::to_string(end) + " are not an ascending range inside the " +
             std::to_string(size) + " bytes of string data";
    }
    const bool valid = validity == nullptr || !validity_ok ||
                       arrow::bit_util::GetBit(validity, data.offset + i);
    if (!valid) continue;
    const std::string_view value(bytes + start, static_cast<size_t>(end - start));
    if (!catalog::IsValidUtf8(value)) {
      return where(i) + "the string " + catalog::QuoteForMessage(value) +
             " is not valid UTF-8";
    }
  }
  return std::nullopt;
}

// The first non-null row of a dictionary array whose index is outside the dictionary;
// nullopt when none is found or the index buffer is too short to look.
template <typename Index>
std::optional<std::string> LocateBadIndex(const arrow::ArrayData& data,
                                          int64_t dict_size) {
  const int64_t n = data.length;
  if (data.buffers.size() < 2 ||
      !Holds(data.buffers[1], (data.offset + n) * int64_t{sizeof(Index)})) {
    return std::nullopt;
  }
  const Index* indices = data.GetValues<Index>(1);
  const uint8_t* validity =
      data.buffers[0] == nullptr ? nullptr : data.buffers[0]->data();
  if (validity != nullptr && !Holds(data.buffers[0], (data.offset + n + 7) / 8)) {
    return std::nullopt;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (validity != nullptr && !arrow::bit_util::GetBit(validity, data.offset + i))
      continue;
    const int64_t index = static_cast<int64_t>(indices[i]);
    if (index < 0 || index >= dict_size) {
      return "row " + std::to_string(i) + ": dictionary index " + std::to_string(index) +
             " is out of range (the dictionary has " + std::to_string(dict_size) +
             (dict_size == 1 ? " value)" : " values)");
    }
  }
  return std::nullopt;
}

std::optional<std::string> LocateDictionaryProblem(const arrow::ArrayData& data) {
  const auto& type = static_cast<const arrow::DictionaryType&>(*data.type);
  if (data.dictionary == nullptr) return std::nullopt;
  const arrow::ArrayData& dict = *data.dictionary;
  if (type.value_type()->id() == arrow::Type::STRING) {
    if (auto problem = LocateStringProblem(dict, "dictionary value")) return problem;
  }
  switch (type.index_type()->id()) {
    case arrow::Type::INT8:
      return LocateBadIndex<int8_t>(data, dict.length);
    case arrow::Type::INT16:
      return LocateBadIndex<int16_t>(data, dict.length);
    case arrow::Type::INT32:
      return LocateBadIndex<int32_t>(data, dict.length);
    case arrow::Type::INT64:
      return LocateBadIndex<int64_t>(data, dict.length);
    default:
      return std::nullopt;
  }
}

// A column that failed Arrow's validation: the row at fault when it can be found,
// Arrow's own message otherwise (which names a position for most problems).
arrow::Status Malformed(std::string_view name, const arrow::Array& array,
                        const arrow::Status& arrow_status) {
  const arrow::ArrayData& data = *array.data();
  std::optional<std::string> problem;
  if (data.type->id() == arrow::Type::STRING) {
    problem = LocateStringProblem(data, "row");
  } else if (data.type->id() == arrow::Type::DICTIONARY) {
    problem = LocateDictionaryProblem(data);
  }
  if (problem) return InvalidInput(ColumnPrefix(name) + " " + *problem);
  return InvalidInput(ColumnPrefix(name) +
                      " is malformed Arrow data: " + arrow_status.message());
}

arrow::Status CheckFinite(std::string_view name, const arrow::DoubleArray& array) {
  const double* values = array.raw_values();
  for (int64_t i = 0; i < array.length(); ++i) {
    if (std::isfinite(values[i]) || array.IsNull(i)) continue;
    const char* what = std::isnan(values[i]) ? "NaN" : values[i] > 0 ? "+Inf" : "-Inf";
    return RowError(
        name, i, std::string(what) + ": NaN and infinite float values are not supported");
  }
  return arrow::Status::OK();
}

arrow::Status EmptyTag(std::string_view name, int64_t row) {
  return RowError(name, row, "a tag value must not be empty (send null for no tag)");
}

arrow::Status CheckTagValues(std::string_view name, const arrow::Array& array) {
  if (array.type_id() == arrow::Type::STRING) {
    const auto& strings = static_cast<const arrow::StringArray&>(array);
    for (int64_t i = 0; i < strings.length(); ++i) {
      if (strings.value_length(i) == 0 && strings.IsValid(i)) return EmptyTag(name, i);
    }
    return arrow::Status::OK();
  }
  if (array.type_id() != arrow::Type::DICTIONARY) return arrow::Status::OK();
  const auto& dict = static_cast<const arrow::DictionaryArray&>(array);
  if (dict.dictionary()->type_id() != arrow::Type::STRING) return arrow::Status::OK();
  const auto& values = static_cast<const arrow::StringArray&>(*dict.dictionary());
  // Usually no dictionary entry is empty, which settles it in O(dictionary) without
  // allocating.
  bool any_empty = false;
  for (int64_t k = 0; k < values.length() && !any_empty; ++k) {
    any_empty = values.value_length(k) == 0 && values.IsValid(k);
  }
  if (!any_empty) return arrow::Status::OK();
  std::vector<bool> empty(static_cast<size_t>(values.length()), false);
  for (int64_t k = 0; k < values.length(); ++k) {
    empty[static_cast<size_t>(k)] = values.IsValid(k) && values.value_length(k) == 0;
  }
  for (int64_t i = 0; i < dict.length(); ++i) {
    if (dict.IsValid(i) && empty[static_cast<size_t>(dict.GetValueIndex(i))]) {
      return EmptyTag(name, i);
    }
  }
  return arrow::Status::OK();
}

// Whether `type` equals ArrowTypeFor(role), without making that type.
bool IsDataModelType(ColumnType role, const arrow::DataType& type) {
  switch (role) {
    case ColumnType::kTag: {
      if (type.id() != arrow::Type::DICTIONARY) return false;
      const auto& dict = static_cast<const arrow::DictionaryType&>(type);
      return dict.index_type()->id() == arrow::Type::INT32 &&
             dict.value_type()->id() == arrow::Type::STRING && !dict.ordered();
    }
    case ColumnType::kI64:
      return type.id() == arrow::Type::INT64;
    case ColumnType::kU64:
      return type.id() == arrow::Type::UINT64;
    case ColumnType::kF64:
      return type.id() == arrow::Type::DOUBLE;
    case ColumnType::kBool:
      return type.id() == arrow::Type::BOOL;
    case ColumnType::kString:
      return type.id() == arrow::Type::STRING;
    case ColumnType::kTime: {
      if (type.id() != arrow::Type::TIMESTAMP) return false;
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      return ts.unit() == arrow::TimeUnit::NANO && ts.timezone().empty();
    }
  }
  return false;
}

arrow::Status CheckNoNulls(std::string_view name, const arrow::Array& array) {
  if (array.null_count() == 0) return arrow::Status::OK();
  int64_t row = 0;
  while (row < array.length() && array.IsValid(row)) ++row;
  return RowError(name, row, "time must not be null");
}

// The value rules of ValidateColumnValues for a column IsWellFormedDataModelColumn
// accepted (so its type is one of the data model's and its buffers fit its length),
// read from the ArrayData: no Array objects are made (a DictionaryArray makes its
// dictionary's behind a std::call_once), which cost more than the checks on small
// batches.
arrow::Status CheckWellFormedValues(std::string_view name, ColumnType role,
                                    const arrow::ArrayData& data) {
  const uint8_t* validity =
      data.buffers[0] == nullptr ? nullptr : data.buffers[0]->data();
  auto valid = [&](const arrow::ArrayData& d, const uint8_t* bits, int64_t i) {
    return bits == nullptr || arrow::bit_util::GetBit(bits, d.offset + i);
  };
  switch (role) {
    case ColumnType::kTag: {
      if (data.type->id() == arrow::Type::STRING) {
        const int32_t* offsets = data.GetValues<int32_t>(1);
        for (int64_t i = 0; i < data.length; ++i) {
          if (offsets[i + 1] == offsets[i] && valid(data, validity, i)) {
            return EmptyTag(name, i);
          }
        }
        return arrow::Status::OK();
      }
      if (data.type->id() != arrow::Type::DICTIONARY) return arrow::Status::OK();
      const arrow::ArrayData& dict = *data.dictionary;
      const int32_t* offsets = dict.GetValues<int32_t>(1);
      const uint8_t* dict_validity =
          dict.buffers[0] == nullptr ? nullptr : dict.buffers[0]->data();
      bool any_empty = false;
      for (int64_t k = 0; k < dict.length && !any_empty; ++k) {
        any_empty = offsets[k + 1] == offsets[k] && valid(dict, dict_validity, k);
      }
      if (!any_empty) return arrow::Status::OK();
      const int32_t* indices = data.GetValues<int32_t>(1);  // in range: well-formed
      for (int64_t i = 0; i < data.length; ++i) {
        if (!valid(data, validity, i)) continue;
        const int32_t k = indices[i];
        if (offsets[k + 1] == offsets[k] && valid(dict, dict_validity, k)) {
          return EmptyTag(name, i);
        }
      }
      return arrow::Status::OK();
    }
    case ColumnType::kF64: {
      if (data.type->id() != arrow::Type::DOUBLE) return arrow::Status::OK();
      const double* values = data.GetValues<double>(1);
      for (int64_t i = 0; i < data.length; ++i) {
        if (std::isfinite(values[i]) || !valid(data, validity, i)) continue;
        const char* what = std::isnan(values[i]) ? "NaN"
                           : values[i] > 0       ? "+Inf"
                                                 : "-Inf";
        return RowError(
            name, i,
            std::string(what) + ": NaN and infinite float values are not supported");
      }
      return arrow::Status::OK();
    }
    case ColumnType::kTime: {
      if (validity == nullptr) return arrow::Status::OK();
      for (int64_t row = 0; row < data.length; ++row) {
        if (!valid(data, validity, row))
          return RowError(name, row, "time must not be null");
      }
      return arrow::Status::OK();
    }
    case ColumnType::kI64:
    case ColumnType::kU64:
    case ColumnType::kBool:
    case ColumnType::kString:  // UTF-8 is part of well-formedness
      return arrow::Status::OK();
  }
  return arrow::Status::OK();
}

// A column the direct check did not settle (well_formed.h): Arrow's full validation
// decides (it checks the metadata first, so it never reads out of bounds, and includes
// UTF-8), then the data model's value rules.
arrow::Status ValidateUnsettledColumn(std::string_view name, ColumnType role,
                                      const arrow::Array& array) {
  arrow::Status valid = array.ValidateFull();
  if (!valid.ok()) return Malformed(name, array, valid);
  switch (role) {
    case ColumnType::kTag:
      return CheckTagValues(name, array);
    case ColumnType::kF64:
      if (array.type_id() != arrow::Type::DOUBLE) return arrow::Status::OK();
      return CheckFinite(name, static_cast<const arrow::DoubleArray&>(array));
    case ColumnType::kTime:
      return CheckNoNulls(name, array);
    case ColumnType::kI64:
    case ColumnType::kU64:
    case ColumnType::kBool:
    case ColumnType::kString:  // UTF-8 is part of full validation
      return arrow::Status::OK();
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status ValidateColumnValues(std::string_view name, ColumnType role,
                                   const arrow::Array& array) {
  // The direct check settles the common case (well_formed.h); otherwise Arrow decides.
  if (IsWellFormedDataModelColumn(*array.data())) {
    return CheckWellFormedValues(name, role, *array.data());
  }
  return ValidateUnsettledColumn(name, role, array);
}

arrow::Status ValidateWriteBatch(const arrow::RecordBatch& batch) {
  const arrow::Schema& schema = *batch.schema();
  if (batch.num_columns() != schema.num_fields()) {
    return InvalidInput("the batch has " + std::to_string(batch.num_columns()) +
                        " columns but its schema " + std::to_string(schema.num_fields()));
  }
  // Duplicate names: a scan of the earlier names for the usual few dozen columns, a
  // hash set beyond.
  constexpr int kScanNames = 64;
  const int num_fields = schema.num_fields();
  std::unordered_set<std::string_view> seen;
  bool has_time = false;
  std::vector<ColumnType> roles;
  roles.reserve(static_cast<size_t>(num_fields));
  for (int i = 0; i < num_fields; ++i) {
    const arrow::Field& field = *schema.field(i);
    ARROW_RETURN_NOT_OK(catalog::ValidateColumnName(field.name()));
    bool twice = false;
    if (num_fields <= kScanNames) {
      for (int j = 0; j < i && !twice; ++j)
        twice = schema.field(j)->name() == field.name();
    } else {
      twice = !seen.insert(field.name()).second;
    }
    if (twice) return InvalidInput(ColumnPrefix(field.name()) + " appears twice");
    auto role = ColumnTypeFromArrow(field.name(), *field.type());
    if (!role || !IsDataModelType(*role, *field.type())) {
      return InvalidInput(ColumnPrefix(field.name()) + " has type " +
                          field.type()->ToString() +
                          ", which is not a type of the data model");
    }
    ARROW_RETURN_NOT_OK(catalog::ValidateColumnSpec({field.name(), *role}));
    has_time = has_time || *role == ColumnType::kTime;
    const arrow::ArrayData& column = *batch.column_data(i);
    if (column.length != batch.num_rows() ||
        (column.type != field.type() && !column.type->Equals(*field.type()))) {
      return InvalidInput(ColumnPrefix(field.name()) +
                          " does not match the batch's schema or row count");
    }
    roles.push_back(*role);
  }
  if (!has_time) return InvalidInput("the batch has no 'time' column");
  for (int i = 0; i < num_fields; ++i) {
    const ColumnType role = roles[static_cast<size_t>(i)];
    const arrow::ArrayData& column = *batch.column_data(i);
    if (IsWellFormedDataModelColumn(column)) {
      ARROW_RETURN_NOT_OK(CheckWellFormedValues(schema.field(i)->name(), role, column));
    } else {
      ARROW_RETURN_NOT_OK(
          ValidateUnsettledColumn(schema.field(i)->name(), role, *batch.column(i)));
    }
  }
  return arrow::Status::OK();
}

arrow::Status ValidateWriteOp(const WriteOp& op) {
  ARROW_RETURN_NOT_OK(catalog::ValidateNamespaceName(op.namespace_name));
  for (const auto& write : op.writes) {
    arrow::Status st = catalog::ValidateTableName(write.table_name);
    if (st.ok()) st = catalog::ValidatePartitionKey(write.partition_key);
    if (st.ok() && write.batch == nullptr) st = InvalidInput("the write has no batch");
    if (st.ok()) st = ValidateWriteBatch(*write.batch);
    if (!st.ok()) {
      return st.WithMessage("table ", catalog::QuoteForMessage(write.table_name),
                            " partition ", catalog::QuoteForMessage(write.partition_key),
                            ": ", st.message());
    }
  }
  return arrow::Status::OK();
}

}  // namespace ingester
