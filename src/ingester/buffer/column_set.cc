#include "ingester/buffer/column_set.h"

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <array>
#include <unordered_set>
#include <utility>

#include "ingester/common/error.h"

namespace ingester {

namespace {

// ArrowTypeFor allocates parametric types (dictionary, timestamp) on every call; the
// append path checks every column of every write against these instead.
const std::shared_ptr<arrow::DataType>& CanonicalType(ColumnType type) {
  static const auto* types = [] {
    auto* t = new std::array<std::shared_ptr<arrow::DataType>, 7>();
    for (ColumnType ct :
         {ColumnType::kTag, ColumnType::kI64, ColumnType::kU64, ColumnType::kF64,
          ColumnType::kBool, ColumnType::kString, ColumnType::kTime}) {
      (*t)[static_cast<size_t>(ct)] = ArrowTypeFor(ct);
    }
    return t;
  }();
  return (*types)[static_cast<size_t>(type)];
}

}  // namespace

ColumnSet::ColumnSet() { Rebuild(); }

arrow::Status ColumnSet::Check(const arrow::Schema& schema, bool require_time) const {
  bool saw_time = false;
  // Duplicate names within one schema: small schemas, so a quadratic scan beats a set.
  const int n = schema.num_fields();
  for (int i = 0; i < n; ++i) {
    const auto& field = schema.field(i);
    const std::string& name = field->name();
    for (int j = 0; j < i; ++j) {
      if (schema.field(j)->name() == name) {
        return InvalidInput("column '" + name + "' appears twice in one write");
      }
    }
    std::optional<ColumnType> type = ColumnTypeFromArrow(name, *field->type());
    if (name == kTimeColumnName) {
      if (type != ColumnType::kTime || !field->type()->Equals(*CanonicalType(*type))) {
        return InvalidInput("column 'time' must be timestamp[ns], got " +
                            field->type()->ToString());
      }
      saw_time = true;
    } else if (!type || !field->type()->Equals(*CanonicalType(*type))) {
      return InvalidInput("column '" + name + "' has unsupported type " +
                          field->type()->ToString());
    }
    auto it = by_name_.find(name);
    if (it != by_name_.end() && it->second != *type) {
      return Conflict("column '" + name + "' is " +
                      std::string(ColumnTypeName(it->second)) + " in the buffer but " +
                      std::string(ColumnTypeName(*type)) + " in the write");
    }
  }
  if (require_time && !saw_time) {
    return InvalidInput("write has no 'time' column");
  }
  return arrow::Status::OK();
}

bool ColumnSet::Add(const arrow::Schema& schema) {
  bool changed = false;
  for (const auto& field : schema.fields()) {
    if (by_name_.count(field->name()) != 0) continue;
    ColumnType type = *ColumnTypeFromArrow(field->name(), *field->type());
    by_name_.emplace(field->name(), type);
    if (type == ColumnType::kTime) {
      has_time_ = true;
    } else if (type == ColumnType::kTag) {
      tags_.push_back({field->name(), type});
    } else {
      fields_.push_back({field->name(), type});
    }
    changed = true;
  }
  if (changed) Rebuild();
  return changed;
}

arrow::Status ColumnSet::Merge(const arrow::Schema& schema, bool require_time) {
  ARROW_RETURN_NOT_OK(Check(schema, require_time));
  Add(schema);
  return arrow::Status::OK();
}

std::optional<ColumnType> ColumnSet::TypeOf(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

void ColumnSet::Rebuild() {
  arrow::FieldVector fields;
  fields.reserve(by_name_.size());
  for (const auto& c : tags_) {
    fields.push_back(arrow::field(c.name, CanonicalType(c.type), /*nullable=*/true));
  }
  for (const auto& c : fields_) {
    fields.push_back(arrow::field(c.name, CanonicalType(c.type), /*nullable=*/true));
  }
  if (has_time_) {
    fields.push_back(arrow::field(std::string(kTimeColumnName),
                                  CanonicalType(ColumnType::kTime), /*nullable=*/false));
  }
  schema_ = arrow::schema(std::move(fields));
}

arrow::Result<std::shared_ptr<arrow::Array>> NullArrayCache::Get(
    const std::shared_ptr<arrow::DataType>& type, int64_t length) {
  std::string key = type->ToString();
  auto it = arrays_.find(key);
  if (it != arrays_.end() && it->second->length() >= length) {
    return it->second->Slice(0, length);
  }
  // Grow geometrically so that a buffer of ever larger batches reallocates rarely.
  int64_t capacity = length;
  if (it != arrays_.end()) capacity = std::max(length, 2 * it->second->length());
  ARROW_ASSIGN_OR_RAISE(auto array, arrow::MakeArrayOfNull(type, capacity, pool_));
  arrays_.insert_or_assign(std::move(key), array);
  return array->Slice(0, length);
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ConformBatch(
    const std::shared_ptr<arrow::RecordBatch>& batch,
    const std::shared_ptr<arrow::Schema>& target, NullArrayCache* nulls) {
  if (batch->schema() == target) return batch;
  const arrow::Schema& have = *batch->schema();
  arrow::ArrayVector columns;
  columns.reserve(target->num_fields());
  for (const auto& field : target->fields()) {
    int index = have.GetFieldIndex(field->name());
    if (index >= 0) {
      const auto& column = batch->column(index);
      if (!column->type()->Equals(*field->type())) {
        return Conflict("column '" + field->name() + "' is " +
                        column->type()->ToString() + ", expected " +
                        field->type()->ToString());
      }
      columns.push_back(column);
    } else if (nulls != nullptr) {
      ARROW_ASSIGN_OR_RAISE(auto column, nulls->Get(field->type(), batch->num_rows()));
      columns.push_back(std::move(column));
    } else {
      ARROW_ASSIGN_OR_RAISE(auto column,
                            arrow::MakeArrayOfNull(field->type(), batch->num_rows()));
      columns.push_back(std::move(column));
    }
  }
  return arrow::RecordBatch::Make(target, batch->num_rows(), std::move(columns));
}

arrow::Result<std::shared_ptr<arrow::Schema>> MergeSchemas(
    const std::vector<std::shared_ptr<arrow::Schema>>& schemas) {
  if (schemas.empty()) return arrow::schema({});
  bool all_equal = true;
  for (size_t i = 1; i < schemas.size() && all_equal; ++i) {
    all_equal = schemas[i] == schemas[0] || schemas[i]->Equals(*schemas[0], false);
  }
  if (all_equal) return schemas[0];
  ColumnSet set;
  for (const auto& s : schemas) {
    ARROW_RETURN_NOT_OK(set.Merge(*s, /*require_time=*/false));
  }
  return set.schema();
}

}  // namespace ingester
