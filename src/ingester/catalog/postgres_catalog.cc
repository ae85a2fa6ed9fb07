#include "ingester/catalog/postgres_catalog.h"

#include <string_view>
#include <thread>
#include <utility>

#include "ingester/catalog/catalog_rules.h"
#include "ingester/catalog/names.h"
#include "ingester/catalog/pg_internal.h"
#include "ingester/catalog/pg_migrations.h"
#include "ingester/catalog/pg_pool.h"
#include "ingester/catalog/sqlite_internal.h"
#include "ingester/common/error.h"
#include "ingester/common/logging.h"

namespace ingester::catalog {

using pg::Connection;
using pg::Params;
using pg::Rows;

namespace {

// --- SQL -----------------------------------------------------------------------
// Every value is a bound parameter; no SQL text is ever built from input.

#define INGESTER_NAMESPACE_COLUMNS \
  "id, name, max_tables, max_columns_per_table, partition_template"
constexpr char kSelectNamespaceByName[] =
    "SELECT " INGESTER_NAMESPACE_COLUMNS " FROM namespace WHERE name = $1";
constexpr char kSelectNamespaceById[] =
    "SELECT " INGESTER_NAMESPACE_COLUMNS " FROM namespace WHERE id = $1";
constexpr char kLockNamespaceById[] = "SELECT " INGESTER_NAMESPACE_COLUMNS
                                      " FROM namespace WHERE id = $1 FOR NO KEY UPDATE";
constexpr char kSelectNamespaces[] =
    "SELECT " INGESTER_NAMESPACE_COLUMNS " FROM namespace ORDER BY name";
#undef INGESTER_NAMESPACE_COLUMNS
constexpr char kInsertNamespace[] =
    "INSERT INTO namespace (name, max_tables, max_columns_per_table, created_at, "
    "partition_template) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING";

#define INGESTER_TABLE_COLUMNS "id, namespace_id, name, partition_template"
constexpr char kSelectTableByName[] = "SELECT " INGESTER_TABLE_COLUMNS
                                      " FROM table_name WHERE namespace_id = $1 AND "
                                      "name = $2";
constexpr char kSelectTableById[] =
    "SELECT " INGESTER_TABLE_COLUMNS " FROM table_name WHERE id = $1";
constexpr char kLockTableById[] =
    "SELECT " INGESTER_TABLE_COLUMNS " FROM table_name WHERE id = $1 FOR NO KEY UPDATE";
constexpr char kSelectTables[] = "SELECT " INGESTER_TABLE_COLUMNS
                                 " FROM table_name WHERE namespace_id = $1 ORDER BY name";
#undef INGESTER_TABLE_COLUMNS
constexpr char kCountTables[] = "SELECT COUNT(*) FROM table_name WHERE namespace_id = $1";
constexpr char kInsertTable[] =
    "INSERT INTO table_name (namespace_id, name, created_at, partition_template) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT (namespace_id, name) DO NOTHING";

constexpr char kSelectColumns[] =
    "SELECT id, table_id, name, column_type FROM column_name WHERE table_id = $1 "
    "ORDER BY id";
// All the new columns of one call in one statement, in the order offered (ids follow
// the order of the rows inserted: WITH ORDINALITY keeps it).
constexpr char kInsertColumns[] =
    "INSERT INTO column_name (table_id, name, column_type, created_at) "
    "SELECT $1::bigint, u.name, u.column_type, $2::bigint "
    "FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS u(name, column_type, n) "
    "ORDER BY u.n ON CONFLICT (table_id, name) DO NOTHING";

#define INGESTER_PARTITION_COLUMNS \
  "id, table_id, partition_key, sort_key, created_at, updated_at"
constexpr char kSelectPartitionByKey[] =
    "SELECT " INGESTER_PARTITION_COLUMNS
    " FROM \"partition\" WHERE table_id = $1 AND partition_key = $2";
constexpr char kSelectPartitionById[] =
    "SELECT " INGESTER_PARTITION_COLUMNS " FROM \"partition\" WHERE id = $1";
constexpr char kLockPartitionById[] = "SELECT " INGESTER_PARTITION_COLUMNS
                                      " FROM \"partition\" WHERE id = $1 "
                                      "FOR NO KEY UPDATE";
constexpr char kSelectPartitions[] =
    "SELECT " INGESTER_PARTITION_COLUMNS
    " FROM \"partition\" WHERE table_id = $1 ORDER BY partition_key";
constexpr char kSelectRecentPartitions[] =
    "SELECT " INGESTER_PARTITION_COLUMNS
    " FROM \"partition\" ORDER BY updated_at DESC, id DESC LIMIT $1";
#undef INGESTER_PARTITION_COLUMNS
constexpr char kInsertPartition[] =
    "INSERT INTO \"partition\" (table_id, partition_key, sort_key, created_at, "
    "updated_at) "
    "VALUES ($1, $2, '[]', $3, $3) ON CONFLICT (table_id, partition_key) DO NOTHING";
constexpr char kUpdateSortKey[] =
    "UPDATE \"partition\" SET sort_key = $2, updated_at = $3 WHERE id = $1";

#define INGESTER_PARQUET_COLUMNS                                                    \
  "id, namespace_id, table_id, partition_id, object_store_id, min_time, max_time, " \
  "row_count, file_size_bytes, compaction_level, created_at, path"
constexpr char kSelectParquetByObjectStoreId[] =
    "SELECT " INGESTER_PARQUET_COLUMNS " FROM parquet_file WHERE object_store_id = $1";
constexpr char kSelectParquetByPartition[] =
    "SELECT " INGESTER_PARQUET_COLUMNS
    " FROM parquet_file WHERE partition_id = $1 ORDER BY id";
constexpr char kSelectParquetByTable[] =
    "SELECT " INGESTER_PARQUET_COLUMNS
    " FROM parquet_file WHERE table_id = $1 ORDER BY id";
#undef INGESTER_PARQUET_COLUMNS
constexpr char kInsertParquet[] =
    "INSERT INTO parquet_file (namespace_id, table_id, partition_id, object_store_id, "
    "min_time, max_time, row_count, file_size_bytes, compaction_level, created_at, path) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
    "ON CONFLICT (object_store_id) DO NOTHING";

constexpr char kLockMigrations[] = "SELECT pg_advisory_xact_lock($1)";
constexpr char kCreateSchemaVersion[] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)";
constexpr char kSelectSchemaVersion[] =
    "SELECT COALESCE(MAX(version), 0) FROM schema_version";
constexpr char kInsertSchemaVersion[] =
    "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)";

// --- rows ----------------------------------------------------------------------

arrow::Result<NamespaceRecord> NamespaceFromRow(const Rows& rows, int i) {
  NamespaceRecord record;
  record.id = NamespaceId(rows.Int(i, 0));
  record.name = rows.Text(i, 1);
  record.max_tables = static_cast<int32_t>(rows.Int(i, 2));
  record.max_columns_per_table = static_cast<int32_t>(rows.Int(i, 3));
  ARROW_ASSIGN_OR_RAISE(
      record.partition_template,
      rules::TemplateFromText(rows.Text(i, 4),
                              "namespace " + QuoteForMessage(record.name)));
  return record;
}

arrow::Result<TableRecord> TableFromRow(const Rows& rows, int i) {
  TableRecord record;
  record.id = TableId(rows.Int(i, 0));
  record.namespace_id = NamespaceId(rows.Int(i, 1));
  record.name = rows.Text(i, 2);
  ARROW_ASSIGN_OR_RAISE(
      record.partition_template,
      rules::TemplateFromText(rows.Text(i, 3), "table " + QuoteForMessage(record.name)));
  return record;
}

arrow::Result<ColumnRecord> ColumnFromRow(const Rows& rows, int i) {
  const std::string type_name = rows.Text(i, 3);
  const std::optional<ColumnType> type = ColumnTypeFromName(type_name);
  if (!type.has_value()) {
    return DataLoss("catalog column " + std::to_string(rows.Int(i, 0)) +
                    " has an unknown type " + QuoteForMessage(type_name));
  }
  return ColumnRecord{ColumnId(rows.Int(i, 0)), TableId(rows.Int(i, 1)), rows.Text(i, 2),
                      *type};
}

arrow::Result<PartitionRecord> PartitionFromRow(const Rows& rows, int i) {
  PartitionRecord record;
  record.id = PartitionId(rows.Int(i, 0));
  record.table_id = TableId(rows.Int(i, 1));
  record.key = rows.Text(i, 2);
  ARROW_ASSIGN_OR_RAISE(record.sort_key, sqlite::DecodeStringList(rows.Text(i, 3)));
  record.created_at = rows.Int(i, 4);
  record.updated_at = rows.Int(i, 5);
  return record;
}

arrow::Result<ParquetFileRecord> ParquetFromRow(const Rows& rows, int i) {
  ParquetFileRecord r;
  r.id = ParquetFileId(rows.Int(i, 0));
  r.namespace_id = NamespaceId(rows.Int(i, 1));
  r.table_id = TableId(rows.Int(i, 2));
  r.partition_id = PartitionId(rows.Int(i, 3));
  r.object_store_id = rows.Text(i, 4);
  r.min_time = rows.Int(i, 5);
  r.max_time = rows.Int(i, 6);
  r.row_count = rows.Int(i, 7);
  r.file_size_bytes = rows.Int(i, 8);
  r.compaction_level = static_cast<int32_t>(rows.Int(i, 9));
  r.created_at = rows.Int(i, 10);
  r.path = rows.Text(i, 11);
  return r;
}

// Every row of `sql` with `params`, converted by `convert`.
template <typename T>
arrow::Result<std::vector<T>> AllRows(Connection& conn, const char* sql,
                                      const Params& params,
                                      arrow::Result<T> (*convert)(const Rows&, int)) {
  ARROW_ASSIGN_OR_RAISE(Rows rows, conn.Query(sql, params));
  std::vector<T> out;
  out.reserve(static_cast<size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(T value, convert(rows, i));
    out.push_back(std::move(value));
  }
  return out;
}

// The first row of `sql` with `params`, if any.
template <typename T>
arrow::Result<std::optional<T>> OptionalRow(Connection& conn, const char* sql,
                                            const Params& params,
                                            arrow::Result<T> (*convert)(const Rows&,
                                                                        int)) {
  ARROW_ASSIGN_OR_RAISE(Rows rows, conn.Query(sql, params));
  if (rows.size() == 0) return std::nullopt;
  ARROW_ASSIGN_OR_RAISE(T value, convert(rows, 0));
  return std::make_optional(std::move(value));
}

// The row with `id`, which must exist: NotFound names the `kind` and the id.
template <typename T>
arrow::Result<T> RequiredRow(Connection& conn, const char* sql, int64_t id,
                             arrow::Result<T> (*convert)(const Rows&, int),
                             std::string_view kind) {
  ARROW_ASSIGN_OR_RAISE(auto record, OptionalRow(conn, sql, Params().Add(id), convert));
  if (!record.has_value()) {
    return NotFound(std::string(kind) + " id " + std::to_string(id) + " does not exist");
  }
  return std::move(*record);
}

// A PostgreSQL array literal of `values` ({"a","b"}), for a text[] parameter.
std::string TextArray(const std::vector<std::string_view>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (const char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// --- reads shared by several operations ----------------------------------------

arrow::Result<std::optional<NamespaceRecord>> ReadNamespaceByName(
    Connection& conn, const std::string& name) {
  return OptionalRow(conn, kSelectNamespaceByName, Params().Add(name), NamespaceFromRow);
}

// With `lock`, holds the row until the transaction ends.
arrow::Result<NamespaceRecord> ReadNamespace(Connection& conn, NamespaceId id,
                                             bool lock = false) {
  return RequiredRow(conn, lock ? kLockNamespaceById : kSelectNamespaceById, id.value(),
                     NamespaceFromRow, "namespace");
}

arrow::Result<std::optional<TableRecord>> ReadTableByName(Connection& conn,
                                                          NamespaceId namespace_id,
                                                          const std::string& name) {
  return OptionalRow(conn, kSelectTableByName,
                     Params().Add(namespace_id.value()).Add(name), TableFromRow);
}

arrow::Result<TableRecord> ReadTable(Connection& conn, TableId id, bool lock = false) {
  return RequiredRow(conn, lock ? kLockTableById : kSelectTableById, id.value(),
                     TableFromRow, "table");
}

arrow::Result<std::vector<ColumnRecord>> ReadColumns(Connection& conn, TableId table_id) {
  return AllRows(conn, kSelectColumns, Params().Add(table_id.value()), ColumnFromRow);
}

arrow::Result<std::optional<PartitionRecord>> ReadPartitionByKey(Connection& conn,
                                                                 TableId table_id,
                                                                 const std::string& key) {
  return OptionalRow(conn, kSelectPartitionByKey, Params().Add(table_id.value()).Add(key),
                     PartitionFromRow);
}

arrow::Result<PartitionRecord> ReadPartition(Connection& conn, PartitionId id,
                                             bool lock = false) {
  return RequiredRow(conn, lock ? kLockPartitionById : kSelectPartitionById, id.value(),
                     PartitionFromRow, "partition");
}

}  // namespace

// --- options and lifecycle ------------------------------------------------------

namespace {

// The pool's share of the options: the pool checks those fields itself.
pg::PoolOptions PoolOptionsOf(const PostgresCatalogOptions& options) {
  pg::PoolOptions pool_options;
  pool_options.url = options.url;
  pool_options.server = pg::RedactUrl(options.url);
  pool_options.max_connections = options.max_connections;
  pool_options.acquire_timeout = options.acquire_timeout;
  pool_options.connect_timeout_seconds =
      static_cast<int>(options.connect_timeout.count());
  return pool_options;
}

}  // namespace

arrow::Status PostgresCatalogOptions::Validate() const {
  ARROW_RETURN_NOT_OK(PoolOptionsOf(*this).Validate());
  if (max_conflict_retries < 0) {
    return arrow::Status::Invalid("postgres catalog: max_conflict_retries must be >= 0");
  }
  if (clock == nullptr) return arrow::Status::Invalid("postgres catalog: clock is null");
  return arrow::Status::OK();
}

PostgresCatalog::PostgresCatalog(const PostgresCatalogOptions& options,
                                 std::string server, std::unique_ptr<pg::Pool> pool)
    : options_(options), server_(std::move(server)), pool_(std::move(pool)) {}

PostgresCatalog::~PostgresCatalog() = default;

arrow::Result<std::unique_ptr<PostgresCatalog>> PostgresCatalog::Make(
    const PostgresCatalogOptions& options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  pg::PoolOptions pool_options = PoolOptionsOf(options);
  std::string server = pool_options.server;
  ARROW_ASSIGN_OR_RAISE(auto pool, pg::Pool::Make(std::move(pool_options)));
  std::unique_ptr<PostgresCatalog> catalog(
      new PostgresCatalog(options, std::move(server), std::move(pool)));
  ARROW_RETURN_NOT_OK(catalog->Migrate());
  return catalog;
}

template <typename Fn>
std::invoke_result_t<Fn&, pg::Connection&, bool> PostgresCatalog::InTransaction(
    TxnKind kind, Fn&& fn) {
  bool reconnected = false;
  for (int attempt = 0;; ++attempt) {
    auto lease = pool_->Acquire();
    if (!lease.ok()) return lease.status();
    Connection& conn = **lease;
    auto result = [&]() -> decltype(fn(conn, reconnected)) {
      // A read runs its statements on their own (each one its own snapshot): records
      // are never changed but by adding, so a read needs no transaction's round trips.
      if (kind == TxnKind::kRead) return fn(conn, reconnected);
      ARROW_RETURN_NOT_OK(conn.Exec("BEGIN"));
      auto inner = fn(conn, reconnected);
      if (!inner.ok()) return inner;
      ARROW_RETURN_NOT_OK(conn.Exec("COMMIT"));
      return inner;
    }();
    if (result.ok()) return result;
    const pg::FailureKind failure = conn.last_failure();
    conn.RollbackIfOpen();
    if (failure == pg::FailureKind::kBroken) {
      // The server went away (restart, failover, network): every idle connection of
      // the pool is most likely dead too. Retry once on a fresh connection.
      lease->Discard();
      pool_->DropIdle();
      if (reconnected) return result;
      reconnected = true;
      spdlog::warn("{}; reconnecting", rules::StatusOf(result).message());
      continue;
    }
    if (failure == pg::FailureKind::kRetry && attempt < options_.max_conflict_retries) {
      std::this_thread::sleep_for(rules::BackoffDelay(attempt));
      continue;
    }
    return result;
  }
}

arrow::Status PostgresCatalog::Migrate() {
  const int known = PostgresSchemaVersion();
  return InTransaction(TxnKind::kWrite, [&](Connection& conn, bool) -> arrow::Status {
    // Held until COMMIT: ingesters starting together migrate one after the other.
    ARROW_RETURN_NOT_OK(
        conn.Query(kLockMigrations, Params().Add(kMigrationLockKey)).status());
    ARROW_RETURN_NOT_OK(conn.Exec(kCreateSchemaVersion));
    ARROW_ASSIGN_OR_RAISE(Rows rows, conn.Query(kSelectSchemaVersion));
    const int64_t version = rows.size() > 0 ? rows.Int(0, 0) : 0;
    if (version > known) {
      return arrow::Status::Invalid(
          "catalog ", server_, " has schema version ", version,
          " but this binary only knows versions up to ", known,
          ": it was written by a newer ingester; upgrade this binary");
    }
    for (int64_t v = version; v < known; ++v) {
      // Migrations are string literals, hence NUL-terminated.
      ARROW_RETURN_NOT_OK(conn.Exec(PostgresMigrations()[v].data()));
      ARROW_RETURN_NOT_OK(conn.Query(kInsertSchemaVersion,
                                     Params().Add(v + 1).Add(options_.clock->NowNanos()))
                              .status());
      spdlog::info("catalog {}: migrated schema to version {}", server_, v + 1);
    }
    return arrow::Status::OK();
  });
}

// --- namespaces ----------------------------------------------------------------

arrow::Result<NamespaceRecord> PostgresCatalog::GetOrCreateNamespace(
    const std::string& name, const NamespaceLimits& limits,
    const partition::PartitionTemplate& partition_template) {
  ARROW_RETURN_NOT_OK(rules::ValidateNamespaceRequest(name, limits));
  ARROW_ASSIGN_OR_RAISE(auto existing, GetNamespaceByName(name));
  if (existing.has_value()) return std::move(*existing);
  return InTransaction(
      TxnKind::kWrite, [&](Connection& conn, bool) -> arrow::Result<NamespaceRecord> {
        ARROW_RETURN_NOT_OK(
            conn.Query(kInsertNamespace, Params()
                                             .Add(name)
                                             .Add(limits.max_tables)
                                             .Add(limits.max_columns_per_table)
                                             .Add(options_.clock->NowNanos())
                                             .Add(partition_template.ToJson()))
                .status());
        ARROW_ASSIGN_OR_RAISE(auto record, ReadNamespaceByName(conn, name));
        if (!record.has_value())
          return rules::Vanished("namespace " + QuoteForMessage(name));
        return std::move(*record);
      });
}

arrow::Result<std::optional<NamespaceRecord>> PostgresCatalog::GetNamespaceByName(
    const std::string& name) {
  return InTransaction(TxnKind::kRead, [&](Connection& conn, bool) {
    return ReadNamespaceByName(conn, name);
  });
}

arrow::Result<NamespaceRecord> PostgresCatalog::GetNamespace(NamespaceId id) {
  return InTransaction(TxnKind::kRead,
                       [&](Connection& conn, bool) { return ReadNamespace(conn, id); });
}

arrow::Result<std::vector<NamespaceRecord>> PostgresCatalog::ListNamespaces() {
  return InTransaction(TxnKind::kRead, [&](Connection& conn, bool) {
    return AllRows(conn, kSelectNamespaces, Params(), NamespaceFromRow);
  });
}

// --- tables and columns --------------------------------------------------------

arrow::Result<TableRecord> PostgresCatalog::GetOrCreateTable(
    NamespaceId namespace_id, const std::string& name,
    const std::optional<partition::PartitionTemplate>& partition_template) {
  ARROW_RETURN_NOT_OK(ValidateTableName(name));
  ARROW_ASSIGN_OR_RAISE(auto existing, GetTableByName(namespace_id, name));
  if (existing.has_value()) return std::move(*existing);
  return InTransaction(
      TxnKind::kWrite, [&](Connection& conn, bool) -> arrow::Result<TableRecord> {
        // The namespace row lock serialises table creation in the namespace, so the count
        // below is the committed one and max_tables holds across processes.
        ARROW_ASSIGN_OR_RAISE(NamespaceRecord ns,
                              ReadNamespace(conn, namespace_id, /*lock=*/true));
        ARROW_ASSIGN_OR_RAISE(auto table, ReadTableByName(conn, namespace_id, name));
        if (table.has_value()) return std::move(*table);
        ARROW_ASSIGN_OR_RAISE(
            Rows count, conn.Query(kCountTables, Params().Add(namespace_id.value())));
        ARROW_RETURN_NOT_OK(
            rules::CheckTableLimit(ns, count.size() > 0 ? count.Int(0, 0) : 0, name));
        ARROW_RETURN_NOT_OK(
            conn.Query(
                    kInsertTable,
                    Params()
                        .Add(namespace_id.value())
                        .Add(name)
                        .Add(options_.clock->NowNanos())
                        .Add(partition_template.value_or(ns.partition_template).ToJson()))
                .status());
        ARROW_ASSIGN_OR_RAISE(table, ReadTableByName(conn, namespace_id, name));
        if (!table.has_value()) return rules::Vanished("table " + QuoteForMessage(name));
        return std::move(*table);
      });
}

arrow::Result<std::optional<TableRecord>> PostgresCatalog::GetTableByName(
    NamespaceId namespace_id, const std::string& name) {
  return InTransaction(TxnKind::kRead, [&](Connection& conn, bool) {
    return ReadTableByName(conn, namespace_id, name);
  });
}

arrow::Result<TableSchema> PostgresCatalog::GetTableSchema(TableId table_id) {
  return InTransaction(
      TxnKind::kRead, [&](Connection& conn, bool) -> arrow::Result<TableSchema> {
        TableSchema schema;
        ARROW_ASSIGN_OR_RAISE(schema.table, ReadTable(conn, table_id));
        ARROW_ASSIGN_OR_RAISE(schema.columns, ReadColumns(conn, table_id));
        return schema;
      });
}

arrow::Result<std::vector<TableRecord>> PostgresCatalog::ListTables(
    NamespaceId namespace_id) {
  return InTransaction(TxnKind::kRead, [&](Connection& conn, bool) {
    return AllRows(conn, kSelectTables, Params().Add(namespace_id.value()), TableFromRow);
  });
}

arrow::Result<TableSchema> PostgresCatalog::GetOrCreateColumns(
    TableId table_id, const std::vector<ColumnSpec>& wanted) {
  for (const ColumnSpec& spec : wanted) ARROW_RETURN_NOT_OK(ValidateColumnSpec(spec));
  ARROW_ASSIGN_OR_RAISE(const std::vector<ColumnSpec> unique, rules::Dedupe(wanted));

  // Loads the schema and checks `unique` against it. Without `create`, returns nullopt
  // when columns are missing; with it, creates them holding the table row, so racing
  // creators decide types and the column limit on the committed columns. A type
  // conflict found by a read is final: a stored column never changes type.
  const auto attempt = [&](Connection& conn,
                           bool create) -> arrow::Result<std::optional<TableSchema>> {
    TableSchema schema;
    ARROW_ASSIGN_OR_RAISE(schema.table, ReadTable(conn, table_id, /*lock=*/create));
    ARROW_ASSIGN_OR_RAISE(schema.columns, ReadColumns(conn, table_id));
    ARROW_ASSIGN_OR_RAISE(std::vector<const ColumnSpec*> missing,
                          rules::MissingColumns(schema, unique));
    if (missing.empty()) return schema;
    if (!create) return std::nullopt;

    ARROW_ASSIGN_OR_RAISE(NamespaceRecord ns,
                          ReadNamespace(conn, schema.table.namespace_id));
    ARROW_RETURN_NOT_OK(rules::CheckColumnLimit(ns, schema, missing.size()));
    std::vector<std::string_view> names;
    std::vector<std::string_view> types;
    for (const ColumnSpec* spec : missing) {
      names.push_back(spec->name);
      types.push_back(ColumnTypeName(spec->type));
    }
    ARROW_RETURN_NOT_OK(conn.Query(kInsertColumns, Params()
                                                       .Add(table_id.value())
                                                       .Add(options_.clock->NowNanos())
                                                       .Add(TextArray(names))
                                                       .Add(TextArray(types)))
                            .status());
    ARROW_ASSIGN_OR_RAISE(schema.columns, ReadColumns(conn, table_id));
    for (const ColumnSpec* spec : missing) {
      if (schema.TypeOf(spec->name) != spec->type) {
        return rules::Vanished("column " + QuoteForMessage(spec->name));
      }
    }
    return schema;
  };

  ARROW_ASSIGN_OR_RAISE(auto schema,
                        InTransaction(TxnKind::kRead, [&](Connection& conn, bool) {
                          return attempt(conn, /*create=*/false);
                        }));
  if (!schema.has_value()) {
    ARROW_ASSIGN_OR_RAISE(schema,
                          InTransaction(TxnKind::kWrite, [&](Connection& conn, bool) {
                            return attempt(conn, /*create=*/true);
                          }));
  }
  return std::move(*schema);
}

// --- partitions ----------------------------------------------------------------

arrow::Result<PartitionRecord> PostgresCatalog::GetOrCreatePartition(
    TableId table_id, const std::string& key) {
  ARROW_RETURN_NOT_OK(ValidatePartitionKey(key));
  if (key.find('\0') != std::string::npos) {
    return InvalidInput("invalid partition key " + QuoteForMessage(key) +
                        ": a PostgreSQL catalog cannot store the NUL character");
  }
  ARROW_ASSIGN_OR_RAISE(auto existing,
                        InTransaction(TxnKind::kRead, [&](Connection& conn, bool) {
                          return ReadPartitionByKey(conn, table_id, key);
                        }));
  if (existing.has_value()) return std::move(*existing);
  return InTransaction(
      TxnKind::kWrite, [&](Connection& conn, bool) -> arrow::Result<PartitionRecord> {
        ARROW_RETURN_NOT_OK(ReadTable(conn, table_id).status());
        ARROW_RETURN_NOT_OK(
            conn.Query(kInsertPartition, Params()
                                             .Add(table_id.value())
                                             .Add(key)
                                             .Add(options_.clock->NowNanos()))
                .status());
        ARROW_ASSIGN_OR_RAISE(auto record, ReadPartitionByKey(conn, table_id, key));
        if (!record.has_value())
          return rules::Vanished("partition " + QuoteForMessage(key));
        return std::move(*record);
      });
}

arrow::Result<PartitionRecord> PostgresCatalog::GetPartition(PartitionId id) {
  return InTransaction(TxnKind::kRead,
                       [&](Connection& conn, bool) { return ReadPartition(conn, id); });
}

arrow::Result<std::vector<PartitionRecord>> PostgresCatalog::ListPartitions(
    TableId table_id) {
  return InTransaction(TxnKind::kRead, [&](Connection& conn, bool) {
    return AllRows(conn, kSelectPartitions, Params().Add(table_id.value()),
                   PartitionFromRow);
  });
}

arrow::Result<std::vector<PartitionRecord>> PostgresCatalog::ListRecentPartitions(
    int64_t limit) {
  if (limit < 0) return InvalidInput("ListRecentPartitions: limit must be >= 0");
  return InTransaction(TxnKind::kRead, [&](Connection& conn, bool) {
    return AllRows(conn, kSelectRecentPartitions, Params().Add(limit), PartitionFromRow);
  });
}

arrow::Result<PartitionRecord> PostgresCatalog::CasSortKey(
    PartitionId partition_id, const std::vector<std::string>& expected,
    const std::vector<std::string>& new_key) {
  ARROW_RETURN_NOT_OK(rules::ValidateSortKey(new_key));
  return InTransaction(
      TxnKind::kWrite,
      [&](Connection& conn, bool retried) -> arrow::Result<PartitionRecord> {
        // The row lock makes the compare and the swap one step across processes.
        ARROW_ASSIGN_OR_RAISE(PartitionRecord partition,
                              ReadPartition(conn, partition_id, /*lock=*/true));
        // After a lost connection the first attempt may have committed: finding our own
        // key is its success, not a conflict.
        if (retried && partition.sort_key == new_key && new_key != expected) {
          return partition;
        }
        if (partition.sort_key != expected) {
          return SortKeyConflict(partition_id, partition.sort_key);
        }
        if (new_key == expected) return partition;
        ARROW_ASSIGN_OR_RAISE(auto columns, ReadColumns(conn, partition.table_id));
        ARROW_RETURN_NOT_OK(rules::CheckSortKeyColumns(partition, columns, new_key));
        // updated_at never goes backwards, so "recent" stays meaningful if the clock
        // does.
        const int64_t updated_at =
            std::max(options_.clock->NowNanos(), partition.updated_at);
        ARROW_RETURN_NOT_OK(
            conn.Query(kUpdateSortKey, Params()
                                           .Add(partition_id.value())
                                           .Add(sqlite::EncodeStringList(new_key))
                                           .Add(updated_at))
                .status());
        return ReadPartition(conn, partition_id);
      });
}

// --- parquet files -------------------------------------------------------------

arrow::Result<ParquetFileId> PostgresCatalog::CreateParquetFile(
    const ParquetFileRecord& record) {
  ARROW_ASSIGN_OR_RAISE(const ParquetFileRecord wanted,
                        rules::PrepareParquetFile(record, *options_.clock));
  return InTransaction(
      TxnKind::kWrite, [&](Connection& conn, bool) -> arrow::Result<ParquetFileId> {
        ARROW_ASSIGN_OR_RAISE(PartitionRecord partition,
                              ReadPartition(conn, wanted.partition_id));
        ARROW_ASSIGN_OR_RAISE(TableRecord table, ReadTable(conn, partition.table_id));
        ARROW_RETURN_NOT_OK(rules::CheckParquetOwner(wanted, partition, table));
        ARROW_RETURN_NOT_OK(
            conn.Query(kInsertParquet, Params()
                                           .Add(wanted.namespace_id.value())
                                           .Add(wanted.table_id.value())
                                           .Add(wanted.partition_id.value())
                                           .Add(wanted.object_store_id)
                                           .Add(wanted.min_time)
                                           .Add(wanted.max_time)
                                           .Add(wanted.row_count)
                                           .Add(wanted.file_size_bytes)
                                           .Add(wanted.compaction_level)
                                           .Add(wanted.created_at)
                                           .Add(wanted.path))
                .status());
        ARROW_ASSIGN_OR_RAISE(
            auto stored,
            OptionalRow(conn, kSelectParquetByObjectStoreId,
                        Params().Add(wanted.object_store_id), ParquetFromRow));
        if (!stored.has_value()) {
          return rules::Vanished("parquet file " + wanted.object_store_id);
        }
        return rules::MatchStoredParquet(record, wanted, *stored);
      });
}

arrow::Result<std::vector<ParquetFileRecord>> PostgresCatalog::ListParquetFiles(
    PartitionId partition_id) {
  return InTransaction(TxnKind::kRead, [&](Connection& conn, bool) {
    return AllRows(conn, kSelectParquetByPartition, Params().Add(partition_id.value()),
                   ParquetFromRow);
  });
}

arrow::Result<std::vector<ParquetFileRecord>> PostgresCatalog::ListParquetFilesForTable(
    TableId table_id) {
  return InTransaction(TxnKind::kRead, [&](Connection& conn, bool) {
    return AllRows(conn, kSelectParquetByTable, Params().Add(table_id.value()),
                   ParquetFromRow);
  });
}

}  // namespace ingester::catalog
