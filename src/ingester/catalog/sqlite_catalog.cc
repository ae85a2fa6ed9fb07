#include "ingester/catalog/sqlite_catalog.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string_view>
#include <thread>
#include <utility>

#include "ingester/catalog/catalog_rules.h"
#include "ingester/catalog/migrations.h"
#include "ingester/catalog/names.h"
#include "ingester/catalog/sqlite_internal.h"
#include "ingester/common/error.h"
#include "ingester/common/logging.h"

namespace ingester::catalog {

using sqlite::Connection;

namespace {

// --- SQL -----------------------------------------------------------------------
// Every value is a bound parameter; no SQL text is ever built from input.

#define INGESTER_NAMESPACE_COLUMNS \
  "id, name, max_tables, max_columns_per_table, partition_template"
constexpr char kSelectNamespaceByName[] =
    "SELECT " INGESTER_NAMESPACE_COLUMNS " FROM namespace WHERE name = ?1";
constexpr char kSelectNamespaceById[] =
    "SELECT " INGESTER_NAMESPACE_COLUMNS " FROM namespace WHERE id = ?1";
constexpr char kSelectNamespaces[] =
    "SELECT " INGESTER_NAMESPACE_COLUMNS " FROM namespace ORDER BY name";
#undef INGESTER_NAMESPACE_COLUMNS
constexpr char kInsertNamespace[] =
    "INSERT INTO namespace (name, max_tables, max_columns_per_table, created_at, "
    "partition_template) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING";

constexpr char kSelectTableByName[] =
    "SELECT id, namespace_id, name, partition_template FROM table_name "
    "WHERE namespace_id = ?1 AND name = ?2";
constexpr char kSelectTableById[] =
    "SELECT id, namespace_id, name, partition_template FROM table_name WHERE id = ?1";
constexpr char kSelectTables[] =
    "SELECT id, namespace_id, name, partition_template FROM table_name "
    "WHERE namespace_id = ?1 ORDER BY name";
constexpr char kCountTables[] = "SELECT COUNT(*) FROM table_name WHERE namespace_id = ?1";
constexpr char kInsertTable[] =
    "INSERT INTO table_name (namespace_id, name, created_at, partition_template) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (namespace_id, name) DO NOTHING";

constexpr char kSelectColumns[] =
    "SELECT id, table_id, name, column_type FROM column_name WHERE table_id = ?1 "
    "ORDER BY id";
constexpr char kInsertColumn[] =
    "INSERT INTO column_name (table_id, name, column_type, created_at) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (table_id, name) DO NOTHING";

constexpr char kSelectPartitionByKey[] =
    "SELECT id, table_id, partition_key, sort_key, created_at, updated_at "
    "FROM \"partition\" WHERE table_id = ?1 AND partition_key = ?2";
constexpr char kSelectPartitionById[] =
    "SELECT id, table_id, partition_key, sort_key, created_at, updated_at "
    "FROM \"partition\" WHERE id = ?1";
constexpr char kSelectPartitions[] =
    "SELECT id, table_id, partition_key, sort_key, created_at, updated_at "
    "FROM \"partition\" WHERE table_id = ?1 ORDER BY partition_key";
constexpr char kSelectRecentPartitions[] =
    "SELECT id, table_id, partition_key, sort_key, created_at, updated_at "
    "FROM \"partition\" ORDER BY updated_at DESC, id DESC LIMIT ?1";
constexpr char kInsertPartition[] =
    "INSERT INTO \"partition\" (table_id, partition_key, sort_key, created_at, "
    "updated_at) "
    "VALUES (?1, ?2, '[]', ?3, ?3) ON CONFLICT (table_id, partition_key) DO NOTHING";
constexpr char kUpdateSortKey[] =
    "UPDATE \"partition\" SET sort_key = ?2, updated_at = ?3 WHERE id = ?1";

#define INGESTER_PARQUET_COLUMNS                                                    \
  "id, namespace_id, table_id, partition_id, object_store_id, min_time, max_time, " \
  "row_count, file_size_bytes, compaction_level, created_at, path"
constexpr char kSelectParquetByObjectStoreId[] =
    "SELECT " INGESTER_PARQUET_COLUMNS " FROM parquet_file WHERE object_store_id = ?1";
constexpr char kSelectParquetByPartition[] =
    "SELECT " INGESTER_PARQUET_COLUMNS
    " FROM parquet_file WHERE partition_id = ?1 ORDER BY id";
constexpr char kSelectParquetByTable[] =
    "SELECT " INGESTER_PARQUET_COLUMNS
    " FROM parquet_file WHERE table_id = ?1 ORDER BY id";
constexpr char kInsertParquet[] =
    "INSERT INTO parquet_file (namespace_id, table_id, partition_id, object_store_id, "
    "min_time, max_time, row_count, file_size_bytes, compaction_level, created_at, path) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
    "ON CONFLICT (object_store_id) DO NOTHING";
#undef INGESTER_PARQUET_COLUMNS

constexpr char kCreateSchemaVersion[] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)";
constexpr char kSelectSchemaVersion[] =
    "SELECT COALESCE(MAX(version), 0) FROM schema_version";
constexpr char kInsertSchemaVersion[] =
    "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)";

// --- rows ----------------------------------------------------------------------

arrow::Result<NamespaceRecord> NamespaceFromRow(const sqlite::Statement& row) {
  NamespaceRecord record;
  record.id = NamespaceId(row.Int(0));
  record.name = row.Text(1);
  record.max_tables = static_cast<int32_t>(row.Int(2));
  record.max_columns_per_table = static_cast<int32_t>(row.Int(3));
  ARROW_ASSIGN_OR_RAISE(
      record.partition_template,
      rules::TemplateFromText(row.Text(4), "namespace " + QuoteForMessage(record.name)));
  return record;
}

arrow::Result<TableRecord> TableFromRow(const sqlite::Statement& row) {
  TableRecord record;
  record.id = TableId(row.Int(0));
  record.namespace_id = NamespaceId(row.Int(1));
  record.name = row.Text(2);
  ARROW_ASSIGN_OR_RAISE(
      record.partition_template,
      rules::TemplateFromText(row.Text(3), "table " + QuoteForMessage(record.name)));
  return record;
}

arrow::Result<ColumnRecord> ColumnFromRow(const sqlite::Statement& row) {
  const std::string type_name = row.Text(3);
  const std::optional<ColumnType> type = ColumnTypeFromName(type_name);
  if (!type.has_value()) {
    return DataLoss("catalog column " + std::to_string(row.Int(0)) +
                    " has an unknown type " + QuoteForMessage(type_name));
  }
  return ColumnRecord{ColumnId(row.Int(0)), TableId(row.Int(1)), row.Text(2), *type};
}

arrow::Result<PartitionRecord> PartitionFromRow(const sqlite::Statement& row) {
  PartitionRecord record;
  record.id = PartitionId(row.Int(0));
  record.table_id = TableId(row.Int(1));
  record.key = row.Text(2);
  ARROW_ASSIGN_OR_RAISE(record.sort_key, sqlite::DecodeStringList(row.Text(3)));
  record.created_at = row.Int(4);
  record.updated_at = row.Int(5);
  return record;
}

ParquetFileRecord ParquetFromRow(const sqlite::Statement& row) {
  ParquetFileRecord r;
  r.id = ParquetFileId(row.Int(0));
  r.namespace_id = NamespaceId(row.Int(1));
  r.table_id = TableId(row.Int(2));
  r.partition_id = PartitionId(row.Int(3));
  r.object_store_id = row.Text(4);
  r.min_time = row.Int(5);
  r.max_time = row.Int(6);
  r.row_count = row.Int(7);
  r.file_size_bytes = row.Int(8);
  r.compaction_level = static_cast<int32_t>(row.Int(9));
  r.created_at = row.Int(10);
  r.path = row.Text(11);
  return r;
}

template <typename T>
struct Unwrap {
  using type = T;
};
template <typename T>
struct Unwrap<arrow::Result<T>> {
  using type = T;
};

// At most one row of `stmt`, converted by `convert`, which returns T or Result<T>.
template <typename Convert>
auto OptionalRow(sqlite::Statement& stmt, Convert convert)
    -> arrow::Result<std::optional<typename Unwrap<decltype(convert(stmt))>::type>> {
  using T = typename Unwrap<decltype(convert(stmt))>::type;
  ARROW_ASSIGN_OR_RAISE(bool row, stmt.Step());
  if (!row) return std::nullopt;
  if constexpr (std::is_same_v<decltype(convert(stmt)), T>) {
    return std::make_optional(convert(stmt));
  } else {
    ARROW_ASSIGN_OR_RAISE(T value, convert(stmt));
    return std::make_optional(std::move(value));
  }
}

// Every row of `stmt`, converted by `convert`, which returns T or Result<T>.
template <typename T, typename Convert>
arrow::Result<std::vector<T>> AllRows(sqlite::Statement& stmt, Convert convert) {
  std::vector<T> out;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(bool row, stmt.Step());
    if (!row) return out;
    if constexpr (std::is_same_v<decltype(convert(stmt)), T>) {
      out.push_back(convert(stmt));
    } else {
      ARROW_ASSIGN_OR_RAISE(T value, convert(stmt));
      out.push_back(std::move(value));
    }
  }
}

