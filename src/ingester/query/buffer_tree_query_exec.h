// QueryExec over the in-memory BufferTree: read-your-writes for everything buffered,
// including data in persisting snapshots (until its Parquet file is in the catalog).
//
// Semantics (DESIGN.md, "query semantics"):
//  - The set of partitions is a snapshot taken by Query(): a partition created later is
//    not seen.
//  - A partition's data (PartitionData::QueryData) is read when its turn comes in the
//    stream, so every write buffered before that partition's lock is taken is seen.
//  - The output schema is fixed by Query() from the table's columns at that moment (see
//    TableResolver): the requested columns, or all of them. Columns created later are
//    not returned, the same snapshot rule as for partitions; columns a partition lacks
//    come back as nulls. A fixed schema also keeps every Flight client working: the
//    Arrow C++ Flight client (which pyarrow wraps) rejects a schema message mid-stream.
//  - Partitions are pruned by key (PartitionKeyMayMatch under the table's partition
//    template: time range, tag IN lists) when the query starts, and by their time
//    statistics when their turn comes; rows are filtered with Arrow compute (time
//    range, tag equality / IN); columns are projected.
//  - Rows come out in buffering order, partitions in key order. Batches are cut to at
//    most `max_batch_rows` rows, so a huge buffered batch is filtered piece by piece.
//
// Memory: a partition response holds the partition's view of its batches (shared with
// the buffer: no copy) and releases each as it moves past it; filtering and projection
// produce one output batch at a time. A consumer that stops pulling pins one output
// batch per open partition response beyond the buffered data.
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
#include "ingester/query/query_exec.h"

namespace ingester {
class BufferTree;
}  // namespace ingester

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
};

// The output schema of `request` over `table`: the requested columns in request order,
// or every column (tags, fields, time; each group in catalog order). Fields carry the
// data-model types; time is non-null. InvalidInput as BufferTreeQueryExec::Query.
arrow::Result<std::shared_ptr<arrow::Schema>> OutputSchema(const QueryRequest& request,
                                                           const ResolvedTable& table);

}  // namespace ingester::query
