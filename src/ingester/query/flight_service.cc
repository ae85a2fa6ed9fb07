#include "ingester/query/flight_service.h"

#include <arrow/buffer.h>
#include <arrow/flight/api.h>
#include <arrow/util/align_util.h>
#include <arrow/util/byte_size.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "ingester/common/error.h"
#include "ingester/common/secret.h"
#include "ingester/common/thread_annotations.h"
#include "ingester/query/flight_stream.h"
#include "ingester/query/ticket.h"
#include "ingester/query/wire_tags.h"

namespace ingester::query {

namespace flight = arrow::flight;
using nlohmann::json;

namespace {

constexpr char kListTablesAction[] = "list_tables";

// Refuses every call without "authorization: Bearer <token>".
class BearerAuthFactory final : public flight::ServerMiddlewareFactory {
 public:
  explicit BearerAuthFactory(std::string token)
      : expected_("Bearer " + std::move(token)) {}

  arrow::Status StartCall(const flight::CallInfo&,
                          const flight::ServerCallContext& context,
                          std::shared_ptr<flight::ServerMiddleware>*) override {
    auto [it, end] = context.incoming_headers().equal_range("authorization");
    for (; it != end; ++it) {
      if (ConstantTimeEquals(it->second, expected_)) return arrow::Status::OK();
    }
    return flight::MakeFlightError(flight::FlightStatusCode::Unauthenticated,
                                   "missing or invalid bearer token");
  }

 private:
  const std::string expected_;
};

arrow::Result<TableRef> TableOf(const flight::FlightDescriptor& descriptor) {
  if (descriptor.type == flight::FlightDescriptor::PATH) {
    if (descriptor.path.size() != 2 || descriptor.path[0].empty() ||
        descriptor.path[1].empty()) {
      return InvalidInput("a DoPut descriptor path must be [namespace, table], got " +
                          std::to_string(descriptor.path.size()) + " part(s)");
    }
    return TableRef{descriptor.path[0], descriptor.path[1]};
  }
  if (descriptor.type == flight::FlightDescriptor::CMD) {
    return ParseTableRef(descriptor.cmd);
  }
  return InvalidInput("a DoPut descriptor must be a path or a command");
}

// The query a GetFlightInfo / GetSchema descriptor names: a command is a ticket
// (ticket.h), a path [namespace, table] the whole table.
arrow::Result<QueryRequest> RequestOf(const flight::FlightDescriptor& descriptor) {
  if (descriptor.type == flight::FlightDescriptor::CMD)
    return ParseTicket(descriptor.cmd);
  if (descriptor.type == flight::FlightDescriptor::PATH) {
    if (descriptor.path.size() != 2 || descriptor.path[0].empty() ||
        descriptor.path[1].empty()) {
      return InvalidInput("a descriptor path must be [namespace, table], got " +
                          std::to_string(descriptor.path.size()) + " part(s)");
    }
    QueryRequest request;
    request.namespace_name = descriptor.path[0];
    request.table_name = descriptor.path[1];
    return request;
  }
  return InvalidInput("a descriptor must be a command (a JSON ticket) or a path");
}

class Server final : public flight::FlightServerBase {
 public:
  Server(const FlightServiceOptions& options, QueryExec* exec, BatchWriter* writer,
         CatalogLister lister)
      : ingester_id_(options.ingester_id),
        max_put_bytes_(options.max_put_bytes),
        exec_(exec),
        writer_(writer),
        lister_(std::move(lister)),
        client_message_(options.client_message) {}

  arrow::Status DoGet(const flight::ServerCallContext&, const flight::Ticket& ticket,
                      std::unique_ptr<flight::FlightDataStream>* stream) override {
    auto request = ParseTicket(ticket.ticket);
    if (!request.ok()) return ToClient(request.status());
    // The stream owns the response: whatever the response holds (a slot of the
    // concurrency limit, the data it pins) is released when the stream ends or the
    // client goes away.
    auto response = exec_->Query(*request);
    if (!response.ok()) return ToClient(response.status());
    ARROW_ASSIGN_OR_RAISE(
        *stream,
        MakeQueryFlightStream(
            WithTagIndexType(std::move(*response), request->tag_index_type), ingester_id_,
            nullptr, [this](const arrow::Status& s) { return ToClient(s); }));
    return arrow::Status::OK();
  }

  arrow::Status GetFlightInfo(const flight::ServerCallContext&,
                              const flight::FlightDescriptor& descriptor,
                              std::unique_ptr<flight::FlightInfo>* info) override {
    ARROW_ASSIGN_OR_RAISE(auto made, InfoOf(descriptor));
    *info = std::make_unique<flight::FlightInfo>(std::move(made));
    return arrow::Status::OK();
  }

  arrow::Status GetSchema(const flight::ServerCallContext&,
                          const flight::FlightDescriptor& descriptor,
                          std::unique_ptr<flight::SchemaResult>* result) override {
    auto request = RequestOf(descriptor);
    if (!request.ok()) return ToClient(request.status());
    ARROW_ASSIGN_OR_RAISE(auto schema, SchemaOf(*request));
    ARROW_ASSIGN_OR_RAISE(*result, flight::SchemaResult::Make(*schema));
    return arrow::Status::OK();
  }

