// What an HTTP handler sees and returns, independent of the connection layer
// (http_front.h): a request with its body read whole and its Content-Encoding removed,
// and a response whose body is either a string or a stream of chunks. Routes are plain
// functions HttpResponse(const HttpRequest&), registered on an HttpRouter by method and
// exact path.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/result.h>

namespace ingester {

struct HttpRequest {
  std::string method;  // as sent, e.g. "POST"; HEAD is routed as GET
  std::string path;    // percent-decoded, without the query
  // Query parameters in order, percent-decoded ('+' is a space); a name may repeat.
  std::vector<std::pair<std::string, std::string>> params;
  // Header fields in order, names as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  // The body after the transfer and content codings are removed.
  std::string body;

  // The first value of parameter `name`, or nullopt.
  std::optional<std::string_view> Param(std::string_view name) const;
  std::string ParamOr(std::string_view name, std::string_view fallback) const;
  bool HasParam(std::string_view name) const { return Param(name).has_value(); }
  // The first value of header `name` (case-insensitive), or "" when absent.
  std::string_view Header(std::string_view name) const;
};

// The body of a streamed response: called on a worker thread, never two calls at once.
// Returns the next bytes (never empty), nullopt after the last, or an error, which cuts
// the connection without the final chunk so the client sees a truncated response.
// Dropping the function (when the stream ends, fails or the client goes away) releases
// whatever it holds.
using HttpBodyStream = std::function<arrow::Result<std::optional<std::string>>()>;

struct HttpResponse {
  int status = 200;
  // Besides Content-Length, Transfer-Encoding, Connection and Date, which the
  // connection layer writes.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, `body` is ignored and the response is sent with chunked encoding.
  HttpBodyStream stream;

  void SetHeader(std::string name, std::string value);
  // A JSON body with its Content-Type.
  static HttpResponse Json(int status, std::string body);
  // {"error": message}: the v1 and v3 error body.
  static HttpResponse JsonError(int status, std::string_view message);
  // {"code": InfluxErrorCode(status), "message": message}, then `extra_members` (",
  // \"key\": value..." or empty): the v2 error body, which InfluxDB 2 clients read.
  static HttpResponse InfluxError(int status, std::string_view message,
                                  std::string_view extra_members = "");
  // {"error": message, "code": ..., "message": message}: a refusal before any route ran
  // (framing, limits, content coding), readable by every client generation.
  static HttpResponse ProtocolError(int status, std::string_view message);
  static HttpResponse Text(int status, std::string body, std::string content_type);
};

// InfluxDB 2's error code for an HTTP status: "invalid" (400, 411), "unauthorized"
// (401), "forbidden", "not found", "method not allowed", "conflict", "request too large"
// (413), "unsupported media type" (415), "unprocessable entity" (422), "too many
// requests", "unavailable" (503), "internal error" (other 5xx).
std::string_view InfluxErrorCode(int status);

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Routes by method and exact path. Not thread-safe to modify; Dispatch is thread-safe
// once every route is added.
class HttpRouter {
 public:
  void Add(std::string method, std::string path, HttpHandler handler);
  // The route's response; 404 for an unknown path, 405 with Allow for a known path
  // asked with another method. HEAD is answered by the GET route (the body is dropped
  // by the connection layer).
  HttpResponse Dispatch(const HttpRequest& request) const;

 private:
  struct Route {
    std::string method, path;
    HttpHandler handler;
  };
  std::vector<Route> routes_;
};

// Percent-decodes `in`; with `plus_is_space`, '+' becomes ' ' (query strings). Returns
// false on a malformed escape.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out);

// Splits a request target into a decoded path and decoded query parameters. Returns
// false (with nothing guaranteed in the outputs) when a part is not valid.
bool ParseTarget(std::string_view target, std::string* path,
                 std::vector<std::pair<std::string, std::string>>* params);

}  // namespace ingester