// --- reads shared by several operations ----------------------------------------

arrow::Result<std::optional<NamespaceRecord>> ReadNamespaceByName(
    Connection& conn, const std::string& name) {
  ARROW_ASSIGN_OR_RAISE(auto stmt, conn.Prepare(kSelectNamespaceByName));
  stmt.Bind(name);
  return OptionalRow(stmt, NamespaceFromRow);
}

arrow::Result<NamespaceRecord> ReadNamespace(Connection& conn, NamespaceId id) {
  ARROW_ASSIGN_OR_RAISE(auto stmt, conn.Prepare(kSelectNamespaceById));
  stmt.Bind(id.value());
  ARROW_ASSIGN_OR_RAISE(auto record, OptionalRow(stmt, NamespaceFromRow));
  if (!record.has_value()) {
    return NotFound("namespace id " + std::to_string(id.value()) + " does not exist");
  }
  return std::move(*record);
}

arrow::Result<std::optional<TableRecord>> ReadTableByName(Connection& conn,
                                                          NamespaceId namespace_id,
                                                          const std::string& name) {
  ARROW_ASSIGN_OR_RAISE(auto stmt, conn.Prepare(kSelectTableByName));
  stmt.Bind(namespace_id.value()).Bind(name);
  return OptionalRow(stmt, TableFromRow);
}

