// The catalog conformance suite: every backend must pass it unchanged.
#include "ingester/catalog/catalog.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ingester/catalog/catalog_test_util.h"

namespace ingester::catalog::testing {
namespace {

using ::ingester::ErrorKind;

class CatalogTest : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override {
    INGESTER_MAKE_BACKEND(backend_, GetParam());
    ASSERT_OK_AND_ASSIGN(catalog_, backend_->Open(&clock_));
  }

  // A namespace and table to hang columns and partitions on.
  TableRecord MakeTable(const std::string& ns_name = "db",
                        const std::string& table = "cpu",
                        const NamespaceLimits& limits = {}) {
    auto ns = catalog_->GetOrCreateNamespace(ns_name, limits);
    EXPECT_TRUE(ns.ok()) << ns.status().ToString();
    auto t = catalog_->GetOrCreateTable(ns->id, table);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return *t;
  }

  SteppingClock clock_;
  std::unique_ptr<CatalogBackend> backend_;
  std::unique_ptr<Catalog> catalog_;
};

// --- namespaces ------------------------------------------------------------------

TEST_P(CatalogTest, NamespaceGetOrCreateIsIdempotent) {
  ASSERT_OK_AND_ASSIGN(NamespaceRecord a, catalog_->GetOrCreateNamespace("db"));
  EXPECT_EQ(a.name, "db");
  EXPECT_GT(a.id.value(), 0);
  EXPECT_EQ(a.max_tables, 10'000);
  EXPECT_EQ(a.max_columns_per_table, 200);
  ASSERT_OK_AND_ASSIGN(NamespaceRecord again, catalog_->GetOrCreateNamespace("db"));
  EXPECT_EQ(again, a);
  ASSERT_OK_AND_ASSIGN(NamespaceRecord b,
                       catalog_->GetOrCreateNamespace("other", NamespaceLimits{5, 7}));
  EXPECT_NE(b.id, a.id);
  EXPECT_EQ(b.max_tables, 5);
  EXPECT_EQ(b.max_columns_per_table, 7);
  // An existing namespace keeps the limits it was created with.
  ASSERT_OK_AND_ASSIGN(NamespaceRecord b2,
                       catalog_->GetOrCreateNamespace("other", NamespaceLimits{1, 1}));
  EXPECT_EQ(b2, b);
}

TEST_P(CatalogTest, NamespaceLookups) {
  ASSERT_OK_AND_ASSIGN(NamespaceRecord zeta, catalog_->GetOrCreateNamespace("zeta"));
  ASSERT_OK_AND_ASSIGN(NamespaceRecord alpha, catalog_->GetOrCreateNamespace("alpha"));
  ASSERT_OK_AND_ASSIGN(auto found, catalog_->GetNamespaceByName("zeta"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, zeta);
  ASSERT_OK_AND_ASSIGN(auto missing, catalog_->GetNamespaceByName("nope"));
  EXPECT_FALSE(missing.has_value());
  // Names are case sensitive.
  ASSERT_OK_AND_ASSIGN(auto upper, catalog_->GetNamespaceByName("ZETA"));
  EXPECT_FALSE(upper.has_value());
  ASSERT_OK_AND_ASSIGN(NamespaceRecord by_id, catalog_->GetNamespace(alpha.id));
  EXPECT_EQ(by_id, alpha);
  EXPECT_ERROR_KIND(ErrorKind::kNotFound, catalog_->GetNamespace(NamespaceId(999'999)),
                    "999999");
  ASSERT_OK_AND_ASSIGN(auto all, catalog_->ListNamespaces());
  EXPECT_EQ(all, (std::vector<NamespaceRecord>{alpha, zeta}));
}

TEST_P(CatalogTest, NamespaceLimitsMustBePositive) {
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput,
                    catalog_->GetOrCreateNamespace("db", NamespaceLimits{0, 10}),
                    "max_tables");
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput,
                    catalog_->GetOrCreateNamespace("db", NamespaceLimits{10, -1}),
                    "max_columns_per_table");
  ASSERT_OK_AND_ASSIGN(auto all, catalog_->ListNamespaces());
  EXPECT_TRUE(all.empty());
}

// --- tables ----------------------------------------------------------------------

TEST_P(CatalogTest, TableGetOrCreateAndLookups) {
  ASSERT_OK_AND_ASSIGN(NamespaceRecord db, catalog_->GetOrCreateNamespace("db"));
  ASSERT_OK_AND_ASSIGN(NamespaceRecord other, catalog_->GetOrCreateNamespace("other"));
  ASSERT_OK_AND_ASSIGN(TableRecord cpu, catalog_->GetOrCreateTable(db.id, "cpu"));
  EXPECT_EQ(cpu.namespace_id, db.id);
  EXPECT_EQ(cpu.name, "cpu");
  ASSERT_OK_AND_ASSIGN(TableRecord cpu_again, catalog_->GetOrCreateTable(db.id, "cpu"));
  EXPECT_EQ(cpu_again, cpu);
  ASSERT_OK_AND_ASSIGN(TableRecord mem, catalog_->GetOrCreateTable(db.id, "mem"));
  ASSERT_OK_AND_ASSIGN(TableRecord disk, catalog_->GetOrCreateTable(db.id, "disk"));
  // The same name in another namespace is another table.
  ASSERT_OK_AND_ASSIGN(TableRecord other_cpu,
                       catalog_->GetOrCreateTable(other.id, "cpu"));
  EXPECT_NE(other_cpu.id, cpu.id);

  ASSERT_OK_AND_ASSIGN(auto found, catalog_->GetTableByName(db.id, "mem"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, mem);
  ASSERT_OK_AND_ASSIGN(auto missing, catalog_->GetTableByName(db.id, "nope"));
  EXPECT_FALSE(missing.has_value());
  ASSERT_OK_AND_ASSIGN(auto tables, catalog_->ListTables(db.id));
  EXPECT_EQ(tables, (std::vector<TableRecord>{cpu, disk, mem}));
  ASSERT_OK_AND_ASSIGN(auto other_tables, catalog_->ListTables(other.id));
  EXPECT_EQ(other_tables, (std::vector<TableRecord>{other_cpu}));

  ASSERT_OK_AND_ASSIGN(TableSchema schema, catalog_->GetTableSchema(cpu.id));
  EXPECT_EQ(schema.table, cpu);
  EXPECT_TRUE(schema.columns.empty());
  EXPECT_ERROR_KIND(ErrorKind::kNotFound, catalog_->GetTableSchema(TableId(424242)),
                    "424242");
  EXPECT_ERROR_KIND(ErrorKind::kNotFound,
                    catalog_->GetOrCreateTable(NamespaceId(777777), "cpu"), "777777");
}

TEST_P(CatalogTest, TableLimit) {
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns,
                       catalog_->GetOrCreateNamespace("small", NamespaceLimits{2, 10}));
  ASSERT_OK_AND_ASSIGN(TableRecord a, catalog_->GetOrCreateTable(ns.id, "a"));
  ASSERT_OK(catalog_->GetOrCreateTable(ns.id, "b").status());
  EXPECT_ERROR_KIND(ErrorKind::kLimit, catalog_->GetOrCreateTable(ns.id, "c"),
                    "\"small\"", "\"c\"", "2");
  // Existing tables are still served at the limit.
  ASSERT_OK_AND_ASSIGN(TableRecord a_again, catalog_->GetOrCreateTable(ns.id, "a"));
  EXPECT_EQ(a_again, a);
  ASSERT_OK_AND_ASSIGN(auto tables, catalog_->ListTables(ns.id));
  EXPECT_EQ(tables.size(), 2u);
  // Other namespaces have their own count.
  ASSERT_OK_AND_ASSIGN(NamespaceRecord big, catalog_->GetOrCreateNamespace("big"));
  ASSERT_OK(catalog_->GetOrCreateTable(big.id, "c").status());
}

// --- columns ---------------------------------------------------------------------

TEST_P(CatalogTest, ColumnsGetOrCreate) {
  const TableRecord cpu = MakeTable();
  const std::vector<ColumnSpec> first = {{"host", ColumnType::kTag},
                                         {"usage", ColumnType::kF64},
                                         {"time", ColumnType::kTime}};
  ASSERT_OK_AND_ASSIGN(TableSchema schema, catalog_->GetOrCreateColumns(cpu.id, first));
  EXPECT_EQ(schema.table, cpu);
  ASSERT_EQ(schema.columns.size(), 3u);
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(schema.columns[i].name, first[i].name);
    EXPECT_EQ(schema.columns[i].type, first[i].type);
    EXPECT_EQ(schema.columns[i].table_id, cpu.id);
  }
  // Idempotent, ids stable, and the order of `wanted` does not matter.
  ASSERT_OK_AND_ASSIGN(TableSchema again, catalog_->GetOrCreateColumns(
                                              cpu.id, {{"time", ColumnType::kTime},
                                                       {"host", ColumnType::kTag}}));
  EXPECT_EQ(again, schema);

  // New columns are added after the old ones; duplicates with one type are fine.
  ASSERT_OK_AND_ASSIGN(TableSchema grown, catalog_->GetOrCreateColumns(
                                              cpu.id, {{"region", ColumnType::kTag},
                                                       {"count", ColumnType::kI64},
                                                       {"count", ColumnType::kI64},
                                                       {"usage", ColumnType::kF64}}));
  ASSERT_EQ(grown.columns.size(), 5u);
  EXPECT_TRUE(
      std::equal(schema.columns.begin(), schema.columns.end(), grown.columns.begin()));
  EXPECT_EQ(grown.TypeOf("count"), ColumnType::kI64);
  EXPECT_EQ(grown.TypeOf("region"), ColumnType::kTag);
  EXPECT_EQ(grown.TypeOf("nope"), std::nullopt);
  const ColumnRecord* region = grown.FindColumn("region");
  ASSERT_NE(region, nullptr);
  EXPECT_EQ(grown.FindColumnById(region->id), region);
  EXPECT_EQ(grown.FindColumn("nope"), nullptr);

  ASSERT_OK_AND_ASSIGN(TableSchema read, catalog_->GetTableSchema(cpu.id));
  EXPECT_EQ(read, grown);
  ASSERT_OK_AND_ASSIGN(TableSchema empty_request,
                       catalog_->GetOrCreateColumns(cpu.id, {}));
  EXPECT_EQ(empty_request, grown);

  // Every type round-trips.
  const TableRecord all = MakeTable("db", "all_types");
  const std::vector<ColumnSpec> every = {
      {"t", ColumnType::kTag},    {"i", ColumnType::kI64},  {"u", ColumnType::kU64},
      {"f", ColumnType::kF64},    {"b", ColumnType::kBool}, {"s", ColumnType::kString},
      {"time", ColumnType::kTime}};
  ASSERT_OK(catalog_->GetOrCreateColumns(all.id, every).status());
  ASSERT_OK_AND_ASSIGN(TableSchema all_schema, catalog_->GetTableSchema(all.id));
  for (const ColumnSpec& spec : every) EXPECT_EQ(all_schema.TypeOf(spec.name), spec.type);

  EXPECT_ERROR_KIND(
      ErrorKind::kNotFound,
      catalog_->GetOrCreateColumns(TableId(55555), {{"a", ColumnType::kTag}}), "55555");
}

TEST_P(CatalogTest, ColumnTypeConflictNamesColumnAndTypes) {
  const TableRecord cpu = MakeTable();
  ASSERT_OK(catalog_->GetOrCreateColumns(cpu.id, {{"usage", ColumnType::kF64}}).status());
  // The conflicting call also offers a new column: all or nothing, so it is not created.
  EXPECT_ERROR_KIND(ErrorKind::kConflict,
                    catalog_->GetOrCreateColumns(cpu.id, {{"fresh", ColumnType::kTag},
                                                          {"usage", ColumnType::kI64}}),
                    "\"usage\"", "\"cpu\"", "f64", "i64");
  ASSERT_OK_AND_ASSIGN(TableSchema schema, catalog_->GetTableSchema(cpu.id));
  EXPECT_EQ(schema.columns.size(), 1u);
  EXPECT_EQ(schema.FindColumn("fresh"), nullptr);
  EXPECT_EQ(schema.TypeOf("usage"), ColumnType::kF64);
  // A tag and a string field of the same name conflict too.
  ASSERT_OK(catalog_->GetOrCreateColumns(cpu.id, {{"host", ColumnType::kTag}}).status());
  EXPECT_ERROR_KIND(ErrorKind::kConflict,
                    catalog_->GetOrCreateColumns(cpu.id, {{"host", ColumnType::kString}}),
                    "\"host\"", "tag", "string");
}

TEST_P(CatalogTest, ColumnOfferedWithTwoTypesInOneCall) {
  const TableRecord cpu = MakeTable();
  EXPECT_ERROR_KIND(ErrorKind::kConflict,
                    catalog_->GetOrCreateColumns(
                        cpu.id, {{"v", ColumnType::kI64}, {"v", ColumnType::kU64}}),
                    "\"v\"", "i64", "u64");
  ASSERT_OK_AND_ASSIGN(TableSchema schema, catalog_->GetTableSchema(cpu.id));
  EXPECT_TRUE(schema.columns.empty());
}

TEST_P(CatalogTest, TimeColumnRules) {
  const TableRecord cpu = MakeTable();
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput,
                    catalog_->GetOrCreateColumns(cpu.id, {{"time", ColumnType::kI64}}),
                    "\"time\"", "i64");
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput,
                    catalog_->GetOrCreateColumns(cpu.id, {{"ts", ColumnType::kTime}}),
                    "\"ts\"");
  ASSERT_OK(catalog_->GetOrCreateColumns(cpu.id, {{"time", ColumnType::kTime}}).status());
}

