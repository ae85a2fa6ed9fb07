#include "ingester/write/arrow_write_builder.h"

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/builder.h>
#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>

#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "ingester/catalog/names.h"
#include "ingester/common/column_type.h"
#include "ingester/common/error.h"
#include "ingester/dml/write_validation.h"
#include "ingester/partition/row_partitioner.h"

namespace ingester {

namespace {

// One input column and what it becomes.
struct ColumnPlan {
  int index = 0;  // in its batch
  std::string name;
  ColumnType type = ColumnType::kTag;
};

std::string Describe(const arrow::Field& field) {
  return "column '" + field.name() + "' (" + field.type()->ToString() + ")";
}

// The role of one column from its Arrow type and metadata; InvalidInput if it has none.
arrow::Result<ColumnType> RoleOf(const arrow::Field& field) {
  const arrow::DataType& type = *field.type();
  std::optional<std::string> declared;
  if (field.metadata() != nullptr) {
    auto value = field.metadata()->Get(std::string(kColumnTypeMetadataKey));
    if (value.ok()) declared = *value;
  }
  if (declared && *declared != "tag") {
    return InvalidInput(Describe(field) + ": metadata " +
                        std::string(kColumnTypeMetadataKey) + "='" + *declared +
                        "' is not understood (only 'tag' is)");
  }
  if (field.name() == kTimeColumnName) {
    if (type.id() == arrow::Type::TIMESTAMP || type.id() == arrow::Type::INT64) {
      return ColumnType::kTime;
    }
    return InvalidInput(Describe(field) +
                        ": time must be a timestamp or an int64 of nanoseconds");
  }
  if (type.id() == arrow::Type::DICTIONARY) {
    const auto& dict = static_cast<const arrow::DictionaryType&>(type);
    const auto index = dict.index_type()->id();
    if (dict.value_type()->id() == arrow::Type::STRING &&
        (index == arrow::Type::INT8 || index == arrow::Type::INT16 ||
         index == arrow::Type::INT32)) {
      return ColumnType::kTag;
    }
    return InvalidInput(Describe(field) +
                        ": a tag must be dictionary<int8|int16|int32, utf8>");
  }
  if (declared) {
    if (type.id() == arrow::Type::STRING) return ColumnType::kTag;
    return InvalidInput(Describe(field) + ": only a utf8 column can be declared a tag");
  }
  // Time and dictionaries are handled above, so this maps exactly the field types.
  if (auto column = ColumnTypeFromArrow(field.name(), type)) return *column;
  return InvalidInput(Describe(field) +
                      ": not a supported type (int64, uint64, float64, bool, utf8, "
                      "or a dictionary<int32, utf8> tag)");
}

arrow::Result<std::vector<ColumnPlan>> PlanBatch(const arrow::Schema& schema) {
  std::vector<ColumnPlan> plan;
  std::unordered_set<std::string> seen;
  bool has_time = false;
  for (int i = 0; i < schema.num_fields(); ++i) {
    const auto& field = *schema.field(i);
    ARROW_RETURN_NOT_OK(catalog::ValidateColumnName(field.name()));
    if (!seen.insert(field.name()).second) {
      return InvalidInput("column '" + field.name() + "' appears twice in a batch");
    }
    ARROW_ASSIGN_OR_RAISE(ColumnType type, RoleOf(field));
    has_time = has_time || type == ColumnType::kTime;
    plan.push_back({i, field.name(), type});
  }
  if (!has_time) return InvalidInput("a batch has no 'time' column");
  return plan;
}

// Everything about a batch's data that the plan does not show: the Arrow data is
// well-formed and the values obey the rules of line protocol (dml/write_validation.h).
// Runs before anything reads the values, since malformed data would be read out of
// bounds.
arrow::Status ValidateBatch(const arrow::RecordBatch& batch,
                            const std::vector<ColumnPlan>& plan) {
  for (const auto& column : plan) {
    const arrow::ArrayData& data = *batch.column_data(column.index);
    if (data.length != batch.num_rows() ||
        !data.type->Equals(*batch.schema()->field(column.index)->type())) {
      return InvalidInput("column '" + column.name +
                          "' does not match the batch's schema or row count");
    }
  }
  for (const auto& column : plan) {
    ARROW_RETURN_NOT_OK(
        ValidateColumnValues(column.name, column.type, *batch.column(column.index)));
  }
  return arrow::Status::OK();
}

// The `time` column (validated: no nulls) as timestamp[ns] (zero-copy when it already
// is, or is int64).
arrow::Result<std::shared_ptr<arrow::Array>> TimeToNanos(
    const std::shared_ptr<arrow::Array>& array, arrow::MemoryPool* pool) {
  int64_t factor = 1;
  if (array->type_id() == arrow::Type::TIMESTAMP) {
    switch (static_cast<const arrow::TimestampType&>(*array->type()).unit()) {
      case arrow::TimeUnit::SECOND:
        factor = 1'000'000'000;
        break;
      case arrow::TimeUnit::MILLI:
        factor = 1'000'000;
        break;
      case arrow::TimeUnit::MICRO:
        factor = 1'000;
        break;
      case arrow::TimeUnit::NANO:
        break;
    }
  }
  const auto target = ArrowTypeFor(ColumnType::kTime);
  if (factor == 1) {
    if (array->type()->Equals(*target)) return array;
    auto data = array->data()->Copy();
    data->type = target;
    return arrow::MakeArray(std::move(data));
  }
  const int64_t length = array->length();
  const int64_t* in = array->data()->GetValues<int64_t>(1);
  ARROW_ASSIGN_OR_RAISE(auto buffer, arrow::AllocateBuffer(length * 8, pool));
  auto* out = reinterpret_cast<int64_t*>(buffer->mutable_data());
  for (int64_t i = 0; i < length; ++i) {
    if (__builtin_mul_overflow(in[i], factor, &out[i])) {
      return InvalidInput("column 'time' row " + std::to_string(i) + ": " +
                          std::to_string(in[i]) + " " + array->type()->ToString() +
                          " is outside the nanosecond range (years 1677-2262)");
    }
  }
  return arrow::MakeArray(
      arrow::ArrayData::Make(target, length, {nullptr, std::move(buffer)}, 0));
}

// A tag column as dictionary<int32, utf8>. No compute kernels: this library links only
// the Arrow core.
arrow::Result<std::shared_ptr<arrow::Array>> TagToDictionary(
    const std::shared_ptr<arrow::Array>& array, arrow::MemoryPool* pool) {
  const auto target = ArrowTypeFor(ColumnType::kTag);
  if (array->type()->Equals(*target)) return array;
  if (array->type_id() == arrow::Type::STRING) {
    arrow::StringDictionary32Builder builder(pool);
    ARROW_RETURN_NOT_OK(builder.AppendArray(*array));
    return builder.Finish();
  }
  // int8 or int16 indices, widened.
  const auto& dict = static_cast<const arrow::DictionaryArray&>(*array);
  arrow::Int32Builder indices(pool);
  ARROW_RETURN_NOT_OK(indices.Reserve(dict.length()));
  for (int64_t i = 0; i < dict.length(); ++i) {
    if (dict.IsNull(i)) {
      indices.UnsafeAppendNull();
    } else {
      indices.UnsafeAppend(static_cast<int32_t>(dict.GetValueIndex(i)));
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto widened, indices.Finish());
  return arrow::DictionaryArray::FromArrays(target, widened, dict.dictionary());
}

// A batch in the data model: columns converted, fields without metadata, time non-null.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ConvertBatch(
    const arrow::RecordBatch& batch, const std::vector<ColumnPlan>& plan,
    arrow::MemoryPool* pool) {
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (const auto& column : plan) {
    std::shared_ptr<arrow::Array> array = batch.column(column.index);
    if (column.type == ColumnType::kTime) {
      ARROW_ASSIGN_OR_RAISE(array, TimeToNanos(array, pool));
    } else if (column.type == ColumnType::kTag) {
      ARROW_ASSIGN_OR_RAISE(array, TagToDictionary(array, pool));
    }
    fields.push_back(arrow::field(column.name, ArrowTypeFor(column.type),
                                  column.type != ColumnType::kTime));
    columns.push_back(std::move(array));
  }
  return arrow::RecordBatch::Make(arrow::schema(std::move(fields)), batch.num_rows(),
                                  std::move(columns));
}

// A group whose rows lie in more runs than this in one batch is gathered into a new
// batch instead of being sliced run by run.
constexpr size_t kMaxSlicesPerGroup = 16;

// The values of one template tag in a converted batch (a dictionary<int32, utf8>
// column), or "missing" in every row when the batch has no such tag column.
class TagColumn {
 public:
  explicit TagColumn(const std::shared_ptr<arrow::Array>& column) {
    if (column == nullptr || column->type_id() != arrow::Type::DICTIONARY) return;
    dict_ = static_cast<const arrow::DictionaryArray*>(column.get());
    values_ = static_cast<const arrow::StringArray*>(dict_->dictionary().get());
    indices_ = dict_->indices()->data()->GetValues<int32_t>(1);
  }
  std::optional<std::string_view> At(int64_t row) const {
    if (dict_ == nullptr || dict_->IsNull(row)) return std::nullopt;
    return values_->GetView(indices_[row]);
  }
  // True when rows `a` and `b` certainly have the same value (same index, or both null).
  bool Same(int64_t a, int64_t b) const {
    if (dict_ == nullptr) return true;
    const bool null_a = dict_->IsNull(a);
    return null_a == dict_->IsNull(b) && (null_a || indices_[a] == indices_[b]);
  }

