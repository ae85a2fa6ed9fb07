// Reading one persisted Parquet file for a query, through Arrow's Parquet reader over
// the object store's arrow::fs filesystem (local directory or S3).
//
//   catalog row (path, time range)          the caller has pruned the file by it
//     │ open: footer only (one ranged read on S3)
//     v
//   row groups ── pruned by their statistics: `time` min/max against the time range,
//     │           each tag predicate's values against the tag's min/max (files are sorted
//     │           by the sort key, so a tag predicate skips most row groups); a tag the
//     │           file lacks matches nothing, so the whole file is skipped
//     v
//   pages: when the file has a page index (query/page_selection.h), only the data pages
//     │ of a row group whose min/max allow the predicate are read, in every column; a row
//     │ group none of whose pages may match is skipped (counted in `row_groups_pruned`)
//     v
//   filter first (late materialization), when the predicate has a tag predicate or a
//     │ time range that does not cover the file and other columns are requested: only
//     │ the predicate's columns (its tags, `time`) of the row group are decoded, batch by
//     │ batch, until a row matches; a row group where none does is skipped without
//     │ reading its other columns (counted in `row_groups_filtered`)
//     v
//   one row group at a time: only the requested columns are read (pre-buffered, so S3
//     │ sees a few large reads, not one request per page), decoded into batches of at
//     v most `batch_rows` rows
//   rows filtered by the predicate (row_filter.h)
//     │ read-ahead: the next batch is decoded on a background thread while the caller
//     v uses the current one (from Open on, so the files of a merge decode in parallel)
//
// Memory: one row group's requested column chunks plus two decoded batches, the one
// returned and the one read ahead (the filter pass holds one batch of the predicate's
// columns, let go before the second read).
// Batches keep the file's Arrow types (the writer stores the Arrow schema, so tags come
// back as dictionary<int32, utf8> and `time` as timestamp[ns]) and only the requested
// columns the file has, in file order: the caller conforms them (ConformBatch).
//
// Errors name the file by its object store path (never a local absolute path), so that
// a missing or unreadable object fails the query with a message an operator can act on.
// Not thread-safe: one consumer pulls. The read-ahead task is the only other user of the
// scan's state; Next() waits for it, and the destructor too.
#pragma once

#include <arrow/memory_pool.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>
#include <arrow/util/future.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ingester/catalog/types.h"
#include "ingester/query/page_selection.h"
#include "ingester/query/query_exec.h"
#include "ingester/query/row_filter.h"

namespace arrow::fs {
class FileSystem;
}
namespace parquet::arrow {
class FileReader;
}

namespace ingester::query {

struct FileScanStats {
  int64_t row_groups = 0;         // in the file
  int64_t row_groups_pruned = 0;  // skipped by their statistics
  // Skipped after decoding only the predicate's columns: no row matched.
  int64_t row_groups_filtered = 0;
  int64_t filter_rows_read = 0;  // rows of the predicate's columns decoded for that
  int64_t rows_read = 0;         // decoded (all columns), before the row filter
  int64_t rows_returned = 0;     // after it
  int64_t bytes_read = 0;        // compressed bytes of the column chunks read
  int64_t pages_skipped = 0;     // data pages not read (page index), over all columns
  bool file_pruned = false;      // skipped whole (a tag predicate on a missing tag)
};

struct FileScanOptions {
  // Columns to read, by name; those the file lacks are left out of the batches. The
  // columns the predicate needs are read too (and left in the batches).
  std::vector<std::string> columns;
  Predicate predicate;
  // Batches have at most this many rows.
  int64_t batch_rows = 64 * 1024;
  // Decode the predicate's columns of a row group first and skip the row group when no
  // row matches (see above). Off: every selected row group is read whole.
  bool filter_first = true;
  // Read only the pages the predicate may match, when it can rule rows out and the file
  // has a page index (see above). Off: whole row groups.
  bool select_pages = true;
  // Decode the columns of a row group on Arrow's CPU pool.
  bool use_threads = true;
  // Read one batch ahead on a background thread (a small process-wide pool whose tasks
  // wait on Arrow's pools, never the other way round). Off: Next() decodes. The query
  // path turns it on for queries with a predicate only (partition_read.cc).
  bool read_ahead = true;
  arrow::MemoryPool* pool = arrow::default_memory_pool();
};

class ParquetFileScan {
 public:
  // Opens `file` (reads its footer) and selects its row groups. `fs` must outlive the
  // scan. IOError / NotFound naming the path when the object is missing or not Parquet.
  static arrow::Result<std::unique_ptr<ParquetFileScan>> Open(
      std::shared_ptr<arrow::fs::FileSystem> fs, const catalog::ParquetFileRecord& file,
      FileScanOptions options);
  ~ParquetFileScan();

  // The next batch of matching rows (never empty), or null at the end.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next();

  // Complete once Next() returned null (no read-ahead runs then); between two Next()
  // calls the read-ahead task may be updating it.
  const FileScanStats& stats() const { return stats_; }
  const std::string& path() const { return path_; }

 private:
  ParquetFileScan(std::string path, FileScanOptions options);
  arrow::Status SelectRowGroups();
  arrow::Status OpenNextRowGroup();
  // What Next() returns, decoded on the calling thread.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> ReadNext();
  // Starts ReadNext() on the read-ahead pool; false when it could not be submitted.
  bool StartReadAhead();
  // Whether a row of row group `group` matches the predicate, decoding only its columns.
  arrow::Result<bool> RowGroupMatches(int group);
  // Selects the pages of row group `group` to read (page_skips_); false when none may
  // match. True without selecting when the scan does not select pages.
  arrow::Result<bool> SelectGroupPages(int group);
  arrow::Status Annotate(const arrow::Status& st) const;

  const std::string path_;
  // The store's root directory (local stores), kept out of error messages.
  std::string root_;
  const FileScanOptions options_;
  // The file's rows lie in [min_time, max_time] (catalog): whether the predicate's time
  // range covers them all, so the row filter need not compare times.
  bool time_covered_ = false;
  std::unique_ptr<parquet::arrow::FileReader> reader_;
  // When selecting pages: the plan the reader's page readers follow, and the file
  // reader under the page-skipping one (owned by reader_), which pre-buffers.
  std::shared_ptr<PageSkips> page_skips_;
  parquet::ParquetFileReader* inner_ = nullptr;
  PagePredicate page_predicate_;
  // The page index of the row group being selected (null when its pages are not), its
  // rows, and the rows its first selection reads.
  std::shared_ptr<parquet::RowGroupPageIndexReader> group_index_;
  int64_t group_rows_ = 0;
  RowRanges group_ranges_;
  std::vector<int> column_indices_;
  // The predicate's columns, when a filter pass pays (a strict subset of
  // column_indices_ and a predicate that can rule rows out); empty otherwise.
  std::vector<int> filter_indices_;
  std::vector<int> row_groups_;  // selected, in file order
  size_t next_row_group_ = 0;
  std::shared_ptr<arrow::RecordBatchReader> current_;
  RowFilter filter_;
  FileScanStats stats_;
  // The batch being read ahead; invalid when none is.
  arrow::Future<std::shared_ptr<arrow::RecordBatch>> ahead_;
};

}  // namespace ingester::query
