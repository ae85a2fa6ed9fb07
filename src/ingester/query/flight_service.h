// The Arrow Flight server of the ingester (DESIGN.md, "Interfaces"): read-your-writes
// queries (DoGet), their schema and endpoint for generic Flight clients (GetFlightInfo,
// GetSchema), batch writes (DoPut) and a listing of namespaces and tables.
//
//   DoGet(ticket)     ticket = JSON query (ticket.h); the stream of flight_stream.h.
//                     malformed ticket      -> INVALID_ARGUMENT saying what is wrong
//                     unknown ns / table    -> NOT_FOUND naming it
//                     bad column / tag      -> INVALID_ARGUMENT
//                     over the query limit  -> UNAVAILABLE, message "RESOURCE_EXHAUSTED:
//                                              ..." (see below)
//   GetFlightInfo(descriptor)
//                     descriptor = a command whose bytes are a JSON ticket, or a path
//                     [namespace, table] (every column). Answers the schema DoGet would
//                     stream and one endpoint whose ticket is the query's JSON ticket,
//                     without a location (this server); total records and bytes -1
//                     (unknown). Errors as DoGet's. The schema comes from Query() with
//                     the response dropped unread, so it reads no data, but it is a
//                     query for the decorators: it takes a slot of the limit for that
//                     moment and is traced and counted (as cancelled).
//   GetSchema(descriptor)   the same schema, alone.
//   DoPut(descriptor, batches)
//                     descriptor = path [namespace, table], or a command
//                     {"namespace": ..., "table": ...}. Each batch is written through the
//                     BatchWriter (validation, sequence numbers, WAL fsync, buffer) and
//                     acknowledged by one PutResult {"rows": n, "total_rows": N} once the
//                     write returned. A failed batch ends the call with its error; the
//                     batches acknowledged before it stay written, nothing of the failed
//                     one reaches the WAL.
//                     malformed or invalid batch -> INVALID_ARGUMENT naming column, row
//                                              and problem (write/arrow_write_builder.h)
//                     over max_put_bytes     -> INVALID_ARGUMENT, message "DoPut too
//                                              large: ..." (see below)
//   DoAction("list_tables")  one Result: {"namespaces": [{"name": ..., "tables": [...]}]}
//   ListFlights       one FlightInfo per table, the one GetFlightInfo answers for the
//                     path [namespace, table] (schema, endpoint with the table's ticket).
//   Authentication    with a token set, every call needs the gRPC header
//                     "authorization: Bearer <token>"; otherwise UNAUTHENTICATED.
//
// The concurrent query limit is not the service's: it is a decorator of the QueryExec it
// is given (limited_query_exec.h), shared with the HTTP query endpoint. Its refusal is a
// Backpressure error, which ToFlightStatus maps to UNAVAILABLE: Arrow C++'s Flight
// server maps statuses to gRPC codes through a fixed table (TransportStatusCode) that has
// no RESOURCE_EXHAUSTED, so the retry-later code carries a message starting
// "RESOURCE_EXHAUSTED: " (pyarrow raises FlightUnavailableError). A DoGet stream owns
// its query response until the stream ends or the client goes away.
//
// DoPut size limit: the Arrow bytes (arrow::util::TotalBufferSize, dictionaries
// included) of the batches of one call are summed as each message is read; the batch
// that takes the sum past `max_put_bytes` is refused before it is written, and the call
// ends. Refused with INVALID_ARGUMENT (not retryable as is; the table above has no
// RESOURCE_EXHAUSTED). gRPC itself buffers one whole message before the service sees
// it: Arrow sets no receive limit, and the hook that could set one
// (FlightServerOptions::builder_hook) needs gRPC's C++ headers, which the Arrow we build
// against (the pyarrow wheel) does not ship. So a single message is bounded only by
// memory, and refused right after it arrived.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ingester/query/query_exec.h"

namespace ingester::query {

struct FlightServiceOptions {
  std::string host = "127.0.0.1";
  // 0 picks a free port (see FlightService::port()).
  int port = 8082;
  // Named in every partition frame, so a client reading from several ingesters can tell
  // whose buffer a partition's rows came from.
  std::string ingester_id;
  // Empty: no authentication.
  std::string token;
  // Both set: serve grpc+tls with this certificate chain and private key (PEM); both
  // empty: plain grpc.
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // Bound on the Arrow bytes of the batches of one DoPut call (see above).
  int64_t max_put_bytes = int64_t{64} << 20;
  // How an error's message is shown to clients (the server passes one that names its
  // directories by their flags, as its HTTP errors do); empty: the message as it is.
  std::function<std::string(const arrow::Status&)> client_message;
  // Shutdown() waits this long for running calls (a slow reader), then cancels them.
  std::chrono::milliseconds shutdown_grace{5000};

  arrow::Status Validate() const;
};

struct BatchWriteResult {
  int64_t rows = 0;
};

// Writes Arrow batches for one table through the same path as line protocol over HTTP:
// validation against the catalog (write/arrow_write_builder.h), sequence numbers from the
// oracle, the WalSink (fsync) and the BufferTree. The server's facade implements it.
class BatchWriter {
 public:
  virtual ~BatchWriter() = default;
  // Returns once the rows are durable and buffered. Errors carry an ErrorKind
  // (InvalidInput, Conflict, Limit, Backpressure, ...). Thread-safe.
  virtual arrow::Result<BatchWriteResult> WriteBatches(
      const std::string& namespace_name, const std::string& table_name,
      const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) = 0;
};

struct NamespaceListing {
  std::string name;
  std::vector<std::string> tables;
};
// Lists namespaces and their tables (from the catalog). Thread-safe.
using CatalogLister = std::function<arrow::Result<std::vector<NamespaceListing>>()>;

// The Flight error for an ingester status: NotFound -> NOT_FOUND; InvalidInput,
// Conflict, Limit, TooLarge -> INVALID_ARGUMENT; Backpressure -> UNAVAILABLE; others
// unchanged (Arrow's own mapping). The message is kept, without the detail suffix.
arrow::Status ToFlightStatus(const arrow::Status& status);

class FlightService {
 public:
  // Starts listening and serving. `exec` (with its decorators: limit, tracing, metrics)
  // is required; `writer` may be null (DoPut is
  // then UNIMPLEMENTED) and `lister` empty (an empty listing). All three must outlive
  // the service (until Shutdown() returned).
  static arrow::Result<std::unique_ptr<FlightService>> Start(FlightServiceOptions options,
                                                             QueryExec* exec,
                                                             BatchWriter* writer,
                                                             CatalogLister lister);
  // Shuts down if still running.
  ~FlightService();
  FlightService(const FlightService&) = delete;
  FlightService& operator=(const FlightService&) = delete;

  // The port listened on (the chosen one when options.port was 0).
  int port() const;
  // Stops accepting calls, waits up to shutdown_grace for running ones, cancels the rest.
  // Idempotent; thread-safe.
  arrow::Status Shutdown();

 private:
  struct Impl;
  explicit FlightService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ingester::query
