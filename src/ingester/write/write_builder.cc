#include "ingester/write/write_builder.h"

#include <algorithm>
#include <map>
#include <optional>
#include <span>
#include <unordered_map>

#include <arrow/builder.h>
#include <arrow/record_batch.h>

#include "ingester/common/error.h"
#include "ingester/partition/row_partitioner.h"
#include "ingester/write/line_index.h"

namespace ingester {

namespace {

// --- the few places that know the parser's line representation -------------------

ColumnType ColumnTypeOfField(const lp::Field& field) {
  switch (field.type) {
    case lp::FieldType::kFloat:
      return ColumnType::kF64;
    case lp::FieldType::kInteger:
      return ColumnType::kI64;
    case lp::FieldType::kUnsigned:
      return ColumnType::kU64;
    case lp::FieldType::kBoolean:
      return ColumnType::kBool;
    case lp::FieldType::kString:
      return ColumnType::kString;
  }
  return ColumnType::kString;
}

// --- one column of a batch under construction -------------------------------------

class ColumnBuilder {
 public:
  explicit ColumnBuilder(ColumnType type) : type_(type) {
    auto* pool = arrow::default_memory_pool();
    switch (type) {
      case ColumnType::kTag:
        builder_ = std::make_unique<arrow::StringDictionary32Builder>(pool);
        break;
      case ColumnType::kI64:
        builder_ = std::make_unique<arrow::Int64Builder>(pool);
        break;
      case ColumnType::kU64:
        builder_ = std::make_unique<arrow::UInt64Builder>(pool);
        break;
      case ColumnType::kF64:
        builder_ = std::make_unique<arrow::DoubleBuilder>(pool);
        break;
      case ColumnType::kBool:
        builder_ = std::make_unique<arrow::BooleanBuilder>(pool);
        break;
      case ColumnType::kString:
        builder_ = std::make_unique<arrow::StringBuilder>(pool);
        break;
      case ColumnType::kTime:
        builder_ = std::make_unique<arrow::TimestampBuilder>(
            ArrowTypeFor(ColumnType::kTime), pool);
        break;
    }
  }

  ColumnType type() const { return type_; }
  int64_t length() const { return builder_->length(); }
  arrow::Status Reserve(int64_t rows) { return builder_->Reserve(rows); }

  arrow::Status AppendTag(std::string_view value) {
    return static_cast<arrow::StringDictionary32Builder&>(*builder_).Append(value);
  }
  arrow::Status AppendTime(int64_t value) {
    return static_cast<arrow::TimestampBuilder&>(*builder_).Append(value);
  }
  arrow::Status AppendField(const lp::Field& field) {
    switch (type_) {
      case ColumnType::kI64:
        return static_cast<arrow::Int64Builder&>(*builder_).Append(field.i64);
      case ColumnType::kU64:
        return static_cast<arrow::UInt64Builder&>(*builder_).Append(field.u64);
      case ColumnType::kF64:
        return static_cast<arrow::DoubleBuilder&>(*builder_).Append(field.f64);
      case ColumnType::kBool:
        return static_cast<arrow::BooleanBuilder&>(*builder_).Append(field.boolean);
      case ColumnType::kString:
        return static_cast<arrow::StringBuilder&>(*builder_).Append(field.str);
      default:
        return arrow::Status::Invalid("field appended to a ", ColumnTypeName(type_),
                                      " column");
    }
  }
  arrow::Status AppendNull() { return builder_->AppendNull(); }
  arrow::Result<std::shared_ptr<arrow::Array>> Finish() { return builder_->Finish(); }

 private:
  ColumnType type_;
  std::unique_ptr<arrow::ArrayBuilder> builder_;
};

// Maps column names to positions in the table schema, remembering the previous line's
// key order: most writers send the same keys in the same order on every line, so a
// comparison usually replaces a hash lookup.
class ColumnLookup {
 public:
  explicit ColumnLookup(const catalog::TableSchema& schema) {
    for (size_t i = 0; i < schema.columns.size(); ++i) {
      index_.emplace(schema.columns[i].name, static_cast<int>(i));
    }
  }
  // Position of `name`, or -1. `slot` identifies the key's place on its line.
  int Find(std::string_view name, size_t slot) {
    if (slot < recent_.size() && recent_[slot].first == name) return recent_[slot].second;
    auto it = index_.find(name);
    int pos = it == index_.end() ? -1 : it->second;
    if (slot >= recent_.size()) recent_.resize(slot + 1, {std::string_view(), -1});
    recent_[slot] = {it == index_.end() ? std::string_view() : it->first, pos};
    return pos;
  }

