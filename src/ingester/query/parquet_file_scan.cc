#include "ingester/query/parquet_file_scan.h"

#include <arrow/array.h>
#include <arrow/filesystem/filesystem.h>
#include <arrow/filesystem/path_util.h>
#include <arrow/io/interfaces.h>
#include <arrow/record_batch.h>
#include <arrow/util/thread_pool.h>
#include <parquet/arrow/reader.h>
#include <parquet/exception.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/page_index.h>
#include <parquet/properties.h>
#include <parquet/schema.h>
#include <parquet/statistics.h>

#include <algorithm>
#include <string_view>
#include <utility>

#include "ingester/common/column_type.h"
#include "ingester/common/sanitizers.h"

namespace ingester::query {

namespace {

std::string_view View(const parquet::ByteArray& value) {
  return {reinterpret_cast<const char*>(value.ptr), value.len};
}

// Whether the row group's `time` statistics allow a row in `range`. No statistics: yes.
bool TimeMayMatch(const parquet::RowGroupMetaData& group, int column,
                  const TimeRange& range) {
  if (range.unbounded() || column < 0) return true;
  auto stats = group.ColumnChunk(column)->statistics();
  if (stats == nullptr || !stats->HasMinMax() ||
      stats->physical_type() != parquet::Type::INT64) {
    return true;
  }
  const auto& typed = static_cast<const parquet::Int64Statistics&>(*stats);
  return range.Overlaps(typed.min(), typed.max());
}

// Whether the row group's statistics of the tag allow one of `values`. A row group whose
// tag is all null matches nothing (null never equals a value).
bool TagMayMatch(const parquet::RowGroupMetaData& group, int column,
                 const std::vector<std::string>& values) {
  auto stats = group.ColumnChunk(column)->statistics();
  if (stats == nullptr) return true;
  if (stats->HasNullCount() && stats->null_count() == group.num_rows() &&
      group.num_rows() > 0) {
    return false;
  }
  if (!stats->HasMinMax() || stats->physical_type() != parquet::Type::BYTE_ARRAY) {
    return true;
  }
  const auto& typed = static_cast<const parquet::ByteArrayStatistics&>(*stats);
  const std::string_view lo = View(typed.min());
  const std::string_view hi = View(typed.max());
  return std::any_of(values.begin(), values.end(),
                     [&](const std::string& v) { return v >= lo && v <= hi; });
}

// The read-ahead tasks' threads. Their tasks block on Arrow's CPU and I/O pools (column
// decoding, pre-buffered reads); tasks of those pools never wait on this one, so no
// cycle of waits can form however many scans run. Leaked: scans may outlive statics.
arrow::internal::ThreadPool* ReadAheadPool() {
  static std::shared_ptr<arrow::internal::ThreadPool>* pool = [] {
    auto made = arrow::internal::ThreadPool::Make(4);
    return made.ok() ? new std::shared_ptr<arrow::internal::ThreadPool>(*made) : nullptr;
  }();
  return pool == nullptr ? nullptr : pool->get();
}

// Whether the writer wrote the page index (the persist job does, since it was added).
bool HasPageIndex(const parquet::FileMetaData& metadata) {
  if (metadata.num_row_groups() == 0 || metadata.num_columns() == 0) return false;
  return metadata.RowGroup(0)->ColumnChunk(0)->GetOffsetIndexLocation().has_value();
}

}  // namespace

ParquetFileScan::ParquetFileScan(std::string path, FileScanOptions options)
    : path_(std::move(path)),
      options_(std::move(options)),
      filter_(options_.predicate, options_.pool) {}

ParquetFileScan::~ParquetFileScan() {
  // The task uses this scan.
  if (ahead_.is_valid()) ahead_.Wait();
}

arrow::Status ParquetFileScan::Annotate(const arrow::Status& st) const {
  if (st.ok()) return st;
  // Arrow's local filesystem names the absolute path; the object path says it all
  // without telling a client where the server keeps its files.
  std::string message = st.message();
  if (!root_.empty()) {
    for (size_t at = message.find(root_); at != std::string::npos;
         at = message.find(root_, at)) {
      message.replace(at, root_.size(), "<object store>/");
    }
  }
  return st.WithMessage("reading Parquet file '", path_, "': ", message);
}

arrow::Result<std::unique_ptr<ParquetFileScan>> ParquetFileScan::Open(
    std::shared_ptr<arrow::fs::FileSystem> fs, const catalog::ParquetFileRecord& file,
    FileScanOptions options) {
  if (options.batch_rows < 1) return arrow::Status::Invalid("file scan: batch_rows < 1");
  const std::string path =
      file.path.empty()
          ? catalog::ParquetFilePath(file.namespace_id, file.table_id, file.partition_id,
                                     file.object_store_id)
          : file.path;
  std::unique_ptr<ParquetFileScan> scan(new ParquetFileScan(path, std::move(options)));
  if (auto subtree = std::dynamic_pointer_cast<arrow::fs::SubTreeFileSystem>(fs)) {
    scan->root_ = subtree->base_path();
    if (!scan->root_.empty() && scan->root_.back() != '/') scan->root_ += '/';
  }
  scan->time_covered_ =
      scan->options_.predicate.time.Covers(file.min_time, file.max_time);

  auto input = fs->OpenInputFile(path);
  if (!input.ok()) return scan->Annotate(input.status());
  parquet::ReaderProperties properties(scan->options_.pool);
  parquet::ArrowReaderProperties arrow_properties;
  arrow_properties.set_batch_size(scan->options_.batch_rows);
  // Arrow decodes columns and pre-buffers through futures waited on inside libarrow,
  // which ThreadSanitizer cannot see: its lock tracking then overflows (the persist
  // writer turns its threads off under TSAN for the same reason).
  arrow_properties.set_use_threads(scan->options_.use_threads && !kThreadSanitizer);
  // One row group's column chunks are fetched together (coalesced ranged reads).
  arrow_properties.set_pre_buffer(!kThreadSanitizer);
  std::unique_ptr<parquet::ParquetFileReader> parquet_file;
  try {
    parquet_file = parquet::ParquetFileReader::Open(*std::move(input), properties);
  } catch (const parquet::ParquetException& e) {
    return scan->Annotate(arrow::Status::IOError(e.what()));
  }
  const auto& predicate = scan->options_.predicate;
  if (scan->options_.select_pages && (!predicate.tags.empty() || !scan->time_covered_) &&
      HasPageIndex(*parquet_file->metadata())) {
    scan->page_skips_ = std::make_shared<PageSkips>();
    scan->inner_ = parquet_file.get();
    parquet_file =
        MakePageSkippingReader(std::move(parquet_file), scan->page_skips_, properties);
    // The page-skipping reader cannot pre-buffer; SelectGroupPages does it through
    // inner_.
    arrow_properties.set_pre_buffer(false);
  }
  auto reader = parquet::arrow::FileReader::Make(
      scan->options_.pool, std::move(parquet_file), arrow_properties);
  if (!reader.ok()) return scan->Annotate(reader.status());
  scan->reader_ = *std::move(reader);
  ARROW_RETURN_NOT_OK(scan->Annotate(scan->SelectRowGroups()));
  if (scan->options_.read_ahead && !kThreadSanitizer && !scan->stats_.file_pruned &&
      !scan->row_groups_.empty()) {
    scan->StartReadAhead();
  }
  return scan;
}

arrow::Status ParquetFileScan::SelectRowGroups() {
  const auto metadata = reader_->parquet_reader()->metadata();
  const parquet::SchemaDescriptor* schema = metadata->schema();
  // The requested columns plus what the row filter reads.
  std::vector<std::string> names = options_.columns;
  for (const auto& tag : options_.predicate.tags) names.push_back(tag.tag);
  if (!time_covered_) names.emplace_back(kTimeColumnName);
  for (const auto& name : names) {
    const int index = schema->ColumnIndex(name);
    if (index >= 0) column_indices_.push_back(index);
  }
  std::sort(column_indices_.begin(), column_indices_.end());
  column_indices_.erase(std::unique(column_indices_.begin(), column_indices_.end()),
                        column_indices_.end());

  // The filter pass: the predicate's tags, and `time` unless the file lies in the range.
  if (options_.filter_first && (!options_.predicate.tags.empty() || !time_covered_)) {
    std::vector<std::string> predicate_columns;
    for (const auto& tag : options_.predicate.tags) predicate_columns.push_back(tag.tag);
    if (!time_covered_) predicate_columns.emplace_back(kTimeColumnName);
    for (const auto& name : predicate_columns) {
      const int index = schema->ColumnIndex(name);
      if (index >= 0) filter_indices_.push_back(index);
    }
    std::sort(filter_indices_.begin(), filter_indices_.end());
    filter_indices_.erase(std::unique(filter_indices_.begin(), filter_indices_.end()),
                          filter_indices_.end());
    // Nothing to save when the predicate's columns are all that is read.
    if (filter_indices_.empty() || filter_indices_.size() >= column_indices_.size()) {
      filter_indices_.clear();
    }
  }

  const int time_column = schema->ColumnIndex(std::string(kTimeColumnName));
  std::vector<int> tag_columns;
  for (const auto& tag : options_.predicate.tags) {
    const int index = schema->ColumnIndex(tag.tag);
    if (index < 0) {
      // Every row's value is null, which matches no value.
      stats_.file_pruned = true;
      return arrow::Status::OK();
    }
    tag_columns.push_back(index);
    page_predicate_.tags.emplace_back(index, &tag.values);
  }
  if (!time_covered_) {
    page_predicate_.time_column = time_column;
    page_predicate_.time = options_.predicate.time;
  }
  stats_.row_groups = metadata->num_row_groups();
  for (int i = 0; i < metadata->num_row_groups(); ++i) {
    const auto group = metadata->RowGroup(i);
    bool may_match = group->num_rows() > 0 &&
                     TimeMayMatch(*group, time_column, options_.predicate.time);
    for (size_t t = 0; may_match && t < tag_columns.size(); ++t) {
      may_match = TagMayMatch(*group, tag_columns[t], options_.predicate.tags[t].values);
    }
    if (!may_match) {
      ++stats_.row_groups_pruned;
      continue;
    }
    row_groups_.push_back(i);
  }
  return arrow::Status::OK();
}

arrow::Result<bool> ParquetFileScan::RowGroupMatches(int group) {
  const auto metadata = reader_->parquet_reader()->metadata()->RowGroup(group);
  for (int column : filter_indices_) {
    stats_.bytes_read += metadata->ColumnChunk(column)->total_compressed_size();
  }
  ARROW_ASSIGN_OR_RAISE(auto reader,
                        reader_->GetRecordBatchReader({group}, filter_indices_));
  // Selecting pages: every batch is evaluated, and where rows matched (positions among
  // the rows read) becomes the pages the second read selects. Otherwise the first match
  // settles it.
  const bool collect = group_index_ != nullptr;
  RowRanges positions;
  int64_t offset = 0;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader->ReadNext(&batch));
    if (batch == nullptr) break;
    stats_.filter_rows_read += batch->num_rows();
    ARROW_ASSIGN_OR_RAISE(auto mask, filter_.Evaluate(*batch, time_covered_));
    if (mask.kind == RowMask::Kind::kAll) {
      if (!collect) return true;
      AppendRows(&positions, offset, offset + batch->num_rows());
    } else if (mask.kind == RowMask::Kind::kSome) {
      // A null entry of the mask does not match, a false one neither.
      const auto& bits = static_cast<const arrow::BooleanArray&>(*mask.mask);
      if (!collect) {
        if (bits.true_count() > 0) return true;
      } else {
        for (int64_t i = 0; i < bits.length(); ++i) {
          if (bits.IsValid(i) && bits.Value(i)) {
            AppendRows(&positions, offset + i, offset + i + 1);
          }
        }
      }
    }
    offset += batch->num_rows();
  }
  if (!collect || positions.empty()) return false;
  std::optional<PageSelection> selection;
  try {
    selection = SelectPagesOfRows(*group_index_, group, group_rows_, column_indices_,
                                  Unproject(positions, group_ranges_));
  } catch (const parquet::ParquetException& e) {
    return arrow::Status::IOError(e.what());
  }
  if (selection) {
    stats_.pages_skipped += selection->pages_skipped;
    *page_skips_ = std::move(selection->skips);
  }
  return true;
}

