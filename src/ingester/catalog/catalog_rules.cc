#include "ingester/catalog/catalog_rules.h"

#include <algorithm>
#include <random>
#include <set>
#include <unordered_map>

#include "ingester/catalog/catalog.h"
#include "ingester/catalog/names.h"
#include "ingester/common/error.h"

namespace ingester::catalog::rules {

arrow::Result<partition::PartitionTemplate> TemplateFromText(const std::string& text,
                                                             const std::string& owner) {
  static const std::string kDefault = partition::PartitionTemplate().ToJson();
  if (text == kDefault) return partition::PartitionTemplate();  // the common case
  auto parsed = partition::PartitionTemplate::FromJson(text);
  if (!parsed.ok()) {
    return DataLoss("catalog " + owner + " has an unreadable partition template " +
                    QuoteForMessage(text) + ": " + parsed.status().message());
  }
  return parsed;
}

arrow::Status ValidateNamespaceRequest(const std::string& name,
                                       const NamespaceLimits& limits) {
  ARROW_RETURN_NOT_OK(ValidateNamespaceName(name));
  if (limits.max_tables <= 0 || limits.max_columns_per_table <= 0) {
    return InvalidInput("namespace " + QuoteForMessage(name) +
                        ": limits must be positive (max_tables " +
                        std::to_string(limits.max_tables) + ", max_columns_per_table " +
                        std::to_string(limits.max_columns_per_table) + ")");
  }
  return arrow::Status::OK();
}

std::string DescribeTable(const TableRecord& table) {
  return "table " + QuoteForMessage(table.name) + " (id " +
         std::to_string(table.id.value()) + ")";
}

arrow::Status Vanished(std::string_view what) {
  return arrow::Status::IOError("catalog: ", what,
                                " was inserted but cannot be read back in the same "
                                "transaction");
}

// O(n): a write may offer many columns (the limit is checked after this).
arrow::Result<std::vector<ColumnSpec>> Dedupe(const std::vector<ColumnSpec>& wanted) {
  std::vector<ColumnSpec> unique;
  std::unordered_map<std::string_view, ColumnType> types;
  types.reserve(wanted.size());
  for (const ColumnSpec& spec : wanted) {
    auto [it, inserted] = types.emplace(spec.name, spec.type);
    if (inserted) {
      unique.push_back(spec);
    } else if (it->second != spec.type) {
      return Conflict(
          "column " + QuoteForMessage(spec.name) +
          " is offered with two types: " + std::string(ColumnTypeName(it->second)) +
          " and " + std::string(ColumnTypeName(spec.type)));
    }
  }
  return unique;
}

arrow::Result<std::vector<const ColumnSpec*>> MissingColumns(
    const TableSchema& schema, const std::vector<ColumnSpec>& unique) {
  std::vector<const ColumnSpec*> missing;
  std::unordered_map<std::string_view, const ColumnRecord*> by_name;
  by_name.reserve(schema.columns.size());
  for (const ColumnRecord& column : schema.columns) by_name.emplace(column.name, &column);
  for (const ColumnSpec& spec : unique) {
    auto found = by_name.find(spec.name);
    const ColumnRecord* existing = found == by_name.end() ? nullptr : found->second;
    if (existing == nullptr) {
      missing.push_back(&spec);
    } else if (existing->type != spec.type) {
      return Conflict(
          "column " + QuoteForMessage(spec.name) + " of " + DescribeTable(schema.table) +
          " already has type " + std::string(ColumnTypeName(existing->type)) +
          "; the write offered type " + std::string(ColumnTypeName(spec.type)));
    }
  }
  return missing;
}

arrow::Status CheckColumnLimit(const NamespaceRecord& ns, const TableSchema& schema,
                               size_t missing) {
  const size_t total = schema.columns.size() + missing;
  if (total <= static_cast<size_t>(ns.max_columns_per_table)) {
    return arrow::Status::OK();
  }
  return LimitExceeded(DescribeTable(schema.table) + " of namespace " +
                       QuoteForMessage(ns.name) + " would have " + std::to_string(total) +
                       " columns (" + std::to_string(schema.columns.size()) +
                       " existing + " + std::to_string(missing) +
                       " new), over its limit of max_columns_per_table=" +
                       std::to_string(ns.max_columns_per_table));
}

arrow::Status CheckTableLimit(const NamespaceRecord& ns, int64_t count,
                              const std::string& name) {
  if (count < ns.max_tables) return arrow::Status::OK();
  return LimitExceeded(
      "namespace " + QuoteForMessage(ns.name) + " already has " + std::to_string(count) +
      " tables, its limit of max_tables=" + std::to_string(ns.max_tables) +
      ": cannot create table " + QuoteForMessage(name));
}

arrow::Status ValidateSortKey(const std::vector<std::string>& new_key) {
  std::set<std::string_view> seen;
  for (const std::string& name : new_key) {
    ARROW_RETURN_NOT_OK(ValidateColumnName(name));
    if (!seen.insert(name).second) {
      return InvalidInput("sort key " + SortKeyToString(new_key) + " names column " +
                          QuoteForMessage(name) + " twice");
    }
  }
  return arrow::Status::OK();
}

arrow::Status CheckSortKeyColumns(const PartitionRecord& partition,
                                  const std::vector<ColumnRecord>& columns,
                                  const std::vector<std::string>& new_key) {
  for (const std::string& name : new_key) {
    const bool known = std::any_of(columns.begin(), columns.end(),
                                   [&](const ColumnRecord& c) { return c.name == name; });
    if (!known) {
      return InvalidInput("sort key " + SortKeyToString(new_key) + " of partition " +
                          std::to_string(partition.id.value()) + " names " +
                          QuoteForMessage(name) + ", which is not a column of table id " +
                          std::to_string(partition.table_id.value()));
    }
  }
  return arrow::Status::OK();
}

arrow::Result<ParquetFileRecord> PrepareParquetFile(const ParquetFileRecord& record,
                                                    const Clock& clock) {
  if (!IsUuidText(record.object_store_id)) {
    return InvalidInput("parquet file: object_store_id " +
                        QuoteForMessage(record.object_store_id) +
                        " is not a lower-case UUID");
  }
  if (record.min_time > record.max_time || record.row_count < 0 ||
      record.file_size_bytes < 0 || record.compaction_level < 0) {
    return InvalidInput("parquet file " + record.object_store_id +
                        ": needs min_time <= max_time and non-negative row_count, "
                        "file_size_bytes and compaction_level");
  }
  ParquetFileRecord wanted = record;
  wanted.id = ParquetFileId();
  if (wanted.path.empty()) {
    wanted.path = ParquetFilePath(record.namespace_id, record.table_id,
                                  record.partition_id, record.object_store_id);
  }
  if (wanted.created_at == 0) wanted.created_at = clock.NowNanos();
  return wanted;
}

arrow::Status CheckParquetOwner(const ParquetFileRecord& wanted,
                                const PartitionRecord& partition,
                                const TableRecord& table) {
  if (table.id == wanted.table_id && table.namespace_id == wanted.namespace_id) {
    return arrow::Status::OK();
  }
  return InvalidInput("parquet file " + wanted.object_store_id + ": partition " +
                      std::to_string(partition.id.value()) + " belongs to table " +
                      std::to_string(table.id.value()) + " of namespace " +
                      std::to_string(table.namespace_id.value()) +
                      ", but the record names table " +
                      std::to_string(wanted.table_id.value()) + " of namespace " +
                      std::to_string(wanted.namespace_id.value()));
}

arrow::Result<ParquetFileId> MatchStoredParquet(const ParquetFileRecord& input,
                                                const ParquetFileRecord& wanted,
                                                const ParquetFileRecord& stored) {
  ParquetFileRecord comparable = stored;
  comparable.id = ParquetFileId();
  // A retry of a call whose reply was lost records the same file again: accept it.
  // created_at may differ between the attempts (it defaults to "now").
  if (input.created_at == 0) comparable.created_at = wanted.created_at;
  if (comparable != wanted) {
    return Conflict("parquet file object_store_id " + wanted.object_store_id +
                    " is already recorded (id " + std::to_string(stored.id.value()) +
                    ") with different attributes");
  }
  return stored.id;
}

std::chrono::microseconds BackoffDelay(int attempt) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t cap_us =
      std::min<int64_t>(250'000, int64_t{2'000} << std::min(attempt, 10));
  return std::chrono::microseconds(
      std::uniform_int_distribution<int64_t>(cap_us / 4, cap_us)(rng));
}

}  // namespace ingester::catalog::rules
