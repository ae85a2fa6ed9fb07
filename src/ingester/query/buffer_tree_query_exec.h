// The ingester's QueryExec: every acknowledged row of a table, whether it is buffered
// (mutable buffer or persisting snapshots) or already persisted as Parquet, read once.
// Without a catalog it reads the BufferTree alone (read-your-writes for the buffer).
//
// Semantics (DESIGN.md, "query semantics" and "Reads: everything, once"):
//  - The set of partitions is a snapshot taken by Query(): the buffer's partitions of the
//    table and, with a catalog, the catalog's (which include those of other ingesters
//    sharing it). A partition created later is not seen.
//  - A partition is read when its turn comes in the stream: first its buffered view under
//    the partition lock (PartitionData::QueryData), then the catalog's list of its files,
//    minus the files of snapshots the view still holds. A persist records its file in
//    the catalog before it removes its snapshot from the partition, so each row is read
//    exactly once, from the snapshot or from the file (docs/reading.md proves it).
//  - Rows are de-duplicated on the primary key (tags + time), the later write winning
//    field by field, as compaction does: see partition_read.h.
//  - The output schema is fixed by Query() from the table's columns at that moment (see
//    TableResolver): the requested columns, or all of them. Columns created later are
//    not returned, the same snapshot rule as for partitions; columns a partition lacks
//    come back as nulls. A fixed schema also keeps every Flight client working: the
//    Arrow C++ Flight client (which pyarrow wraps) rejects a schema message mid-stream.
//  - Partitions are pruned by key (PartitionKeyMayMatch under the table's partition
//    template: time range, tag IN lists) when the query starts; files by their catalog
//    time range and Parquet statistics; rows are filtered with Arrow compute (time
//    range, tag equality / IN); columns are projected.
//  - Partitions come in key order. Batches have at most `max_batch_rows` rows.
//  - QueryScope::kBuffer reads the buffer alone (no catalog partitions, no files): what a
//    peer asks for (peer_query_exec.h). `partial` means nothing here.
//
// Memory: a partition response holds the partition's view of its buffered batches
// (shared with the buffer: no copy), one row group per file being read, and one output
// batch; a buffer that must be sorted (a duplicate key, or overlap with files) is copied
// once, sorted, for the time of its partition's response.
#pragma once

#include <arrow/memory_pool.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ingester/catalog/types.h"
#include "ingester/common/ids.h"
#include "ingester/partition/partition_template.h"
#include "ingester/query/duplicate_keys.h"
#include "ingester/query/query_exec.h"
#include "ingester/query/read_metrics.h"

namespace arrow::fs {
class FileSystem;
}
namespace ingester {
class BufferTree;
}  // namespace ingester
namespace ingester::catalog {
class Catalog;
}

namespace ingester::query {

// A table as the query sees it at its start.
struct ResolvedTable {
  NamespaceId namespace_id;
  TableId table_id;
  // Every column of the table (time included), in catalog (creation) order.
  std::vector<catalog::ColumnRecord> columns;
  // How the table's partition keys are formed; partitions are pruned by key with it.
  partition::PartitionTemplate partition_template;
};

// Resolves names to catalog ids and columns. The columns must include every column of
// every row buffered before the call (the catalog creates columns before a write reaches
// the WAL, so reading the catalog satisfies this; so does a SchemaCache that every write
// goes through). Thread-safe.
class TableResolver {
 public:
  virtual ~TableResolver() = default;
  // NotFound (common/error.h) naming the namespace, or the table and its namespace.
  virtual arrow::Result<ResolvedTable> Resolve(const std::string& namespace_name,
                                               const std::string& table_name) = 0;
};

struct BufferTreeQueryExecOptions {
  // Required. Queries read it; it must outlive every response (responses hold
  // partitions by shared_ptr, not the tree).
  std::shared_ptr<const BufferTree> buffer;
  // Required.
  std::shared_ptr<TableResolver> resolver;
  // Filtering, projection and null columns allocate here.
  arrow::MemoryPool* pool = arrow::default_memory_pool();
  // Output batches have at most this many rows.
  int64_t max_batch_rows = 64 * 1024;
  // Optional, together: queries also read the Parquet files the catalog lists, from the
  // object store's filesystem. Both must outlive the exec and its responses.
  catalog::Catalog* catalog = nullptr;
  std::shared_ptr<arrow::fs::FileSystem> files;
  // Optional; must outlive the exec and its responses.
  ReadMetrics* metrics = nullptr;
  // Decode Parquet columns and sort buffers on thread pools.
  bool use_threads = true;

  arrow::Status Validate() const;
};

class BufferTreeQueryExec final : public QueryExec {
 public:
  // Also initialises Arrow's compute function registry.
  static arrow::Result<std::unique_ptr<BufferTreeQueryExec>> Make(
      BufferTreeQueryExecOptions options);

  // Resolves the table, fixes the output schema and the partition set. Thread-safe.
  // Errors: NotFound from the resolver; InvalidInput for a column the table does not
  // have, a column named twice, or a tag predicate on a column that is not a tag.
  arrow::Result<std::unique_ptr<QueryResponse>> Query(
      const QueryRequest& request) override;

 private:
  explicit BufferTreeQueryExec(BufferTreeQueryExecOptions options);
  const BufferTreeQueryExecOptions options_;
  // Shared with the responses, which may outlive the exec.
  std::shared_ptr<BatchKeyFactsCache> key_facts_ = std::make_shared<BatchKeyFactsCache>();
};

// The output schema of `request` over `table`: the requested columns in request order,
// or every column (tags, fields, time; each group in catalog order). Fields carry the
// data-model types; time is non-null. InvalidInput as BufferTreeQueryExec::Query.
arrow::Result<std::shared_ptr<arrow::Schema>> OutputSchema(const QueryRequest& request,
                                                           const ResolvedTable& table);

}  // namespace ingester::query
