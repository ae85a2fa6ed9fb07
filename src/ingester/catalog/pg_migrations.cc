#include "ingester/catalog/pg_migrations.h"

#include <array>

namespace ingester::catalog {

namespace {

// Version 1: the schema of SQLite's versions 1 and 2 (migrations.cc) in PostgreSQL
// types:
//  - ids are BIGINT identity columns: never reused, since they name objects in the
//    object store and entries in other processes' caches;
//  - names and partition keys are TEXT COLLATE "C": compared and ordered byte for
//    byte, as SQLite's BINARY collation does ("cpu" and "CPU" are two tables);
//  - timestamps are BIGINT nanoseconds since the epoch (UTC);
//  - sort keys and partition templates are TEXT holding the same JSON as in SQLite.
// Foreign keys are enforced; "partition" is quoted everywhere (an SQL keyword).
constexpr std::string_view kV1 = R"sql(
CREATE TABLE namespace (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL,
  max_tables INTEGER NOT NULL CHECK (max_tables > 0),
  max_columns_per_table INTEGER NOT NULL CHECK (max_columns_per_table > 0),
  partition_template TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  CONSTRAINT namespace_name_unique UNIQUE (name)
);

CREATE TABLE table_name (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  namespace_id BIGINT NOT NULL REFERENCES namespace (id),
  name TEXT COLLATE "C" NOT NULL,
  partition_template TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  CONSTRAINT table_name_unique UNIQUE (namespace_id, name)
);

CREATE TABLE column_name (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_id BIGINT NOT NULL REFERENCES table_name (id),
  name TEXT COLLATE "C" NOT NULL,
  column_type TEXT NOT NULL
    CHECK (column_type IN ('tag', 'i64', 'u64', 'f64', 'bool', 'string', 'time')),
  created_at BIGINT NOT NULL,
  CONSTRAINT column_name_unique UNIQUE (table_id, name)
);

CREATE TABLE "partition" (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_id BIGINT NOT NULL REFERENCES table_name (id),
  partition_key TEXT COLLATE "C" NOT NULL,
  -- JSON array of column names, most significant first.
  sort_key TEXT NOT NULL DEFAULT '[]',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  CONSTRAINT partition_key_unique UNIQUE (table_id, partition_key)
);
CREATE INDEX partition_updated_at ON "partition" (updated_at DESC, id DESC);

CREATE TABLE parquet_file (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  namespace_id BIGINT NOT NULL REFERENCES namespace (id),
  table_id BIGINT NOT NULL REFERENCES table_name (id),
  partition_id BIGINT NOT NULL REFERENCES "partition" (id),
  object_store_id TEXT COLLATE "C" NOT NULL,
  min_time BIGINT NOT NULL,
  max_time BIGINT NOT NULL,
  row_count BIGINT NOT NULL CHECK (row_count >= 0),
  file_size_bytes BIGINT NOT NULL CHECK (file_size_bytes >= 0),
  compaction_level INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  path TEXT NOT NULL,
  CONSTRAINT parquet_file_object_store_id_unique UNIQUE (object_store_id),
  CHECK (min_time <= max_time)
);
CREATE INDEX parquet_file_partition ON parquet_file (partition_id, id);
CREATE INDEX parquet_file_table ON parquet_file (table_id, id);
)sql";

constexpr std::array<std::string_view, 1> kMigrations = {kV1};

}  // namespace

std::span<const std::string_view> PostgresMigrations() { return kMigrations; }

int PostgresSchemaVersion() { return static_cast<int>(kMigrations.size()); }

}  // namespace ingester::catalog
