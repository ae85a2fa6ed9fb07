#include "ingester/query/sorted_merge.h"

#include <arrow/array.h>
#include <arrow/array/builder_base.h>
#include <arrow/array/data.h>
#include <arrow/builder.h>
#include <arrow/compute/api_vector.h>
#include <arrow/datum.h>
#include <arrow/type.h>

#include <algorithm>
#include <deque>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "ingester/common/column_type.h"
#include "ingester/common/error.h"

namespace ingester::query {

namespace {

// One source batch with what comparing and copying its rows needs.
struct BatchView {
  std::shared_ptr<arrow::RecordBatch> batch;
  std::vector<arrow::ArraySpan> spans;  // per schema column
  struct TagKey {
    const arrow::Array* indices = nullptr;  // int32; for validity
    const int32_t* values = nullptr;
    const arrow::StringArray* dictionary = nullptr;
  };
  std::vector<TagKey> key;  // the key's tags, most significant first
  const int64_t* times = nullptr;
  // Per row: one past the last row of its series run: adjacent rows with the same tag
  // values (SeriesRunEnd; a run may be cut where the values are equal, never span rows
  // whose values differ). Lets RunLength compare tags once per series, not per row.
  std::vector<int32_t> series_end;
  // Per row: its series run's index; per run: its tags encoded so that byte-wise order
  // is the key's tag order (EncodeTags), at series_keys[series_offsets[s]...].
  std::vector<int32_t> series;
  std::string series_keys;
  std::vector<uint32_t> series_offsets;

  std::string_view SeriesKey(int64_t row) const {
    const int32_t s = series[row];
    return std::string_view(series_keys)
        .substr(series_offsets[s], series_offsets[s + 1] - series_offsets[s]);
  }

