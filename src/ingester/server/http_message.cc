#include "ingester/server/http_message.h"

#include <strings.h>

#include "ingester/common/json.h"

namespace ingester {

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string_view> HttpRequest::Param(std::string_view name) const {
  for (const auto& [key, value] : params) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

std::string HttpRequest::ParamOr(std::string_view name, std::string_view fallback) const {
  return std::string(Param(name).value_or(fallback));
}

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return {};
}

void HttpResponse::SetHeader(std::string name, std::string value) {
  for (auto& [key, v] : headers) {
    if (EqualsIgnoreCase(key, name)) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  return Text(status, std::move(body), "application/json");
}

HttpResponse HttpResponse::JsonError(int status, std::string_view message) {
  std::string body = "{\"error\":";
  json::AppendString(&body, message);
  body += "}";
  return Json(status, std::move(body));
}

HttpResponse HttpResponse::InfluxError(int status, std::string_view message,
                                       std::string_view extra_members) {
  std::string body = "{\"code\":";
  json::AppendString(&body, InfluxErrorCode(status));
  body += ",\"message\":";
  json::AppendString(&body, message);
  body += extra_members;
  body += "}";
  return Json(status, std::move(body));
}

HttpResponse HttpResponse::ProtocolError(int status, std::string_view message) {
  std::string body = "{\"error\":";
  json::AppendString(&body, message);
  body += ",\"code\":";
  json::AppendString(&body, InfluxErrorCode(status));
  body += ",\"message\":";
  json::AppendString(&body, message);
  body += "}";
  return Json(status, std::move(body));
}

std::string_view InfluxErrorCode(int status) {
  switch (status) {
    case 400:
    case 411:
      return "invalid";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 409:
      return "conflict";
    case 413:
      return "request too large";
    case 415:
      return "unsupported media type";
    case 422:
      return "unprocessable entity";
    case 429:
      return "too many requests";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal error" : "invalid";
  }
}

HttpResponse HttpResponse::Text(int status, std::string body, std::string content_type) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers.emplace_back("Content-Type", std::move(content_type));
  return response;
}

void HttpRouter::Add(std::string method, std::string path, HttpHandler handler) {
  routes_.push_back(Route{std::move(method), std::move(path), std::move(handler)});
}

HttpResponse HttpRouter::Dispatch(const HttpRequest& request) const {
  const std::string_view method = request.method == "HEAD"
                                      ? std::string_view("GET")
                                      : std::string_view(request.method);
  std::string allow;
  for (const auto& route : routes_) {
    if (route.path != request.path) continue;
    if (route.method == method) return route.handler(request);
    if (!allow.empty()) allow += ", ";
    allow += route.method;
  }
  if (allow.empty()) {
    return HttpResponse::JsonError(404, "no endpoint " + request.path);
  }
  auto response = HttpResponse::JsonError(
      405, "method " + request.method + " is not allowed on " + request.path);
  response.SetHeader("Allow", allow);
  return response;
}

bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

bool ParseTarget(std::string_view target, std::string* path,
                 std::vector<std::pair<std::string, std::string>>* params) {
  params->clear();
  if (target.empty() || target.front() != '/') return false;  // origin-form only
  const auto question = target.find('?');
  if (!PercentDecode(target.substr(0, question), /*plus_is_space=*/false, path))
    return false;
  if (question == std::string_view::npos) return true;
  std::string_view query = target.substr(question + 1);
  if (const auto hash = query.find('#'); hash != std::string_view::npos) {
    query = query.substr(0, hash);
  }
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string key, value;
    if (!PercentDecode(pair.substr(0, eq), true, &key)) return false;
    if (eq != std::string_view::npos &&
        !PercentDecode(pair.substr(eq + 1), true, &value)) {
      return false;
    }
    params->emplace_back(std::move(key), std::move(value));
  }
  return true;
}

}  // namespace ingester
