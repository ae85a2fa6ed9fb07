#include "ingester/query/page_selection.h"

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <parquet/arrow/writer.h>
#include <parquet/file_reader.h>
#include <parquet/page_index.h>
#include <parquet/properties.h>

#include <set>

namespace ingester::query {
namespace {

using ::testing::ElementsAre;

TEST(RowRangesTest, IntersectKeepsTheCommonRows) {
  EXPECT_THAT(IntersectRowRanges({{0, 10}, {20, 30}}, {{5, 25}}),
              ElementsAre(RowRange{5, 10}, RowRange{20, 25}));
  EXPECT_THAT(IntersectRowRanges({{0, 10}}, {{10, 20}}), ::testing::IsEmpty());
  EXPECT_THAT(IntersectRowRanges({{0, 100}}, {{1, 2}, {3, 4}}),
              ElementsAre(RowRange{1, 2}, RowRange{3, 4}));
}

TEST(RowRangesTest, UnprojectMapsPositionsAmongSelectedRowsToRows) {
  // Selected rows 10-19 and 40-49: positions 0-9 are rows 10-19, 10-19 rows 40-49.
  const RowRanges selected{{10, 20}, {40, 50}};
  EXPECT_THAT(Unproject({{0, 1}}, selected), ElementsAre(RowRange{10, 11}));
  EXPECT_THAT(Unproject({{8, 12}}, selected),
              ElementsAre(RowRange{18, 20}, RowRange{40, 42}));
  EXPECT_THAT(Unproject({{2, 3}, {15, 20}}, selected),
              ElementsAre(RowRange{12, 13}, RowRange{45, 50}));
  RowRanges appended;
  AppendRows(&appended, 1, 2);
  AppendRows(&appended, 2, 3);
  AppendRows(&appended, 5, 6);
  EXPECT_THAT(appended, ElementsAre(RowRange{1, 3}, RowRange{5, 6}));
}

// A file of 100 rows with a page index: `host` (ten rows each of h0..h9, a 40-byte
// suffix of spaces each) and `v` (0..99), both in pages of 10 rows, or `host` in pages
// of 4 rows when `small_host_pages`.
std::shared_ptr<parquet::ParquetFileReader> WriteFile(bool small_host_pages) {
  arrow::StringBuilder hosts;
  arrow::Int64Builder values;
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(hosts.Append("h" + std::to_string(i / 10) + std::string(40, ' ')).ok());
    EXPECT_TRUE(values.Append(i).ok());
  }
  auto schema = arrow::schema(
      {arrow::field("host", arrow::utf8()), arrow::field("v", arrow::int64())});
  auto table = arrow::Table::Make(schema, {*hosts.Finish(), *values.Finish()});
  parquet::WriterProperties::Builder builder;
  builder.enable_write_page_index()->max_rows_per_page(10)->disable_dictionary("host");
  if (small_host_pages) {
    // Pages are cut by size after the row that passes 170 bytes: 4 rows of `host` (46
    // bytes each with its length), 10 of `v` (80 bytes, cut by the row limit).
    builder.write_batch_size(1)->data_pagesize(170);
  }
  auto sink = *arrow::io::BufferOutputStream::Create();
  EXPECT_TRUE(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink, 100,
                                         builder.build())
                  .ok());
  auto buffer = *sink->Finish();
  return parquet::ParquetFileReader::Open(
      std::make_shared<arrow::io::BufferReader>(buffer));
}

TEST(PageSelectionTest, PagesByStatisticsThenWidenedToEveryColumnsPages) {
  auto file = WriteFile(/*small_host_pages=*/false);
  auto index = file->GetPageIndexReader()->RowGroup(0);
  ASSERT_NE(index, nullptr);
  PagePredicate predicate;
  const std::vector<std::string> h3{"h3" + std::string(40, ' ')};
  predicate.tags = {{0, &h3}};
  auto selection = SelectPages(*index, 0, 100, {0, 1}, predicate);
  ASSERT_TRUE(selection.has_value());
  // Both columns are cut every 10 rows: only h3's page.
  EXPECT_THAT(selection->ranges, ElementsAre(RowRange{30, 40}));
  EXPECT_EQ(selection->skips.row_group, 0);
  EXPECT_EQ(
      selection->skips.skip.at(1),
      std::vector<bool>({true, true, true, false, true, true, true, true, true, true}));
  EXPECT_EQ(selection->pages_skipped, 18);

  // Known matching rows 35-36, e.g. from a filter pass.
  selection = SelectPagesOfRows(*index, 0, 100, {0, 1}, {{35, 37}});
  ASSERT_TRUE(selection.has_value());
  EXPECT_THAT(selection->ranges, ElementsAre(RowRange{30, 40}));

  const std::vector<std::string> h77{"h77"};  // between h7 and h8: no page
  predicate.tags = {{0, &h77}};
  selection = SelectPages(*index, 0, 100, {0, 1}, predicate);
  ASSERT_TRUE(selection.has_value());
  EXPECT_EQ(selection->rows, 0);
}

TEST(PageSelectionTest, PagesCutAtDifferentRowsWidenTheSelection) {
  // `host` pages hold 4 rows, `v` pages up to 10 (also cut by size): rows 35-36 need a
  // page of each, which may start or end inside a page of the other, and so on.
  auto file = WriteFile(/*small_host_pages=*/true);
  auto index = file->GetPageIndexReader()->RowGroup(0);
  ASSERT_NE(index, nullptr);
  auto host_pages = index->GetOffsetIndex(0)->page_locations();
  ASSERT_GT(host_pages.size(), 10u) << "host pages not cut by size";
  auto selection = SelectPagesOfRows(*index, 0, 100, {0, 1}, {{35, 37}});
  ASSERT_TRUE(selection.has_value());
  ASSERT_EQ(selection->ranges.size(), 1u);
  const RowRange r = selection->ranges[0];
  EXPECT_LE(r.begin, 35);
  EXPECT_GE(r.end, 37);
  // Whether pages of the two columns start at different rows in [r.begin, r.end): then
  // the selection was widened past a page of one of them.
  std::set<int64_t> starts[2];
  for (int column : {0, 1}) {
    const auto offsets = index->GetOffsetIndex(column);
    for (const auto& page : offsets->page_locations()) {
      if (page.first_row_index > r.begin && page.first_row_index < r.end) {
        starts[column].insert(page.first_row_index);
      }
    }
  }
  EXPECT_NE(starts[0], starts[1]) << "the file does not exercise widening";
  // Every column's pages are wholly in or out.
  for (int column : {0, 1}) {
    const auto pages = index->GetOffsetIndex(column)->page_locations();
    for (size_t p = 0; p < pages.size(); ++p) {
      const int64_t begin = pages[p].first_row_index;
      const int64_t end = p + 1 < pages.size() ? pages[p + 1].first_row_index : 100;
      const bool inside = begin >= r.begin && end <= r.end;
      const bool outside = end <= r.begin || begin >= r.end;
      EXPECT_TRUE(inside || outside) << "column " << column << " page " << p;
      EXPECT_EQ(selection->skips.skip.at(column)[p], outside);
    }
  }
}

}  // namespace
}  // namespace ingester::query