  arrow::Status DoPut(const flight::ServerCallContext&,
                      std::unique_ptr<flight::FlightMessageReader> reader,
                      std::unique_ptr<flight::FlightMetadataWriter> writer) override {
    if (writer_ == nullptr) {
      return arrow::Status::NotImplemented("this ingester accepts no writes over Flight");
    }
    auto table = TableOf(reader->descriptor());
    if (!table.ok()) return ToClient(table.status());
    int64_t total = 0;
    int64_t bytes = 0;  // of the batches of this call
    while (true) {
      ARROW_ASSIGN_OR_RAISE(flight::FlightStreamChunk chunk, reader->Next());
      if (chunk.data == nullptr) {
        if (chunk.app_metadata == nullptr) break;  // end of the upload
        continue;                                  // metadata alone: nothing to write
      }
      bytes += arrow::util::TotalBufferSize(*chunk.data);
      if (bytes > max_put_bytes_) {
        return arrow::Status::Invalid(
            "DoPut too large: the batches of this call hold ", bytes,
            " bytes of Arrow data so far, over the limit of ", max_put_bytes_,
            " (--max-flight-put-size); the ", total,
            " rows acknowledged before this batch are written, this batch is not; "
            "send the rest in further calls");
      }
      // Received buffers wrap gRPC's and may be unaligned; the write path and, later,
      // compute kernels over the buffer read values from them, so copy the misaligned
      // ones (aligned buffers are kept as they are).
      ARROW_ASSIGN_OR_RAISE(auto batch, arrow::util::EnsureAlignment(
                                            chunk.data, arrow::util::kValueAlignment,
                                            arrow::default_memory_pool()));
      auto written =
          writer_->WriteBatches(table->namespace_name, table->table_name, {batch});
      if (!written.ok()) return ToClient(written.status());
      total += written->rows;
      json ack = {{"rows", written->rows}, {"total_rows", total}};
      ARROW_RETURN_NOT_OK(writer->WriteMetadata(*arrow::Buffer::FromString(ack.dump())));
    }
    return arrow::Status::OK();
  }

  arrow::Status ListActions(const flight::ServerCallContext&,
                            std::vector<flight::ActionType>* actions) override {
    *actions = {{kListTablesAction, "Namespaces and their tables, as JSON"}};
    return arrow::Status::OK();
  }

  arrow::Status DoAction(const flight::ServerCallContext&, const flight::Action& action,
                         std::unique_ptr<flight::ResultStream>* result) override {
    if (action.type != kListTablesAction) {
      return arrow::Status::NotImplemented("unknown action '", action.type,
                                           "' (known: ", kListTablesAction, ")");
    }
    ARROW_ASSIGN_OR_RAISE(auto listing, List());
    json namespaces = json::array();
    for (const auto& ns : listing) {
      namespaces.push_back({{"name", ns.name}, {"tables", ns.tables}});
    }
    json doc = {{"namespaces", std::move(namespaces)}};
    std::vector<flight::Result> results;
    results.emplace_back(arrow::Buffer::FromString(
        doc.dump(-1, ' ', false, json::error_handler_t::replace)));
    *result = std::make_unique<flight::SimpleResultStream>(std::move(results));
    return arrow::Status::OK();
  }

  // One FlightInfo per table, the same GetFlightInfo gives for its path.
  arrow::Status ListFlights(const flight::ServerCallContext&, const flight::Criteria*,
                            std::unique_ptr<flight::FlightListing>* listings) override {
    ARROW_ASSIGN_OR_RAISE(auto listing, List());
    std::vector<flight::FlightInfo> infos;
    for (const auto& ns : listing) {
      for (const auto& table : ns.tables) {
        ARROW_ASSIGN_OR_RAISE(auto info,
                              InfoOf(flight::FlightDescriptor::Path({ns.name, table})));
        infos.push_back(std::move(info));
      }
    }
    *listings = std::make_unique<flight::SimpleFlightListing>(std::move(infos));
    return arrow::Status::OK();
  }

 private:
  // The schema a DoGet of `request` would stream. Query() fixes the response schema
  // without reading any partition; the response is dropped unread. Asked at the buffer
  // scope, which has the same columns, so that no peer is asked (peer_query_exec.h);
  // the schema metadata of a partial DoGet (the missing peers) is not known before it.
  arrow::Result<std::shared_ptr<arrow::Schema>> SchemaOf(QueryRequest request) {
    request.scope = QueryScope::kBuffer;
    request.partial = false;
    auto response = exec_->Query(request);
    if (!response.ok()) return ToClient(response.status());
    return SchemaWithTagIndexType((*response)->schema(), request.tag_index_type);
  }

  // The schema of the descriptor's query and one endpoint whose ticket is that query (no
  // location: this server). Row and byte counts are unknown (-1): counting them would
  // read the data.
  arrow::Result<flight::FlightInfo> InfoOf(const flight::FlightDescriptor& descriptor) {
    auto request = RequestOf(descriptor);
    if (!request.ok()) return ToClient(request.status());
    ARROW_ASSIGN_OR_RAISE(auto schema, SchemaOf(*request));
    flight::FlightEndpoint endpoint;
    endpoint.ticket.ticket = TicketJson(*request);
    return flight::FlightInfo::Make(*schema, descriptor, {endpoint}, -1, -1);
  }