  bool IsNull(int column, int64_t row) const {
    return batch->column(column)->IsNull(row);
  }
};

// Where a tag of the key sits in the schema, most significant first.
struct KeyLayout {
  std::vector<int> tag_columns;
  int time_column = -1;
  std::vector<int> field_columns;  // neither tag nor time
  // Per schema column: its index in tag_columns (and BatchView::key), or -1.
  std::vector<int> key_index;
};

// Appends the key's tags of `row`, most significant first, each as 0x01 when null and
// otherwise 0x00, the value with 0x00 bytes written 0x00 0xff, then 0x00 0x00: comparing
// two encodings byte-wise orders the tags as CompareTags did value by value (byte-wise,
// a prefix first, nulls last).
void EncodeTags(const BatchView& view, int64_t row, std::string* out) {
  for (const BatchView::TagKey& key : view.key) {
    if (key.indices->IsNull(row)) {
      out->push_back('\x01');
      continue;
    }
    out->push_back('\x00');
    for (char c : key.dictionary->GetView(key.values[row])) {
      out->push_back(c);
      if (c == '\x00') out->push_back('\xff');
    }
    out->append(2, '\x00');
  }
}

// Whether rows `a` and `b` of the view carry the same tags: the same validity and, where
// valid, the same index (one dictionary per batch). Equal indices mean equal values; the
// converse may fail (a dictionary may hold a value twice), which only cuts a run where
// the values are equal, never joins rows whose values differ.
bool SameTags(const BatchView& view, int64_t a, int64_t b) {
  for (const BatchView::TagKey& key : view.key) {
    const bool null_a = key.indices->IsNull(a);
    if (null_a != key.indices->IsNull(b)) return false;
    if (!null_a && key.values[a] != key.values[b]) return false;
  }
  return true;
}

// One past the last row of a run from `start` whose rows all carry `start`'s tag values:
// gallop, then binary search for a row that is not SameTags as `start`. The batch is
// sorted by tag values, so every row between `start` and a row SameTags as it has its
// values too (a run may thus hold rows whose index differs but names the same value;
// the series key is encoded from values, and MaterializeTag maps each row's index).
// Relies on the sort: an unsorted source would be wrongly de-duplicated, where it used
// to come out in the wrong order.
int64_t SeriesRunEnd(const BatchView& view, int64_t start, int64_t n) {
  int64_t same = start;  // the last row known to match
  int64_t step = 1;
  int64_t differs = n;  // the first row known not to match (n: none known)
  while (same + step < n) {
    if (!SameTags(view, start, same + step)) {
      differs = same + step;
      break;
    }
    same += step;
    step *= 2;
  }
  while (differs - same > 1) {
    const int64_t mid = same + (differs - same) / 2;
    if (SameTags(view, start, mid)) {
      same = mid;
    } else {
      differs = mid;
    }
  }
  return same + 1;
}

arrow::Result<std::shared_ptr<BatchView>> MakeView(
    std::shared_ptr<arrow::RecordBatch> batch, const KeyLayout& layout) {
  auto view = std::make_shared<BatchView>();
  view->spans.reserve(batch->num_columns());
  for (int c = 0; c < batch->num_columns(); ++c) {
    view->spans.emplace_back(*batch->column_data(c));
  }
  for (int c : layout.tag_columns) {
    const auto& column = static_cast<const arrow::DictionaryArray&>(*batch->column(c));
    BatchView::TagKey key;
    key.indices = column.indices().get();
    key.values = static_cast<const arrow::Int32Array&>(*column.indices()).raw_values();
    key.dictionary = static_cast<const arrow::StringArray*>(column.dictionary().get());
    view->key.push_back(key);
  }
  view->times = batch->column_data(layout.time_column)->GetValues<int64_t>(1);
  // The batch is sorted by its tags, so the rows of one series are adjacent: each run
  // ends where a gallop and a binary search find the first row whose tags differ from
  // its first row's (O(log run) row comparisons instead of comparing every row).
  const int64_t n = batch->num_rows();
  view->series.reserve(static_cast<size_t>(n));  // filled run by run below
  view->series_end.reserve(static_cast<size_t>(n));
  view->series_offsets.push_back(0);
  int32_t series = 0;
  for (int64_t start = 0; start < n; ++series) {
    const int64_t end = SeriesRunEnd(*view, start, n);
    EncodeTags(*view, start, &view->series_keys);
    view->series_offsets.push_back(static_cast<uint32_t>(view->series_keys.size()));
    view->series.insert(view->series.end(), end - start, series);
    view->series_end.insert(view->series_end.end(), end - start,
                            static_cast<int32_t>(end));
    start = end;
  }
  view->batch = std::move(batch);
  return view;
}

// <0, 0, >0 as the tags of row `i` of `a` sort before, with, or after those of row `j`
// of `b`: byte-wise (nulls last) in the order of the key's tags.
int CompareTags(const BatchView& a, int64_t i, const BatchView& b, int64_t j) {
  return a.SeriesKey(i).compare(b.SeriesKey(j));
}

// <0, 0, >0 as row `i` of `a` sorts before, with, or after row `j` of `b`.
int Compare(const BatchView& a, int64_t i, const BatchView& b, int64_t j) {
  if (const int c = CompareTags(a, i, b, j); c != 0) return c;
  const int64_t ta = a.times[i];
  const int64_t tb = b.times[j];
  return ta < tb ? -1 : (ta > tb ? 1 : 0);
}

}  // namespace

arrow::Status SortedMergeOptions::Validate() const {
  if (schema == nullptr) return arrow::Status::Invalid("sorted merge: no schema");
  if (batch_rows < 1) return arrow::Status::Invalid("sorted merge: batch_rows < 1");
  if (pool == nullptr) return arrow::Status::Invalid("sorted merge: no memory pool");
  return arrow::Status::OK();
}

struct SortedMerge::Impl {
  struct Cursor {
    BatchSource source;
    std::shared_ptr<BatchView> view;
    int64_t row = 0;
    bool done = false;
    // kPassThrough: rows of the current batch that went into merged rows, ascending.
    std::vector<int64_t> dropped;
  };
  // Output rows being gathered: a run of one source's rows, or one merged row.
  struct Segment {
    std::shared_ptr<BatchView> view;  // the run's batch (null for a merged row)
    int64_t offset = 0;
    int64_t length = 0;
    size_t merged = 0;  // index into merged_ when view is null
  };
  struct MergedRow {
    // Per schema column: the source batch and row to copy from.
    std::vector<std::pair<std::shared_ptr<BatchView>, int64_t>> cells;
    std::pair<const BatchView*, int64_t> tag(int c) const {
      return {cells[c].first.get(), cells[c].second};
    }
  };

  SortedMergeOptions options;
  KeyLayout layout;
  std::vector<Cursor> cursors;
  std::vector<Segment> segments;
  std::vector<MergedRow> merged;
  std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders;
  std::vector<size_t> ties;

