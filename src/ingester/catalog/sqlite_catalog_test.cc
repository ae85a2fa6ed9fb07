// SQLite-specific behaviour: migrations, pragmas, URLs, the stored bytes.
#include "ingester/catalog/sqlite_catalog.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ingester/catalog/catalog_test_util.h"
#include "ingester/catalog/migrations.h"
#include "ingester/catalog/open.h"
#include "ingester/catalog/sqlite_internal.h"

namespace ingester::catalog::testing {
namespace {

using ::ingester::ErrorKind;

// A raw connection for looking at (or tampering with) the file behind the catalog.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
  }
  ~RawDb() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << sql << ": " << (error ? error : "");
    sqlite3_free(error);
  }
  // The first column of every row of `sql`, as text.
  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      out.emplace_back(text, static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteCatalogTest : public ::testing::Test {
 protected:
  arrow::Result<std::unique_ptr<SqliteCatalog>> Open() {
    SqliteCatalogOptions options;
    options.path = path_;
    options.clock = &clock_;
    return SqliteCatalog::Make(options);
  }

  TempDir dir_;
  std::string path_ = (dir_.path() / "catalog.sqlite").string();
  SteppingClock clock_;
};

TEST_F(SqliteCatalogTest, FreshFileIsMigratedOnceAndUsesWal) {
  {
    ASSERT_OK_AND_ASSIGN(auto catalog, Open());
    ASSERT_OK(catalog->GetOrCreateNamespace("db").status());
  }
  RawDb raw(path_);
  std::vector<std::string> versions;
  for (int v = 1; v <= SqliteSchemaVersion(); ++v) versions.push_back(std::to_string(v));
  EXPECT_EQ(raw.Column("SELECT version FROM schema_version ORDER BY version"), versions);
  EXPECT_EQ(raw.Column("PRAGMA journal_mode"), std::vector<std::string>{"wal"});
  for (const char* table :
       {"namespace", "table_name", "column_name", "partition", "parquet_file"}) {
    EXPECT_EQ(raw.Column(std::string("SELECT name FROM sqlite_master WHERE type='table' "
                                     "AND name='") +
                         table + "'")
                  .size(),
              1u)
        << table;
  }
  // Reopening applies nothing again and keeps the data.
  {
    ASSERT_OK_AND_ASSIGN(auto catalog, Open());
    ASSERT_OK_AND_ASSIGN(auto ns, catalog->GetNamespaceByName("db"));
    EXPECT_TRUE(ns.has_value());
  }
  EXPECT_EQ(raw.Column("SELECT COUNT(*) FROM schema_version"),
            std::vector<std::string>{std::to_string(SqliteSchemaVersion())});
}

TEST_F(SqliteCatalogTest, VersionOneFileGetsDailyTemplates) {
  // A catalog written before partition templates existed: its namespaces and tables
  // were partitioned by day, and say so after the upgrade.
  {
    RawDb raw(path_);
    raw.Exec(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
        "applied_at INTEGER NOT NULL)");
    raw.Exec(std::string(SqliteMigrations()[0]));
    raw.Exec("INSERT INTO schema_version VALUES (1, 0)");
    raw.Exec(
        "INSERT INTO namespace (name, max_tables, max_columns_per_table, created_at) "
        "VALUES ('old', 10, 10, 0)");
    raw.Exec(
        "INSERT INTO table_name (namespace_id, name, created_at) VALUES (1, 'cpu', 0)");
  }
  ASSERT_OK_AND_ASSIGN(auto catalog, Open());
  ASSERT_OK_AND_ASSIGN(auto ns, catalog->GetNamespaceByName("old"));
  ASSERT_TRUE(ns.has_value());
  EXPECT_TRUE(ns->partition_template.is_default());
  ASSERT_OK_AND_ASSIGN(auto table, catalog->GetTableByName(ns->id, "cpu"));
  ASSERT_TRUE(table.has_value());
  EXPECT_TRUE(table->partition_template.is_default());
  RawDb raw(path_);
  EXPECT_EQ(raw.Column("SELECT partition_template FROM table_name"),
            std::vector<std::string>{R"({"parts":[{"time_format":"%Y-%m-%d"}]})"});
}

TEST_F(SqliteCatalogTest, TemplatesAreStoredAsJsonAndAGarbledOneIsDataLoss) {
  {
    ASSERT_OK_AND_ASSIGN(auto catalog, Open());
    auto t = partition::PartitionTemplate::FromJson(
                 R"({"parts":[{"tag_value":"region"},{"time_format":"%Y"}]})")
                 .ValueOrDie();
    ASSERT_OK(catalog->GetOrCreateNamespace("db", NamespaceLimits{}, t).status());
  }
  RawDb raw(path_);
  EXPECT_EQ(raw.Column("SELECT partition_template FROM namespace"),
            std::vector<std::string>{
                R"({"parts":[{"tag_value":"region"},{"time_format":"%Y"}]})"});
  raw.Exec(R"(UPDATE namespace SET partition_template = '{"parts":[]}')");
  ASSERT_OK_AND_ASSIGN(auto catalog, Open());
  auto ns = catalog->GetNamespaceByName("db");
  ASSERT_FALSE(ns.ok());
  EXPECT_EQ(ErrorKindOf(ns.status()), ErrorKind::kDataLoss);
  EXPECT_NE(ns.status().message().find("namespace \"db\""), std::string::npos)
      << ns.status().message();
  EXPECT_NE(ns.status().message().find("partition template"), std::string::npos);
}

TEST_F(SqliteCatalogTest, NewerSchemaVersionIsRefused) {
  { ASSERT_OK(Open().status()); }
  const int newer = SqliteSchemaVersion() + 1;
  {
    RawDb raw(path_);
    raw.Exec("INSERT INTO schema_version (version, applied_at) VALUES (" +
             std::to_string(newer) + ", 0)");
  }
  auto reopened = Open();
  ASSERT_FALSE(reopened.ok());
  EXPECT_TRUE(reopened.status().IsInvalid()) << reopened.status().ToString();
  EXPECT_NE(reopened.status().message().find("schema version " + std::to_string(newer)),
            std::string::npos)
      << reopened.status().message();
  EXPECT_NE(reopened.status().message().find(path_), std::string::npos);
}

TEST_F(SqliteCatalogTest, UnmigratedOlderFileIsUpgraded) {
  // A file that only has the schema_version table at version 0 (as if created by a
  // binary that crashed before its first migration committed) is migrated.
  {
    RawDb raw(path_);
    raw.Exec(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
        "applied_at INTEGER NOT NULL)");
  }
  ASSERT_OK_AND_ASSIGN(auto catalog, Open());
  ASSERT_OK(catalog->GetOrCreateNamespace("db").status());
}

TEST_F(SqliteCatalogTest, NotADatabaseIsDataLoss) {
  {
    std::ofstream out(path_);
    out << std::string(8192, 'z');
  }
  auto opened = Open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(ErrorKindOf(opened.status()), ErrorKind::kDataLoss)
      << opened.status().ToString();
}

TEST_F(SqliteCatalogTest, LockedDatabaseIsRetryableAndReadsStillWork) {
  {
    ASSERT_OK_AND_ASSIGN(auto catalog, Open());
    ASSERT_OK(catalog->GetOrCreateNamespace("existing").status());
  }
  SqliteCatalogOptions options;
  options.path = path_;
  options.clock = &clock_;
  options.busy_timeout = std::chrono::milliseconds(0);
  options.max_busy_retries = 2;
  ASSERT_OK_AND_ASSIGN(auto catalog, SqliteCatalog::Make(options));
  // Another writer holds the write lock for the whole test.
  RawDb raw(path_);
  raw.Exec("BEGIN IMMEDIATE");
  EXPECT_ERROR_KIND(ErrorKind::kRetryable, catalog->GetOrCreateNamespace("new"),
                    "locked");
  // WAL readers do not wait for the writer.
  ASSERT_OK_AND_ASSIGN(auto existing, catalog->GetNamespaceByName("existing"));
  EXPECT_TRUE(existing.has_value());
  raw.Exec("COMMIT");
  ASSERT_OK(catalog->GetOrCreateNamespace("new").status());
}

TEST_F(SqliteCatalogTest, HostileNamesAreStoredLiterally) {
  ASSERT_OK_AND_ASSIGN(auto catalog, Open());
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, catalog->GetOrCreateNamespace("db"));
  const std::string evil = "'; DROP TABLE namespace; --";
  ASSERT_OK(catalog->GetOrCreateTable(ns.id, evil).status());
  RawDb raw(path_);
  EXPECT_EQ(raw.Column("SELECT name FROM table_name"), std::vector<std::string>{evil});
  EXPECT_EQ(raw.Column("SELECT name FROM namespace"), std::vector<std::string>{"db"});
}