arrow::Result<bool> ParquetFileScan::SelectGroupPages(int group) {
  if (page_skips_ == nullptr) return true;
  *page_skips_ = PageSkips{};
  group_index_.reset();
  std::optional<PageSelection> selection;
  try {
    std::shared_ptr<parquet::PageIndexReader> index = inner_->GetPageIndexReader();
    group_index_ = index == nullptr ? nullptr : index->RowGroup(group);
    if (group_index_ != nullptr) {
      group_rows_ = inner_->metadata()->RowGroup(group)->num_rows();
      selection = SelectPages(*group_index_, group, group_rows_, column_indices_,
                              page_predicate_);
    }
    if (!selection) group_index_.reset();  // no offset index: the row group is read whole
    if (selection && selection->rows == 0) return false;
    if (!kThreadSanitizer) {
      // What pre_buffer does for the plain reader: the row group's column chunks in a
      // few coalesced reads, each made when a column first needs it.
      inner_->PreBuffer({group}, column_indices_, reader_->properties().io_context(),
                        arrow::io::CacheOptions::LazyDefaults());
    }
  } catch (const parquet::ParquetException& e) {
    return arrow::Status::IOError(e.what());
  }
  if (selection) {
    *page_skips_ = std::move(selection->skips);
    group_ranges_ = std::move(selection->ranges);
    stats_.pages_skipped += selection->pages_skipped;
  }
  return true;
}