  arrow::Result<std::vector<NamespaceListing>> List() {
    if (!lister_) return std::vector<NamespaceListing>{};
    auto listing = lister_();
    if (!listing.ok()) return ToClient(listing.status());
    return listing;
  }

  // The Flight error a client sees for `status`: its message as client_message shows
  // it, mapped by ToFlightStatus.
  arrow::Status ToClient(const arrow::Status& status) const {
    if (status.ok() || !client_message_) return ToFlightStatus(status);
    return ToFlightStatus(
        arrow::Status(status.code(), client_message_(status), status.detail()));
  }

  const std::string ingester_id_;
  const int64_t max_put_bytes_;
  QueryExec* const exec_;
  BatchWriter* const writer_;
  const CatalogLister lister_;
  const std::function<std::string(const arrow::Status&)> client_message_;
};

}  // namespace

arrow::Status ToFlightStatus(const arrow::Status& status) {
  if (status.ok()) return status;
  auto kind = ErrorKindOf(status);
  if (!kind) return status;
  // The message only: the detail would append ". Detail: ..." on the client.
  const std::string& message = status.message();
  switch (*kind) {
    case ErrorKind::kNotFound:
      return arrow::Status::KeyError(message);
    case ErrorKind::kInvalidInput:
    case ErrorKind::kConflict:
    case ErrorKind::kLimit:
    case ErrorKind::kTooLarge:
      return arrow::Status::Invalid(message);
    case ErrorKind::kBackpressure:
    case ErrorKind::kRetryable:
      return flight::MakeFlightError(flight::FlightStatusCode::Unavailable, message);
    case ErrorKind::kDataLoss:
      return flight::MakeFlightError(flight::FlightStatusCode::Internal, message);
  }
  return status;
}

arrow::Status FlightServiceOptions::Validate() const {
  if (host.empty()) return arrow::Status::Invalid("flight: empty host");
  if (port < 0 || port > 65535) return arrow::Status::Invalid("flight: bad port ", port);
  if (max_put_bytes < 1) {
    return arrow::Status::Invalid("flight: max_put_bytes must be positive");
  }
  if (shutdown_grace.count() < 0) {
    return arrow::Status::Invalid("flight: negative shutdown grace");
  }
  if (tls_cert_pem.empty() != tls_key_pem.empty()) {
    return arrow::Status::Invalid("flight: TLS needs both a certificate and a key");
  }
  return arrow::Status::OK();
}

struct FlightService::Impl {
  FlightServiceOptions options;
  std::unique_ptr<Server> server;
  Mutex mu;
  bool shut_down GUARDED_BY(mu) = false;
};

FlightService::FlightService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FlightService::~FlightService() {
  auto status = Shutdown();
  if (!status.ok()) spdlog::warn("flight: shutdown: {}", status.ToString());
}

arrow::Result<std::unique_ptr<FlightService>> FlightService::Start(
    FlightServiceOptions options, QueryExec* exec, BatchWriter* writer,
    CatalogLister lister) {
  ARROW_RETURN_NOT_OK(options.Validate());
  if (exec == nullptr) return arrow::Status::Invalid("flight: no query exec");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->server = std::make_unique<Server>(options, exec, writer, std::move(lister));
  const bool tls = !options.tls_cert_pem.empty();
  ARROW_ASSIGN_OR_RAISE(auto location,
                        tls ? flight::Location::ForGrpcTls(options.host, options.port)
                            : flight::Location::ForGrpcTcp(options.host, options.port));
  flight::FlightServerOptions server_options(location);
  if (tls) {
    server_options.tls_certificates.push_back(
        flight::CertKeyPair{options.tls_cert_pem, options.tls_key_pem});
  }
  if (!options.token.empty()) {
    server_options.middleware.emplace_back(
        "bearer-auth", std::make_shared<BearerAuthFactory>(options.token));
  }
  // Init builds and starts the gRPC server: calls are served from here on, on gRPC's
  // threads (Serve() would only block until shutdown).
  ARROW_RETURN_NOT_OK(impl->server->Init(server_options));
  spdlog::info("flight: listening on {}:{} ({}, {})", options.host, impl->server->port(),
               tls ? "grpc+tls" : "plain grpc",
               options.token.empty() ? "no authentication" : "bearer token");
  return std::unique_ptr<FlightService>(new FlightService(std::move(impl)));
}

int FlightService::port() const { return impl_->server->port(); }

arrow::Status FlightService::Shutdown() {
  MutexLock lock(&impl_->mu);
  if (impl_->shut_down) return arrow::Status::OK();
  impl_->shut_down = true;
  const auto deadline = std::chrono::system_clock::now() + impl_->options.shutdown_grace;
  ARROW_RETURN_NOT_OK(impl_->server->Shutdown(&deadline));
  return impl_->server->Wait();
}

}  // namespace ingester::query