TEST_F(SqliteCatalogTest, SortKeyIsStoredAsJson) {
  ASSERT_OK_AND_ASSIGN(auto catalog, Open());
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, catalog->GetOrCreateNamespace("db"));
  ASSERT_OK_AND_ASSIGN(TableRecord t, catalog->GetOrCreateTable(ns.id, "cpu"));
  ASSERT_OK(catalog
                ->GetOrCreateColumns(
                    t.id, {{"a\"b", ColumnType::kTag}, {"time", ColumnType::kTime}})
                .status());
  ASSERT_OK_AND_ASSIGN(PartitionRecord p, catalog->GetOrCreatePartition(t.id, "k"));
  ASSERT_OK(catalog->CasSortKey(p.id, {}, {"a\"b", "time"}).status());
  RawDb raw(path_);
  EXPECT_EQ(raw.Column("SELECT sort_key FROM \"partition\""),
            std::vector<std::string>{R"(["a\"b","time"])"});
  EXPECT_EQ(raw.Column("SELECT json_extract(sort_key, '$[0]') FROM \"partition\""),
            std::vector<std::string>{"a\"b"});
}

TEST(StringListTest, RoundTripsAndRejectsGarbage) {
  const std::vector<std::vector<std::string>> cases = {
      {}, {"a"}, {"host", "time"}, {"q\"uote", "back\\slash", "ctl\x01", "/", ""}};
  for (const auto& values : cases) {
    const std::string text = sqlite::EncodeStringList(values);
    auto decoded = sqlite::DecodeStringList(text);
    ASSERT_TRUE(decoded.ok()) << text << ": " << decoded.status().ToString();
    EXPECT_EQ(*decoded, values) << text;
  }
  EXPECT_EQ(sqlite::EncodeStringList({"a", "b"}), R"(["a","b"])");
  for (const char* bad : {"", "[", "[\"a\"", "[\"a\",]", "[a]", "[\"a\"]x", "[\"\\q\"]",
                          "[\"\\u12\"]", "[] "}) {
    auto decoded = sqlite::DecodeStringList(bad);
    EXPECT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(ErrorKindOf(decoded.status()), ErrorKind::kDataLoss) << bad;
  }
}