 private:
  const arrow::DictionaryArray* dict_ = nullptr;
  const arrow::StringArray* values_ = nullptr;
  const int32_t* indices_ = nullptr;
};

// The rows of `batch` in `runs` (offset, length), in order, as one new batch.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> Gather(
    const arrow::RecordBatch& batch, const std::vector<std::pair<int64_t, int64_t>>& runs,
    arrow::MemoryPool* pool) {
  int64_t rows = 0;
  for (const auto& run : runs) rows += run.second;
  // A dictionary column gathers its indices and keeps its dictionary (a builder would
  // re-hash every value); other columns append slices.
  auto gather =
      [&](const arrow::Array& column) -> arrow::Result<std::shared_ptr<arrow::Array>> {
    std::unique_ptr<arrow::ArrayBuilder> builder;
    ARROW_RETURN_NOT_OK(arrow::MakeBuilder(pool, column.type(), &builder));
    ARROW_RETURN_NOT_OK(builder->Reserve(rows));
    const arrow::ArraySpan span(*column.data());
    for (const auto& [offset, length] : runs) {
      ARROW_RETURN_NOT_OK(builder->AppendArraySlice(span, offset, length));
    }
    return builder->Finish();
  };
  arrow::ArrayVector columns;
  for (const auto& column : batch.columns()) {
    if (column->type_id() == arrow::Type::DICTIONARY) {
      const auto& dict = static_cast<const arrow::DictionaryArray&>(*column);
      ARROW_ASSIGN_OR_RAISE(auto indices, gather(*dict.indices()));
      ARROW_ASSIGN_OR_RAISE(auto array, arrow::DictionaryArray::FromArrays(
                                            column->type(), indices, dict.dictionary()));
      columns.push_back(std::move(array));
    } else {
      ARROW_ASSIGN_OR_RAISE(auto array, gather(*column));
      columns.push_back(std::move(array));
    }
  }
  return arrow::RecordBatch::Make(batch.schema(), rows, std::move(columns));
}

// Rows of `batch` by partition (groups of `partitioner`), in row order within each:
// each run of consecutive rows in one group is a zero-copy slice (one slice for the
// usual batch within one partition); a group scattered over many runs is gathered.
// `batch` must outlive `partitioner`'s use (it holds views of its tag values).
arrow::Status SplitByPartition(
    const std::shared_ptr<arrow::RecordBatch>& batch,
    partition::RowPartitioner* partitioner,
    std::vector<std::vector<std::shared_ptr<arrow::RecordBatch>>>* out,
    arrow::MemoryPool* pool) {
  auto time = batch->GetColumnByName(std::string(kTimeColumnName));
  const int64_t* times = time->data()->GetValues<int64_t>(1);
  const int64_t rows = batch->num_rows();
  std::vector<TagColumn> tag_columns;
  for (const auto& name : partitioner->tag_names()) {
    tag_columns.emplace_back(batch->GetColumnByName(name));
  }
  std::vector<std::optional<std::string_view>> values(tag_columns.size());

  // Runs of consecutive rows in one group, per group. A run is extended by comparing
  // times with its period's bounds and tags by dictionary index, so Assign() runs once
  // per run, not per row.
  std::vector<std::vector<std::pair<int64_t, int64_t>>> runs;
  for (int64_t start = 0; start < rows;) {
    for (size_t t = 0; t < tag_columns.size(); ++t) values[t] = tag_columns[t].At(start);
    const uint32_t group = partitioner->Assign(times[start], values);
    const int64_t lo = partitioner->last_period_start(),
                  hi = partitioner->last_period_end();
    int64_t end = start + 1;
    if (tag_columns.empty()) {
      while (end < rows && times[end] >= lo && times[end] < hi) ++end;
    } else {
      auto same_tags = [&](int64_t row) {
        for (const auto& column : tag_columns) {
          if (!column.Same(start, row)) return false;
        }
        return true;
      };
      while (end < rows && times[end] >= lo && times[end] < hi && same_tags(end)) ++end;
    }
    if (runs.size() <= group) runs.resize(group + 1);
    // Adjacent runs of one group (tag values equal under different indices) join.
    auto& group_runs = runs[group];
    if (!group_runs.empty() &&
        group_runs.back().first + group_runs.back().second == start) {
      group_runs.back().second += end - start;
    } else {
      group_runs.emplace_back(start, end - start);
    }
    start = end;
  }
  if (out->size() < partitioner->group_count()) out->resize(partitioner->group_count());
  for (uint32_t g = 0; g < runs.size(); ++g) {
    const auto& group_runs = runs[g];
    if (group_runs.empty()) continue;
    auto& pieces = (*out)[g];
    if (group_runs.size() == 1 && group_runs[0].second == rows) {
      pieces.push_back(batch);
    } else if (group_runs.size() <= kMaxSlicesPerGroup) {
      for (const auto& [offset, length] : group_runs) {
        pieces.push_back(batch->Slice(offset, length));
      }
    } else {
      ARROW_ASSIGN_OR_RAISE(auto gathered, Gather(*batch, group_runs, pool));
      pieces.push_back(std::move(gathered));
    }
  }
  return arrow::Status::OK();
}

// One batch from the pieces of one day, under the union of their columns (tags, fields,
// time; first-seen order within each group).
arrow::Result<std::shared_ptr<arrow::RecordBatch>> MergePieces(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& pieces,
    arrow::MemoryPool* pool) {
  if (pieces.size() == 1) return pieces[0];
  arrow::FieldVector tags, fields;
  std::shared_ptr<arrow::Field> time;
  std::unordered_set<std::string> seen;
  for (const auto& piece : pieces) {
    for (const auto& field : piece->schema()->fields()) {
      if (!seen.insert(field->name()).second) continue;
      if (field->name() == kTimeColumnName) {
        time = field;
      } else if (field->type()->id() == arrow::Type::DICTIONARY) {
        tags.push_back(field);
      } else {
        fields.push_back(field);
      }
    }
  }
  arrow::FieldVector all = tags;
  all.insert(all.end(), fields.begin(), fields.end());
  all.push_back(time);
  auto schema = arrow::schema(std::move(all));
  arrow::RecordBatchVector conformed;
  for (const auto& piece : pieces) {
    arrow::ArrayVector columns;
    for (const auto& field : schema->fields()) {
      auto column = piece->GetColumnByName(field->name());
      if (column == nullptr) {
        ARROW_ASSIGN_OR_RAISE(
            column, arrow::MakeArrayOfNull(field->type(), piece->num_rows(), pool));
      }
      columns.push_back(std::move(column));
    }
    conformed.push_back(arrow::RecordBatch::Make(schema, piece->num_rows(), columns));
  }
  // Concatenate unifies differing tag dictionaries.
  return arrow::ConcatenateRecordBatches(conformed, pool);
}

// Makes sure the table has every planned column with the planned type. The catalog
// (through the cache) creates missing columns; the first batch offering a new column
// decides its type, like the first line does for line protocol.
arrow::Result<std::shared_ptr<const catalog::TableSchema>> EnsureColumns(
    const catalog::NamespaceRecord& ns, const std::string& table_name,
    const std::vector<std::vector<ColumnPlan>>& plans, SchemaCache* cache) {
  ARROW_ASSIGN_OR_RAISE(auto schema, cache->GetOrCreateTable(ns, table_name));
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::vector<catalog::ColumnSpec> wanted;
    std::unordered_map<std::string, ColumnType> offered;
    for (const auto& plan : plans) {
      for (const auto& column : plan) {
        auto [it, fresh] = offered.emplace(column.name, column.type);
        if (!fresh && it->second != column.type) {
          return Conflict("column '" + column.name + "' of table '" + table_name +
                          "' is offered as " + std::string(ColumnTypeName(it->second)) +
                          " and as " + std::string(ColumnTypeName(column.type)) +
                          " in one write");
        }
        if (fresh && schema->FindColumn(column.name) == nullptr) {
          wanted.push_back({column.name, column.type});
        }
      }
    }
    for (const auto& [name, type] : offered) {
      auto existing = schema->TypeOf(name);
      if (existing && *existing != type) {
        return Conflict("column '" + name + "' of table '" + table_name + "' has type " +
                        std::string(ColumnTypeName(*existing)) +
                        " in the catalog; the batch offers " +
                        std::string(ColumnTypeName(type)));
      }
    }
    if (wanted.empty()) return schema;
    auto added = cache->AddColumns(ns, schema->table.id, wanted);
    if (added.ok()) {
      schema = *added;
      continue;  // re-check: nothing is wanted now, unless types clash
    }
    // A concurrent writer may have created a column with another type: the cache now
    // holds the catalog's schema, so one more round names the clash precisely.
    if (ErrorKindOf(added.status()) != ErrorKind::kConflict || attempt > 0) {
      return added.status();
    }
    ARROW_ASSIGN_OR_RAISE(schema, cache->GetOrCreateTable(ns, table_name));
  }
  return arrow::Status::IOError("the columns of table '", table_name,
                                "' kept changing while they were created");
}

}  // namespace

