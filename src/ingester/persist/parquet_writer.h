// Encoding a compacted table as one Parquet file, with the metadata that makes the file
// self-describing (any engine can read it; the catalog is the index, the file the truth).
//
// File layout (Arrow's Parquet writer, format 2.6):
//
//   PAR1 | row group 0 | row group 1 | ... | footer: schema, row group stats,      | PAR1
//        |  ≤ 65,536 rows each, columns     |   sorting_columns (the sort key),     |
//        |  encoded as below                |   key-value metadata (below),         |
//        |  data pages ≤ 8,192 rows         |   ARROW:schema (exact Arrow types)    |
//        | page index: per column chunk, each page's min/max (column index, for the
//        |   columns with statistics) and first row and location (offset index), just
//        |   before the footer
//
// Encodings, by the column's role (chosen by CPU per row and bytes per row of the persist
// job, docs/benchmarks.md "Persist CPU per row"):
//
//   column          encoding              compression     statistics + page min/max
//   tag             dictionary (RLE ids)  none            yes: row-group and page pruning
//   time            DELTA_BINARY_PACKED   the codec       yes: row-group and page pruning
//   i64, u64 field  DELTA_BINARY_PACKED   none            no (no query prunes on fields)
//   f64 field       BYTE_STREAM_SPLIT     the codec       no
//   bool, string    Arrow's default       the codec       no
//
// A column with no null in the file is written REQUIRED (no definition levels), and its
// field in ARROW:schema is non-nullable: nullability is per file, and a reader of several
// files takes the table's schema (the ingester's read path conforms every file's batches
// to it, query/partition_read.h) or unifies theirs.
//
// Dictionary encoding of numbers hashes every value and, for high-cardinality floats,
// falls back to PLAIN after filling a dictionary page; delta coding suits integers sorted
// by series and time (counters, gauges that move by small steps), byte-stream-split
// floats under a codec. Tags are sorted, so their dictionary ids are long runs, and
// delta-coded integers are bit-packed already: zstd on them saved ~4 % and ~6 % of the
// file for ~9 % and ~19 % of the encoding CPU (a zstd context is set up per page).
//
// Key-value metadata (all values are text; ids and times are base-10 integers, times in
// ns since the epoch, UTC):
//
//   ingester.format_version     "1"
//   ingester.namespace_id       catalog id            ingester.namespace_name
//   ingester.table_id           catalog id            ingester.table_name
//   ingester.partition_id       catalog id            ingester.partition_key
//   ingester.object_store_id    the file's UUID (also its object name)
//   ingester.sort_key           JSON array of column names, most significant first
//   ingester.min_time           inclusive bounds of `time`
//   ingester.max_time
//   ingester.row_count          rows in the file
//   ingester.compaction_level   "0" (files straight from an ingester)
//   ingester.created_at         when the file was written
//   ingester.ingester_id        the id of the ingester that wrote it (absent in files
//                               written before ids existed, and when it has none)
#pragma once

#include <arrow/result.h>
#include <arrow/type_fwd.h>
#include <arrow/util/type_fwd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/common/ids.h"
#include "ingester/common/sanitizers.h"

namespace ingester::persist {

inline constexpr std::string_view kMetadataPrefix = "ingester.";
inline constexpr std::string_view kMetadataFormatVersion = "1";

// What the key-value metadata of a file says (see the table at the top).
struct ParquetFileMetadata {
  NamespaceId namespace_id;
  std::string namespace_name;
  TableId table_id;
  std::string table_name;
  PartitionId partition_id;
  std::string partition_key;
  std::string object_store_id;
  std::vector<std::string> sort_key;
  int64_t min_time = 0;
  int64_t max_time = 0;
  int64_t row_count = 0;
  int32_t compaction_level = 0;
  int64_t created_at = 0;
  // Optional: empty is written as no key.
  std::string ingester_id;

  std::shared_ptr<const arrow::KeyValueMetadata> ToKeyValue() const;
  // Invalid naming the key when one is missing or malformed, or when the format
  // version is not one this code reads. Keys without the prefix are ignored.
  static arrow::Result<ParquetFileMetadata> FromKeyValue(
      const arrow::KeyValueMetadata& kv);

  bool operator==(const ParquetFileMetadata&) const = default;
};

struct ParquetWriterOptions {
  // "zstd" by default; any codec the Arrow build has (snappy, lz4, gzip, none). Applies
  // to the columns the "Encodings" table above puts under the codec.
  std::string compression = "zstd";
  // The codec's level; 0 means the codec's default (zstd: 1, as pyarrow uses).
  int compression_level = 0;
  // Rows of a row group (DESIGN: at most 1,048,576). 65,536 by measurement
  // (docs/benchmarks.md, "Reads over persisted data"): sorted by the sort key, a row
  // group then holds few series, so a query for one series skips most row groups after
  // decoding its predicate's columns (query/parquet_file_scan.h); the persist job costs
  // a few percent more time and bytes (2 % larger files at 2M TSBS rows), less memory.
  // 32,768 made the persist job 1.4-1.7x slower than pyarrow.
  int64_t max_row_group_rows = 65'536;
  // Rows of a data page, and whether the page index (each page's min/max and first row)
  // is written: a query reads only the pages whose rows its predicate may match
  // (query/parquet_file_scan.h), so a one-host query decodes a few thousand rows of a
  // row group instead of all of them. Measured in docs/benchmarks.md ("Reads over
  // persisted data").
  int64_t max_rows_per_page = 8'192;
  bool write_page_index = true;
  // Encode the columns of a row group in parallel on Arrow's CPU thread pool (not the
  // CompactionExecutor's threads, one of which waits for the encoding). Costs the
  // encoded row group in memory until it is flushed. Off under ThreadSanitizer: Arrow
  // waits for the columns on futures synchronised inside the uninstrumented libarrow,
  // which TSAN reports as wrong-thread unlocks.
  bool use_threads = !kThreadSanitizer;

  arrow::Status Validate() const;
};

struct EncodedParquet {
  // The whole file. Allocated from the pool given to EncodeParquet.
  std::shared_ptr<arrow::Buffer> data;
  int64_t row_groups = 0;
};

// Encodes `table` (a CompactionResult's: sorted by `metadata.sort_key`) as one Parquet
// file in memory: the persist job uploads it with a single PUT, so the file appears in
// the object store whole or not at all. The sort key's columns present in the table are
// recorded as the row groups' sorting_columns (ascending, nulls last, which is how
// compaction sorts). All buffers, the encoder's included, come from `pool`.
arrow::Result<EncodedParquet> EncodeParquet(const arrow::Table& table,
                                            const ParquetFileMetadata& metadata,
                                            const ParquetWriterOptions& options,
                                            arrow::MemoryPool* pool);

}  // namespace ingester::persist
