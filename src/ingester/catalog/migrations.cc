#include "ingester/catalog/migrations.h"

#include <array>

namespace ingester::catalog {

namespace {

// Version 1: the initial schema.
//
//   namespace 1--* table_name 1--* column_name
//                      |
//                      1--* "partition" 1--* parquet_file
//
// parquet_file also carries its namespace and table ids (listing a table's files needs
// no join).
//
// AUTOINCREMENT: ids are never reused, even after the highest row is deleted, because
// ids name objects in the object store and entries in caches of other processes.
// Names compare byte for byte (BINARY collation): "cpu" and "CPU" are two tables.
// "partition" is quoted everywhere: it is an SQL keyword.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE namespace (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  max_tables INTEGER NOT NULL CHECK (max_tables > 0),
  max_columns_per_table INTEGER NOT NULL CHECK (max_columns_per_table > 0),
  created_at INTEGER NOT NULL,
  CONSTRAINT namespace_name_unique UNIQUE (name)
);

CREATE TABLE table_name (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  namespace_id INTEGER NOT NULL REFERENCES namespace (id),
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  CONSTRAINT table_name_unique UNIQUE (namespace_id, name)
);

CREATE TABLE column_name (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  table_id INTEGER NOT NULL REFERENCES table_name (id),
  name TEXT NOT NULL,
  column_type TEXT NOT NULL
    CHECK (column_type IN ('tag', 'i64', 'u64', 'f64', 'bool', 'string', 'time')),
  created_at INTEGER NOT NULL,
  CONSTRAINT column_name_unique UNIQUE (table_id, name)
);

CREATE TABLE "partition" (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  table_id INTEGER NOT NULL REFERENCES table_name (id),
  partition_key TEXT NOT NULL,
  -- JSON array of column names, most significant first.
  sort_key TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  CONSTRAINT partition_key_unique UNIQUE (table_id, partition_key)
);
CREATE INDEX partition_updated_at ON "partition" (updated_at DESC, id DESC);

CREATE TABLE parquet_file (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  namespace_id INTEGER NOT NULL REFERENCES namespace (id),
  table_id INTEGER NOT NULL REFERENCES table_name (id),
  partition_id INTEGER NOT NULL REFERENCES "partition" (id),
  object_store_id TEXT NOT NULL,
  min_time INTEGER NOT NULL,
  max_time INTEGER NOT NULL,
  row_count INTEGER NOT NULL CHECK (row_count >= 0),
  file_size_bytes INTEGER NOT NULL CHECK (file_size_bytes >= 0),
  compaction_level INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  path TEXT NOT NULL,
  CONSTRAINT parquet_file_object_store_id_unique UNIQUE (object_store_id),
  CHECK (min_time <= max_time)
);
CREATE INDEX parquet_file_partition ON parquet_file (partition_id);
CREATE INDEX parquet_file_table ON parquet_file (table_id);
)sql";

// Version 2: partition templates (partition/partition_template.h), as their JSON form.
// Rows from version 1 get the daily template their partitions were keyed by.
constexpr std::string_view kV2 = R"sql(
ALTER TABLE namespace ADD COLUMN partition_template TEXT NOT NULL
  DEFAULT '{"parts":[{"time_format":"%Y-%m-%d"}]}';
ALTER TABLE table_name ADD COLUMN partition_template TEXT NOT NULL
  DEFAULT '{"parts":[{"time_format":"%Y-%m-%d"}]}';
)sql";

constexpr std::array<std::string_view, 2> kMigrations = {kV1, kV2};

}  // namespace

std::span<const std::string_view> SqliteMigrations() { return kMigrations; }

int SqliteSchemaVersion() { return static_cast<int>(kMigrations.size()); }

}  // namespace ingester::catalog
