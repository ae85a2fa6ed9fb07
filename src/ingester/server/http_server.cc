#include "ingester/server/http_server.h"

#include <atomic>
#include <cstdlib>

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <string_view>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "ingester/common/error.h"
#include "ingester/common/json.h"
#include "ingester/query/query_exec.h"
#include "ingester/query/result_stream.h"
#include "ingester/query/ticket.h"
#include "ingester/server/configure_api.h"
#include "ingester/server/ingester.h"

namespace ingester {

namespace {

// Where each write endpoint finds its namespace and which options it defaults.
struct WriteEndpoint {
  const char* path;
  const char* namespace_param;
};
constexpr WriteEndpoint kWriteEndpoints[] = {
    {"/api/v3/write_lp", "db"},
    {"/api/v2/write", "bucket"},
    {"/write", "db"},
};

void SetJsonError(httplib::Response& res, int status, std::string_view message) {
  res.status = status;
  res.set_content(JsonErrorBody(message), "application/json");
}

void SetReply(httplib::Response& res, const HttpReply& reply) {
  res.status = reply.status;
  res.set_content(reply.body, "application/json");
}

int HttpStatusFor(const arrow::Status& status) {
  switch (ErrorKindOf(status).value_or(ErrorKind::kRetryable)) {
    case ErrorKind::kInvalidInput:
    case ErrorKind::kConflict:
      return 400;
    case ErrorKind::kNotFound:
      return 404;
    case ErrorKind::kTooLarge:
      return 413;
    case ErrorKind::kLimit:
      return 422;
    case ErrorKind::kBackpressure:
      return 503;
    case ErrorKind::kRetryable:
    case ErrorKind::kDataLoss:
      return 500;
  }
  return 500;
}

bool ParseBoolParam(const httplib::Request& req, const char* name, bool fallback, bool* out) {
  if (!req.has_param(name)) {
    *out = fallback;
    return true;
  }
  const std::string& v = req.get_param_value(name);
  if (v == "true" || v == "1") {
    *out = true;
  } else if (v == "false" || v == "0") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

std::string RejectedLinesJson(const WriteSummary& summary) {
  std::string body = "{\"error\":";
  json::AppendString(&body, summary.lines_written > 0
                                ? "partial write of line protocol occurred"
                                : "no line of the request was written");
  body += ",\"lines_written\":" + std::to_string(summary.lines_written);
  body += ",\"data\":[";
  bool first = true;
  for (const auto& r : summary.rejected) {
    if (!first) body += ",";
    first = false;
    body += "{\"line_number\":" + std::to_string(r.line_number);
    body += ",\"column\":" + std::to_string(r.column);
    body += ",\"error_message\":";
    json::AppendString(&body, r.message);
    body += ",\"original_line\":";
    json::AppendString(&body, r.original_line);
    body += "}";
  }
  body += "]}";
  return body;
}

// A download's file name: the table's name with anything outside [A-Za-z0-9._-]
// replaced, so it can be quoted in Content-Disposition as it is.
std::string DownloadName(std::string_view table, query::ResultFormat format) {
  std::string name;
  for (char c : table) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    name += plain ? c : '_';
  }
  return name + "." + std::string(query::ResultFormatName(format));
}

// Shuts down (both directions) every accepted connection of the server listening on
// `port`: the process's TCP sockets bound to that local port that are not listening.
// cpp-httplib 0.11 keeps a worker waiting on an idle keep-alive connection until the
// keep-alive timeout (30 s) even after stop(), and joins those workers before returning,
// so without this a client holding a pooled connection would delay every shutdown by up
// to 30 s. Called after stop() (no new connections) and after the ingester refused new
// writes: a request cut here was not going to be acknowledged.
int ShutDownConnectionsOnPort(int port) {
  int closed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int listening = 0;
    socklen_t opt_len = sizeof(listening);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &opt_len) != 0 || listening) {
      continue;  // not a socket, or a listening one
    }
    int local_port = -1;
    if (addr.ss_family == AF_INET) {
      local_port = ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
    } else if (addr.ss_family == AF_INET6) {
      local_port = ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
    }
    // An outgoing connection cannot have our listening port as its local port, so a
    // socket bound to it is one the server accepted.
    if (local_port == port && ::shutdown(fd, SHUT_RDWR) == 0) ++closed;
  }
  return closed;
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  Ingester* ingester;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::atomic<bool> stopped{false};

  // True when the request carries the configured token: "Authorization: Bearer T" (v3),
  // "Token T" (v2), Basic auth with T as password or ?p=T (v1).
  bool Authorized(const httplib::Request& req) const {
    if (options.token.empty()) return true;
    const std::string auth = req.get_header_value("Authorization");
    for (std::string_view scheme : {"Bearer ", "Token "}) {
      if (auth.size() > scheme.size() && std::string_view(auth).substr(0, scheme.size()) == scheme &&
          std::string_view(auth).substr(scheme.size()) == options.token) {
        return true;
      }
    }
    if (std::string_view(auth).substr(0, 6) == "Basic ") {
      // Any user name; the token is the password.
      std::string plain = DecodeBase64(std::string_view(auth).substr(6));
      auto colon = plain.find(':');
      if (colon != std::string::npos && plain.substr(colon + 1) == options.token) return true;
    }
    return req.has_param("p") && req.get_param_value("p") == options.token;
  }

  static std::string DecodeBase64(std::string_view in) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
      if (c == '=') break;
      auto pos = kAlphabet.find(c);
      if (pos == std::string_view::npos) return "";
      acc = (acc << 6) | static_cast<uint32_t>(pos);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(static_cast<char>((acc >> bits) & 0xFF));
      }
    }
    return out;
  }

  void HandleWrite(const WriteEndpoint& endpoint, const httplib::Request& req,
                   httplib::Response& res, const httplib::ContentReader& content_reader) {
    if (!Authorized(req)) {
      res.set_header("WWW-Authenticate", "Bearer");
      return SetJsonError(res, 401, "missing or invalid token");
    }
    // Read the body (cpp-httplib has already inflated a gzip Content-Encoding), refusing
    // to hold more than the limit: a Content-Length over it is refused before reading,
    // and a chunked or compressed body stops being read once it grows past it.
    std::string body;
    if (req.has_header("Content-Length")) {
      uint64_t declared = std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
      if (declared > static_cast<uint64_t>(options.max_request_bytes)) {
        return SetJsonError(res, 413, "request body of " + std::to_string(declared) +
                                          " bytes is over the limit of " +
                                          std::to_string(options.max_request_bytes));
      }
      body.reserve(declared);
    }
    bool too_large = false;
    bool read_ok = content_reader([&](const char* data, size_t len) {
      if (body.size() + len > static_cast<uint64_t>(options.max_request_bytes)) {
        too_large = true;
        return false;
      }
      body.append(data, len);
      return true;
    });
    if (too_large || res.status == 413) {
      return SetJsonError(res, 413, "request body is over the limit of " +
                                        std::to_string(options.max_request_bytes) + " bytes");
    }
    if (!read_ok) {
      if (res.status == 415) return SetJsonError(res, 415, "unsupported Content-Encoding");
      return SetJsonError(res, 400, "could not read the request body");
    }

    std::string ns = req.get_param_value(endpoint.namespace_param);
    if (ns.empty()) {
      return SetJsonError(res, 400, std::string("missing the '") + endpoint.namespace_param +
                                        "' query parameter naming the database");
    }
    LineProtocolWrite write;
    write.namespace_name = ns;
    write.body = body;
    std::string precision = req.has_param("precision") ? req.get_param_value("precision") : "auto";
    write.precision = precision;
    bool no_sync = false;
    if (!ParseBoolParam(req, "accept_partial", true, &write.accept_partial) ||
        !ParseBoolParam(req, "no_sync", false, &no_sync)) {
      return SetJsonError(res, 400, "accept_partial and no_sync take true or false");
    }
    write.sync = !no_sync;

    auto result = ingester->WriteLineProtocol(write);
    if (!result.ok()) {
      int status = HttpStatusFor(result.status());
      if (status == 503) {
        // Backpressure: its start and end are logged where it is set and cleared; one
        // line per refused write would flood the log exactly when the server is busiest.
        res.set_header("Retry-After", "1");
        spdlog::debug("write to '{}' refused: {}", ns, result.status().ToString());
      } else if (status >= 500) {
        spdlog::warn("write to '{}' failed: {}", ns, result.status().ToString());
      }
      return SetJsonError(res, status, result.status().message());
    }
    if (!result->rejected.empty()) {
      res.status = 400;
      res.set_content(RejectedLinesJson(*result), "application/json");
      return;
    }
    res.status = 204;
  }

  // POST /api/v3/query?format=jsonl|csv|arrow|parquet, body = a Flight ticket (JSON).
  // Every refusal comes before the first byte of the result, with a status: 401, 400
  // (bad format or ticket, bad column), 404 (unknown namespace or table), 503 with
  // Retry-After (over the concurrent query limit). The result is then streamed with
  // chunked transfer encoding, one chunk per pull (query/result_stream.h), holding the
  // query (and its slot of the limit) until the last chunk is written or the client goes
  // away. An error after the first byte cannot change the status any more: the
  // connection is cut without the final chunk, so the client sees a truncated response,
  // never a short result that looks complete.
  void HandleQuery(const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req)) {
      res.set_header("WWW-Authenticate", "Bearer");
      return SetJsonError(res, 401, "missing or invalid token");
    }
    auto format = query::ParseResultFormat(
        req.has_param("format") ? req.get_param_value("format") : "jsonl");
    if (!format.ok()) return SetJsonError(res, 400, format.status().message());
    auto request = query::ParseTicket(req.body);
    if (!request.ok()) return SetJsonError(res, 400, request.status().message());
    auto response = ingester->query_exec()->Query(*request);
    if (!response.ok()) {
      const int status = HttpStatusFor(response.status());
      if (status == 503) res.set_header("Retry-After", "1");
      if (status >= 500 && status != 503) {
        spdlog::warn("query of '{}'.'{}' failed: {}", request->namespace_name,
                     request->table_name, response.status().ToString());
      }
      return SetJsonError(res, status, response.status().message());
    }
    query::ResultStreamOptions stream_options;
    stream_options.format = *format;
    auto made = query::ResultStream::Make(std::move(*response), stream_options);
    if (!made.ok()) return SetJsonError(res, 500, made.status().message());
    if (query::IsBinaryFormat(*format)) {
      res.set_header(
          "Content-Disposition",
          "attachment; filename=\"" + DownloadName(request->table_name, *format) + "\"");
    }
    // std::function needs a copyable provider: the stream is shared between the
    // provider and the releaser, which drops it (and the query) once the response is
    // written or abandoned.
    auto stream =
        std::make_shared<std::unique_ptr<query::ResultStream>>(std::move(*made));
    std::string what = request->namespace_name + "'.'" + request->table_name;
    res.set_chunked_content_provider(
        std::string(query::ContentTypeOf(*format)),
        [stream, what](size_t, httplib::DataSink& sink) {
          if (*stream == nullptr) return false;
          auto chunk = (*stream)->Next();
          if (!chunk.ok()) {
            spdlog::warn("query of '{}' failed while streaming: {}", what,
                         chunk.status().ToString());
            stream->reset();
            return false;  // cut the connection: no final chunk
          }
          if (!chunk->has_value()) {
            stream->reset();
            sink.done();
            return true;
          }
          // Never an empty write: cpp-httplib 0.11 takes one for the end of the data.
          return sink.write((*chunk)->data(), (*chunk)->size());
        },
        [stream](bool) { stream->reset(); });
  }

  void InstallRoutes() {
    for (const auto& endpoint : kWriteEndpoints) {
      server.Post(endpoint.path, [this, &endpoint](const httplib::Request& req,
                                                   httplib::Response& res,
                                                   const httplib::ContentReader& reader) {
        HandleWrite(endpoint, req, res, reader);
      });
    }
    server.Post("/api/v3/query",
                [this](const httplib::Request& req, httplib::Response& res) {
                  HandleQuery(req, res);
                });
    server.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      auto status = ingester->CheckHealth();
      if (status.ok()) {
        res.set_content("{\"status\":\"pass\"}", "application/json");
      } else {
        res.status = 503;
        res.set_header("Retry-After", "1");
        res.set_content("{\"status\":\"fail\",\"message\":" + json::Quote(status.message()) + "}",
                        "application/json");
      }
    });
    server.Get("/ping", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(ingester->MetricsText(), "text/plain; version=0.0.4");
    });
    server.Get("/api/v3/catalog", [this](const httplib::Request& req, httplib::Response& res) {
      if (!Authorized(req)) return SetJsonError(res, 401, "missing or invalid token");
      auto listing = ingester->CatalogJson(req.get_param_value("files") == "true");
      if (!listing.ok()) return SetJsonError(res, 500, listing.status().message());
      res.set_content(*listing, "application/json");
    });
    // Configure API (configure_api.h). Bodies are small; cpp-httplib reads them whole,
    // up to the request size limit.
    server.Post("/api/v3/configure/database",
                [this](const httplib::Request& req, httplib::Response& res) {
                  if (!Authorized(req))
                    return SetJsonError(res, 401, "missing or invalid token");
                  SetReply(res, ConfigureDatabase(ingester, req.body));
                });
    server.Get("/api/v3/configure/database",
               [this](const httplib::Request& req, httplib::Response& res) {
                 if (!Authorized(req))
                   return SetJsonError(res, 401, "missing or invalid token");
                 SetReply(res, ListDatabases(ingester));
               });
    server.Post("/api/v3/configure/table",
                [this](const httplib::Request& req, httplib::Response& res) {
                  if (!Authorized(req))
                    return SetJsonError(res, 401, "missing or invalid token");
                  SetReply(res, ConfigureTable(ingester, req.body));
                });
    server.set_exception_handler(
        [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "unknown error";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          spdlog::error("HTTP {} {}: {}", req.method, req.path, what);
          SetJsonError(res, 500, what);
        });
  }
};

