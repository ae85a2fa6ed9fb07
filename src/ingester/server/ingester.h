// The public face of the library: an Ingester is built from options, owns every part
// (catalog, WAL, buffer tree, ...) and offers the operations the servers need, without
// exposing the parts' types.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "ingester/common/column_type.h"
#include "ingester/pipeline/write_request.h"
#include "ingester/server/options.h"

namespace ingester {

namespace query {
template <typename Response>
class QueryExecutor;
class QueryResponse;
using QueryExec = QueryExecutor<std::unique_ptr<QueryResponse>>;
class BatchWriter;
struct NamespaceListing;
}  // namespace query

// What the Arrow Flight server needs from the ingester: interfaces only.
struct FlightHandlers {
  query::QueryExec* query = nullptr;
  query::BatchWriter* writer = nullptr;
  std::function<arrow::Result<std::vector<query::NamespaceListing>>()> lister;
};

// What a configure call did; a database or table that exists with another partition
// template is a Conflict error instead.
enum class ConfigureOutcome { kCreated, kAlreadyExists };

// A table's columns as the catalog holds them, for the describing statements of the
// v1 query API (SHOW MEASUREMENTS, SHOW TAG KEYS, SHOW FIELD KEYS).
struct TableDescription {
  std::string name;
  std::vector<std::pair<std::string, ColumnType>> columns;  // in catalog order
};

class Ingester {
 public:
  // Opens the catalog, warms the partition cache, replays the WAL and opens a new
  // segment. `options` are resolved (derived paths) and validated first.
  static arrow::Result<std::unique_ptr<Ingester>> Make(IngesterOptions options);
  ~Ingester();
  Ingester(const Ingester&) = delete;
  Ingester& operator=(const Ingester&) = delete;

  // The write pipeline (pipeline/write_pipeline.h): parses, validates against the
  // catalog (creating the namespace, tables and columns on first write), appends to the
  // WAL and buffers. Returns OK with the rejected lines when
  // some were bad; an error when nothing was written for a reason that is not a line's
  // fault (unknown precision, backpressure, a WAL failure). Thread-safe.
  arrow::Result<WriteSummary> WriteLineProtocol(const LineProtocolWrite& write);

  // Creates database (namespace) `name` with the partition template `template_json`
  // (partition/partition_template.h; empty: the --partition-template default).
  // kAlreadyExists when it exists with that template; Conflict naming both templates
  // when it exists with another; InvalidInput for a bad name or template.
  arrow::Result<ConfigureOutcome> CreateDatabase(const std::string& name,
                                                 std::string_view template_json);

  // Creates table `table` of database `db` with the partition template
  // `template_json` (empty: the database's) and a tag column for each tag the template
  // names and each of `tags`. kAlreadyExists when the table exists with that template
  // (missing tag columns are still added); Conflict when it exists with another;
  // NotFound when the database does not exist.
  arrow::Result<ConfigureOutcome> CreateTable(const std::string& db,
                                              const std::string& table,
                                              std::string_view template_json,
                                              const std::vector<std::string>& tags = {});

  // {"databases":[{"name":"db","partition_template":{"parts":[...]},"max_tables":N,
  // "max_columns_per_table":M}, ...]}, by name.
  arrow::Result<std::string> DatabasesJson() const;

  // The databases (namespaces) of the catalog, by name.
  arrow::Result<std::vector<std::string>> DatabaseNames() const;

  // The tables of database `db` with their columns, by table name; NotFound when the
  // database does not exist.
  arrow::Result<std::vector<TableDescription>> DescribeDatabase(
      const std::string& db) const;

  // Handlers for the Flight server (DoGet, DoPut, listing); valid while the Ingester
  // lives.
  FlightHandlers flight_handlers() const;

  // The one query path of every reader (Flight's handlers hold the same): the concurrent
  // query limit, tracing and metrics around the buffer's executor. Valid while the
  // Ingester lives; thread-safe.
  query::QueryExec* query_exec() const;

  // This ingester's stable id (ingester_id.h): --ingester-id, or the one kept in the
  // data dir.
  const std::string& ingester_id() const;

  // OK when all is well (/health): fails while writes are refused (shutdown, full disk,
  // catalog gone, a failed WAL) and while the WAL cannot rotate (writes are accepted but
  // cannot be persisted).
  arrow::Status CheckHealth() const;
  // While writes are accepted, what an operator must still fix: partitions that cannot
  // be persisted (a permanent persist failure: their data stays buffered and in the
  // WAL), with the reason and what to do. Empty when there is nothing. /health answers
  // 200, status "pass", with this message and a failing "persist" check.
  std::string HealthWarning() const;

  // `status`'s message for a client: the server's own directories (data dir, WAL dir,
  // local object store, catalog file), which errors from the filesystem name in full,
  // are replaced by the flag that sets them ("<wal-dir>/0000...01.dat"); an I/O error
  // gets the reason its errno gives appended (": Input/output error").
  std::string ClientMessage(const arrow::Status& status) const;

  // Namespaces, tables (with columns) and partitions (buffered rows, persisted files)
  // as a JSON document; `with_files` adds each partition's Parquet files (object path,
  // rows, bytes, time range): what a reader of the object store goes by.
  arrow::Result<std::string> CatalogJson(bool with_files = false) const;

  // Prometheus text exposition of the process's counters.
  std::string MetricsText() const;

  const IngesterOptions& options() const;

  // Refuses new writes (503), lets the ones in flight finish until `deadline` (later,
  // those not yet in the WAL are refused, never acknowledged), persists every buffer
  // until `deadline` (what is left stays in the WAL, each partition named in the log),
  // and closes the WAL. Not OK when something was left unpersisted. Idempotent.
  arrow::Status Shutdown(std::chrono::steady_clock::time_point deadline);
  // Shutdown(now + --shutdown-timeout).
  arrow::Status Shutdown();

 private:
  struct Impl;
  explicit Ingester(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ingester
