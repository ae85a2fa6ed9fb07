#include "ingester/catalog/catalog_listing.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ingester/catalog/open.h"
#include "ingester/common/temp_dir.h"

namespace ingester::catalog {
namespace {

class CatalogListingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = OpenCatalog("sqlite://" + (dir_.path() / "catalog.sqlite").string());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    catalog_ = std::move(*opened);
  }
  TempDir dir_{"listing"};
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogListingTest, ListsTablesColumnsPartitionsBufferedRowsAndFiles) {
  auto ns = *catalog_->GetOrCreateNamespace("db", NamespaceLimits{.max_tables = 7});
  auto table = *catalog_->GetOrCreateTable(ns.id, "cpu");
  ASSERT_TRUE(catalog_
                  ->GetOrCreateColumns(
                      table.id, {{"host", ColumnType::kTag}, {"usage", ColumnType::kF64}})
                  .ok());
  auto persisted = *catalog_->GetOrCreatePartition(table.id, "2024-01-01");
  auto buffered_only = *catalog_->GetOrCreatePartition(table.id, "2024-01-02");
  ParquetFileRecord file;
  file.namespace_id = ns.id;
  file.table_id = table.id;
  file.partition_id = persisted.id;
  file.object_store_id = "00000000-0000-4000-8000-000000000001";
  file.min_time = 10;
  file.max_time = 20;
  file.row_count = 5;
  file.file_size_bytes = 1234;
  ASSERT_TRUE(catalog_->CreateParquetFile(file).ok());

  const std::unordered_map<PartitionId, BufferedPartition> buffered = {
      {buffered_only.id, {.rows = 3, .bytes = 300, .completed_persists = 0}},
      {persisted.id, {.rows = 1, .bytes = 100, .completed_persists = 1}}};
  auto text = CatalogListingJson(*catalog_, buffered, /*with_files=*/true);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  const auto doc = nlohmann::json::parse(*text);
  ASSERT_EQ(doc["namespaces"].size(), 1u);
  const auto& n = doc["namespaces"][0];
  EXPECT_EQ(n["name"], "db");
  EXPECT_EQ(n["max_tables"], 7);
  ASSERT_EQ(n["tables"].size(), 1u);
  const auto& t = n["tables"][0];
  EXPECT_EQ(t["name"], "cpu");
  std::vector<std::string> columns;
  for (const auto& c : t["columns"]) columns.push_back(c["name"]);
  EXPECT_EQ(columns, (std::vector<std::string>{"host", "usage"}));  // creation order
  ASSERT_EQ(t["partitions"].size(), 2u);
  const auto& p0 = t["partitions"][0];
  EXPECT_EQ(p0["key"], "2024-01-01");
  EXPECT_EQ(p0["buffered_rows"], 1);
  EXPECT_EQ(p0["completed_persists"], 1);
  EXPECT_EQ(p0["parquet_files"], 1);
  EXPECT_EQ(p0["persisted_rows"], 5);
  ASSERT_EQ(p0["files"].size(), 1u);
  EXPECT_EQ(p0["files"][0]["bytes"], 1234);
  EXPECT_EQ(p0["files"][0]["max_time"], 20);
  const auto& p1 = t["partitions"][1];
  EXPECT_EQ(p1["buffered_rows"], 3);
  EXPECT_EQ(p1["buffered_bytes"], 300);
  EXPECT_EQ(p1["parquet_files"], 0);

  // Without files, and for a partition the buffer does not hold: zeros, no "files".
  text = CatalogListingJson(*catalog_, {}, /*with_files=*/false);
  ASSERT_TRUE(text.ok());
  const auto bare = nlohmann::json::parse(*text)["namespaces"][0]["tables"][0];
  EXPECT_FALSE(bare["partitions"][0].contains("files"));
  EXPECT_EQ(bare["partitions"][1]["buffered_rows"], 0);
}

TEST_F(CatalogListingTest, DatabasesByName) {
  ASSERT_TRUE(catalog_->GetOrCreateNamespace("b").ok());
  ASSERT_TRUE(catalog_->GetOrCreateNamespace("a").ok());
  auto text = DatabasesJson(*catalog_);
  ASSERT_TRUE(text.ok());
  const auto doc = nlohmann::json::parse(*text);
  ASSERT_EQ(doc["databases"].size(), 2u);
  EXPECT_EQ(doc["databases"][0]["name"], "a");
  EXPECT_EQ(doc["databases"][1]["name"], "b");
  EXPECT_TRUE(doc["databases"][0].contains("partition_template"));
}

}  // namespace
}  // namespace ingester::catalog