arrow::Result<TableRecord> ReadTable(Connection& conn, TableId id) {
  ARROW_ASSIGN_OR_RAISE(auto stmt, conn.Prepare(kSelectTableById));
  stmt.Bind(id.value());
  ARROW_ASSIGN_OR_RAISE(auto record, OptionalRow(stmt, TableFromRow));
  if (!record.has_value()) {
    return NotFound("table id " + std::to_string(id.value()) + " does not exist");
  }
  return std::move(*record);
}

arrow::Result<std::vector<ColumnRecord>> ReadColumns(Connection& conn, TableId table_id) {
  ARROW_ASSIGN_OR_RAISE(auto stmt, conn.Prepare(kSelectColumns));
  stmt.Bind(table_id.value());
  return AllRows<ColumnRecord>(stmt, ColumnFromRow);
}

arrow::Result<std::optional<PartitionRecord>> ReadPartitionByKey(Connection& conn,
                                                                 TableId table_id,
                                                                 const std::string& key) {
  ARROW_ASSIGN_OR_RAISE(auto stmt, conn.Prepare(kSelectPartitionByKey));
  stmt.Bind(table_id.value()).Bind(key);
  ARROW_ASSIGN_OR_RAISE(auto rows, AllRows<PartitionRecord>(stmt, PartitionFromRow));
  if (rows.empty()) return std::nullopt;
  return std::move(rows.front());
}

arrow::Result<PartitionRecord> ReadPartition(Connection& conn, PartitionId id) {
  ARROW_ASSIGN_OR_RAISE(auto stmt, conn.Prepare(kSelectPartitionById));
  stmt.Bind(id.value());
  ARROW_ASSIGN_OR_RAISE(auto rows, AllRows<PartitionRecord>(stmt, PartitionFromRow));
  if (rows.empty()) {
    return NotFound("partition id " + std::to_string(id.value()) + " does not exist");
  }
  return std::move(rows.front());
}

}  // namespace

