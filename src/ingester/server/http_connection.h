// Internal to the server module (http_front.cc and http_connection.cc): one HTTP/1.1
// connection, whose protocol http_front.h describes, the I/O thread ("shard") it lives
// on, and what every connection shares with the front.
#pragma once

#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <utility>  // before Boost.Asio 1.74, whose awaitable.hpp misses it

#include <boost/asio.hpp>
#include <boost/asio/ssl/context.hpp>

#include "ingester/common/metrics.h"
#include "ingester/server/content_coding.h"
#include "ingester/server/http_front.h"
#include "ingester/server/http_message.h"

namespace ingester::http_internal {

// What the connections share with their front; outlives every connection.
struct FrontState {
  HttpFrontOptions options;
  HttpHandler handler;
  int max_connections = 0;  // in force (HttpFront::max_connections)
  boost::asio::thread_pool* workers = nullptr;
  // Set when the front serves HTTPS (options.tls): every connection speaks TLS.
  std::unique_ptr<boost::asio::ssl::context> tls_context;
  std::atomic<int> open{0};      // connections counted against max_connections
  std::atomic<int> refusing{0};  // connections being answered 503
  std::atomic<bool> stopping{false};
  // HttpFront::Drain: no new request is read; responses close their connection.
  std::atomic<bool> draining{false};

  MetricsRegistry metrics;
  Gauge* open_gauge =
      metrics.AddGauge("ingester_http_connections", "Open HTTP connections");
  Counter* accepted = metrics.AddCounter("ingester_http_connections_accepted_total",
                                         "HTTP connections accepted");
  Counter* refused = metrics.AddCounter(
      "ingester_http_connections_refused_total",
      "HTTP connections refused (503) or closed at once over --max-http-connections");
  Counter* requests = metrics.AddCounter("ingester_http_requests_total",
                                         "HTTP requests handed to a route");
  Counter* malformed = metrics.AddCounter(
      "ingester_http_protocol_errors_total",
      "HTTP requests refused by the connection layer (framing, limits, encodings)");
  Counter* tls_failures = metrics.AddCounter(
      "ingester_http_tls_failures_total",
      "HTTPS connections closed for a failed TLS handshake or a plain HTTP request");
  Counter* timeouts =
      metrics.AddCounter("ingester_http_timeouts_total",
                         "HTTP connections closed for a header, body, write or TLS "
                         "handshake timeout");

  // Every error answer (status >= 400), by status: a route's, the connection layer's
  // and the connection limit's (ingester_http_refusals_total{status, code}).
  std::vector<std::pair<int, Counter*>> refusals = RegisterRefusals(&metrics);
  void CountRefusal(int status) const;
  static std::vector<std::pair<int, Counter*>> RegisterRefusals(MetricsRegistry* metrics);

  // On a worker: decodes the body (413/415/400 when it cannot) and runs the handler.
  HttpResponse Run(HttpRequest& request, ContentCoding coding) const;
};

struct Shard;

class HttpConnection {
 public:
  virtual ~HttpConnection() = default;
  // The caller has counted the connection in front->open, or in front->refusing when
  // `refusal` (it is then answered 503 and closed); Close uncounts it. `front` and
  // `shard` must outlive it.
  static std::shared_ptr<HttpConnection> Make(FrontState* front, Shard* shard,
                                              boost::asio::ip::tcp::socket socket,
                                              bool refusal);
  // On the shard's thread, like every other call: registers with the shard and serves.
  virtual void Start() = 0;
  // Closes the socket at once and unregisters. Idempotent.
  virtual void Close() = 0;
  // A request is under way (header or body being read, handler running, response being
  // written): not idle, lingering or closed.
  virtual bool Busy() const = 0;
  // Acts on an expired header, body, write, idle or linger deadline.
  virtual void CheckDeadline(std::chrono::steady_clock::time_point now) = 0;
};

// One I/O thread: its io_context, its connections and the timer that checks their
// deadlines. Everything here but `ctx` is touched only on that thread.
struct Shard {
  Shard();
  boost::asio::io_context ctx;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{
      ctx.get_executor()};
  boost::asio::steady_timer sweep{ctx};
  std::string date;  // the Date header, refreshed by the sweep
  std::list<std::shared_ptr<HttpConnection>> connections;
  std::thread thread;

  // Checks deadlines every 100 ms until the front stops.
  void Sweep(FrontState* front);
};

}  // namespace ingester::http_internal
