// One partition's rows for a query, from whatever holds them: its buffered snapshot
// (mutable buffer + persisting queue) and its Parquet files, de-duplicated on the
// primary key (all tags + time) exactly as compaction does.
//
//   sources: each file [min, max] (catalog) ... the buffer [min, max]
//     │ grouped by overlapping time ranges, groups in time order
//     v
//   a group of one file        streamed as it is (a file is sorted and de-duplicated)
//   a group of the buffer      streamed as it is when it cannot hold a key twice
//                              (duplicate_keys.h), otherwise sorted and de-duplicated
//   a group of several         the buffer sorted and de-duplicated by the partition's
//                              sort key, then walked in key order with the files
//                              (sorted_merge.h, kPassThrough), oldest file first, the
//                              buffer last: source batches pass through as they are,
//                              minus keys several sources hold, which come merged
//
// Rows of a partition come in no promised order (a merged group's batches follow the
// walk, not one key order).
//
// Every source is filtered by the predicate before de-duplication, which is sound
// because predicates only name key columns (time, tags): rows of one key agree on them.
// Batches are projected onto the response schema (missing columns as nulls).
#pragma once

#include <arrow/memory_pool.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ingester/buffer/partition_data.h"
#include "ingester/catalog/types.h"
#include "ingester/query/duplicate_keys.h"
#include "ingester/query/query_exec.h"
#include "ingester/query/read_metrics.h"

namespace arrow::fs {
class FileSystem;
}

namespace ingester::query {

// What a query reads of one partition, taken at its turn (see the consistency protocol
// in docs/reading.md): the buffer's view under the partition lock, then the catalog's
// files, minus those whose rows the view still holds.
struct PartitionSources {
  // rows == 0 when the partition has nothing buffered (or is not in this buffer).
  PartitionQueryData buffer;
  // Oldest first (catalog id order); only those the time range may need.
  std::vector<catalog::ParquetFileRecord> files;
  // The partition's sort key in the catalog, read after the files were listed (so it
  // covers every listed file's order); empty when no file was listed.
  std::vector<std::string> sort_key;
};

// The long-lived parts a partition read uses; all must outlive its responses.
struct PartitionReadContext {
  arrow::MemoryPool* pool = arrow::default_memory_pool();
  int64_t max_batch_rows = 64 * 1024;
  // The object store's filesystem; required when there are files.
  std::shared_ptr<arrow::fs::FileSystem> files;
  BatchKeyFactsCache* key_facts = nullptr;  // may be null
  ReadMetrics* metrics = nullptr;           // may be null
  // Decode Parquet columns and sort the buffer on Arrow's / the helper thread pool.
  bool use_threads = true;
};

// The response of one partition. `schema` is the response schema; `table_columns` every
// column of the table when the query started (their tags are part of the key).
arrow::Result<std::unique_ptr<PartitionResponse>> ReadPartition(
    PartitionSources sources, PartitionInfo info, std::shared_ptr<arrow::Schema> schema,
    const std::vector<catalog::ColumnRecord>& table_columns, const Predicate& predicate,
    const PartitionReadContext& context);

}  // namespace ingester::query