// --- options and lifecycle ------------------------------------------------------

arrow::Status SqliteCatalogOptions::Validate() const {
  if (path.empty()) return arrow::Status::Invalid("sqlite catalog: path is empty");
  if (busy_timeout.count() < 0 || busy_timeout > std::chrono::hours(1)) {
    return arrow::Status::Invalid("sqlite catalog: busy_timeout must be in [0, 1h]");
  }
  if (max_busy_retries < 0) {
    return arrow::Status::Invalid("sqlite catalog: max_busy_retries must be >= 0");
  }
  if (clock == nullptr) return arrow::Status::Invalid("sqlite catalog: clock is null");
  return arrow::Status::OK();
}

SqliteCatalog::SqliteCatalog(const SqliteCatalogOptions& options,
                             std::unique_ptr<Connection> conn)
    : options_(options), conn_(std::move(conn)) {}

SqliteCatalog::~SqliteCatalog() = default;

arrow::Result<std::unique_ptr<SqliteCatalog>> SqliteCatalog::Make(
    const SqliteCatalogOptions& options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  if (options.path != ":memory:") {
    const std::filesystem::path parent =
        std::filesystem::path(options.path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      return arrow::Status::IOError("catalog: cannot create directory ", parent.string(),
                                    ": ", ec.message());
    }
  }
  ARROW_ASSIGN_OR_RAISE(
      auto conn,
      Connection::Open(options.path, static_cast<int>(options.busy_timeout.count())));
  std::unique_ptr<SqliteCatalog> catalog(new SqliteCatalog(options, std::move(conn)));
  ARROW_RETURN_NOT_OK(catalog->Initialize());
  struct stat st;
  if (options.path != ":memory:" && ::stat(options.path.c_str(), &st) == 0) {
    catalog->opened_device_ = static_cast<uint64_t>(st.st_dev);
    catalog->opened_inode_ = static_cast<uint64_t>(st.st_ino);
  }
  return catalog;
}

namespace {
// Client-facing messages name the file, not where the server keeps it.
std::string FileName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}
}  // namespace

arrow::Status SqliteCatalog::CheckStorage() {
  if (opened_inode_ == 0) return arrow::Status::OK();
  struct stat st;
  if (::stat(options_.path.c_str(), &st) != 0) {
    return DataLoss("the catalog file " + FileName(options_.path) +
                    " was deleted while the ingester runs: what is recorded from now on "
                    "would be lost. Restore it and restart");
  }
  if (static_cast<uint64_t>(st.st_dev) != opened_device_ ||
      static_cast<uint64_t>(st.st_ino) != opened_inode_) {
    return DataLoss("the catalog file " + FileName(options_.path) +
                    " was replaced by another file while the ingester runs; restart to "
                    "use it");
  }
  return arrow::Status::OK();
}

