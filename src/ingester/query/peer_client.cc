#include "ingester/query/peer_client.h"

#include <arrow/flight/client.h>

#include <string_view>

#include "ingester/common/host_port.h"
#include "ingester/query/flight_stream.h"
#include "ingester/query/ticket.h"

namespace ingester::query {

namespace flight = arrow::flight;

std::string FlightMessageText(std::string_view text) {
  std::string message(text);
  static constexpr std::string_view kWithMessage = "error, with message: ";
  if (message.starts_with("Flight returned ")) {
    if (auto at = message.find(kWithMessage); at != std::string::npos)
      message.erase(0, at + kWithMessage.size());
  }
  if (auto at = message.find(". gRPC client debug context:"); at != std::string::npos)
    message.resize(at);
  return message;
}

arrow::Status PeerClientOptions::Validate() const {
  std::string host;
  int port = 0;
  ARROW_RETURN_NOT_OK(SplitHostPort("peer address", address, &host, &port));
  if (timeout.count() < 1) return arrow::Status::Invalid("peer timeout must be positive");
  return arrow::Status::OK();
}

PeerClient::PeerClient(PeerClientOptions options, std::string host, int port,
                       std::shared_ptr<flight::FlightClient> client)
    : options_(std::move(options)),
      host_(std::move(host)),
      port_(port),
      client_(std::move(client)) {}

namespace {

arrow::Result<std::shared_ptr<flight::FlightClient>> Connect(const std::string& host,
                                                             int port) {
  ARROW_ASSIGN_OR_RAISE(auto location, flight::Location::ForGrpcTcp(host, port));
  ARROW_ASSIGN_OR_RAISE(auto client, flight::FlightClient::Connect(location));
  return std::shared_ptr<flight::FlightClient>(std::move(client));
}

}  // namespace

PeerClient::~PeerClient() = default;

arrow::Result<std::unique_ptr<PeerClient>> PeerClient::Make(PeerClientOptions options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  std::string host;
  int port = 0;
  ARROW_RETURN_NOT_OK(SplitHostPort("peer address", options.address, &host, &port));
  if (port == 0) {
    return arrow::Status::Invalid("peer address '", options.address,
                                  "' has no valid port");
  }
  ARROW_ASSIGN_OR_RAISE(auto client, Connect(host, port));
  return std::unique_ptr<PeerClient>(
      new PeerClient(std::move(options), std::move(host), port, std::move(client)));
}

arrow::Result<PeerAnswer> PeerClient::FetchBuffer(const QueryRequest& request) const {
  std::shared_ptr<flight::FlightClient> client;
  {
    MutexLock lock(&mu_);
    client = client_;
  }
  auto answer = Fetch(client.get(), request);
  if (!answer.ok()) {
    // Code kept (KeyError: the peer does not know the table), detail dropped: it would
    // append gRPC's context again.
    answer = arrow::Status(answer.status().code(),
                           FlightMessageText(answer.status().message()));
  }
  // The peer's refusals (unknown table, bad request) say nothing about the channel.
  if (!answer.ok() && !answer.status().IsKeyError() && !answer.status().IsInvalid()) {
    auto fresh = Connect(host_, port_);
    MutexLock lock(&mu_);
    if (fresh.ok() && client_ == client) client_ = std::move(*fresh);
  }
  return answer;
}

arrow::Result<PeerAnswer> PeerClient::Fetch(flight::FlightClient* client,
                                            const QueryRequest& request) const {
  QueryRequest peer_request = request;
  peer_request.scope = QueryScope::kBuffer;
  peer_request.partial = false;
  // The merge of the asking ingester speaks the data model (and a peer of an older
  // version would refuse the key).
  peer_request.tag_index_type = TagIndexType::kInt32;
  flight::FlightCallOptions call;
  call.timeout =
      flight::TimeoutDuration(std::chrono::duration<double>(options_.timeout).count());
  // Received buffers may be unaligned (they wrap gRPC's); merging reads values from them.
  call.read_options.ensure_alignment = arrow::ipc::Alignment::kDataTypeSpecificAlignment;
  if (!options_.token.empty()) {
    call.headers.emplace_back("authorization", "Bearer " + options_.token);
  }
  ARROW_ASSIGN_OR_RAISE(auto reader,
                        client->DoGet(call, flight::Ticket{TicketJson(peer_request)}));
  PeerAnswer answer;
  answer.address = options_.address;
  ARROW_ASSIGN_OR_RAISE(answer.schema, reader->GetSchema());
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, reader->Next());
    if (chunk.data == nullptr && chunk.app_metadata == nullptr) break;
    if (chunk.app_metadata != nullptr) {
      ARROW_ASSIGN_OR_RAISE(auto frame,
                            PartitionFrame::Parse(chunk.app_metadata->ToString()));
      if (answer.ingester_id.empty()) answer.ingester_id = frame.ingester_id;
      answer.partitions.push_back(
          PeerPartition{PartitionId(frame.partition_id), frame.partition_key, {}, 0});
    }
    if (chunk.data == nullptr || chunk.data->num_rows() == 0) continue;
    if (answer.partitions.empty()) {
      return arrow::Status::Invalid("peer ", options_.address,
                                    " sent rows before a partition frame");
    }
    answer.partitions.back().rows += chunk.data->num_rows();
    answer.partitions.back().batches.push_back(std::move(chunk.data));
  }
  return answer;
}

}  // namespace ingester::query