arrow::Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              Ingester* ingester) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->ingester = ingester;
  const int threads = options.threads;
  impl->server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  impl->server.set_keep_alive_max_count(1'000'000);
  impl->server.set_keep_alive_timeout(30);
  impl->server.set_read_timeout(30);
  impl->server.set_write_timeout(30);
  impl->server.set_tcp_nodelay(true);
  // A body whose Content-Length is over the limit is answered 413 without being read whole.
  impl->server.set_payload_max_length(static_cast<size_t>(options.max_request_bytes));
  impl->InstallRoutes();
  // cpp-httplib 0.11 listens with a backlog of 5, so a burst of new connections overflows
  // the accept queue and clients see reset connections. Remember the listening socket
  // here (called just before bind) and raise its backlog once bound: Linux lets listen()
  // be called again on a listening socket to change it.
  int listen_fd = -1;
  impl->server.set_socket_options([&listen_fd](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_fd = sock;
  });

  if (options.port == 0) {
    impl->port = impl->server.bind_to_any_port(options.host);
  } else if (impl->server.bind_to_port(options.host, options.port)) {
    impl->port = options.port;
  } else {
    impl->port = -1;
  }
  if (impl->port <= 0) {
    return arrow::Status::IOError("cannot listen for HTTP on ", options.host, ":", options.port);
  }
  if (listen_fd < 0 || ::listen(listen_fd, SOMAXCONN) != 0) {
    spdlog::warn("could not raise the HTTP listen backlog; bursts of connections may be refused");
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->server.listen_after_bind(); });
  // cpp-httplib's stop() is a no-op until the accept loop has marked itself running, so a
  // server stopped right after starting would leave that loop blocked in accept() forever.
  // Return only once it runs (cpp-httplib 0.11 has no wait_until_ready()).
  for (int i = 0; i < 5000 && !impl->server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!impl->server.is_running()) {
    // Unblock accept() (if the loop got that far) so the thread can be joined.
    if (listen_fd >= 0) ::shutdown(listen_fd, SHUT_RDWR);
    impl->thread.join();
    return arrow::Status::IOError("the HTTP server did not start within 5 s");
  }
  spdlog::info("HTTP API listening on {}:{}", options.host, impl->port);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  if (impl_->stopped.exchange(true)) return;
  impl_->server.stop();
  if (const int closed = ShutDownConnectionsOnPort(impl_->port); closed > 0) {
    spdlog::info("HTTP: closed {} open client connection(s)", closed);
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace ingester
