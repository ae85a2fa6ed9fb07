// The HTTP/1.1 connection layer: every connection is multiplexed over a few I/O threads
// (Boost.Asio, one io_context per thread, the request parser of Boost.Beast); the
// handler (parsing and applying a write, which waits for the WAL's fsync, or pulling a
// query's next chunk) runs on a pool of worker threads, and its response goes back to
// the connection's I/O thread. An idle connection holds no thread and a few hundred
// bytes.
//
// Protocol (RFC 9112):
//   - framing: Content-Length (a list of equal values is one value; anything else that
//     is not a decimal number, or two different values: 400), chunked Transfer-Encoding
//     (with Content-Length: 400; chunked not last or repeated: 400; another transfer
//     coding: 501). A POST, PUT or PATCH without either: 411. HTTP/1.1 without exactly
//     one Host: 400. Versions other than 1.0 and 1.1: 505.
//   - limits: request line over `max_target_bytes` (or a line that does not end within
//     `max_header_bytes`): 414; header fields over `max_header_bytes` or more than
//     `max_headers` of them: 431; a body over `max_body_bytes` as sent (or once
//     decoded): 413, before reading it when Content-Length says so.
//   - Content-Encoding identity, gzip, deflate (content_coding.h); another: 415; data
//     that does not decode: 400.
//   - Expect: 100-continue is answered before the body is read; another expectation: 417.
//   - requests of one connection are answered in order (pipelining): the next request is
//     not read before the current response is written. A client that half-closes after
//     its request gets its response, then the connection is closed.
//   - every refusal at the protocol level is answered with a JSON {"error": ...} body
//     and Connection: close, and the handler never runs: nothing of a refused request is
//     applied. The connection is then closed gracefully (our side shut down, the client's
//     remaining bytes read and dropped for up to 2 s) so the client can read the answer.
//
// Timeouts: the whole header must arrive within `header_timeout` of its first byte (so a
// client dribbling bytes cannot hold a connection: slowloris), else 408; a body that
// makes no progress for `body_timeout` is abandoned with 408; a client that reads none of
// its response for `body_timeout` is disconnected; an idle keep-alive connection is
// closed after `idle_timeout`.
//
// TLS: with `tls` set the port speaks HTTPS only. The handshake must complete within
// `header_timeout` of the connection (else it is closed); a connection whose first byte
// does not open a TLS handshake (a plain HTTP request) is answered 400 in plain text and
// closed; a failed handshake closes the connection. Everything above then applies to
// the decrypted stream, and a connection ends with a TLS close_notify. An idle TLS
// connection holds no thread either, but its TLS state and a small read buffer (tens of
// KiB, against a few hundred bytes for plain HTTP).
//
// Connection limit: at most `max_connections` open at once (lowered to fit the process's
// file descriptor limit, which Start raises to its hard limit). A connection over the
// limit is accepted, answered 503 with Retry-After: 1 and Connection: close, and closed;
// past 256 such refusals in progress, further ones are closed at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <arrow/result.h>

#include "ingester/server/http_message.h"
#include "ingester/server/tls.h"

namespace ingester {

struct HttpFrontOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (see HttpFront::port)
  int io_threads = 2;
  // Threads running handlers; each waiting write holds one for its WAL fsync.
  int worker_threads = 64;
  int max_connections = 16'384;
  int64_t max_body_bytes = 10 * 1024 * 1024;
  int max_header_bytes = 16 * 1024;  // request line and header fields together
  int max_headers = 100;
  int max_target_bytes = 8 * 1024;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{120'000};
  // Set: HTTPS only (see "TLS" above); unset: plain HTTP.
  std::optional<TlsCredentials> tls;

  arrow::Status Validate() const;
};

class HttpFront {
 public:
  // Binds, raises the file descriptor limit and starts serving. `handler` runs on the
  // worker threads, concurrently; it must outlive the front.
  static arrow::Result<std::unique_ptr<HttpFront>> Start(const HttpFrontOptions& options,
                                                         HttpHandler handler);
  ~HttpFront();  // stops

  int port() const;
  // The connection limit in force (see the header comment).
  int max_connections() const;
  // Prometheus text: open, accepted and refused connections, requests, protocol
  // errors, timeouts.
  std::string MetricsText() const;

  // The first half of a graceful stop: stops accepting, closes idle keep-alive
  // connections, and lets every request under way (its header or body being received,
  // its handler running or its response being written) finish until `deadline`; each
  // is answered with Connection: close and no further request is read from its
  // connection. Returns how many were still under way at the deadline (Stop() then
  // closes them: their clients get an error, never a response for a write that was not
  // applied). Call once, before Stop().
  int Drain(std::chrono::steady_clock::time_point deadline);

  // Stops accepting, closes every connection at once (idle ones included), abandons
  // requests not yet started, waits for the running handlers and joins every thread.
  // Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit HttpFront(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ingester