template <typename Fn>
std::invoke_result_t<Fn&, sqlite::Connection&> SqliteCatalog::InTransaction(TxnKind kind,
                                                                            Fn&& fn) {
  for (int attempt = 0;; ++attempt) {
    {
      MutexLock lock(&mu_);
      Connection& conn = *conn_;
      auto result = [&]() -> decltype(fn(conn)) {
        ARROW_RETURN_NOT_OK(
            conn.Exec(kind == TxnKind::kWrite ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"));
        auto inner = fn(conn);
        if (!inner.ok()) return inner;
        ARROW_RETURN_NOT_OK(conn.Exec("COMMIT"));
        return inner;
      }();
      if (!result.ok()) conn.RollbackIfOpen();
      if (result.ok() || !sqlite::IsBusy(rules::StatusOf(result)) ||
          attempt >= options_.max_busy_retries) {
        return result;
      }
    }
    // Back off with mu_ released: this instance's other callers may proceed (reads
    // are rarely blocked in WAL mode) while the other writer finishes.
    std::this_thread::sleep_for(rules::BackoffDelay(attempt));
  }
}

arrow::Status SqliteCatalog::Initialize() {
  const bool in_memory = options_.path == ":memory:";
  // Pragmas cannot run inside a transaction; switching to WAL needs a brief exclusive
  // lock, so it is retried like a transaction when another opener holds the file.
  for (int attempt = 0;; ++attempt) {
    arrow::Status st = [&]() -> arrow::Status {
      MutexLock lock(&mu_);
      ARROW_RETURN_NOT_OK(conn_->Exec("PRAGMA foreign_keys = ON"));
      ARROW_RETURN_NOT_OK(conn_->Exec("PRAGMA synchronous = FULL"));
      ARROW_ASSIGN_OR_RAISE(auto stmt, conn_->Prepare("PRAGMA journal_mode = WAL"));
      ARROW_ASSIGN_OR_RAISE(bool row, stmt.Step());
      const std::string mode = row ? stmt.Text(0) : "";
      if (mode != "wal" && !(in_memory && mode == "memory")) {
        return arrow::Status::IOError("catalog ", options_.path,
                                      ": cannot use the WAL journal mode (got '", mode,
                                      "'); is the file on a network filesystem?");
      }
      return arrow::Status::OK();
    }();
    if (st.ok()) break;
    if (!sqlite::IsBusy(st) || attempt >= options_.max_busy_retries) return st;
    std::this_thread::sleep_for(rules::BackoffDelay(attempt));
  }

  const int known = SqliteSchemaVersion();
  return InTransaction(TxnKind::kWrite, [&](Connection& conn) -> arrow::Status {
    ARROW_RETURN_NOT_OK(conn.Exec(kCreateSchemaVersion));
    int64_t version = 0;
    {
      ARROW_ASSIGN_OR_RAISE(auto stmt, conn.Prepare(kSelectSchemaVersion));
      ARROW_ASSIGN_OR_RAISE(bool row, stmt.Step());
      if (row) version = stmt.Int(0);
    }
    if (version > known) {
      return arrow::Status::Invalid(
          "catalog ", options_.path, " has schema version ", version,
          " but this binary only knows versions up to ", known,
          ": it was written by a newer ingester; upgrade this binary");
    }
    for (int64_t v = version; v < known; ++v) {
      // Migrations are string literals, hence NUL-terminated.
      ARROW_RETURN_NOT_OK(conn.Exec(SqliteMigrations()[v].data()));
      ARROW_ASSIGN_OR_RAISE(auto stmt, conn.Prepare(kInsertSchemaVersion));
      ARROW_RETURN_NOT_OK(stmt.Bind(v + 1).Bind(options_.clock->NowNanos()).Run());
      spdlog::info("catalog {}: migrated schema to version {}", options_.path, v + 1);
    }
    return arrow::Status::OK();
  });
}

// --- namespaces ----------------------------------------------------------------

arrow::Result<NamespaceRecord> SqliteCatalog::GetOrCreateNamespace(
    const std::string& name, const NamespaceLimits& limits,
    const partition::PartitionTemplate& partition_template) {
  ARROW_RETURN_NOT_OK(rules::ValidateNamespaceRequest(name, limits));
  ARROW_ASSIGN_OR_RAISE(auto existing, GetNamespaceByName(name));
  if (existing.has_value()) return std::move(*existing);
  return InTransaction(
      TxnKind::kWrite, [&](Connection& conn) -> arrow::Result<NamespaceRecord> {
        ARROW_ASSIGN_OR_RAISE(auto insert, conn.Prepare(kInsertNamespace));
        ARROW_RETURN_NOT_OK(insert.Bind(name)
                                .Bind(limits.max_tables)
                                .Bind(limits.max_columns_per_table)
                                .Bind(options_.clock->NowNanos())
                                .Bind(partition_template.ToJson())
                                .Run());
        ARROW_ASSIGN_OR_RAISE(auto record, ReadNamespaceByName(conn, name));
        if (!record.has_value())
          return rules::Vanished("namespace " + QuoteForMessage(name));
        return std::move(*record);
      });
}

arrow::Result<std::optional<NamespaceRecord>> SqliteCatalog::GetNamespaceByName(
    const std::string& name) {
  return InTransaction(TxnKind::kRead,
                       [&](Connection& conn) { return ReadNamespaceByName(conn, name); });
}

arrow::Result<NamespaceRecord> SqliteCatalog::GetNamespace(NamespaceId id) {
  return InTransaction(TxnKind::kRead,
                       [&](Connection& conn) { return ReadNamespace(conn, id); });
}

arrow::Result<std::vector<NamespaceRecord>> SqliteCatalog::ListNamespaces() {
  return InTransaction(TxnKind::kRead, [&](Connection& conn) {
    return conn.Prepare(kSelectNamespaces).Map([](sqlite::Statement stmt) {
      return AllRows<NamespaceRecord>(stmt, NamespaceFromRow);
    });
  });
}

// --- tables and columns --------------------------------------------------------

arrow::Result<TableRecord> SqliteCatalog::GetOrCreateTable(
    NamespaceId namespace_id, const std::string& name,
    const std::optional<partition::PartitionTemplate>& partition_template) {
  ARROW_RETURN_NOT_OK(ValidateTableName(name));
  ARROW_ASSIGN_OR_RAISE(auto existing, GetTableByName(namespace_id, name));
  if (existing.has_value()) return std::move(*existing);
  return InTransaction(
      TxnKind::kWrite, [&](Connection& conn) -> arrow::Result<TableRecord> {
        ARROW_ASSIGN_OR_RAISE(NamespaceRecord ns, ReadNamespace(conn, namespace_id));
        ARROW_ASSIGN_OR_RAISE(auto table, ReadTableByName(conn, namespace_id, name));
        if (table.has_value()) return std::move(*table);
        int64_t count = 0;
        {
          ARROW_ASSIGN_OR_RAISE(auto stmt, conn.Prepare(kCountTables));
          ARROW_ASSIGN_OR_RAISE(bool row, stmt.Bind(namespace_id.value()).Step());
          if (row) count = stmt.Int(0);
        }
        ARROW_RETURN_NOT_OK(rules::CheckTableLimit(ns, count, name));
        ARROW_ASSIGN_OR_RAISE(auto insert, conn.Prepare(kInsertTable));
        ARROW_RETURN_NOT_OK(
            insert.Bind(namespace_id.value())
                .Bind(name)
                .Bind(options_.clock->NowNanos())
                .Bind(partition_template.value_or(ns.partition_template).ToJson())
                .Run());
        ARROW_ASSIGN_OR_RAISE(table, ReadTableByName(conn, namespace_id, name));
        if (!table.has_value()) return rules::Vanished("table " + QuoteForMessage(name));
        return std::move(*table);
      });
}

arrow::Result<std::optional<TableRecord>> SqliteCatalog::GetTableByName(
    NamespaceId namespace_id, const std::string& name) {
  return InTransaction(TxnKind::kRead, [&](Connection& conn) {
    return ReadTableByName(conn, namespace_id, name);
  });
}

arrow::Result<TableSchema> SqliteCatalog::GetTableSchema(TableId table_id) {
  return InTransaction(
      TxnKind::kRead, [&](Connection& conn) -> arrow::Result<TableSchema> {
        TableSchema schema;
        ARROW_ASSIGN_OR_RAISE(schema.table, ReadTable(conn, table_id));
        ARROW_ASSIGN_OR_RAISE(schema.columns, ReadColumns(conn, table_id));
        return schema;
      });
}

arrow::Result<std::vector<TableRecord>> SqliteCatalog::ListTables(
    NamespaceId namespace_id) {
  return InTransaction(TxnKind::kRead, [&](Connection& conn) {
    return conn.Prepare(kSelectTables).Map([&](sqlite::Statement stmt) {
      stmt.Bind(namespace_id.value());
      return AllRows<TableRecord>(stmt, TableFromRow);
    });
  });
}

arrow::Result<TableSchema> SqliteCatalog::GetOrCreateColumns(
    TableId table_id, const std::vector<ColumnSpec>& wanted) {
  for (const ColumnSpec& spec : wanted) ARROW_RETURN_NOT_OK(ValidateColumnSpec(spec));
  ARROW_ASSIGN_OR_RAISE(const std::vector<ColumnSpec> unique, rules::Dedupe(wanted));

  // Loads the schema and checks `unique` against it. Without `create`, returns nullopt
  // when columns are missing; with it, creates them. A type conflict found by a read is
  // final: a stored column never changes type.
  const auto attempt = [&](Connection& conn,
                           bool create) -> arrow::Result<std::optional<TableSchema>> {
    TableSchema schema;
    ARROW_ASSIGN_OR_RAISE(schema.table, ReadTable(conn, table_id));
    ARROW_ASSIGN_OR_RAISE(schema.columns, ReadColumns(conn, table_id));
    ARROW_ASSIGN_OR_RAISE(std::vector<const ColumnSpec*> missing,
                          rules::MissingColumns(schema, unique));
    if (missing.empty()) return schema;
    if (!create) return std::nullopt;

    ARROW_ASSIGN_OR_RAISE(NamespaceRecord ns,
                          ReadNamespace(conn, schema.table.namespace_id));
    ARROW_RETURN_NOT_OK(rules::CheckColumnLimit(ns, schema, missing.size()));
    const int64_t now = options_.clock->NowNanos();
    for (const ColumnSpec* spec : missing) {
      ARROW_ASSIGN_OR_RAISE(auto insert, conn.Prepare(kInsertColumn));
      ARROW_RETURN_NOT_OK(insert.Bind(table_id.value())
                              .Bind(spec->name)
                              .Bind(ColumnTypeName(spec->type))
                              .Bind(now)
                              .Run());
    }
    ARROW_ASSIGN_OR_RAISE(schema.columns, ReadColumns(conn, table_id));
    for (const ColumnSpec* spec : missing) {
      if (schema.TypeOf(spec->name) != spec->type) {
        return rules::Vanished("column " + QuoteForMessage(spec->name));
      }
    }
    return schema;
  };

  ARROW_ASSIGN_OR_RAISE(auto schema, InTransaction(TxnKind::kRead, [&](Connection& conn) {
                          return attempt(conn, /*create=*/false);
                        }));
  if (!schema.has_value()) {
    ARROW_ASSIGN_OR_RAISE(schema, InTransaction(TxnKind::kWrite, [&](Connection& conn) {
                            return attempt(conn, /*create=*/true);
                          }));
  }
  return std::move(*schema);
}

// --- partitions ----------------------------------------------------------------

arrow::Result<PartitionRecord> SqliteCatalog::GetOrCreatePartition(
    TableId table_id, const std::string& key) {
  ARROW_RETURN_NOT_OK(ValidatePartitionKey(key));
  ARROW_ASSIGN_OR_RAISE(auto existing,
                        InTransaction(TxnKind::kRead, [&](Connection& conn) {
                          return ReadPartitionByKey(conn, table_id, key);
                        }));
  if (existing.has_value()) return std::move(*existing);
  return InTransaction(
      TxnKind::kWrite, [&](Connection& conn) -> arrow::Result<PartitionRecord> {
        ARROW_RETURN_NOT_OK(ReadTable(conn, table_id).status());
        ARROW_ASSIGN_OR_RAISE(auto insert, conn.Prepare(kInsertPartition));
        ARROW_RETURN_NOT_OK(insert.Bind(table_id.value())
                                .Bind(key)
                                .Bind(options_.clock->NowNanos())
                                .Run());
        ARROW_ASSIGN_OR_RAISE(auto record, ReadPartitionByKey(conn, table_id, key));
        if (!record.has_value())
          return rules::Vanished("partition " + QuoteForMessage(key));
        return std::move(*record);
      });
}

arrow::Result<PartitionRecord> SqliteCatalog::GetPartition(PartitionId id) {
  return InTransaction(TxnKind::kRead,
                       [&](Connection& conn) { return ReadPartition(conn, id); });
}

arrow::Result<std::vector<PartitionRecord>> SqliteCatalog::ListPartitions(
    TableId table_id) {
  return InTransaction(TxnKind::kRead, [&](Connection& conn) {
    return conn.Prepare(kSelectPartitions).Map([&](sqlite::Statement stmt) {
      stmt.Bind(table_id.value());
      return AllRows<PartitionRecord>(stmt, PartitionFromRow);
    });
  });
}

arrow::Result<std::vector<PartitionRecord>> SqliteCatalog::ListRecentPartitions(
    int64_t limit) {
  if (limit < 0) return InvalidInput("ListRecentPartitions: limit must be >= 0");
  return InTransaction(TxnKind::kRead, [&](Connection& conn) {
    return conn.Prepare(kSelectRecentPartitions).Map([&](sqlite::Statement stmt) {
      stmt.Bind(limit);
      return AllRows<PartitionRecord>(stmt, PartitionFromRow);
    });
  });
}

arrow::Result<PartitionRecord> SqliteCatalog::CasSortKey(
    PartitionId partition_id, const std::vector<std::string>& expected,
    const std::vector<std::string>& new_key) {
  ARROW_RETURN_NOT_OK(rules::ValidateSortKey(new_key));
  return InTransaction(
      TxnKind::kWrite, [&](Connection& conn) -> arrow::Result<PartitionRecord> {
        ARROW_ASSIGN_OR_RAISE(PartitionRecord partition,
                              ReadPartition(conn, partition_id));
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
        ARROW_ASSIGN_OR_RAISE(auto update, conn.Prepare(kUpdateSortKey));
        ARROW_RETURN_NOT_OK(update.Bind(partition_id.value())
                                .Bind(sqlite::EncodeStringList(new_key))
                                .Bind(updated_at)
                                .Run());
        return ReadPartition(conn, partition_id);
      });
}

// --- parquet files -------------------------------------------------------------

arrow::Result<ParquetFileId> SqliteCatalog::CreateParquetFile(
    const ParquetFileRecord& record) {
  ARROW_ASSIGN_OR_RAISE(const ParquetFileRecord wanted,
                        rules::PrepareParquetFile(record, *options_.clock));
  return InTransaction(
      TxnKind::kWrite, [&](Connection& conn) -> arrow::Result<ParquetFileId> {
        ARROW_ASSIGN_OR_RAISE(PartitionRecord partition,
                              ReadPartition(conn, wanted.partition_id));
        ARROW_ASSIGN_OR_RAISE(TableRecord table, ReadTable(conn, partition.table_id));
        ARROW_RETURN_NOT_OK(rules::CheckParquetOwner(wanted, partition, table));
        ARROW_ASSIGN_OR_RAISE(auto insert, conn.Prepare(kInsertParquet));
        ARROW_RETURN_NOT_OK(insert.Bind(wanted.namespace_id.value())
                                .Bind(wanted.table_id.value())
                                .Bind(wanted.partition_id.value())
                                .Bind(wanted.object_store_id)
                                .Bind(wanted.min_time)
                                .Bind(wanted.max_time)
                                .Bind(wanted.row_count)
                                .Bind(wanted.file_size_bytes)
                                .Bind(wanted.compaction_level)
                                .Bind(wanted.created_at)
                                .Bind(wanted.path)
                                .Run());
        ARROW_ASSIGN_OR_RAISE(auto select, conn.Prepare(kSelectParquetByObjectStoreId));
        select.Bind(wanted.object_store_id);
        ARROW_ASSIGN_OR_RAISE(auto stored, OptionalRow(select, ParquetFromRow));
        if (!stored.has_value())
          return rules::Vanished("parquet file " + wanted.object_store_id);
        return rules::MatchStoredParquet(record, wanted, *stored);
      });
}

arrow::Result<std::vector<ParquetFileRecord>> SqliteCatalog::ListParquetFiles(
    PartitionId partition_id) {
  return InTransaction(TxnKind::kRead, [&](Connection& conn) {
    return conn.Prepare(kSelectParquetByPartition).Map([&](sqlite::Statement stmt) {
      stmt.Bind(partition_id.value());
      return AllRows<ParquetFileRecord>(stmt, ParquetFromRow);
    });
  });
}

arrow::Result<std::vector<ParquetFileRecord>> SqliteCatalog::ListParquetFilesForTable(
    TableId table_id) {
  return InTransaction(TxnKind::kRead, [&](Connection& conn) {
    return conn.Prepare(kSelectParquetByTable).Map([&](sqlite::Statement stmt) {
      stmt.Bind(table_id.value());
      return AllRows<ParquetFileRecord>(stmt, ParquetFromRow);
    });
  });
}

}  // namespace ingester::catalog