 private:
  std::unordered_map<std::string_view, int> index_;  // views into the schema's names
  std::vector<std::pair<std::string_view, int>> recent_;
};

// The values of a template's tags on each line, found by name: a line usually has its
// tags where the previous line had them, so a comparison usually replaces a search.
class TemplateTags {
 public:
  explicit TemplateTags(const std::vector<std::string>& names)
      : names_(names), slots_(names.size(), 0), values_(names.size()) {}

  // Valid until the next call.
  std::span<const std::optional<std::string_view>> Of(const lp::ParsedLine& line) {
    for (size_t i = 0; i < names_.size(); ++i) {
      size_t& slot = slots_[i];
      if (slot >= line.tags.size() || line.tags[slot].key != names_[i]) {
        slot = 0;
        while (slot < line.tags.size() && line.tags[slot].key != names_[i]) ++slot;
      }
      values_[i] =
          slot < line.tags.size() ? std::optional(line.tags[slot].value) : std::nullopt;
    }
    return values_;
  }

 private:
  const std::vector<std::string>& names_;
  std::vector<size_t> slots_;
  std::vector<std::optional<std::string_view>> values_;
};

std::string TypeMismatch(const catalog::TableSchema& schema, std::string_view column,
                         ColumnType existing, ColumnType offered) {
  return "column '" + std::string(column) + "' of table '" + schema.table.name +
         "' has type " + std::string(ColumnTypeName(existing)) +
         " in the catalog; the line offers " + std::string(ColumnTypeName(offered));
}

// The lines of one table in this request, and what became of them.
class TableWriteBuilder {
 public:
  TableWriteBuilder(const catalog::NamespaceRecord& ns, std::string_view name,
                    const LineIndex* index, SchemaCache* cache)
      : ns_(ns), name_(name), index_(index), cache_(cache) {}

  void AddLine(const lp::ParsedLine* line) { lines_.push_back(line); }

  // Validates the lines, appending rejections, and adds one PartitionWrite per
  // partition key of the table's template, in key order.
  arrow::Status Build(std::vector<LineRejection>* rejected,
                      std::vector<PartitionWrite>* out, int64_t* accepted) {
    auto schema = cache_->GetOrCreateTable(ns_, std::string(name_));
    if (!schema.ok()) return RejectAll(schema.status(), rejected);
    schema_ = *schema;
    ARROW_RETURN_NOT_OK(EnsureColumns());  // leaves lookup_ over the final schema

    partition::RowPartitioner partitioner(schema_->table.partition_template);
    TemplateTags tags(partitioner.tag_names());
    std::vector<std::vector<const lp::ParsedLine*>> groups;
    for (const auto* line : lines_) {
      if (auto why = Check(*line)) {
        rejected->push_back(std::move(*why));
        continue;
      }
      const uint32_t group = partitioner.Assign(line->timestamp_ns, tags.Of(*line));
      if (group == groups.size()) groups.emplace_back();
      groups[group].push_back(line);
      ++*accepted;
    }
    for (auto& [key, key_groups] : partitioner.KeysInOrder()) {
      std::vector<const lp::ParsedLine*>& key_lines = groups[key_groups[0]];
      if (key_groups.size() > 1) {
        // Values that differ only past the key's cut share the partition.
        for (size_t i = 1; i < key_groups.size(); ++i) {
          const auto& more = groups[key_groups[i]];
          key_lines.insert(key_lines.end(), more.begin(), more.end());
        }
        std::sort(key_lines.begin(), key_lines.end(), [](const auto* a, const auto* b) {
          return a->line_number < b->line_number;
        });
      }
      ARROW_ASSIGN_OR_RAISE(auto batch, BuildBatch(key_lines));
      PartitionWrite write;
      write.table_id = schema_->table.id;
      write.table_name = schema_->table.name;
      write.partition_key = key;
      write.batch = std::move(batch);
      out->push_back(std::move(write));
    }
    return arrow::Status::OK();
  }

 private:
  // A table that cannot be created (bad name, table limit) rejects every line of it;
  // other failures (the catalog is down) fail the request.
  arrow::Status RejectAll(const arrow::Status& status,
                          std::vector<LineRejection>* rejected) {
    auto kind = ErrorKindOf(status);
    if (kind != ErrorKind::kInvalidInput && kind != ErrorKind::kLimit &&
        kind != ErrorKind::kConflict) {
      return status;
    }
    for (const auto* line : lines_) {
      rejected->push_back({line->line_number, 1, status.message()});
    }
    return arrow::Status::OK();
  }

