// The records the catalog stores: namespaces, tables, columns, partitions and the
// Parquet files persisted for them. Plain values; copies are independent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/common/column_type.h"
#include "ingester/common/ids.h"
#include "ingester/partition/partition_template.h"

namespace ingester::catalog {

// Limits a namespace applies to itself; fixed when the namespace is created.
struct NamespaceLimits {
  int32_t max_tables = 10'000;
  int32_t max_columns_per_table = 200;
};

struct NamespaceRecord {
  NamespaceId id;
  std::string name;
  int32_t max_tables = NamespaceLimits{}.max_tables;
  int32_t max_columns_per_table = NamespaceLimits{}.max_columns_per_table;
  // Fixed when the namespace is created; tables created without a template of their
  // own take this one.
  partition::PartitionTemplate partition_template;

  bool operator==(const NamespaceRecord&) const = default;
};

struct TableRecord {
  TableId id;
  NamespaceId namespace_id;
  std::string name;
  // How the table's rows are split into partitions; fixed when the table is created.
  partition::PartitionTemplate partition_template;

  bool operator==(const TableRecord&) const = default;
};

struct ColumnRecord {
  ColumnId id;
  TableId table_id;
  std::string name;
  ColumnType type = ColumnType::kTag;

  bool operator==(const ColumnRecord&) const = default;
};

// A column a writer wants a table to have.
struct ColumnSpec {
  std::string name;
  ColumnType type = ColumnType::kTag;

  bool operator==(const ColumnSpec&) const = default;
};

// A table with all of its columns, in creation (id) order.
struct TableSchema {
  TableRecord table;
  std::vector<ColumnRecord> columns;

  // nullptr when the table has no column of that name / id. The pointer is valid
  // until `columns` changes.
  const ColumnRecord* FindColumn(std::string_view name) const;
  const ColumnRecord* FindColumnById(ColumnId id) const;
  std::optional<ColumnType> TypeOf(std::string_view name) const;

  bool operator==(const TableSchema&) const = default;
};

struct PartitionRecord {
  PartitionId id;
  TableId table_id;
  std::string key;
  // Column names, most significant first; empty until the first persist sets it.
  std::vector<std::string> sort_key;
  // Nanoseconds since the epoch (UTC). `updated_at` moves when the sort key changes.
  int64_t created_at = 0;
  int64_t updated_at = 0;

  bool operator==(const PartitionRecord&) const = default;
};

struct ParquetFileRecord {
  // Assigned by Catalog::CreateParquetFile; ignored on input.
  ParquetFileId id;
  NamespaceId namespace_id;
  TableId table_id;
  PartitionId partition_id;
  // Lower-case RFC 4122 text form ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"); unique
  // across the catalog, it names the object.
  std::string object_store_id;
  // Inclusive bounds of the `time` column, ns since the epoch.
  int64_t min_time = 0;
  int64_t max_time = 0;
  int64_t row_count = 0;
  int64_t file_size_bytes = 0;
  // 0 for files written by an ingester; compactors write higher levels.
  int32_t compaction_level = 0;
  // Nanoseconds since the epoch; 0 on input means "now" (the catalog's clock).
  int64_t created_at = 0;
  // Object store path relative to the store's root; when empty on input,
  // CreateParquetFile stores ParquetFilePath(...) of the record's ids.
  std::string path;

  bool operator==(const ParquetFileRecord&) const = default;
};

// "<namespace id>/<table id>/<partition id>/<object store id>.parquet": built from
// ids only, never names, so no client-chosen string reaches an object store path.
std::string ParquetFilePath(NamespaceId namespace_id, TableId table_id,
                            PartitionId partition_id, std::string_view object_store_id);

// True for the lower-case text form of a UUID (8-4-4-4-12 hex digits).
bool IsUuidText(std::string_view text);

}  // namespace ingester::catalog
