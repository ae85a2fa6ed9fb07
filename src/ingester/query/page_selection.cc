#include "ingester/query/page_selection.h"

#include <parquet/column_reader.h>
#include <parquet/metadata.h>
#include <parquet/page_index.h>
#include <parquet/properties.h>

#include <algorithm>
#include <string_view>
#include <utility>

namespace ingester::query {

namespace {

// Each page's rows [first_row_index, next page's first row), the last one up to
// `num_rows`.
std::vector<RowRange> PageRows(const parquet::OffsetIndex& offsets, int64_t num_rows) {
  const auto& locations = offsets.page_locations();
  std::vector<RowRange> rows(locations.size());
  for (size_t p = 0; p < locations.size(); ++p) {
    rows[p].begin = locations[p].first_row_index;
    rows[p].end = p + 1 < locations.size() ? locations[p + 1].first_row_index : num_rows;
  }
  return rows;
}

// Appends [begin, end) to sorted `ranges`, merging it with the last one when they touch.
void Append(RowRanges* ranges, int64_t begin, int64_t end) {
  if (begin >= end) return;
  if (!ranges->empty() && ranges->back().end >= begin) {
    ranges->back().end = std::max(ranges->back().end, end);
    return;
  }
  ranges->push_back({begin, end});
}

bool Overlaps(const RowRanges& ranges, const RowRange& r) {
  auto it = std::lower_bound(ranges.begin(), ranges.end(), r.begin,
                             [](const RowRange& x, int64_t v) { return x.end <= v; });
  return it != ranges.end() && it->begin < r.end;
}

// `rows` plus every page that overlaps them.
RowRanges Widen(const RowRanges& rows, const std::vector<RowRange>& pages) {
  std::vector<RowRange> all(rows);
  for (const RowRange& page : pages) {
    if (Overlaps(rows, page)) all.push_back(page);
  }
  std::sort(all.begin(), all.end(),
            [](const RowRange& a, const RowRange& b) { return a.begin < b.begin; });
  RowRanges out;
  for (const RowRange& r : all) Append(&out, r.begin, r.end);
  return out;
}

// The rows of the pages of one predicate column that may match; all rows when the
// column has no usable column index.
RowRanges MatchingRows(parquet::RowGroupPageIndexReader& index, int column,
                       const std::vector<RowRange>& pages, int64_t num_rows,
                       const std::vector<std::string>* values, const TimeRange* time) {
  std::shared_ptr<parquet::ColumnIndex> column_index = index.GetColumnIndex(column);
  if (column_index == nullptr) return {{0, num_rows}};
  const std::vector<bool>& null_pages = column_index->null_pages();
  if (null_pages.size() != pages.size()) return {{0, num_rows}};
  RowRanges rows;
  for (size_t p = 0; p < pages.size(); ++p) {
    bool may_match = true;
    if (values != nullptr) {
      // A page of nulls matches no value.
      if (null_pages[p]) continue;
      auto* typed = dynamic_cast<parquet::ByteArrayColumnIndex*>(column_index.get());
      if (typed == nullptr) return {{0, num_rows}};
      const auto& lo = typed->min_values()[p];
      const auto& hi = typed->max_values()[p];
      const std::string_view min(reinterpret_cast<const char*>(lo.ptr), lo.len);
      const std::string_view max(reinterpret_cast<const char*>(hi.ptr), hi.len);
      may_match = std::any_of(values->begin(), values->end(),
                              [&](const std::string& v) { return v >= min && v <= max; });
    } else if (time != nullptr) {
      if (null_pages[p]) continue;  // a row without a time matches no range
      auto* typed = dynamic_cast<parquet::Int64ColumnIndex*>(column_index.get());
      if (typed == nullptr) return {{0, num_rows}};
      may_match = time->Overlaps(typed->min_values()[p], typed->max_values()[p]);
    }
    if (may_match) Append(&rows, pages[p].begin, pages[p].end);
  }
  return rows;
}

}  // namespace

RowRanges IntersectRowRanges(const RowRanges& a, const RowRanges& b) {
  RowRanges out;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    Append(&out, std::max(a[i].begin, b[j].begin), std::min(a[i].end, b[j].end));
    if (a[i].end < b[j].end) {
      ++i;
    } else {
      ++j;
    }
  }
  return out;
}

namespace {

// Every column's pages (their rows), from the offset index; false when one lacks it.
bool ColumnPages(parquet::RowGroupPageIndexReader& index, int64_t num_rows,
                 const std::vector<int>& columns,
                 std::map<int, std::vector<RowRange>>* pages) {
  for (int column : columns) {
    if (pages->count(column) != 0) continue;
    std::shared_ptr<parquet::OffsetIndex> offsets = index.GetOffsetIndex(column);
    if (offsets == nullptr || offsets->page_locations().empty()) return false;
    (*pages)[column] = PageRows(*offsets, num_rows);
  }
  return true;
}

// `rows` widened to whole pages of every column, and the pages outside them.
PageSelection Finish(int row_group, int64_t num_rows, const std::vector<int>& columns,
                     std::map<int, std::vector<RowRange>>& pages, RowRanges rows) {
  for (bool changed = true; changed && !rows.empty();) {
    changed = false;
    for (int column : columns) {
      RowRanges widened = Widen(rows, pages[column]);
      if (widened != rows) {
        rows = std::move(widened);
        changed = true;
      }
    }
  }
  PageSelection selection;
  for (const RowRange& r : rows) selection.rows += r.end - r.begin;
  if (selection.rows == 0 || selection.rows == num_rows) {
    if (selection.rows == num_rows) selection.ranges = {{0, num_rows}};
    return selection;
  }
  selection.ranges = rows;
  selection.skips.row_group = row_group;
  for (int column : columns) {
    std::vector<bool>& skip = selection.skips.skip[column];
    for (const RowRange& page : pages[column]) {
      skip.push_back(!Overlaps(rows, page));
      if (skip.back()) ++selection.pages_skipped;
    }
  }
  return selection;
}

}  // namespace

