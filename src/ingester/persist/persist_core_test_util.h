// Test helpers of the persist core (sort key, compaction, Parquet, object store, persist
// job): temp dirs, status assertions and a real SQLite catalog holding one partition.
#pragma once

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ingester/catalog/catalog.h"
#include "ingester/catalog/open.h"
#include "ingester/common/column_type.h"

namespace ingester::persist::testing {

#define PERSIST_ASSERT_OK(expr)                               \
  do {                                                        \
    const ::arrow::Status _st = (expr);                       \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (false)

#define PERSIST_ASSIGN_OR_FAIL(lhs, rexpr) \
  PERSIST_ASSIGN_OR_FAIL_IMPL(ARROW_ASSIGN_OR_RAISE_NAME(_res, __COUNTER__), lhs, rexpr)
#define PERSIST_ASSIGN_OR_FAIL_IMPL(res, lhs, rexpr)                  \
  auto res = (rexpr);                                                 \
  ASSERT_TRUE(res.ok()) << #rexpr << ": " << res.status().ToString(); \
  lhs = std::move(res).ValueUnsafe()

// A directory unique to this process and call, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "persist") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("ingester-" + tag + "-test-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter.fetch_add(1)));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A SQLite catalog file in its own temp dir with one namespace, table and partition.
struct CatalogWithPartition {
  TempDir dir{"persist-catalog"};
  std::unique_ptr<catalog::Catalog> catalog;
  catalog::NamespaceRecord ns;
  catalog::TableRecord table;
  catalog::PartitionRecord partition;

  // Creates the records; `tags` and `fields` become columns of the table (fields are
  // i64 unless named in `f64_fields`), plus `time`.
  arrow::Status Init(const std::vector<std::string>& tags,
                     const std::vector<std::string>& fields = {},
                     const std::string& partition_key = "2024-01-01") {
    ARROW_ASSIGN_OR_RAISE(
        catalog,
        catalog::OpenCatalog("sqlite://" + (dir.path() / "catalog.sqlite").string()));
    ARROW_ASSIGN_OR_RAISE(ns, catalog->GetOrCreateNamespace("ns"));
    ARROW_ASSIGN_OR_RAISE(table, catalog->GetOrCreateTable(ns.id, "cpu"));
    ARROW_RETURN_NOT_OK(AddColumns(tags, fields));
    ARROW_ASSIGN_OR_RAISE(partition,
                          catalog->GetOrCreatePartition(table.id, partition_key));
    return arrow::Status::OK();
  }

  arrow::Status AddColumns(const std::vector<std::string>& tags,
                           const std::vector<std::string>& fields) {
    std::vector<catalog::ColumnSpec> specs;
    for (const auto& t : tags) specs.push_back({t, ColumnType::kTag});
    for (const auto& f : fields) specs.push_back({f, ColumnType::kI64});
    specs.push_back({std::string(kTimeColumnName), ColumnType::kTime});
    return catalog->GetOrCreateColumns(table.id, specs).status();
  }
};

// A Parquet file read back with Arrow's reader.
struct ParquetContents {
  std::shared_ptr<arrow::Table> table;
  std::shared_ptr<parquet::FileMetaData> metadata;
};

inline arrow::Result<ParquetContents> ReadParquet(std::shared_ptr<arrow::Buffer> data) {
  auto input = std::make_shared<arrow::io::BufferReader>(std::move(data));
  ARROW_ASSIGN_OR_RAISE(auto reader,
                        parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
  ParquetContents contents;
  contents.metadata = reader->parquet_reader()->metadata();
  ARROW_ASSIGN_OR_RAISE(contents.table, reader->ReadTable());
  ARROW_ASSIGN_OR_RAISE(contents.table, contents.table->CombineChunks());
  return contents;
}

}  // namespace ingester::persist::testing
