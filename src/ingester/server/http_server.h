// The HTTP API: InfluxDB-compatible line protocol writes (v1 /write, v2 /api/v2/write,
// v3 /api/v3/write_lp), reads (POST /api/v3/query?format=jsonl|csv|arrow|parquet with a
// Flight ticket as the body, streamed: query/result_stream.h), /health, /metrics, the
// catalog listing and the configure API (configure_api.h: databases and tables with
// partition templates). Served by
// cpp-httplib with a thread pool; each open keep-alive connection holds one thread.
#pragma once

#include <memory>
#include <string>

#include <arrow/result.h>

namespace ingester {

class Ingester;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see HttpServer::port)
  int threads = 256;
  int64_t max_request_bytes = 10 * 1024 * 1024;
  std::string token;  // empty: no authentication
};

class HttpServer {
 public:
  // Binds and starts serving on a background thread. `ingester` must outlive the server.
  static arrow::Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                          Ingester* ingester);
  ~HttpServer();  // stops

  int port() const;
  // Stops accepting, closes connections and joins the serving thread. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ingester
