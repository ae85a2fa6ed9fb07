// Reading only the data pages of a row group whose rows a predicate may match, through
// Arrow's Parquet reader (which has no row selection of its own).
//
//   the row group's page index (the persist job writes it): per column chunk, each data
//     │ page's first row (offset index) and min/max (column index)
//     │ per predicate column: the rows of its pages that may match (a tag's pages whose
//     │ min/max allow one of the values and that are not all null, `time`'s pages that
//     │ overlap the range); intersected over the predicate's columns
//     v
//   candidate rows, widened until, for every column read, each page lies wholly inside
//     │ them or wholly outside (pages are cut at the same rows in every column when the
//     │ writer's page row limit binds, and then nothing widens)
//     v
//   per column, the data pages outside them are skipped by the page reader's data page
//   filter, before they are decompressed: every column yields the same rows, in order
//
// A tag that is not first in the sort key has scattered values within a page (its
// min/max spans most values), so page statistics select little for it; the scan then
// decodes the predicate's columns first and selects the pages of the rows that matched
// (SelectPagesOfRows).
//
// The rows read are a superset of the matching rows: the caller still filters them.
#pragma once

#include <parquet/file_reader.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ingester/query/row_filter.h"

namespace parquet {
class RowGroupMetaData;
class RowGroupPageIndexReader;
}  // namespace parquet

namespace ingester::query {

// Rows [begin, end) of a row group.
struct RowRange {
  int64_t begin = 0;
  int64_t end = 0;
  bool operator==(const RowRange&) const = default;
};
// Sorted, disjoint, none empty.
using RowRanges = std::vector<RowRange>;

RowRanges IntersectRowRanges(const RowRanges& a, const RowRanges& b);
// Appends [begin, end) to `ranges`, whose last range must not start after `begin`
// (merged with it when they touch).
void AppendRows(RowRanges* ranges, int64_t begin, int64_t end);
// Rows at `positions` among the rows of `selected` (counted from 0 over its ranges in
// order), as rows of the row group.
RowRanges Unproject(const RowRanges& positions, const RowRanges& selected);

// The pages of each column of one row group to skip, by leaf column index, one flag per
// data page in file order.
struct PageSkips {
  int row_group = -1;  // -1: skip nothing
  std::map<int, std::vector<bool>> skip;
};

struct PagePredicate {
  // Leaf column index of each tag the predicate names, with the values it accepts.
  std::vector<std::pair<int, const std::vector<std::string>*>> tags;
  int time_column = -1;  // -1, or an unbounded range: no time condition
  TimeRange time;
};

struct PageSelection {
  PageSkips skips;   // row_group -1 when every page is read
  RowRanges ranges;  // the rows the selected pages hold, in the row group
  int64_t rows = 0;  // how many
  int64_t pages_skipped = 0;
};

// The pages of row group `row_group` (of `num_rows` rows) to read for `columns`. nullopt
// when a column lacks its offset index (read the row group whole); `rows` 0 when no page
// may match (skip the row group).
std::optional<PageSelection> SelectPages(parquet::RowGroupPageIndexReader& index,
                                         int row_group, int64_t num_rows,
                                         const std::vector<int>& columns,
                                         const PagePredicate& predicate);

// The pages to read for `columns` to get `rows` (the rows of the row group known to
// match, e.g. from a filter pass over the predicate's columns). nullopt as above.
std::optional<PageSelection> SelectPagesOfRows(parquet::RowGroupPageIndexReader& index,
                                               int row_group, int64_t num_rows,
                                               const std::vector<int>& columns,
                                               RowRanges rows);

// A ParquetFileReader over `inner` whose page readers skip the pages `*skips` names for
// the row group they read; `*skips` is read when a column's page reader is created, so
// it must stay unchanged while a row group is read. `inner` is owned by the result;
// pre-buffer through `inner` (the result's PreBuffer is not supported).
std::unique_ptr<parquet::ParquetFileReader> MakePageSkippingReader(
    std::unique_ptr<parquet::ParquetFileReader> inner, std::shared_ptr<PageSkips> skips,
    const parquet::ReaderProperties& properties);

}  // namespace ingester::query