  // Makes sure the cursor points at a row, pulling batches as needed.
  arrow::Status Fill(Cursor* cursor) {
    while (!cursor->done &&
           (cursor->view == nullptr || cursor->row >= cursor->view->batch->num_rows())) {
      ARROW_ASSIGN_OR_RAISE(auto batch, cursor->source());
      if (batch == nullptr) {
        cursor->done = true;
        cursor->view.reset();
        break;
      }
      if (batch->num_rows() == 0) continue;
      if (!batch->schema()->Equals(*options.schema, /*check_metadata=*/false)) {
        return arrow::Status::Invalid("sorted merge: a source batch has schema ",
                                      batch->schema()->ToString(), ", expected ",
                                      options.schema->ToString());
      }
      ARROW_ASSIGN_OR_RAISE(cursor->view, MakeView(std::move(batch), layout));
      cursor->row = 0;
    }
    return arrow::Status::OK();
  }

  // The smallest key among the sources (`ties`: every source holding it; empty when all
  // are done) and the source with the smallest key of the others (`second`, kNone when
  // there is none), which bounds the run the smallest can emit.
  static constexpr size_t kNone = static_cast<size_t>(-1);
  size_t second = kNone;
  arrow::Status Pick() {
    ties.clear();
    second = kNone;
    for (size_t s = 0; s < cursors.size(); ++s) {
      Cursor& cursor = cursors[s];
      ARROW_RETURN_NOT_OK(Fill(&cursor));
      if (cursor.done) continue;
      if (ties.empty()) {
        ties.push_back(s);
        continue;
      }
      const Cursor& best = cursors[ties.front()];
      const int c = Compare(*cursor.view, cursor.row, *best.view, best.row);
      if (c < 0) {
        second = ties.front();
        ties.assign(1, s);
      } else if (c == 0) {
        ties.push_back(s);
      } else if (second == kNone ||
                 Compare(*cursor.view, cursor.row, *cursors[second].view,
                         cursors[second].row) < 0) {
        second = s;
      }
    }
    return arrow::Status::OK();
  }

  // How many of the next `limit` (>= 1) rows of `cursor` (the single smallest) sort
  // below the next key of `second`. Series by series: a series whose tags sort below
  // the bound's is below whole (one comparison), in the bound's series the rows before
  // its time (a binary search over `time`), and nothing after.
  int64_t RunLength(const Cursor& cursor, int64_t limit) const {
    if (second == kNone) return limit;
    const Cursor& bound = cursors[second];
    const BatchView& view = *cursor.view;
    const int64_t end = cursor.row + limit;
    int64_t row = cursor.row;
    while (row < end) {
      const int64_t series_end = std::min<int64_t>(view.series_end[row], end);
      const int c = CompareTags(view, row, *bound.view, bound.row);
      if (c < 0) {
        row = series_end;
        continue;
      }
      if (c == 0) {
        const int64_t t = bound.view->times[bound.row];
        row = std::lower_bound(view.times + row, view.times + series_end, t) - view.times;
      }
      break;
    }
    return row - cursor.row;
  }

  // kPassThrough: batches ready to return, and the merged rows being gathered.
  std::deque<std::shared_ptr<arrow::RecordBatch>> ready;
  int64_t side_rows = 0;

  // kPassThrough: once `cursor` has moved past its batch, the batch is ready, without
  // the rows that went into merged rows.
  arrow::Status PassIfDone(Cursor* cursor) {
    if (cursor->row < cursor->view->batch->num_rows()) return arrow::Status::OK();
    std::shared_ptr<arrow::RecordBatch> batch = std::move(cursor->view->batch);
    cursor->view.reset();
    if (!cursor->dropped.empty()) {
      arrow::BooleanBuilder keep(options.pool);
      ARROW_RETURN_NOT_OK(keep.Reserve(batch->num_rows()));
      size_t next = 0;
      for (int64_t r = 0; r < batch->num_rows(); ++r) {
        const bool dropped = next < cursor->dropped.size() && cursor->dropped[next] == r;
        if (dropped) ++next;
        keep.UnsafeAppend(!dropped);
      }
      cursor->dropped.clear();
      std::shared_ptr<arrow::Array> mask;
      ARROW_RETURN_NOT_OK(keep.Finish(&mask));
      ARROW_ASSIGN_OR_RAISE(arrow::Datum kept,
                            arrow::compute::Filter(arrow::Datum(batch), mask));
      batch = kept.record_batch();
    }
    if (batch->num_rows() > 0) ready.push_back(std::move(batch));
    return arrow::Status::OK();
  }