arrow::Status ParquetFileScan::OpenNextRowGroup() {
  int group = -1;
  while (next_row_group_ < row_groups_.size()) {
    const int candidate = row_groups_[next_row_group_++];
    ARROW_ASSIGN_OR_RAISE(bool may_match, SelectGroupPages(candidate));
    if (!may_match) {
      ++stats_.row_groups_pruned;
      continue;
    }
    if (filter_indices_.empty()) {
      group = candidate;
      break;
    }
    ARROW_ASSIGN_OR_RAISE(bool matches, RowGroupMatches(candidate));
    if (matches) {
      group = candidate;
      break;
    }
    ++stats_.row_groups_filtered;
  }
  if (group < 0) return arrow::Status::OK();
  const auto metadata = reader_->parquet_reader()->metadata()->RowGroup(group);
  for (int column : column_indices_) {
    stats_.bytes_read += metadata->ColumnChunk(column)->total_compressed_size();
  }
  ARROW_ASSIGN_OR_RAISE(current_,
                        reader_->GetRecordBatchReader({group}, column_indices_));
  return arrow::Status::OK();
}

bool ParquetFileScan::StartReadAhead() {
  arrow::internal::ThreadPool* pool = ReadAheadPool();
  if (pool == nullptr) return false;
  auto submitted = pool->Submit([this] { return ReadNext(); });
  if (!submitted.ok()) return false;
  ahead_ = *std::move(submitted);
  return true;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ParquetFileScan::Next() {
  if (!ahead_.is_valid()) {
    if (!options_.read_ahead || kThreadSanitizer || !StartReadAhead()) return ReadNext();
  }
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> batch = ahead_.result();
  ahead_ = {};
  // The next one is read while the caller uses this one; none after the end or an error.
  if (batch.ok() && *batch != nullptr) StartReadAhead();
  return batch;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ParquetFileScan::ReadNext() {
  if (stats_.file_pruned) return nullptr;
  while (true) {
    if (current_ == nullptr) {
      if (next_row_group_ >= row_groups_.size()) return nullptr;
      ARROW_RETURN_NOT_OK(Annotate(OpenNextRowGroup()));
      if (current_ == nullptr) return nullptr;  // the rest was filtered out
    }
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(Annotate(current_->ReadNext(&batch)));
    if (batch == nullptr) {
      current_.reset();
      continue;
    }
    if (batch->num_rows() == 0) continue;
    stats_.rows_read += batch->num_rows();
    auto mask = filter_.Evaluate(*batch, time_covered_);
    if (!mask.ok()) return Annotate(mask.status());
    if (mask->kind == RowMask::Kind::kNone) continue;
    ARROW_ASSIGN_OR_RAISE(auto selected, filter_.Apply(batch, *mask));
    if (selected->num_rows() == 0) continue;
    stats_.rows_returned += selected->num_rows();
    return selected;
  }
}

}  // namespace ingester::query