TEST_P(CatalogTest, ColumnLimit) {
  const TableRecord t = MakeTable("small", "weather", NamespaceLimits{10, 3});
  ASSERT_OK(catalog_
                ->GetOrCreateColumns(
                    t.id, {{"city", ColumnType::kTag}, {"time", ColumnType::kTime}})
                .status());
  EXPECT_ERROR_KIND(ErrorKind::kLimit,
                    catalog_->GetOrCreateColumns(
                        t.id, {{"temp", ColumnType::kF64}, {"wind", ColumnType::kF64}}),
                    "\"weather\"", "4 columns", "3");
  ASSERT_OK_AND_ASSIGN(TableSchema schema, catalog_->GetTableSchema(t.id));
  EXPECT_EQ(schema.columns.size(), 2u);
  // Up to the limit is fine, and existing columns are served at the limit.
  ASSERT_OK(catalog_->GetOrCreateColumns(t.id, {{"temp", ColumnType::kF64}}).status());
  ASSERT_OK_AND_ASSIGN(schema,
                       catalog_->GetOrCreateColumns(t.id, {{"city", ColumnType::kTag},
                                                           {"temp", ColumnType::kF64},
                                                           {"time", ColumnType::kTime}}));
  EXPECT_EQ(schema.columns.size(), 3u);
  EXPECT_ERROR_KIND(ErrorKind::kLimit,
                    catalog_->GetOrCreateColumns(t.id, {{"wind", ColumnType::kF64}}),
                    "\"weather\"", "4", "3");
}

