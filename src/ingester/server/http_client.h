// A small blocking HTTP/1.1 client over one keep-alive connection, for `ingester write`;
// HTTPS after EnableTls. Not thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <arrow/result.h>

namespace ingester {

struct HttpClientResponse {
  int status = 0;
  std::string body;
};

class HttpClient {
 public:
  // `host_port` is HOST:PORT. Connects on first use; `timeout` bounds each send and
  // each receive.
  HttpClient(std::string host_port, std::string bearer_token,
             std::chrono::seconds timeout = std::chrono::seconds(60));
  ~HttpClient();

  // Speaks HTTPS from the next connection on, verifying the server's certificate chain
  // against the CA certificates in `ca_file` (PEM), or the system's when it is empty,
  // and its name (or IP address) against the host of `host_port`. Errors name the file.
  arrow::Status EnableTls(const std::string& ca_file);

  // POSTs `body` to `target` (path and query, already encoded). A request on a kept
  // connection that the server had closed meanwhile (nothing of a response came back)
  // is sent once more on a new connection. IOError when the server cannot be reached
  // or the exchange fails.
  arrow::Result<HttpClientResponse> Post(const std::string& target,
                                         const std::string& body,
                                         const std::string& content_type);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes everything but unreserved characters (RFC 3986), for query values.
std::string UrlEncode(std::string_view in);

}  // namespace ingester
