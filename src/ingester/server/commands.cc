#include "ingester/server/commands.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "ingester/catalog/open.h"
#include "ingester/common/host_port.h"
#include "ingester/persist/object_store.h"
#include "ingester/query/flight_service.h"
#include "ingester/server/http_client.h"
#include "ingester/server/http_server.h"
#include "ingester/server/ingester.h"
#include "ingester/server/tls.h"
#include "ingester/wal/inspect.h"

namespace ingester {

namespace {

int Fail(const arrow::Status& status) {
  spdlog::error("{}", status.ToString());
  return 1;
}

arrow::Result<HttpServerOptions> HttpOptionsOf(const IngesterOptions& o) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  HttpServerOptions http;
  HttpFrontOptions& f = http.front;
  ARROW_RETURN_NOT_OK(SplitHostPort("bind address", o.http_bind, &f.host, &f.port));
  f.io_threads = o.http_io_threads;
  f.worker_threads = o.http_threads;
  f.max_connections = o.max_http_connections;
  f.max_body_bytes = o.max_http_request_size;
  f.max_header_bytes = static_cast<int>(o.max_http_header_bytes);
  f.max_target_bytes = std::min(f.max_target_bytes, f.max_header_bytes);
  f.max_headers = o.max_http_headers;
  f.header_timeout = duration_cast<milliseconds>(o.http_header_timeout);
  f.body_timeout = duration_cast<milliseconds>(o.http_body_timeout);
  f.idle_timeout = duration_cast<milliseconds>(o.http_idle_timeout);
  http.token = o.token;
  http.open_metrics = o.open_metrics;
  return http;
}

// Starts the ingester and both servers, waits for SIGTERM or SIGINT, shuts down.
int ServeUntilSignal(IngesterOptions options) {
  // Block the termination signals in every thread we start, and wait for them here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // TLS files are checked before the WAL replay, which can take long.
  std::optional<TlsCredentials> tls;
  if (auto st = options.Validate(); !st.ok()) return Fail(st);
  if (!options.tls_cert.empty()) {
    auto loaded = LoadTlsCredentials(options.tls_cert, options.tls_key);
    if (!loaded.ok()) return Fail(loaded.status());
    tls = std::move(*loaded);
  }

  auto ingester = Ingester::Make(std::move(options));
  if (!ingester.ok()) return Fail(ingester.status());
  const IngesterOptions& resolved = (*ingester)->options();

  auto http = HttpOptionsOf(resolved);
  if (!http.ok()) return Fail(http.status());
  http->front.tls = tls;

  query::FlightServiceOptions flight;
  if (auto st =
          SplitHostPort("bind address", resolved.flight_bind, &flight.host, &flight.port);
      !st.ok()) {
    return Fail(st);
  }
  flight.ingester_id = (*ingester)->ingester_id();
  flight.max_put_bytes = resolved.max_flight_put_size;
  flight.token = resolved.token;
  if (tls) {
    flight.tls_cert_pem = tls->cert_pem;
    flight.tls_key_pem = tls->key_pem;
  }
  // Calls under way at SIGTERM may run until --shutdown-timeout, then are cancelled.
  flight.shutdown_grace =
      std::chrono::duration_cast<std::chrono::milliseconds>(resolved.shutdown_timeout);
  // Flight errors name the server's directories by their flags, as HTTP errors do.
  flight.client_message = [ingester = ingester->get()](const arrow::Status& status) {
    return ingester->ClientMessage(status);
  };
  auto handlers = (*ingester)->flight_handlers();
  auto flight_server = query::FlightService::Start(flight, handlers.query,
                                                   handlers.writer, handlers.lister);
  if (!flight_server.ok()) return Fail(flight_server.status());
  spdlog::info("Arrow Flight listening on {}:{}{}", flight.host, (*flight_server)->port(),
               tls ? " (grpc+tls)" : "");
  // HTTP last: /health answering means both servers listen.
  auto server = HttpServer::Start(*http, ingester->get());
  if (!server.ok()) return Fail(server.status());
  spdlog::info("ingester ready (data dir {}, WAL {}, catalog {})", resolved.data_dir,
               resolved.wal_dir, catalog::DescribeCatalogUrl(resolved.catalog_url));

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info("received {}, shutting down (--shutdown-timeout {:.1f} s)",
               strsignal(signal_number),
               std::chrono::duration<double>(resolved.shutdown_timeout).count());
  // One deadline for everything. Both servers stop accepting; the requests and calls
  // under way may finish until the deadline, then are cancelled (closed connections,
  // CANCELLED calls: never a success for a write that was not applied). Then the
  // ingester refuses writes, persists what it can until the deadline, and closes the WAL.
  const auto deadline = std::chrono::steady_clock::now() + resolved.shutdown_timeout;
  std::thread flight_stop([&flight_server] {
    if (auto flight_st = (*flight_server)->Shutdown(); !flight_st.ok()) {
      spdlog::warn("Flight shutdown: {}", flight_st.ToString());
    }
  });
  (*server)->Drain(deadline);
  flight_stop.join();
  auto st = (*ingester)->Shutdown(deadline);
  (*server)->Stop();
  if (!st.ok()) return Fail(st);
  spdlog::info("shutdown complete");
  return 0;
}

}  // namespace

