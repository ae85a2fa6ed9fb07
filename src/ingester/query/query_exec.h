// The query interface of the ingester: a request for one table's rows -> a stream of
// partition responses, each a stream of Arrow record batches.
//
//   QueryExec::Query(request)
//     └─> QueryResponse            schema() fixed for the whole response
//           ├─> PartitionResponse  info(): id, key, completed persist count
//           │     ├─> batch        Next() ... until null
//           │     └─> batch
//           ├─> PartitionResponse
//           └─> null               (end)
//
// Everything is pull-based: nothing is read or computed before the consumer asks for it,
// and nothing collects the whole result. A consumer that stops pulling pins what it
// holds (the current partition's view of its buffered batches, which the buffer holds
// anyway) plus at most one computed batch; a consumer that drops the response releases
// everything.
//
// The interface is generic over what a query returns (QueryExecutor<Response>), so other
// data sources (a Parquet reader, a remote ingester) can implement it with their own
// response types; QueryExec is the instantiation the BufferTree implements and the
// Flight service and decorators speak to.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ingester/common/ids.h"
#include "ingester/common/predicate.h"

namespace ingester::query {

// TimeRange and TagPredicate live in common/predicate.h (partition templates prune
// with them too).
using ingester::TagPredicate;
using ingester::TimeRange;

// A row is returned when it matches all of these (AND).
struct Predicate {
  TimeRange time;
  std::vector<TagPredicate> tags;

  bool empty() const { return time.unbounded() && tags.empty(); }
  bool operator==(const Predicate&) const = default;
};

// What a query reads (DESIGN.md, "Scale-out"; docs/scale-out.md).
enum class QueryScope {
  // Everything the cluster holds: this ingester's buffer, every Parquet file the catalog
  // lists and, with peers configured, the peers' buffers (query/peer_query_exec.h).
  kAll,
  // This ingester's buffer only: what a peer asks for. Never fans out to peers again.
  kBuffer,
};

// The index type of the tag columns a reader gets in Arrow outputs (query/wire_tags.h).
enum class TagIndexType {
  // dictionary<int32, utf8>, the data model's: any number of distinct values in a result.
  kInt32,
  // dictionary<int16, utf8>: 20 fewer bytes per row of ten tags, for bulk reads of tags
  // with at most 32,768 distinct values over the result (Arrow cannot combine the
  // batches of a larger one: pyarrow's combine_chunks, to_pandas).
  kInt16,
};

struct QueryRequest {
  std::string namespace_name;
  std::string table_name;
  // Output columns in this order; empty means every column of the table (tags, then
  // fields, then time). Naming a column the table does not have is InvalidInput.
  std::vector<std::string> columns;
  Predicate predicate;
  QueryScope scope = QueryScope::kAll;
  // With peers: a peer that fails or does not answer in time is left out (and named in
  // the response, PeerQueryExec) instead of failing the query.
  bool partial = false;
  // Applied by the outputs (Flight DoGet and its schema calls, HTTP format=arrow); the
  // executors always return the data model's int32.
  TagIndexType tag_index_type = TagIndexType::kInt32;
  bool operator==(const QueryRequest&) const = default;
};

// What a partition response is about.
struct PartitionInfo {
  PartitionId partition_id;
  std::string partition_key;
  // Persists of this partition completed when its data was read: a reader that also
  // reads Parquet files uses it to tell which files the buffered rows are not in yet.
  uint64_t completed_persist_count = 0;
  // What the partition's rows are read from, after pruning and before filtering and
  // de-duplication: Parquet files, the rows the catalog lists for them, and buffered
  // rows.
  int64_t files = 0;
  int64_t file_rows = 0;
  int64_t buffer_rows = 0;
};

// The rows of one partition. Not thread-safe: one consumer pulls.
class PartitionResponse {
 public:
  virtual ~PartitionResponse() = default;
  virtual const PartitionInfo& info() const = 0;
  // The next batch, under the QueryResponse's schema; null at the end. A batch may have
  // zero rows only if the implementation says so; the buffer's never does.
  virtual arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() = 0;
};

// The partitions of one query, one after the other. Not thread-safe: one consumer pulls.
// A partition response may outlive the next NextPartition() call, but implementations
// may read the next partition only when it is asked for, so consumers should finish one
// partition before asking for the next (the Flight stream does).
class QueryResponse {
 public:
  virtual ~QueryResponse() = default;
  // The schema of every batch of every partition of this response; never changes.
  virtual const std::shared_ptr<arrow::Schema>& schema() const = 0;
  // The next partition, or null at the end.
  virtual arrow::Result<std::unique_ptr<PartitionResponse>> NextPartition() = 0;
};

// Answers queries. Implementations must be thread-safe: many queries run at once.
template <typename Response>
class QueryExecutor {
 public:
  using ResponseType = Response;
  virtual ~QueryExecutor() = default;
  // NotFound (common/error.h) names an unknown namespace or table; InvalidInput a bad
  // request (unknown column, a tag predicate on a column that is not a tag).
  virtual arrow::Result<Response> Query(const QueryRequest& request) = 0;
};

using QueryExec = QueryExecutor<std::unique_ptr<QueryResponse>>;

// A partition's batches, fully drained (tests, tools and small results only: this is the
// collecting a server never does).
struct CollectedPartition {
  PartitionInfo info;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
};
arrow::Result<std::vector<CollectedPartition>> CollectAll(QueryResponse* response);

}  // namespace ingester::query