  // kPassThrough: the row of the key every source in `ties` holds, merged as AddMerged
  // does, copied into the builders (so that it keeps no source batch alive).
  arrow::Status AppendMerged() {
    const Cursor& first = cursors[ties.front()];
    for (size_t c = 0; c < builders.size(); ++c) {
      const Cursor* chosen = &first;
      if (layout.key_index[c] < 0 && static_cast<int>(c) != layout.time_column) {
        // A field: the newest source with a value; all null: null from the newest.
        chosen = &cursors[ties.back()];
        for (auto it = ties.rbegin(); it != ties.rend(); ++it) {
          const Cursor& cursor = cursors[*it];
          if (!cursor.view->IsNull(static_cast<int>(c), cursor.row)) {
            chosen = &cursor;
            break;
          }
        }
      }
      if (layout.key_index[c] >= 0) {
        auto* builder = static_cast<arrow::StringDictionary32Builder*>(builders[c].get());
        const BatchView::TagKey& key = chosen->view->key[layout.key_index[c]];
        if (key.indices->IsNull(chosen->row)) {
          ARROW_RETURN_NOT_OK(builder->AppendNull());
        } else {
          ARROW_RETURN_NOT_OK(
              builder->Append(key.dictionary->GetView(key.values[chosen->row])));
        }
      } else {
        ARROW_RETURN_NOT_OK(
            builders[c]->AppendArraySlice(chosen->view->spans[c], chosen->row, 1));
      }
    }
    ++side_rows;
    return arrow::Status::OK();
  }

  // kPassThrough: the merged rows gathered so far become a ready batch.
  arrow::Status FinishSide() {
    arrow::ArrayVector columns;
    for (auto& builder : builders) {
      std::shared_ptr<arrow::Array> array;
      ARROW_RETURN_NOT_OK(builder->Finish(&array));
      columns.push_back(std::move(array));
    }
    ready.push_back(
        arrow::RecordBatch::Make(options.schema, side_rows, std::move(columns)));
    side_rows = 0;
    return arrow::Status::OK();
  }

  void AddRun(const std::shared_ptr<BatchView>& view, int64_t row, int64_t length) {
    if (!segments.empty()) {
      Segment& last = segments.back();
      if (last.view == view && last.offset + last.length == row) {
        last.length += length;
        return;
      }
    }
    segments.push_back(Segment{view, row, length, 0});
  }

  void AddMerged() {
    MergedRow row;
    row.cells.resize(options.schema->num_fields());
    const Cursor& first = cursors[ties.front()];
    for (int c : layout.tag_columns) row.cells[c] = {first.view, first.row};
    row.cells[layout.time_column] = {first.view, first.row};
    for (int c : layout.field_columns) {
      // The newest source with a value; all null: null from the newest.
      const Cursor* chosen = &cursors[ties.back()];
      for (auto it = ties.rbegin(); it != ties.rend(); ++it) {
        const Cursor& cursor = cursors[*it];
        if (!cursor.view->IsNull(c, cursor.row)) {
          chosen = &cursor;
          break;
        }
      }
      row.cells[c] = {chosen->view, chosen->row};
    }
    segments.push_back(Segment{nullptr, 0, 1, merged.size()});
    merged.push_back(std::move(row));
  }

