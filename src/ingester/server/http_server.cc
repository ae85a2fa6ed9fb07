#include "ingester/server/http_server.h"

#include <atomic>
#include <string_view>

#include <spdlog/spdlog.h>

#include "ingester/common/build_info.h"
#include "ingester/common/error.h"
#include "ingester/common/json.h"
#include "ingester/common/secret.h"
#include "ingester/query/peer_query_exec.h"
#include "ingester/query/query_exec.h"
#include "ingester/query/result_stream.h"
#include "ingester/query/ticket.h"
#include "ingester/query/wire_tags.h"
#include "ingester/server/configure_api.h"
#include "ingester/server/influxql_api.h"
#include "ingester/server/ingester.h"

namespace ingester {

namespace {

// What every route may need.
struct RouteContext {
  Ingester* ingester;
  std::string token;  // empty: no authentication
  bool open_metrics;  // /metrics answers without the token
  std::function<std::string()> front_metrics;
};

// Where each write endpoint finds its namespace, and which error body it answers.
struct WriteEndpoint {
  const char* path;
  const char* namespace_param;
  // InfluxDB 2's {"code", "message"} error bodies (and `bucket=db/rp`); else the
  // {"error": ...} of v1 and v3.
  bool v2;
};
constexpr WriteEndpoint kWriteEndpoints[] = {
    {"/api/v3/write_lp", "db", false},
    {"/api/v2/write", "bucket", true},
    {"/write", "db", false},
};

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

// `fallback` when the parameter is absent; false for a value other than true/1/false/0.
bool ParseBoolParam(const HttpRequest& req, std::string_view name, bool fallback,
                    bool* out) {
  const auto v = req.Param(name);
  if (!v) {
    *out = fallback;
    return true;
  }
  if (*v == "true" || *v == "1") {
    *out = true;
  } else if (*v == "false" || *v == "0") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

// The rejected lines as JSON members: ,"lines_written":N,"data":[{line_number, column,
// error_message, original_line}, ...].
std::string RejectedLinesMembers(const WriteSummary& summary) {
  std::string body = ",\"lines_written\":" + std::to_string(summary.lines_written);
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
  body += "]";
  return body;
}

std::string_view RejectedSummary(const WriteSummary& summary) {
  return summary.lines_written > 0 ? "partial write of line protocol occurred"
                                   : "no line of the request was written";
}

// The v1/v3 body: {"error": summary, "lines_written": N, "data": [...]}.
std::string RejectedLinesJson(const WriteSummary& summary) {
  std::string body = "{\"error\":";
  json::AppendString(&body, RejectedSummary(summary));
  return body + RejectedLinesMembers(summary) + "}";
}

// The v2 reply: {"code": "invalid", "message": ..., "lines_written", "data"}. Clients
// show only the message, so it names the first rejected line and why.
HttpResponse RejectedLinesV2(const WriteSummary& summary) {
  std::string message(RejectedSummary(summary));
  const RejectedLine& r = summary.rejected.front();
  message += ": line " + std::to_string(r.line_number);
  if (r.column > 0) message += ", column " + std::to_string(r.column);
  message += ": " + r.message;
  if (summary.rejected.size() > 1) {
    message += " (and " + std::to_string(summary.rejected.size() - 1) +
               " more rejected line(s), listed in \"data\")";
  }
  return HttpResponse::InfluxError(400, message, RejectedLinesMembers(summary));
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

std::string DecodeBase64(std::string_view in) {
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

// True when the request carries the configured token: "Authorization: Bearer T" (v3),
// "Token T" (v2), Basic auth with T as password or ?p=T (v1).
// Tokens are compared in constant time (common/secret.h).
bool Authorized(const RouteContext& ctx, const HttpRequest& req) {
  if (ctx.token.empty()) return true;
  const std::string_view auth = req.Header("Authorization");
  for (std::string_view scheme : {"Bearer ", "Token "}) {
    if (auth.size() > scheme.size() && auth.substr(0, scheme.size()) == scheme &&
        ConstantTimeEquals(auth.substr(scheme.size()), ctx.token)) {
      return true;
    }
  }
  if (auth.substr(0, 6) == "Basic ") {
    // Any user name; the token is the password.
    const std::string plain = DecodeBase64(auth.substr(6));
    const auto colon = plain.find(':');
    if (colon != std::string::npos &&
        ConstantTimeEquals(std::string_view(plain).substr(colon + 1), ctx.token)) {
      return true;
    }
  }
  const auto password = req.Param("p");
  return password.has_value() && ConstantTimeEquals(*password, ctx.token);
}

HttpResponse Unauthorized(bool v2 = false) {
  constexpr std::string_view kMessage = "missing or invalid token";
  auto res = v2 ? HttpResponse::InfluxError(401, kMessage)
                : HttpResponse::JsonError(401, kMessage);
  res.SetHeader("WWW-Authenticate", "Bearer");
  return res;
}

// An error in the endpoint's dialect (WriteEndpoint::v2).
HttpResponse WriteError(const WriteEndpoint& endpoint, int status,
                        std::string_view message) {
  return endpoint.v2 ? HttpResponse::InfluxError(status, message)
                     : HttpResponse::JsonError(status, message);
}

// The namespace of a v2 `bucket`: "db", "db/" or "db/autogen" as InfluxDB 1.8's
// compatibility API takes them; an error message for another retention policy.
arrow::Result<std::string> NamespaceOfBucket(std::string_view bucket) {
  const auto slash = bucket.find('/');
  if (slash == std::string_view::npos) return std::string(bucket);
  const std::string_view rp = bucket.substr(slash + 1);
  if (!rp.empty() && rp != "autogen") {
    return arrow::Status::Invalid("retention policy not found: ", rp,
                                  " (bucket 'database/retention-policy' takes only "
                                  "'autogen', the one retention policy of this server)");
  }
  return std::string(bucket.substr(0, slash));
}

// The body arrives read whole and decoded, within --max-http-request-size (the
// connection layer answers 413/415/400 before a handler runs).
HttpResponse HandleWrite(const RouteContext& ctx, const WriteEndpoint& endpoint,
                         const HttpRequest& req) {
  if (!Authorized(ctx, req)) return Unauthorized(endpoint.v2);
  std::string ns = req.ParamOr(endpoint.namespace_param, "");
  if (endpoint.v2) {
    auto bucket = NamespaceOfBucket(ns);
    if (!bucket.ok()) return WriteError(endpoint, 404, bucket.status().message());
    ns = std::move(*bucket);
  }
  if (ns.empty()) {
    return WriteError(endpoint, 400,
                      std::string("missing the '") + endpoint.namespace_param +
                          "' query parameter naming the database");
  }
  const std::string precision = req.ParamOr("precision", "auto");
  LineProtocolWrite write;
  write.namespace_name = ns;
  write.body = req.body;
  write.precision = precision;
  bool no_sync = false;
  if (!ParseBoolParam(req, "accept_partial", true, &write.accept_partial) ||
      !ParseBoolParam(req, "no_sync", false, &no_sync)) {
    return WriteError(endpoint, 400, "accept_partial and no_sync take true or false");
  }
  write.sync = !no_sync;

  auto result = ctx.ingester->WriteLineProtocol(write);
  if (!result.ok()) {
    const int status = HttpStatusFor(result.status());
    auto res = WriteError(endpoint, status, ctx.ingester->ClientMessage(result.status()));
    if (status == 503) {
      // Backpressure: its start and end are logged where it is set and cleared; one
      // line per refused write would flood the log exactly when the server is busiest.
      res.SetHeader("Retry-After", "1");
      spdlog::debug("write to '{}' refused: {}", ns, result.status().ToString());
    } else if (status >= 500) {
      spdlog::warn("write to '{}' failed: {}", ns, result.status().ToString());
    }
    return res;
  }
  if (!result->rejected.empty()) {
    if (endpoint.v2) return RejectedLinesV2(*result);
    return HttpResponse::Json(400, RejectedLinesJson(*result));
  }
  HttpResponse res;
  res.status = 204;
  return res;
}

// POST /api/v3/query?format=jsonl|csv|arrow|parquet, body = a Flight ticket (JSON).
// A ticket with "partial": true gets the header X-Ingester-Missing-Peers: the addresses
// of the peers left out, comma-separated (empty when every peer answered); the Arrow and
// Parquet formats also carry them in the schema metadata (ingester.missing_peers).
// Every refusal comes before the first byte of the result, with a status: 401, 400
// (bad format or ticket, bad column), 404 (unknown namespace or table), 503 with
// Retry-After (over the concurrent query limit). The result is then streamed with
// chunked transfer encoding, one chunk per pull (query/result_stream.h), holding the
// query (and its slot of the limit) until the last chunk is written or the client goes
// away. The first two chunks (a header and the first data) are pulled before the
// status is chosen, so a failure reading the first partition is an error status. An
// error after the first byte cannot change the status any more: the connection is cut
// without the final chunk, so the client sees a truncated response, never a short
// result that looks complete.
HttpResponse HandleQuery(const RouteContext& ctx, const HttpRequest& req) {
  if (!Authorized(ctx, req)) return Unauthorized();
  auto format = query::ParseResultFormat(req.ParamOr("format", "jsonl"));
  if (!format.ok()) return HttpResponse::JsonError(400, format.status().message());
  auto request = query::ParseTicket(req.body);
  if (!request.ok()) return HttpResponse::JsonError(400, request.status().message());
  auto response = ctx.ingester->query_exec()->Query(*request);
  if (!response.ok()) {
    const int status = HttpStatusFor(response.status());
    auto res =
        HttpResponse::JsonError(status, ctx.ingester->ClientMessage(response.status()));
    if (status == 503) res.SetHeader("Retry-After", "1");
    if (status >= 500 && status != 503) {
      spdlog::warn("query of '{}'.'{}' failed: {}", request->namespace_name,
                   request->table_name, response.status().ToString());
    }
    return res;
  }
  // A partial query names the peers it left out (peer_query_exec.h).
  const auto missing_peers = query::MissingPeers(*(*response)->schema());
  query::ResultStreamOptions stream_options;
  stream_options.format = *format;
  // Only the Arrow stream carries the ticket's tag index type; the text formats print
  // values and Parquet readers rebuild int32 dictionaries anyway.
  auto out = *format == query::ResultFormat::kArrow
                 ? query::WithTagIndexType(std::move(*response), request->tag_index_type)
                 : std::move(*response);
  auto made = query::ResultStream::Make(std::move(out), stream_options);
  if (!made.ok()) {
    return HttpResponse::JsonError(500, ctx.ingester->ClientMessage(made.status()));
  }
  HttpResponse res;
  res.SetHeader("Content-Type", std::string(query::ContentTypeOf(*format)));
  if (missing_peers.has_value()) {
    std::string list;
    for (const auto& peer : *missing_peers) list += (list.empty() ? "" : ",") + peer;
    res.SetHeader("X-Ingester-Missing-Peers", list);
  }
  if (query::IsBinaryFormat(*format)) {
    res.SetHeader(
        "Content-Disposition",
        "attachment; filename=\"" + DownloadName(request->table_name, *format) + "\"");
  }
  // std::function needs a copyable callable: the stream is shared, and released with
  // the function (at the end, on an error or when the client goes away).
  std::shared_ptr<query::ResultStream> stream = std::move(*made);
  std::string what = request->namespace_name + "'.'" + request->table_name;
  // The first data is pulled before the status is chosen, so that an error reading the
  // first partition (a missing Parquet file, say) is a 500 naming it rather than a cut
  // connection. CSV and Arrow streams start with a header chunk alone (the header line,
  // the schema), so two chunks are pulled for every format.
  struct Prefetched {
    std::string data;
    bool ended = false;
  };
  auto first = std::make_shared<Prefetched>();
  for (int pulls = 2; pulls > 0; --pulls) {
    auto chunk = stream->Next();
    if (!chunk.ok()) {
      spdlog::warn("query of '{}' failed: {}", what, chunk.status().ToString());
      return HttpResponse::JsonError(HttpStatusFor(chunk.status()),
                                     ctx.ingester->ClientMessage(chunk.status()));
    }
    if (!chunk->has_value()) {
      first->ended = true;
      break;
    }
    first->data += **chunk;
  }
  res.stream = [stream, what, first]() -> arrow::Result<std::optional<std::string>> {
    if (!first->data.empty()) {
      std::string out = std::move(first->data);
      first->data.clear();
      return out;
    }
    if (first->ended) return std::nullopt;
    auto chunk = stream->Next();
    if (!chunk.ok()) {
      spdlog::warn("query of '{}' failed while streaming: {}", what,
                   chunk.status().ToString());
    }
    return chunk;
  };
  return res;
}

// The headers by which InfluxDB clients recognise the server (the Python v1 client's
// ping() reads X-Influxdb-Version).
void SetVersionHeaders(HttpResponse* res) {
  res->SetHeader("X-Influxdb-Version", std::string(BuildVersion()));
  res->SetHeader("X-Influxdb-Build", std::string(BuildName()));
}

// InfluxDB 2's health check: {"name", "message", "status": "pass"|"fail", "checks",
// "version"}, plus this ingester's "ingester_id" and its configured "peers"; 503 with
// Retry-After while writes are refused. A partition that cannot be persisted is a failing
// check under a passing status ("degraded"): writes are accepted and acknowledged
// durably, so a load balancer keeps sending them (200), while the message tells the
// operator what to fix (docs/architecture.md, "Persist failures"). Only "pass" and "fail"
// exist in InfluxDB's schema: its clients refuse other values.
HttpResponse HandleHealth(const RouteContext& ctx, const HttpRequest&) {
  auto status = ctx.ingester->CheckHealth();
  const bool pass = status.ok();
  const std::string warning = pass ? ctx.ingester->HealthWarning() : std::string();
  std::string body = "{\"name\":" + json::Quote(BuildName()) + ",\"message\":";
  json::AppendString(&body, !pass             ? ctx.ingester->ClientMessage(status)
                            : warning.empty() ? std::string("ready for writes")
                                              : warning);
  body += ",\"status\":";
  body += pass ? "\"pass\"" : "\"fail\"";
  body += ",\"checks\":[";
  if (!warning.empty()) {
    body +=
        "{\"name\":\"persist\",\"status\":\"fail\",\"message\":" + json::Quote(warning) +
        "}";
  }
  body += "],\"version\":" + json::Quote(BuildVersion());
  body += ",\"ingester_id\":" + json::Quote(ctx.ingester->ingester_id());
  body += ",\"peers\":[";
  const auto& peers = ctx.ingester->options().peers;
  for (size_t i = 0; i < peers.size(); ++i) {
    body += (i == 0 ? "" : ",") + json::Quote(peers[i]);
  }
  body += "]}";
  auto res = HttpResponse::Json(pass ? 200 : 503, std::move(body));
  if (!pass) res.SetHeader("Retry-After", "1");
  SetVersionHeaders(&res);
  return res;
}

HttpResponse HandlePing(const RouteContext&, const HttpRequest&) {
  HttpResponse res;
  res.status = 204;
  SetVersionHeaders(&res);
  return res;
}

// InfluxDB 1.x /query (influxql_api.h): `q`, `db`, `epoch` from the query string or, on
// a POST, from a form-encoded body; `u`/`p` authenticate like every v1 route.
HttpResponse HandleInfluxQuery(const RouteContext& ctx, const HttpRequest& req) {
  HttpRequest merged;
  const HttpRequest* source = &req;
  if (req.method == "POST" &&
      req.Header("Content-Type").starts_with("application/x-www-form-urlencoded")) {
    merged.params = req.params;
    std::string path;
    std::vector<std::pair<std::string, std::string>> form;
    if (!ParseTarget("/?" + req.body, &path, &form)) {
      return HttpResponse::JsonError(400, "the form-encoded request body is malformed");
    }
    merged.params.insert(merged.params.end(), form.begin(), form.end());
    merged.headers = req.headers;
    source = &merged;
  }
  if (!Authorized(ctx, *source)) return Unauthorized();
  const std::string q = source->ParamOr("q", "");
  const std::string db = source->ParamOr("db", "");
  const std::string epoch = source->ParamOr("epoch", "");
  HttpReply reply = InfluxQuery(ctx.ingester, {q, db, epoch});
  auto res = HttpResponse::Json(reply.status, std::move(reply.body));
  SetVersionHeaders(&res);
  return res;
}

HttpResponse HandleMetrics(const RouteContext& ctx, const HttpRequest& req) {
  if (!ctx.open_metrics && !Authorized(ctx, req)) return Unauthorized();
  std::string text = ctx.ingester->MetricsText();
  if (ctx.front_metrics) text += ctx.front_metrics();
  return HttpResponse::Text(200, std::move(text), "text/plain; version=0.0.4");
}

HttpResponse HandleCatalog(const RouteContext& ctx, const HttpRequest& req) {
  if (!Authorized(ctx, req))
    return HttpResponse::JsonError(401, "missing or invalid token");
  auto listing = ctx.ingester->CatalogJson(req.Param("files") == "true");
  if (!listing.ok()) return HttpResponse::JsonError(500, listing.status().message());
  return HttpResponse::Json(200, std::move(*listing));
}

// The configure API (configure_api.h): databases and tables with partition templates.
HttpResponse ConfigureReply(const RouteContext& ctx, const HttpRequest& req,
                            HttpReply (*handle)(Ingester*, std::string_view)) {
  if (!Authorized(ctx, req)) return Unauthorized();
  HttpReply reply = handle(ctx.ingester, req.body);
  return HttpResponse::Json(reply.status, std::move(reply.body));
}

HttpResponse HandleConfigureDatabase(const RouteContext& ctx, const HttpRequest& req) {
  return ConfigureReply(ctx, req, ConfigureDatabase);
}

HttpResponse HandleConfigureTable(const RouteContext& ctx, const HttpRequest& req) {
  return ConfigureReply(ctx, req, ConfigureTable);
}

HttpResponse HandleListDatabases(const RouteContext& ctx, const HttpRequest& req) {
  if (!Authorized(ctx, req)) return Unauthorized();
  HttpReply reply = ListDatabases(ctx.ingester);
  return HttpResponse::Json(reply.status, std::move(reply.body));
}

}  // namespace

HttpRouter MakeIngesterRoutes(Ingester* ingester, std::string token, bool open_metrics,
                              std::function<std::string()> front_metrics) {
  auto ctx = std::make_shared<const RouteContext>(
      RouteContext{ingester, std::move(token), open_metrics, std::move(front_metrics)});
  // Binds a handler of (context, request) to the shared context.
  auto bind = [ctx](auto handler) {
    return [ctx, handler](const HttpRequest& req) { return handler(*ctx, req); };
  };
  HttpRouter router;
  for (const auto& endpoint : kWriteEndpoints) {
    router.Add("POST", endpoint.path, [ctx, &endpoint](const HttpRequest& req) {
      return HandleWrite(*ctx, endpoint, req);
    });
  }
  router.Add("POST", "/api/v3/query", bind(HandleQuery));
  router.Add("GET", "/health", bind(HandleHealth));
  router.Add("GET", "/ping", bind(HandlePing));
  router.Add("GET", "/query", bind(HandleInfluxQuery));
  router.Add("POST", "/query", bind(HandleInfluxQuery));
  router.Add("GET", "/metrics", bind(HandleMetrics));
  router.Add("GET", "/api/v3/catalog", bind(HandleCatalog));
  router.Add("POST", "/api/v3/configure/database", bind(HandleConfigureDatabase));
  router.Add("GET", "/api/v3/configure/database", bind(HandleListDatabases));
  router.Add("POST", "/api/v3/configure/table", bind(HandleConfigureTable));
  return router;
}

struct HttpServer::Impl {
  std::unique_ptr<HttpFront> front;
  // For /metrics: set once the front has started (a request may come before).
  std::atomic<HttpFront*> started{nullptr};
};

arrow::Result<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpServerOptions& options, Ingester* ingester) {
  auto impl = std::make_unique<Impl>();
  Impl* raw = impl.get();
  // The router lives in the front's handler; /metrics reads the front through `raw`,
  // which outlives every request (Stop joins the workers before the front goes).
  auto router = std::make_shared<const HttpRouter>(
      MakeIngesterRoutes(ingester, options.token, options.open_metrics, [raw] {
        HttpFront* front = raw->started.load();
        return front != nullptr ? front->MetricsText() : std::string();
      }));
  ARROW_ASSIGN_OR_RAISE(impl->front,
                        HttpFront::Start(options.front, [router](const HttpRequest& req) {
                          return router->Dispatch(req);
                        }));
  impl->started.store(impl->front.get());
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

int HttpServer::Drain(std::chrono::steady_clock::time_point deadline) {
  return impl_->front->Drain(deadline);
}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return impl_->front->port(); }

void HttpServer::Stop() { impl_->front->Stop(); }

}  // namespace ingester