// --- names -----------------------------------------------------------------------

TEST_P(CatalogTest, NamespaceNameValidation) {
  for (const std::string& good : std::vector<std::string>{
           "db", "a", "my-db_2", "db.prod", "A.b-c_D", std::string(64, 'n')}) {
    ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, catalog_->GetOrCreateNamespace(good));
    EXPECT_EQ(ns.name, good);
  }
  for (const std::string& evil : std::vector<std::string>{
           std::string(), std::string("../x"), std::string("a/b"), std::string(".hidden"),
           std::string("."), std::string(".."), std::string("x\0y", 3),
           std::string("sp ace"), std::string("semi;colon"), std::string("quote'"),
           std::string("caf\xc3\xa9"), std::string(65, 'n'), std::string("tab\t")}) {
    EXPECT_ERROR_KIND(ErrorKind::kInvalidInput, catalog_->GetOrCreateNamespace(evil),
                      "invalid namespace name");
  }
  ASSERT_OK_AND_ASSIGN(auto all, catalog_->ListNamespaces());
  EXPECT_EQ(all.size(), 6u);
}

TEST_P(CatalogTest, TableAndColumnNameValidation) {
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, catalog_->GetOrCreateNamespace("db"));
  const std::vector<std::string> good = {"cpu",
                                         "temp\xc3\xa9rature",
                                         "with space",
                                         "a.b",
                                         "...",
                                         ".hidden",
                                         "\xf0\x9f\x98\x80",
                                         "\"quoted\"",
                                         std::string(255, 'x')};
  const std::vector<std::string> evil = {
      std::string(),
      std::string("."),
      std::string(".."),
      std::string("\x01"),
      std::string("x\0y", 3),
      std::string(256, 'x'),
      std::string(300, 'y'),
      std::string("\xff\xfe"),          // not UTF-8
      std::string("\xc0\xaf"),          // overlong '/'
      std::string("\xed\xa0\x80"),      // surrogate
      std::string("\xf4\x90\x80\x80"),  // above U+10FFFF
      std::string("ab\xe2\x82"),        // truncated sequence
      std::string("new\nline"),
      std::string("del\x7f")};
  for (const std::string& name : good) {
    ASSERT_OK_AND_ASSIGN(TableRecord t, catalog_->GetOrCreateTable(ns.id, name));
    EXPECT_EQ(t.name, name);
    ASSERT_OK_AND_ASSIGN(TableSchema s,
                         catalog_->GetOrCreateColumns(t.id, {{name, ColumnType::kTag}}));
    EXPECT_EQ(s.columns.at(0).name, name);
  }
  const TableRecord cpu = MakeTable("db", "cpu");
  for (const std::string& name : evil) {
    EXPECT_ERROR_KIND(ErrorKind::kInvalidInput, catalog_->GetOrCreateTable(ns.id, name),
                      "invalid table name");
    EXPECT_ERROR_KIND(ErrorKind::kInvalidInput,
                      catalog_->GetOrCreateColumns(cpu.id, {{name, ColumnType::kTag}}),
                      "invalid column name");
  }
  // '/' is refused in table names (defence in depth) but allowed in column names.
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput, catalog_->GetOrCreateTable(ns.id, "a/b"),
                    "\"a/b\"", "'/'");
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput, catalog_->GetOrCreateTable(ns.id, "../etc"),
                    "\"../etc\"");
  ASSERT_OK(catalog_->GetOrCreateColumns(cpu.id, {{"a/b", ColumnType::kF64}}).status());
  // Messages show bad bytes escaped and long names cut.
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput,
                    catalog_->GetOrCreateTable(ns.id, std::string("x\0y", 3)),
                    "\"x\\x00y\"", "0x00");
  auto long_name = catalog_->GetOrCreateTable(ns.id, std::string(300, 'y'));
  EXPECT_LT(long_name.status().message().size(), 250u) << long_name.status().message();

  ASSERT_OK_AND_ASSIGN(auto tables, catalog_->ListTables(ns.id));
  EXPECT_EQ(tables.size(), good.size());  // "cpu" is one of the good names
}