// --- OpenCatalog -------------------------------------------------------------------

TEST(OpenCatalogTest, SqliteUrlCreatesTheFileAndItsDirectory) {
  TempDir dir;
  const auto path = dir.path() / "nested" / "dir" / "catalog.sqlite";
  {
    ASSERT_OK_AND_ASSIGN(auto catalog, OpenCatalog("sqlite://" + path.string()));
    ASSERT_OK(catalog->GetOrCreateNamespace("db").status());
  }
  EXPECT_TRUE(std::filesystem::exists(path));
  ASSERT_OK_AND_ASSIGN(auto again, OpenCatalog("sqlite://" + path.string()));
  ASSERT_OK_AND_ASSIGN(auto ns, again->GetNamespaceByName("db"));
  EXPECT_TRUE(ns.has_value());
}

TEST(OpenCatalogTest, InMemory) {
  ASSERT_OK_AND_ASSIGN(auto catalog, OpenCatalog("sqlite::memory:"));
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, catalog->GetOrCreateNamespace("db"));
  ASSERT_OK_AND_ASSIGN(TableRecord t, catalog->GetOrCreateTable(ns.id, "cpu"));
  ASSERT_OK_AND_ASSIGN(TableSchema s,
                       catalog->GetOrCreateColumns(t.id, {{"time", ColumnType::kTime}}));
  EXPECT_EQ(s.columns.size(), 1u);
}

TEST(OpenCatalogTest, OtherSchemesAreRefused) {
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput, OpenCatalog("mysql://host/db"),
                    "\"mysql://host/db\"", "not supported");
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput, OpenCatalog("sqlite://"), "no file path");
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput, OpenCatalog("/tmp/catalog.sqlite"),
                    "not supported");
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput, OpenCatalog(""), "not supported");
}

TEST(SqliteCatalogOptionsTest, Validate) {
  SqliteCatalogOptions options;
  EXPECT_TRUE(options.Validate().IsInvalid());  // no path
  options.path = "x";
  EXPECT_TRUE(options.Validate().ok());
  options.max_busy_retries = -1;
  EXPECT_TRUE(options.Validate().IsInvalid());
  options.max_busy_retries = 0;
  options.clock = nullptr;
  EXPECT_TRUE(options.Validate().IsInvalid());
  EXPECT_FALSE(SqliteCatalog::Make(options).ok());
}

class SqliteStorageCheckTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteCatalog> Open() {
    SqliteCatalogOptions options;
    options.path = path_;
    return SqliteCatalog::Make(options).ValueOrDie();
  }
  TempDir dir_;
  std::string path_ = (dir_.path() / "catalog.sqlite").string();
};

TEST_F(SqliteStorageCheckTest, ADeletedOrReplacedFileIsDataLossNamingIt) {
  auto catalog = Open();
  EXPECT_TRUE(catalog->CheckStorage().ok());
  std::filesystem::remove(path_);
  auto gone = catalog->CheckStorage();
  EXPECT_EQ(ErrorKindOf(gone), ErrorKind::kDataLoss);
  EXPECT_NE(gone.message().find("catalog.sqlite was deleted"), std::string::npos)
      << gone.message();
  // No absolute path in a message a client may see.
  EXPECT_EQ(gone.message().find(dir_.path().string()), std::string::npos);
  // Another file at the same path is not the catalog that was opened.
  auto other = Open();
  auto replaced = catalog->CheckStorage();
  EXPECT_EQ(ErrorKindOf(replaced), ErrorKind::kDataLoss);
  EXPECT_NE(replaced.message().find("replaced"), std::string::npos) << replaced.message();
  EXPECT_TRUE(other->CheckStorage().ok());
}

}  // namespace
}  // namespace ingester::catalog::testing