int RunServe(IngesterOptions options) {
  const int rc = ServeUntilSignal(std::move(options));
  // Only once every S3 client is gone (the ingester above owns them): the AWS SDK's
  // global state must be torn down before static destructors run, or exit can crash.
  if (auto st = persist::FinalizeObjectStores(); !st.ok()) {
    spdlog::warn("object store shutdown: {}", st.ToString());
  }
  return rc;
}

int RunWriteFile(const WriteFileCommand& command) {
  std::ifstream file_stream;
  std::istream* in = &std::cin;
  if (command.file != "-") {
    file_stream.open(command.file, std::ios::binary);
    if (!file_stream) {
      std::fprintf(stderr, "error: cannot open %s\n", command.file.c_str());
      return 1;
    }
    in = &file_stream;
  }
  HttpClient client(command.host, command.token);
  if (command.tls || !command.tls_ca.empty()) {
    if (auto st = client.EnableTls(command.tls_ca); !st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.message().c_str());
      return 1;
    }
  }
  const std::string path = "/api/v3/write_lp?db=" + UrlEncode(command.namespace_name) +
                           "&precision=" + UrlEncode(command.precision);

  int64_t lines_sent = 0, requests = 0, failures = 0;
  int64_t first_line_of_batch = 1;
  std::string batch, line;
  int lines_in_batch = 0;
  auto flush = [&]() -> bool {
    if (lines_in_batch == 0) return true;
    auto res = client.Post(path, batch, "text/plain; charset=utf-8");
    ++requests;
    if (!res.ok()) {
      std::fprintf(stderr, "error: %s\n", res.status().message().c_str());
      return false;
    }
    if (res->status != 204) {
      ++failures;
      std::fprintf(stderr, "lines %lld..%lld: HTTP %d %s\n",
                   static_cast<long long>(first_line_of_batch),
                   static_cast<long long>(first_line_of_batch + lines_in_batch - 1),
                   res->status, res->body.c_str());
    }
    lines_sent += lines_in_batch;
    first_line_of_batch += lines_in_batch;
    batch.clear();
    lines_in_batch = 0;
    return true;
  };
  while (std::getline(*in, line)) {
    batch += line;
    batch += '\n';
    if (++lines_in_batch >= command.batch_lines && !flush()) return 1;
  }
  if (!flush()) return 1;
  std::printf("%lld lines sent in %lld requests, %lld with errors\n",
              static_cast<long long>(lines_sent), static_cast<long long>(requests),
              static_cast<long long>(failures));
  return failures == 0 ? 0 : 2;
}

int RunWalInspect(const std::string& dir, bool json) {
  auto inspection = wal::InspectWal(dir);
  if (!inspection.ok()) return Fail(inspection.status());
  std::cout << (json ? wal::FormatInspectionJson(*inspection)
                     : wal::FormatInspectionText(*inspection));
  return inspection->ok() ? 0 : 2;
}

}  // namespace ingester