  // Creates the columns the lines offer that the table lacks. The first line offering a
  // column decides its type; lines disagreeing are rejected later by Check. When the
  // catalog refuses (limit, a concurrent writer's conflicting type), the refusal is kept
  // and the lines needing a missing column are rejected with it.
  arrow::Status EnsureColumns() {
    for (int attempt = 0; attempt < 2; ++attempt) {
      lookup_ = std::make_unique<ColumnLookup>(*schema_);
      std::vector<catalog::ColumnSpec> wanted;
      std::unordered_map<std::string_view, bool> seen;
      // One new column past the table's room is enough to refuse the lot: offering a
      // line's million distinct keys would only make the refusal cost as much as the
      // keys.
      const size_t limit = static_cast<size_t>(std::max(0, ns_.max_columns_per_table));
      const size_t room =
          limit > schema_->columns.size() ? limit - schema_->columns.size() : 0;
      for (const auto* line : lines_) {
        size_t slot = 0;
        auto offer = [&](std::string_view name, ColumnType type) {
          if (lookup_->Find(name, slot++) < 0 && wanted.size() <= room &&
              seen.emplace(name, true).second) {
            wanted.push_back({std::string(name), type});
          }
        };
        for (const auto& tag : line->tags) offer(tag.key, ColumnType::kTag);
        for (const auto& field : line->fields) offer(field.key, ColumnTypeOfField(field));
      }
      if (wanted.empty()) return arrow::Status::OK();
      if (wanted.size() > room) {
        column_error_ =
            "table '" + schema_->table.name + "' would have more than " +
            std::to_string(limit) + " columns (" +
            std::to_string(schema_->columns.size()) + " existing + at least " +
            std::to_string(wanted.size()) +
            " new), over its limit of max_columns_per_table=" + std::to_string(limit);
        break;
      }
      auto added = cache_->AddColumns(ns_, schema_->table.id, wanted);
      if (added.ok()) {
        schema_ = *added;
        lookup_ = std::make_unique<ColumnLookup>(*schema_);
        return arrow::Status::OK();
      }
      auto kind = ErrorKindOf(added.status());
      if (kind != ErrorKind::kConflict && kind != ErrorKind::kLimit &&
          kind != ErrorKind::kInvalidInput) {
        return added.status();
      }
      column_error_ = added.status().message();
      if (kind == ErrorKind::kConflict) {
        // The cache now holds the catalog's current schema: offer only what is missing.
        ARROW_ASSIGN_OR_RAISE(schema_, cache_->GetOrCreateTable(ns_, std::string(name_)));
        continue;
      }
      break;
    }
    lookup_ = std::make_unique<ColumnLookup>(*schema_);
    return arrow::Status::OK();
  }