TEST_P(CatalogTest, SqlInjectionIsJustAName) {
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, catalog_->GetOrCreateNamespace("db"));
  const std::string evil_table = "'; DROP TABLE namespace; --";
  const std::string evil_column = "\"); DELETE FROM column_name; --";
  ASSERT_OK_AND_ASSIGN(TableRecord t, catalog_->GetOrCreateTable(ns.id, evil_table));
  EXPECT_EQ(t.name, evil_table);
  ASSERT_OK_AND_ASSIGN(TableSchema s, catalog_->GetOrCreateColumns(
                                          t.id, {{evil_column, ColumnType::kString},
                                                 {"time", ColumnType::kTime}}));
  EXPECT_EQ(s.columns.at(0).name, evil_column);
  ASSERT_OK_AND_ASSIGN(PartitionRecord p,
                       catalog_->GetOrCreatePartition(t.id, "' OR 1=1; --"));
  EXPECT_EQ(p.key, "' OR 1=1; --");
  // Everything is still there, found by the literal names.
  ASSERT_OK_AND_ASSIGN(auto namespaces, catalog_->ListNamespaces());
  EXPECT_EQ(namespaces, (std::vector<NamespaceRecord>{ns}));
  ASSERT_OK_AND_ASSIGN(auto found, catalog_->GetTableByName(ns.id, evil_table));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, t);
  ASSERT_OK_AND_ASSIGN(TableSchema read, catalog_->GetTableSchema(t.id));
  EXPECT_EQ(read, s);
  ASSERT_OK_AND_ASSIGN(auto none, catalog_->GetTableByName(ns.id, "' OR '1'='1"));
  EXPECT_FALSE(none.has_value());
}

