// The HTTP API of the ingester: InfluxDB-compatible line protocol writes (v1 /write, v2
// /api/v2/write, v3 /api/v3/write_lp), reads (POST /api/v3/query?format=jsonl|csv|arrow|
// parquet with a Flight ticket as the body, streamed: query/result_stream.h), /health,
// /ping, /metrics, the catalog listing (/api/v3/catalog) and the configure API
// (configure_api.h: databases and tables with partition templates). The routes are plain
// functions over HttpRequest/HttpResponse (http_message.h), served by HttpFront
// (http_front.h: connections, framing, limits, timeouts).
#pragma once

#include <memory>
#include <string>

#include <arrow/result.h>

#include "ingester/server/http_front.h"
#include "ingester/server/http_message.h"

namespace ingester {

class Ingester;

struct HttpServerOptions {
  HttpFrontOptions front;  // address, threads, connection limit, request limits, timeouts
  std::string token;       // empty: no authentication
  // /metrics answers without the token (for scrapers); /health always does.
  bool open_metrics = false;
};

// Every route of the API. `ingester` must outlive the router; `front_metrics` (may be
// empty) adds the connection layer's metrics to /metrics. With a token, every route but
// /health needs it, and /metrics too unless `open_metrics`.
HttpRouter MakeIngesterRoutes(Ingester* ingester, std::string token, bool open_metrics,
                              std::function<std::string()> front_metrics);

class HttpServer {
 public:
  // Binds and starts serving. `ingester` must outlive the server.
  static arrow::Result<std::unique_ptr<HttpServer>> Start(
      const HttpServerOptions& options, Ingester* ingester);
  ~HttpServer();  // stops

  int port() const;
  // Stops accepting and lets the requests under way finish until `deadline`
  // (HttpFront::Drain). Returns how many were still under way then.
  int Drain(std::chrono::steady_clock::time_point deadline);
  // Stops accepting, closes every connection (idle keep-alive ones at once) and joins
  // the threads; a request not yet started is dropped, never acknowledged. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ingester
