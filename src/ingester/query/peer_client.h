// Reads the buffered rows of one table from a peer ingester over Arrow Flight: a DoGet
// with the ticket of the request at QueryScope::kBuffer (ticket.h), read to the end.
//
//   PeerClient(address) ── DoGet {"scope": "buffer", ...} ──> the peer's FlightService
//                       <── schema, then per partition: a frame (flight_stream.h) and
//                           its batches
//   = PeerAnswer: the peer's ingester id and its partitions, each with its batches
//
// The whole answer is collected: a query holds the buffered rows its peers have of the
// queried table (after predicate and projection) for its duration. A peer's buffer is
// bounded by its persist triggers (--persist-hot-partition-cost, --max-buffer-bytes).
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/common/thread_annotations.h"
#include "ingester/query/query_exec.h"

namespace arrow::flight {
class FlightClient;
}

namespace ingester::query {

// The message of a Flight client error without Arrow's and gRPC's wrapping:
// "Flight returned not found error, with message: X. gRPC client debug context: ...
// Detail: ..." -> "X". gRPC's debug context repeats the message and says nothing a
// person can act on. Other messages are returned as they are.
std::string FlightMessageText(std::string_view message);

struct PeerPartition {
  PartitionId partition_id;
  std::string partition_key;
  // Under PeerAnswer::schema; rows only (the partition frame is not kept).
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t rows = 0;
};

struct PeerAnswer {
  std::string address;
  // From the peer's partition frames; empty when it sent none (it buffers nothing that
  // matches).
  std::string ingester_id;
  std::shared_ptr<arrow::Schema> schema;
  // In the peer's order (by partition key).
  std::vector<PeerPartition> partitions;
};

struct PeerClientOptions {
  // HOST:PORT of the peer's Flight service (plain gRPC).
  std::string address;
  // Sent as "Authorization: Bearer <token>" when set (the cluster's --token).
  std::string token;
  // Deadline of one whole call: connecting, the peer's query and reading its answer.
  std::chrono::milliseconds timeout{10'000};

  arrow::Status Validate() const;
};

// Thread-safe: one client serves every query to its peer (gRPC multiplexes the calls on
// one channel). After a call that could not reach the peer the channel is replaced, so
// that a peer that comes back is asked at the next query rather than after gRPC's
// reconnect back-off (up to minutes).
class PeerClient {
 public:
  // Does not connect: a peer that is down is only noticed by a call.
  static arrow::Result<std::unique_ptr<PeerClient>> Make(PeerClientOptions options);
  ~PeerClient();

  // The peer's buffered rows for `request`, asked at QueryScope::kBuffer whatever its
  // scope, never partial. Errors carry the peer's status code with its message as
  // FlightMessageText gives it: KeyError
  // when the peer does not know the namespace or table, IOError/Unavailable/TimedOut
  // when it cannot be reached or does not answer within the timeout.
  arrow::Result<PeerAnswer> FetchBuffer(const QueryRequest& request) const;

  const std::string& address() const { return options_.address; }

 private:
  PeerClient(PeerClientOptions options, std::string host, int port,
             std::shared_ptr<arrow::flight::FlightClient> client);
  arrow::Result<PeerAnswer> Fetch(arrow::flight::FlightClient* client,
                                  const QueryRequest& request) const;

  const PeerClientOptions options_;
  const std::string host_;
  const int port_;
  mutable Mutex mu_;
  // Shared with the calls under way, which may outlive its replacement.
  mutable std::shared_ptr<arrow::flight::FlightClient> client_ GUARDED_BY(mu_);
};

}  // namespace ingester::query