// --- partitions ------------------------------------------------------------------

TEST_P(CatalogTest, PartitionsGetOrCreateAndList) {
  const TableRecord cpu = MakeTable();
  const TableRecord mem = MakeTable("db", "mem");
  ASSERT_OK_AND_ASSIGN(PartitionRecord p2,
                       catalog_->GetOrCreatePartition(cpu.id, "2024-01-02"));
  EXPECT_EQ(p2.table_id, cpu.id);
  EXPECT_EQ(p2.key, "2024-01-02");
  EXPECT_TRUE(p2.sort_key.empty());
  EXPECT_GT(p2.created_at, 0);
  EXPECT_EQ(p2.updated_at, p2.created_at);
  ASSERT_OK_AND_ASSIGN(PartitionRecord p2_again,
                       catalog_->GetOrCreatePartition(cpu.id, "2024-01-02"));
  EXPECT_EQ(p2_again, p2);
  ASSERT_OK_AND_ASSIGN(PartitionRecord p1,
                       catalog_->GetOrCreatePartition(cpu.id, "2024-01-01"));
  ASSERT_OK_AND_ASSIGN(PartitionRecord m1,
                       catalog_->GetOrCreatePartition(mem.id, "2024-01-01"));
  EXPECT_NE(m1.id, p1.id);
  ASSERT_OK_AND_ASSIGN(PartitionRecord by_id, catalog_->GetPartition(p1.id));
  EXPECT_EQ(by_id, p1);
  ASSERT_OK_AND_ASSIGN(auto list, catalog_->ListPartitions(cpu.id));
  EXPECT_EQ(list, (std::vector<PartitionRecord>{p1, p2}));
  ASSERT_OK_AND_ASSIGN(auto mem_list, catalog_->ListPartitions(mem.id));
  EXPECT_EQ(mem_list, (std::vector<PartitionRecord>{m1}));

  EXPECT_ERROR_KIND(ErrorKind::kNotFound, catalog_->GetPartition(PartitionId(31337)),
                    "31337");
  EXPECT_ERROR_KIND(ErrorKind::kNotFound,
                    catalog_->GetOrCreatePartition(TableId(31337), "2024-01-01"),
                    "31337");
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput, catalog_->GetOrCreatePartition(cpu.id, ""),
                    "partition key");
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput,
                    catalog_->GetOrCreatePartition(cpu.id, "bad\xff"), "UTF-8");
}

TEST_P(CatalogTest, SortKeyCompareAndSwap) {
  const TableRecord cpu = MakeTable();
  ASSERT_OK(catalog_
                ->GetOrCreateColumns(cpu.id, {{"host", ColumnType::kTag},
                                              {"region", ColumnType::kTag},
                                              {"time", ColumnType::kTime}})
                .status());
  ASSERT_OK_AND_ASSIGN(PartitionRecord p, catalog_->GetOrCreatePartition(cpu.id, "k"));
  const std::vector<std::string> first = {"host", "time"};
  ASSERT_OK_AND_ASSIGN(PartitionRecord after, catalog_->CasSortKey(p.id, {}, first));
  EXPECT_EQ(after.sort_key, first);
  EXPECT_EQ(after.created_at, p.created_at);
  EXPECT_GT(after.updated_at, p.updated_at);
  ASSERT_OK_AND_ASSIGN(PartitionRecord read, catalog_->GetPartition(p.id));
  EXPECT_EQ(read, after);

  // A stale expectation fails and reports what the catalog holds.
  const arrow::Status stale = catalog_->CasSortKey(p.id, {}, {"region", "time"}).status();
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(ErrorKindOf(stale), ErrorKind::kConflict);
  const SortKeyConflictDetail* detail = SortKeyConflictOf(stale);
  ASSERT_NE(detail, nullptr) << stale.ToString();
  EXPECT_EQ(detail->observed(), first);
  EXPECT_NE(stale.message().find("[host, time]"), std::string::npos) << stale.message();
  ASSERT_OK_AND_ASSIGN(read, catalog_->GetPartition(p.id));
  EXPECT_EQ(read.sort_key, first);

  // Retrying on top of the observed key succeeds.
  const std::vector<std::string> second = {"host", "region", "time"};
  ASSERT_OK_AND_ASSIGN(after, catalog_->CasSortKey(p.id, detail->observed(), second));
  EXPECT_EQ(after.sort_key, second);

  // A column type conflict is not a sort key conflict.
  const arrow::Status type_conflict =
      catalog_->GetOrCreateColumns(cpu.id, {{"host", ColumnType::kI64}}).status();
  EXPECT_EQ(ErrorKindOf(type_conflict), ErrorKind::kConflict);
  EXPECT_EQ(SortKeyConflictOf(type_conflict), nullptr);

  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput,
                    catalog_->CasSortKey(p.id, second, {"host", "nope", "time"}),
                    "\"nope\"");
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput,
                    catalog_->CasSortKey(p.id, second, {"host", "host", "time"}),
                    "twice");
  EXPECT_ERROR_KIND(ErrorKind::kNotFound,
                    catalog_->CasSortKey(PartitionId(8888), {}, first), "8888");
  ASSERT_OK_AND_ASSIGN(read, catalog_->GetPartition(p.id));
  EXPECT_EQ(read.sort_key, second);
}