std::optional<PageSelection> SelectPages(parquet::RowGroupPageIndexReader& index,
                                         int row_group, int64_t num_rows,
                                         const std::vector<int>& columns,
                                         const PagePredicate& predicate) {
  std::map<int, std::vector<RowRange>> pages;
  if (!ColumnPages(index, num_rows, columns, &pages)) return std::nullopt;
  RowRanges rows{{0, num_rows}};
  for (const auto& [column, values] : predicate.tags) {
    if (!ColumnPages(index, num_rows, {column}, &pages)) continue;
    rows = IntersectRowRanges(
        rows, MatchingRows(index, column, pages[column], num_rows, values, nullptr));
  }
  const int time_column = predicate.time_column;
  if (time_column >= 0 && !predicate.time.unbounded() &&
      ColumnPages(index, num_rows, {time_column}, &pages)) {
    rows = IntersectRowRanges(rows, MatchingRows(index, time_column, pages[time_column],
                                                 num_rows, nullptr, &predicate.time));
  }
  return Finish(row_group, num_rows, columns, pages, std::move(rows));
}

std::optional<PageSelection> SelectPagesOfRows(parquet::RowGroupPageIndexReader& index,
                                               int row_group, int64_t num_rows,
                                               const std::vector<int>& columns,
                                               RowRanges rows) {
  std::map<int, std::vector<RowRange>> pages;
  if (!ColumnPages(index, num_rows, columns, &pages)) return std::nullopt;
  return Finish(row_group, num_rows, columns, pages, std::move(rows));
}

RowRanges Unproject(const RowRanges& positions, const RowRanges& selected) {
  RowRanges out;
  size_t s = 0;
  int64_t base = 0;  // position of selected[s].begin among the selected rows
  for (const RowRange& p : positions) {
    int64_t begin = p.begin;
    while (begin < p.end && s < selected.size()) {
      const int64_t length = selected[s].end - selected[s].begin;
      if (begin >= base + length) {
        base += length;
        ++s;
        continue;
      }
      const int64_t end = std::min(p.end, base + length);
      Append(&out, selected[s].begin + (begin - base), selected[s].begin + (end - base));
      begin = end;
    }
  }
  return out;
}

void AppendRows(RowRanges* ranges, int64_t begin, int64_t end) {
  Append(ranges, begin, end);
}

namespace {

class SkippingRowGroup final : public parquet::RowGroupReader::Contents {
 public:
  SkippingRowGroup(std::shared_ptr<parquet::RowGroupReader> inner, int row_group,
                   std::shared_ptr<PageSkips> skips,
                   const parquet::ReaderProperties* properties)
      : inner_(std::move(inner)),
        row_group_(row_group),
        skips_(std::move(skips)),
        properties_(properties) {}

  std::unique_ptr<parquet::PageReader> GetColumnPageReader(int i) override {
    std::unique_ptr<parquet::PageReader> pager = inner_->GetColumnPageReader(i);
    if (skips_->row_group != row_group_) return pager;
    auto it = skips_->skip.find(i);
    if (it == skips_->skip.end()) return pager;
    // Called once per data page, in order (dictionary pages are never skipped).
    pager->set_data_page_filter(
        [skip = it->second, page = size_t{0}](const parquet::DataPageStats&) mutable {
          const bool skipped = page < skip.size() && skip[page];
          ++page;
          return skipped;
        });
    return pager;
  }
  const parquet::RowGroupMetaData* metadata() const override {
    return inner_->metadata();
  }
  const parquet::ReaderProperties* properties() const override { return properties_; }

 private:
  const std::shared_ptr<parquet::RowGroupReader> inner_;
  const int row_group_;
  const std::shared_ptr<PageSkips> skips_;
  const parquet::ReaderProperties* const properties_;
};

class SkippingFile final : public parquet::ParquetFileReader::Contents {
 public:
  SkippingFile(std::unique_ptr<parquet::ParquetFileReader> inner,
               std::shared_ptr<PageSkips> skips, parquet::ReaderProperties properties)
      : inner_(std::move(inner)),
        skips_(std::move(skips)),
        properties_(std::move(properties)) {}

  void Close() override { inner_->Close(); }
  std::shared_ptr<parquet::RowGroupReader> GetRowGroup(int i) override {
    return std::make_shared<parquet::RowGroupReader>(
        std::make_unique<SkippingRowGroup>(inner_->RowGroup(i), i, skips_, &properties_));
  }
  std::shared_ptr<parquet::FileMetaData> metadata() const override {
    return inner_->metadata();
  }
  std::shared_ptr<parquet::PageIndexReader> GetPageIndexReader() override {
    return inner_->GetPageIndexReader();
  }
  parquet::BloomFilterReader& GetBloomFilterReader() override {
    return inner_->GetBloomFilterReader();
  }

 private:
  const std::unique_ptr<parquet::ParquetFileReader> inner_;
  const std::shared_ptr<PageSkips> skips_;
  const parquet::ReaderProperties properties_;
};

}  // namespace

std::unique_ptr<parquet::ParquetFileReader> MakePageSkippingReader(
    std::unique_ptr<parquet::ParquetFileReader> inner, std::shared_ptr<PageSkips> skips,
    const parquet::ReaderProperties& properties) {
  auto reader = std::make_unique<parquet::ParquetFileReader>();
  reader->Open(
      std::make_unique<SkippingFile>(std::move(inner), std::move(skips), properties));
  return reader;
}

}  // namespace ingester::query