  std::optional<LineRejection> Check(const lp::ParsedLine& line) {
    auto reject = [&](std::string_view at, std::string message) {
      return LineRejection{line.line_number,
                           index_->ColumnOf(line.line_number, at.data()),
                           std::move(message)};
    };
    size_t slot = 0;
    auto check = [&](std::string_view name,
                     ColumnType offered) -> std::optional<LineRejection> {
      int pos = lookup_->Find(name, slot++);
      const auto* column =
          pos < 0 ? nullptr : &schema_->columns[static_cast<size_t>(pos)];
      if (column == nullptr) {
        return reject(name, column_error_.empty() ? "column '" + std::string(name) +
                                                        "' could not be created"
                                                  : column_error_);
      }
      if (column->type != offered)
        return reject(name, TypeMismatch(*schema_, name, column->type, offered));
      return std::nullopt;
    };
    for (const auto& tag : line.tags) {
      if (auto r = check(tag.key, ColumnType::kTag)) return r;
    }
    for (const auto& field : line.fields) {
      if (auto r = check(field.key, ColumnTypeOfField(field))) return r;
    }
    return std::nullopt;
  }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> BuildBatch(
      const std::vector<const lp::ParsedLine*>& lines) {
    const auto& columns = schema_->columns;
    // Builders by schema position, created for the columns these lines use.
    std::vector<std::unique_ptr<ColumnBuilder>> builders(columns.size());
    std::vector<int> used;  // schema positions that have a builder
    ColumnLookup& lookup = *lookup_;
    const auto rows = static_cast<int64_t>(lines.size());
    auto builder_at = [&](int pos) -> arrow::Result<ColumnBuilder*> {
      // Check() accepted the line, so every key is in the schema.
      if (pos < 0)
        return arrow::Status::Invalid("column missing from the checked schema");
      auto& b = builders[static_cast<size_t>(pos)];
      if (b == nullptr) {
        b = std::make_unique<ColumnBuilder>(columns[static_cast<size_t>(pos)].type);
        ARROW_RETURN_NOT_OK(b->Reserve(rows));
        used.push_back(pos);
      }
      return b.get();
    };
    ColumnBuilder time_builder(ColumnType::kTime);
    ARROW_RETURN_NOT_OK(time_builder.Reserve(rows));

    for (int64_t row = 0; row < rows; ++row) {
      const auto& line = *lines[static_cast<size_t>(row)];
      size_t slot = 0;
      auto fill_to_row = [&](ColumnBuilder* b) -> arrow::Status {
        // A column first seen on this row is null for the earlier ones.
        while (b->length() < row) ARROW_RETURN_NOT_OK(b->AppendNull());
        return arrow::Status::OK();
      };
      for (const auto& tag : line.tags) {
        int pos = lookup.Find(tag.key, slot++);
        ARROW_ASSIGN_OR_RAISE(auto* b, builder_at(pos));
        ARROW_RETURN_NOT_OK(fill_to_row(b));
        ARROW_RETURN_NOT_OK(b->AppendTag(tag.value));
      }
      for (const auto& field : line.fields) {
        int pos = lookup.Find(field.key, slot++);
        ARROW_ASSIGN_OR_RAISE(auto* b, builder_at(pos));
        ARROW_RETURN_NOT_OK(fill_to_row(b));
        ARROW_RETURN_NOT_OK(b->AppendField(field));
      }
      ARROW_RETURN_NOT_OK(time_builder.AppendTime(line.timestamp_ns));
    }

    // Tags first, then fields, each in schema (creation) order; time last.
    std::sort(used.begin(), used.end(), [&](int a, int b) {
      bool a_tag = columns[a].type == ColumnType::kTag,
           b_tag = columns[b].type == ColumnType::kTag;
      return a_tag != b_tag ? a_tag : a < b;
    });
    arrow::FieldVector fields;
    arrow::ArrayVector arrays;
    for (int pos : used) {
      auto& b = *builders[static_cast<size_t>(pos)];
      while (b.length() < rows) ARROW_RETURN_NOT_OK(b.AppendNull());
      ARROW_ASSIGN_OR_RAISE(auto array, b.Finish());
      fields.push_back(arrow::field(columns[pos].name, ArrowTypeFor(columns[pos].type)));
      arrays.push_back(std::move(array));
    }
    ARROW_ASSIGN_OR_RAISE(auto time_array, time_builder.Finish());
    fields.push_back(arrow::field(std::string(kTimeColumnName),
                                  ArrowTypeFor(ColumnType::kTime), false));
    arrays.push_back(std::move(time_array));
    return arrow::RecordBatch::Make(arrow::schema(std::move(fields)), rows,
                                    std::move(arrays));
  }

  const catalog::NamespaceRecord& ns_;
  std::string_view name_;
  const LineIndex* index_;
  SchemaCache* cache_;
  std::vector<const lp::ParsedLine*> lines_;
  std::shared_ptr<const catalog::TableSchema> schema_;
  std::unique_ptr<ColumnLookup> lookup_;  // over schema_, once the columns are ensured
  std::string column_error_;  // why columns could not be created, if they could not
};

}  // namespace

arrow::Result<BuiltWrite> BuildWrite(const catalog::NamespaceRecord& ns,
                                     std::string_view body, const lp::ParsedBody& parsed,
                                     SchemaCache* cache) {
  LineIndex index(body);
  BuiltWrite built;
  built.op.namespace_id = ns.id;
  built.op.namespace_name = ns.name;
  for (const auto& error : parsed.errors()) {
    built.rejected.push_back({error.line, error.column, error.message});
  }

  // Tables in order of first appearance, so the op is deterministic for a given body.
  std::vector<std::unique_ptr<TableWriteBuilder>> tables;
  std::unordered_map<std::string_view, TableWriteBuilder*> by_name;
  for (const auto& line : parsed.lines()) {
    auto [it, inserted] = by_name.emplace(line.measurement, nullptr);
    if (inserted) {
      tables.push_back(
          std::make_unique<TableWriteBuilder>(ns, line.measurement, &index, cache));
      it->second = tables.back().get();
    }
    it->second->AddLine(&line);
  }
  for (auto& table : tables) {
    ARROW_RETURN_NOT_OK(
        table->Build(&built.rejected, &built.op.writes, &built.lines_accepted));
  }
  std::stable_sort(built.rejected.begin(), built.rejected.end(),
                   [](const LineRejection& a, const LineRejection& b) {
                     return a.line_number < b.line_number;
                   });
  return built;
}

}  // namespace ingester