TEST_P(CatalogTest, RecentPartitionsNewestFirst) {
  const TableRecord cpu = MakeTable();
  const TableRecord mem = MakeTable("db", "mem");
  ASSERT_OK(catalog_->GetOrCreateColumns(cpu.id, {{"time", ColumnType::kTime}}).status());
  ASSERT_OK_AND_ASSIGN(auto none, catalog_->ListRecentPartitions(10));
  EXPECT_TRUE(none.empty());
  ASSERT_OK_AND_ASSIGN(PartitionRecord a, catalog_->GetOrCreatePartition(cpu.id, "a"));
  ASSERT_OK_AND_ASSIGN(PartitionRecord b, catalog_->GetOrCreatePartition(mem.id, "b"));
  ASSERT_OK_AND_ASSIGN(PartitionRecord c, catalog_->GetOrCreatePartition(cpu.id, "c"));
  const auto ids = [](const std::vector<PartitionRecord>& ps) {
    std::vector<PartitionId> out;
    for (const auto& p : ps) out.push_back(p.id);
    return out;
  };
  ASSERT_OK_AND_ASSIGN(auto recent, catalog_->ListRecentPartitions(10));
  EXPECT_EQ(ids(recent), (std::vector<PartitionId>{c.id, b.id, a.id}));
  ASSERT_OK_AND_ASSIGN(recent, catalog_->ListRecentPartitions(2));
  EXPECT_EQ(ids(recent), (std::vector<PartitionId>{c.id, b.id}));
  // Updating the sort key makes a partition recent again.
  ASSERT_OK(catalog_->CasSortKey(a.id, {}, {"time"}).status());
  ASSERT_OK_AND_ASSIGN(recent, catalog_->ListRecentPartitions(10));
  EXPECT_EQ(ids(recent), (std::vector<PartitionId>{a.id, c.id, b.id}));
  ASSERT_OK_AND_ASSIGN(recent, catalog_->ListRecentPartitions(0));
  EXPECT_TRUE(recent.empty());
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput, catalog_->ListRecentPartitions(-1),
                    "limit");
}

// --- parquet files ---------------------------------------------------------------

