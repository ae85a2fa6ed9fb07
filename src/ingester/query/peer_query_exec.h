// A QueryExec decorator that adds the buffered rows of peer ingesters to every query
// (DESIGN.md, "Scale-out"; docs/scale-out.md): with --peer, a query to any ingester of a
// cluster returns its own buffer, every persisted file (both read by `inner`, the
// BufferTreeQueryExec) and the buffers of its peers, merged and de-duplicated.
//
//   Query(request)                                  request.scope == kBuffer: `inner`
//     │                                             alone (a peer's request: it never
//     │                                             fans out again)
//     ├─ inner->Query(wide)                         fixes the schema and partition set;
//     │                                             `wide` adds the key columns (every
//     │                                             tag, `time`) the request lacks
//     ├─ each peer: DoGet {"scope": "buffer"}       in parallel, each bounded by
//     │   (peer_client.h), collected                --peer-timeout
//     │     failed and not partial -> the query fails, naming the peer's address
//     │     failed and partial     -> left out, named in the schema metadata
//     │     the table unknown to the peer (NOT_FOUND) -> it buffers none of it
//     └─ the response, partition by partition in key order:
//          no peer rows for the partition  -> inner's partition as it is (streamed)
//          peer rows                       -> merged: inner's rows (files and own
//                                             buffer), then every ingester's buffer in
//                                             ingester id order, sorted and
//                                             de-duplicated as compaction does (the
//                                             later source wins, field by field)
//
// Which row wins when two ingesters hold the same series and time (after a namespace
// failed over): buffered rows win over persisted ones, and among buffers the ingester
// with the greatest id (byte-wise) wins, field by field. The rule depends only on the
// ids, not on which ingester is asked, so every ingester answers the same. When a peer
// with a smaller id buffers rows of a merged partition, this ingester's buffer of it is
// read a second time (a buffer-only query of `inner`, after its first read), so that it
// takes its place in id order. (A persist of this ingester's partition between the two
// reads takes the persisted rows out of the second: for that moment, a smaller-id
// peer's value of such a key can win.)
//
// Consistency: the peers' buffers are read before any of this ingester's partitions is
// (its files are listed at their partition's turn), so a row a peer persists during the
// query is seen in its buffer or in its file, never in neither (maybe in both: the
// de-duplication makes that harmless).
//
// Memory: the peers' answers (their buffered rows of the table after predicate and
// projection) are held for the query's duration; a merged partition is collected once
// (its inner rows and every buffer's) to be sorted.
//
// The schema metadata key kMissingPeersMetadataKey is set on the response schema of a
// partial query: a JSON list of the addresses of the peers left out ("[]" when all
// answered). Flight sends it in the stream's schema; POST /api/v3/query as a header.
#pragma once

#include <arrow/memory_pool.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ingester/common/metrics.h"
#include "ingester/query/buffer_tree_query_exec.h"
#include "ingester/query/peer_client.h"
#include "ingester/query/query_exec.h"

namespace ingester::query {

inline constexpr char kMissingPeersMetadataKey[] = "ingester.missing_peers";

// The peers a partial response left out (its schema's kMissingPeersMetadataKey), or
// nullopt when the schema does not carry the key (the query was not partial).
std::optional<std::vector<std::string>> MissingPeers(const arrow::Schema& schema);

struct PeerQueryExecOptions {
  // Required: this ingester's id (it orders the buffers, see above).
  std::string ingester_id;
  // Required, at least one: the peers' Flight addresses, HOST:PORT.
  std::vector<std::string> peers;
  // The cluster's token, sent to peers as a bearer token; empty: none.
  std::string token;
  // Bound on each peer's call.
  std::chrono::milliseconds timeout{10'000};
  // Required: resolves the table to learn its tags (the de-duplication key).
  std::shared_ptr<TableResolver> resolver;
  // Merging allocates here.
  arrow::MemoryPool* pool = arrow::default_memory_pool();
  // Merged partitions come in batches of at most this many rows.
  int64_t max_batch_rows = 64 * 1024;
  // Optional; must outlive the exec: each peer call is counted as
  // ingester_query_peer_requests_total{peer="HOST:PORT",outcome="ok"|"error"}.
  MetricsRegistry* metrics = nullptr;

  arrow::Status Validate() const;
};

// Thread-safe when `inner` is.
class PeerQueryExec final : public QueryExec {
 public:
  static arrow::Result<std::unique_ptr<PeerQueryExec>> Make(
      std::shared_ptr<QueryExec> inner, PeerQueryExecOptions options);
  ~PeerQueryExec() override;

  // Errors: those of `inner`; a failing peer (not partial) as Retryable
  // (common/error.h), its message naming the peer's address and what it said.
  arrow::Result<std::unique_ptr<QueryResponse>> Query(
      const QueryRequest& request) override;

 private:
  // One per peer, in the order of options.peers.
  struct Peer {
    std::shared_ptr<PeerClient> client;
    Counter* ok = nullptr;      // null without a registry
    Counter* failed = nullptr;  // null without a registry
  };
  PeerQueryExec(std::shared_ptr<QueryExec> inner, PeerQueryExecOptions options,
                std::vector<Peer> peers);

  const std::shared_ptr<QueryExec> inner_;
  const PeerQueryExecOptions options_;
  const std::vector<Peer> peers_;
};

}  // namespace ingester::query