  // A tag column of the output: each source dictionary's entries are mapped to the
  // output dictionary once (hashing each distinct value once), then rows copy mapped
  // indices. (A DictionaryBuilder would hash every row's value.)
  arrow::Result<std::shared_ptr<arrow::Array>> MaterializeTag(int c, int64_t rows) {
    const int k = layout.key_index[c];
    arrow::StringBuilder dictionary(options.pool);
    arrow::Int32Builder indices(options.pool);
    ARROW_RETURN_NOT_OK(indices.Reserve(rows));
    // Output index by value; the views point into source dictionaries, which the
    // segments keep alive until the batch is built.
    std::unordered_map<std::string_view, int32_t> memo;
    struct Mapping {
      const arrow::StringArray* source;
      std::vector<int32_t> to;  // output index per source index; -1 until first use
    };
    std::vector<Mapping> mappings;
    auto mapping_for = [&](const arrow::StringArray* source) -> Mapping& {
      for (Mapping& m : mappings) {
        if (m.source == source) return m;
      }
      mappings.push_back(Mapping{
          source, std::vector<int32_t>(static_cast<size_t>(source->length()), -1)});
      return mappings.back();
    };
    auto append = [&](const BatchView::TagKey& key, Mapping& m,
                      int64_t row) -> arrow::Status {
      if (key.indices->IsNull(row)) {
        indices.UnsafeAppendNull();
        return arrow::Status::OK();
      }
      const int32_t source_index = key.values[row];
      int32_t& out = m.to[static_cast<size_t>(source_index)];
      if (out < 0) {
        const std::string_view value = key.dictionary->GetView(source_index);
        auto [it, inserted] = memo.try_emplace(value, static_cast<int32_t>(memo.size()));
        if (inserted) ARROW_RETURN_NOT_OK(dictionary.Append(value));
        out = it->second;
      }
      indices.UnsafeAppend(out);
      return arrow::Status::OK();
    };
    for (const Segment& segment : segments) {
      const BatchView* view = segment.view.get();
      int64_t row = segment.offset;
      if (view == nullptr) std::tie(view, row) = merged[segment.merged].tag(c);
      const BatchView::TagKey& key = view->key[k];
      Mapping& m = mapping_for(key.dictionary);
      int64_t r = row;
      const int64_t end = row + segment.length;
      if (key.indices->null_count() == 0) {
        // No nulls: copy mapped indices while every one is known.
        for (; r < end; ++r) {
          const int32_t out = m.to[static_cast<size_t>(key.values[r])];
          if (out < 0) break;
          indices.UnsafeAppend(out);
        }
      }
      for (; r < end; ++r) ARROW_RETURN_NOT_OK(append(key, m, r));
    }
    std::shared_ptr<arrow::Array> index_array, dictionary_array;
    ARROW_RETURN_NOT_OK(indices.Finish(&index_array));
    ARROW_RETURN_NOT_OK(dictionary.Finish(&dictionary_array));
    return std::make_shared<arrow::DictionaryArray>(options.schema->field(c)->type(),
                                                    index_array, dictionary_array);
  }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Materialize(int64_t rows) {
    arrow::ArrayVector columns;
    for (size_t c = 0; c < builders.size(); ++c) {
      if (layout.key_index[c] >= 0) {
        ARROW_ASSIGN_OR_RAISE(auto column, MaterializeTag(static_cast<int>(c), rows));
        columns.push_back(std::move(column));
        continue;
      }
      arrow::ArrayBuilder* builder = builders[c].get();
      ARROW_RETURN_NOT_OK(builder->Reserve(rows));
      for (const Segment& segment : segments) {
        if (segment.view != nullptr) {
          ARROW_RETURN_NOT_OK(builder->AppendArraySlice(segment.view->spans[c],
                                                        segment.offset, segment.length));
        } else {
          const auto& [view, row] = merged[segment.merged].cells[c];
          ARROW_RETURN_NOT_OK(builder->AppendArraySlice(view->spans[c], row, 1));
        }
      }
      std::shared_ptr<arrow::Array> array;
      ARROW_RETURN_NOT_OK(builder->Finish(&array));
      columns.push_back(std::move(array));
    }
    segments.clear();
    merged.clear();
    return arrow::RecordBatch::Make(options.schema, rows, std::move(columns));
  }
};

SortedMerge::SortedMerge(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SortedMerge::~SortedMerge() = default;

arrow::Result<std::unique_ptr<SortedMerge>> SortedMerge::Make(
    std::vector<BatchSource> sources, SortedMergeOptions options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  auto impl = std::make_unique<Impl>();
  const arrow::Schema& schema = *options.schema;
  KeyLayout& layout = impl->layout;
  layout.time_column = schema.GetFieldIndex(std::string(kTimeColumnName));
  if (layout.time_column < 0 ||
      schema.field(layout.time_column)->type()->id() != arrow::Type::TIMESTAMP) {
    return InvalidInput("sorted merge: the schema has no timestamp 'time' column");
  }
  auto is_tag = [&](int c) {
    const auto& type = schema.field(c)->type();
    if (type->id() != arrow::Type::DICTIONARY) return false;
    const auto& dict = static_cast<const arrow::DictionaryType&>(*type);
    return dict.index_type()->id() == arrow::Type::INT32 &&
           dict.value_type()->id() == arrow::Type::STRING;
  };
  for (const auto& name : options.sort_key) {
    if (name == kTimeColumnName) continue;
    const int c = schema.GetFieldIndex(name);
    if (c >= 0 && is_tag(c)) layout.tag_columns.push_back(c);
  }
  for (int c = 0; c < schema.num_fields(); ++c) {
    if (c == layout.time_column) continue;
    if (is_tag(c)) {
      if (std::find(layout.tag_columns.begin(), layout.tag_columns.end(), c) ==
          layout.tag_columns.end()) {
        layout.tag_columns.push_back(c);
      }
    } else if (schema.field(c)->type()->id() == arrow::Type::DICTIONARY) {
      return InvalidInput("sorted merge: column '" + schema.field(c)->name() +
                          "' is a dictionary other than dictionary<int32, utf8>");
    } else {
      layout.field_columns.push_back(c);
    }
  }
  layout.key_index.assign(static_cast<size_t>(schema.num_fields()), -1);
  for (size_t k = 0; k < layout.tag_columns.size(); ++k) {
    layout.key_index[layout.tag_columns[k]] = static_cast<int>(k);
  }
  for (int c = 0; c < schema.num_fields(); ++c) {
    if (layout.key_index[c] >= 0) {
      // Used by kPassThrough only (kSorted builds tag columns in MaterializeTag).
      impl->builders.push_back(
          std::make_unique<arrow::StringDictionary32Builder>(options.pool));
      continue;
    }
    ARROW_ASSIGN_OR_RAISE(auto builder, arrow::MakeBuilderExactIndex(
                                            schema.field(c)->type(), options.pool));
    impl->builders.push_back(std::move(builder));
  }
  for (auto& source : sources) {
    Impl::Cursor cursor;
    cursor.source = std::move(source);
    impl->cursors.push_back(std::move(cursor));
  }
  impl->options = std::move(options);
  return std::unique_ptr<SortedMerge>(new SortedMerge(std::move(impl)));
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> SortedMerge::Next() {
  if (impl_->options.output == MergeOutput::kPassThrough) return NextPassThrough();
  return NextSorted();
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> SortedMerge::NextSorted() {
  Impl& m = *impl_;
  int64_t rows = 0;
  while (rows < m.options.batch_rows) {
    ARROW_RETURN_NOT_OK(m.Pick());
    if (m.ties.empty()) break;
    if (m.ties.size() == 1) {
      Impl::Cursor& cursor = m.cursors[m.ties.front()];
      const int64_t run =
          m.RunLength(cursor, std::min(cursor.view->batch->num_rows() - cursor.row,
                                       m.options.batch_rows - rows));
      m.AddRun(cursor.view, cursor.row, run);
      cursor.row += run;
      rows += run;
      stats_.input_rows += run;
    } else {
      stats_.input_rows += static_cast<int64_t>(m.ties.size());
      m.AddMerged();
      ++stats_.merged_keys;
      for (size_t s : m.ties) ++m.cursors[s].row;
      ++rows;
    }
  }
  if (rows == 0) return nullptr;
  stats_.output_rows += rows;
  return m.Materialize(rows);
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> SortedMerge::NextPassThrough() {
  Impl& m = *impl_;
  while (m.ready.empty()) {
    ARROW_RETURN_NOT_OK(m.Pick());
    if (m.ties.empty()) {  // every source is done
      if (m.side_rows == 0) return nullptr;
      ARROW_RETURN_NOT_OK(m.FinishSide());
      break;
    }
    if (m.ties.size() == 1) {
      Impl::Cursor& cursor = m.cursors[m.ties.front()];
      const int64_t run =
          m.RunLength(cursor, cursor.view->batch->num_rows() - cursor.row);
      cursor.row += run;
      stats_.input_rows += run;
      ARROW_RETURN_NOT_OK(m.PassIfDone(&cursor));
    } else {
      stats_.input_rows += static_cast<int64_t>(m.ties.size());
      ARROW_RETURN_NOT_OK(m.AppendMerged());
      ++stats_.merged_keys;
      for (size_t s : m.ties) {
        Impl::Cursor& cursor = m.cursors[s];
        cursor.dropped.push_back(cursor.row++);
        ARROW_RETURN_NOT_OK(m.PassIfDone(&cursor));
      }
      if (m.side_rows >= m.options.batch_rows) ARROW_RETURN_NOT_OK(m.FinishSide());
    }
  }
  auto batch = std::move(m.ready.front());
  m.ready.pop_front();
  stats_.output_rows += batch->num_rows();
  return batch;
}

}  // namespace ingester::query