TEST_P(CatalogTest, ParquetFiles) {
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, catalog_->GetOrCreateNamespace("db"));
  ASSERT_OK_AND_ASSIGN(TableRecord cpu, catalog_->GetOrCreateTable(ns.id, "cpu"));
  ASSERT_OK_AND_ASSIGN(TableRecord mem, catalog_->GetOrCreateTable(ns.id, "mem"));
  ASSERT_OK_AND_ASSIGN(PartitionRecord p1, catalog_->GetOrCreatePartition(cpu.id, "d1"));
  ASSERT_OK_AND_ASSIGN(PartitionRecord p2, catalog_->GetOrCreatePartition(cpu.id, "d2"));
  ASSERT_OK_AND_ASSIGN(PartitionRecord m1, catalog_->GetOrCreatePartition(mem.id, "d1"));

  ParquetFileRecord f1;
  f1.namespace_id = ns.id;
  f1.table_id = cpu.id;
  f1.partition_id = p1.id;
  f1.object_store_id = "0b8c5d7e-1f2a-4b3c-9d4e-5f6a7b8c9d0e";
  f1.min_time = 100;
  f1.max_time = 200;
  f1.row_count = 42;
  f1.file_size_bytes = 4096;
  f1.created_at = 12345;
  ASSERT_OK_AND_ASSIGN(ParquetFileId id1, catalog_->CreateParquetFile(f1));
  EXPECT_GT(id1.value(), 0);

  ParquetFileRecord f2 = f1;
  f2.object_store_id = "1b8c5d7e-1f2a-4b3c-9d4e-5f6a7b8c9d0e";
  f2.created_at = 0;  // defaults to the catalog's clock
  f2.path = "custom/path.parquet";
  f2.compaction_level = 1;
  ASSERT_OK_AND_ASSIGN(ParquetFileId id2, catalog_->CreateParquetFile(f2));
  ParquetFileRecord f3 = f1;
  f3.partition_id = p2.id;
  f3.object_store_id = "2b8c5d7e-1f2a-4b3c-9d4e-5f6a7b8c9d0e";
  ASSERT_OK_AND_ASSIGN(ParquetFileId id3, catalog_->CreateParquetFile(f3));
  ParquetFileRecord g1 = f1;
  g1.table_id = mem.id;
  g1.partition_id = m1.id;
  g1.object_store_id = "3b8c5d7e-1f2a-4b3c-9d4e-5f6a7b8c9d0e";
  ASSERT_OK(catalog_->CreateParquetFile(g1).status());

  ASSERT_OK_AND_ASSIGN(auto in_p1, catalog_->ListParquetFiles(p1.id));
  ASSERT_EQ(in_p1.size(), 2u);
  ParquetFileRecord want1 = f1;
  want1.id = id1;
  want1.path = ParquetFilePath(ns.id, cpu.id, p1.id, f1.object_store_id);
  EXPECT_EQ(in_p1[0], want1);
  EXPECT_EQ(want1.path, std::to_string(ns.id.value()) + "/" +
                            std::to_string(cpu.id.value()) + "/" +
                            std::to_string(p1.id.value()) +
                            "/0b8c5d7e-1f2a-4b3c-9d4e-5f6a7b8c9d0e.parquet");
  EXPECT_EQ(in_p1[1].id, id2);
  EXPECT_EQ(in_p1[1].path, "custom/path.parquet");
  EXPECT_EQ(in_p1[1].compaction_level, 1);
  EXPECT_GT(in_p1[1].created_at, 1'700'000'000'000'000'000);
  ASSERT_OK_AND_ASSIGN(auto for_table, catalog_->ListParquetFilesForTable(cpu.id));
  ASSERT_EQ(for_table.size(), 3u);
  EXPECT_EQ(for_table[2].id, id3);
  ASSERT_OK_AND_ASSIGN(auto for_mem, catalog_->ListParquetFilesForTable(mem.id));
  EXPECT_EQ(for_mem.size(), 1u);

  // Recording the same file again (a retried call) returns the first id.
  ASSERT_OK_AND_ASSIGN(ParquetFileId again, catalog_->CreateParquetFile(f1));
  EXPECT_EQ(again, id1);
  ASSERT_OK_AND_ASSIGN(again, catalog_->CreateParquetFile(f2));
  EXPECT_EQ(again, id2);
  ParquetFileRecord clash = f1;
  clash.row_count = 43;
  EXPECT_ERROR_KIND(ErrorKind::kConflict, catalog_->CreateParquetFile(clash),
                    f1.object_store_id);

  ParquetFileRecord wrong_table = f1;
  wrong_table.object_store_id = "4b8c5d7e-1f2a-4b3c-9d4e-5f6a7b8c9d0e";
  wrong_table.table_id = mem.id;
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput, catalog_->CreateParquetFile(wrong_table),
                    "belongs to table");
  ParquetFileRecord bad_uuid = f1;
  bad_uuid.object_store_id = "../../etc/passwd";
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput, catalog_->CreateParquetFile(bad_uuid),
                    "UUID");
  ParquetFileRecord bad_times = f1;
  bad_times.object_store_id = "5b8c5d7e-1f2a-4b3c-9d4e-5f6a7b8c9d0e";
  bad_times.min_time = 300;
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput, catalog_->CreateParquetFile(bad_times),
                    "min_time");
  ParquetFileRecord no_partition = f1;
  no_partition.object_store_id = "6b8c5d7e-1f2a-4b3c-9d4e-5f6a7b8c9d0e";
  no_partition.partition_id = PartitionId(98765);
  EXPECT_ERROR_KIND(ErrorKind::kNotFound, catalog_->CreateParquetFile(no_partition),
                    "98765");
  ASSERT_OK_AND_ASSIGN(for_table, catalog_->ListParquetFilesForTable(cpu.id));
  EXPECT_EQ(for_table.size(), 3u);
}

// --- partition templates ---------------------------------------------------------

partition::PartitionTemplate Template(const std::string& json) {
  auto t = partition::PartitionTemplate::FromJson(json);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ValueOr(partition::PartitionTemplate());
}

