#include "ingester/query/sorted_merge.h"

#include <arrow/array.h>
#include <arrow/array/builder_base.h>
#include <arrow/array/data.h>
#include <arrow/builder.h>
#include <arrow/type.h>

#include <algorithm>
#include <string_view>
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

  bool IsNull(int column, int64_t row) const {
    return batch->column(column)->IsNull(row);
  }
};

// Where a tag of the key sits in the schema, most significant first.
struct KeyLayout {
  std::vector<int> tag_columns;
  int time_column = -1;
  std::vector<int> field_columns;  // neither tag nor time
};

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
  view->batch = std::move(batch);
  return view;
}

// <0, 0, >0 as row `i` of `a` sorts before, with, or after row `j` of `b`.
int Compare(const BatchView& a, int64_t i, const BatchView& b, int64_t j) {
  for (size_t k = 0; k < a.key.size(); ++k) {
    const BatchView::TagKey& x = a.key[k];
    const BatchView::TagKey& y = b.key[k];
    const bool x_null = x.indices->IsNull(i);
    const bool y_null = y.indices->IsNull(j);
    if (x_null || y_null) {
      if (x_null && y_null) continue;
      return x_null ? 1 : -1;  // nulls last
    }
    const std::string_view xv = x.dictionary->GetView(x.values[i]);
    const std::string_view yv = y.dictionary->GetView(y.values[j]);
    const int c = xv.compare(yv);
    if (c != 0) return c;
  }
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

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Materialize(int64_t rows) {
    arrow::ArrayVector columns;
    for (size_t c = 0; c < builders.size(); ++c) {
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
  for (const auto& field : schema.fields()) {
    ARROW_ASSIGN_OR_RAISE(auto builder,
                          arrow::MakeBuilderExactIndex(field->type(), options.pool));
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
  Impl& m = *impl_;
  int64_t rows = 0;
  while (rows < m.options.batch_rows) {
    // The smallest key among the sources, and every source holding it.
    m.ties.clear();
    for (size_t s = 0; s < m.cursors.size(); ++s) {
      Impl::Cursor& cursor = m.cursors[s];
      ARROW_RETURN_NOT_OK(m.Fill(&cursor));
      if (cursor.done) continue;
      if (m.ties.empty()) {
        m.ties.push_back(s);
        continue;
      }
      const Impl::Cursor& best = m.cursors[m.ties.front()];
      const int c = Compare(*cursor.view, cursor.row, *best.view, best.row);
      if (c < 0) {
        m.ties.assign(1, s);
      } else if (c == 0) {
        m.ties.push_back(s);
      }
    }
    if (m.ties.empty()) break;
    stats_.input_rows += static_cast<int64_t>(m.ties.size());
    if (m.ties.size() == 1) {
      Impl::Cursor& cursor = m.cursors[m.ties.front()];
      m.AddRun(cursor.view, cursor.row, 1);
      ++cursor.row;
    } else {
      m.AddMerged();
      ++stats_.merged_keys;
      for (size_t s : m.ties) ++m.cursors[s].row;
    }
    ++rows;
  }
  if (rows == 0) return nullptr;
  stats_.output_rows += rows;
  return m.Materialize(rows);
}

}  // namespace ingester::query