arrow::Result<WriteOp> BuildArrowWrite(
    const catalog::NamespaceRecord& ns, const std::string& table_name,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches, SchemaCache* cache,
    arrow::MemoryPool* pool) {
  // Every batch is checked before the catalog hears of the write.
  ARROW_RETURN_NOT_OK(catalog::ValidateTableName(table_name));
  std::vector<std::vector<ColumnPlan>> plans;
  for (size_t i = 0; i < batches.size(); ++i) {
    if (batches[i] == nullptr) return InvalidInput("a batch is null");
    auto plan = PlanBatch(*batches[i]->schema());
    arrow::Status valid = plan.ok() ? ValidateBatch(*batches[i], *plan) : plan.status();
    if (!valid.ok()) {
      if (batches.size() == 1) return valid;
      return valid.WithMessage("batch ", i, ": ", valid.message());
    }
    plans.push_back(std::move(*plan));
  }
  ARROW_ASSIGN_OR_RAISE(auto schema, EnsureColumns(ns, table_name, plans, cache));

  // The converted batches stay alive while the partitioner holds views of their tags.
  partition::RowPartitioner partitioner(schema->table.partition_template);
  std::vector<std::shared_ptr<arrow::RecordBatch>> converted;
  std::vector<std::vector<std::shared_ptr<arrow::RecordBatch>>> by_group;
  for (size_t i = 0; i < batches.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto batch, ConvertBatch(*batches[i], plans[i], pool));
    if (batch->num_rows() == 0) continue;
    converted.push_back(batch);
    ARROW_RETURN_NOT_OK(SplitByPartition(batch, &partitioner, &by_group, pool));
  }

  WriteOp op;
  op.namespace_id = ns.id;
  op.namespace_name = ns.name;
  for (auto& [key, groups] : partitioner.KeysInOrder()) {
    // Values that differ only past the key's cut share the partition (batch order is
    // then by group, not by arrival).
    std::vector<std::shared_ptr<arrow::RecordBatch>> pieces;
    for (uint32_t g : groups) {
      pieces.insert(pieces.end(), by_group[g].begin(), by_group[g].end());
    }
    ARROW_ASSIGN_OR_RAISE(auto batch, MergePieces(pieces, pool));
    PartitionWrite write;
    write.table_id = schema->table.id;
    write.table_name = schema->table.name;
    write.partition_key = key;
    write.batch = std::move(batch);
    op.writes.push_back(std::move(write));
  }
  return op;
}

}  // namespace ingester