TEST_P(CatalogTest, NamespaceTemplatesAreStoredAndFixed) {
  const auto by_region =
      Template(R"({"parts":[{"tag_value":"region"},{"time_format":"%Y-%m-%d"}]})");
  const auto hourly = Template(R"({"parts":[{"time_format":"%Y-%m-%dT%H"}]})");
  ASSERT_OK_AND_ASSIGN(NamespaceRecord plain, catalog_->GetOrCreateNamespace("plain"));
  EXPECT_TRUE(plain.partition_template.is_default());
  ASSERT_OK_AND_ASSIGN(NamespaceRecord db, catalog_->GetOrCreateNamespace(
                                               "db", NamespaceLimits{}, by_region));
  EXPECT_EQ(db.partition_template, by_region);
  // Fixed at creation: asking again with another template returns the stored one.
  ASSERT_OK_AND_ASSIGN(NamespaceRecord again,
                       catalog_->GetOrCreateNamespace("db", NamespaceLimits{}, hourly));
  EXPECT_EQ(again, db);
  ASSERT_OK_AND_ASSIGN(auto found, catalog_->GetNamespaceByName("db"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->partition_template, by_region);
  ASSERT_OK_AND_ASSIGN(NamespaceRecord by_id, catalog_->GetNamespace(db.id));
  EXPECT_EQ(by_id.partition_template, by_region);
  ASSERT_OK_AND_ASSIGN(auto all, catalog_->ListNamespaces());
  EXPECT_EQ(all, (std::vector<NamespaceRecord>{db, plain}));
}

TEST_P(CatalogTest, TablesInheritOrOverrideTheNamespaceTemplate) {
  const auto by_region =
      Template(R"({"parts":[{"tag_value":"region"},{"time_format":"%Y-%m-%d"}]})");
  const auto by_host =
      Template(R"({"parts":[{"time_format":"%Y"},{"tag_value":"host"}]})");
  ASSERT_OK_AND_ASSIGN(NamespaceRecord db, catalog_->GetOrCreateNamespace(
                                               "db", NamespaceLimits{}, by_region));
  ASSERT_OK_AND_ASSIGN(TableRecord inherits, catalog_->GetOrCreateTable(db.id, "cpu"));
  EXPECT_EQ(inherits.partition_template, by_region);
  ASSERT_OK_AND_ASSIGN(TableRecord own,
                       catalog_->GetOrCreateTable(db.id, "mem", by_host));
  EXPECT_EQ(own.partition_template, by_host);
  // Fixed at creation.
  ASSERT_OK_AND_ASSIGN(
      TableRecord again,
      catalog_->GetOrCreateTable(db.id, "mem", partition::PartitionTemplate()));
  EXPECT_EQ(again, own);
  ASSERT_OK_AND_ASSIGN(TableRecord cpu_again,
                       catalog_->GetOrCreateTable(db.id, "cpu", by_host));
  EXPECT_EQ(cpu_again, inherits);
  ASSERT_OK_AND_ASSIGN(auto found, catalog_->GetTableByName(db.id, "mem"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->partition_template, by_host);
  ASSERT_OK_AND_ASSIGN(TableSchema schema, catalog_->GetTableSchema(own.id));
  EXPECT_EQ(schema.table.partition_template, by_host);
  ASSERT_OK_AND_ASSIGN(auto tables, catalog_->ListTables(db.id));
  EXPECT_EQ(tables, (std::vector<TableRecord>{inherits, own}));
  // A namespace without a template gives its tables the default.
  const TableRecord plain = MakeTable("plain", "cpu");
  EXPECT_TRUE(plain.partition_template.is_default());

  // Another instance (and a reopened store) reads the same templates.
  ASSERT_OK_AND_ASSIGN(auto second, backend_->Open(&clock_));
  ASSERT_OK_AND_ASSIGN(TableSchema s2, second->GetTableSchema(own.id));
  EXPECT_EQ(s2.table.partition_template, by_host);
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns2, second->GetNamespace(db.id));
  EXPECT_EQ(ns2.partition_template, by_region);
}

// --- persistence and sharing -----------------------------------------------------

TEST_P(CatalogTest, AnotherInstanceSeesEverythingWithTheSameIds) {
  const TableRecord cpu = MakeTable();
  ASSERT_OK_AND_ASSIGN(TableSchema schema, catalog_->GetOrCreateColumns(
                                               cpu.id, {{"host", ColumnType::kTag},
                                                        {"time", ColumnType::kTime}}));
  ASSERT_OK_AND_ASSIGN(PartitionRecord p, catalog_->GetOrCreatePartition(cpu.id, "k"));
  ASSERT_OK_AND_ASSIGN(p, catalog_->CasSortKey(p.id, {}, {"host", "time"}));

  ASSERT_OK_AND_ASSIGN(auto second, backend_->Open(&clock_));
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, second->GetOrCreateNamespace("db"));
  EXPECT_EQ(ns.id, cpu.namespace_id);
  ASSERT_OK_AND_ASSIGN(TableRecord t, second->GetOrCreateTable(ns.id, "cpu"));
  EXPECT_EQ(t, cpu);
  ASSERT_OK_AND_ASSIGN(TableSchema s, second->GetTableSchema(cpu.id));
  EXPECT_EQ(s, schema);
  ASSERT_OK_AND_ASSIGN(PartitionRecord p2, second->GetOrCreatePartition(cpu.id, "k"));
  EXPECT_EQ(p2, p);

  // A write through the second instance is seen by the first.
  ASSERT_OK(second->GetOrCreateColumns(cpu.id, {{"usage", ColumnType::kF64}}).status());
  ASSERT_OK_AND_ASSIGN(TableSchema s1, catalog_->GetTableSchema(cpu.id));
  EXPECT_EQ(s1.TypeOf("usage"), ColumnType::kF64);

  // Closing every instance and opening again keeps everything.
  catalog_.reset();
  second.reset();
  ASSERT_OK_AND_ASSIGN(auto third, backend_->Open(&clock_));
  ASSERT_OK_AND_ASSIGN(TableSchema s3, third->GetTableSchema(cpu.id));
  EXPECT_EQ(s3, s1);
  ASSERT_OK_AND_ASSIGN(PartitionRecord p3, third->GetPartition(p.id));
  EXPECT_EQ(p3, p);
}

INSTANTIATE_TEST_SUITE_P(Backends, CatalogTest, ::testing::ValuesIn(AllBackends()),
                         BackendName);

}  // namespace
}  // namespace ingester::catalog::testing
