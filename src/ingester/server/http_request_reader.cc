#include "ingester/server/http_request_reader.h"

#include <strings.h>

namespace ingester::http_internal {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

bool Is(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

void HttpRequestReader::Reset() {
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(options_.max_header_bytes));
  parser_->body_limit(static_cast<uint64_t>(options_.max_body_bytes));
  header_checked_ = false;
  expect_continue_ = false;
  refusal_ = Refusal();
  coding_ = ContentCoding::kIdentity;
}

HttpRequestReader::Progress HttpRequestReader::Parse(beast::flat_buffer* buffer) {
  while (true) {
    if (!header_checked_ && parser_->is_header_done()) {
      if (!CheckHeader(buffer->size())) return Progress::kRefused;
      header_checked_ = true;
      if (expect_continue_) {
        expect_continue_ = false;
        return Progress::kExpectContinue;
      }
    }
    if (parser_->is_done()) return Progress::kComplete;
    if (buffer->size() == 0) return Progress::kNeedMore;
    error_code ec;
    const size_t used = parser_->put(buffer->data(), ec);
    buffer->consume(used);
    if (ec == http::error::need_more) {
      // The header is bounded by header_limit; a chunk header line by this.
      if (parser_->is_header_done() &&
          buffer->size() > static_cast<size_t>(options_.max_header_bytes)) {
        return Refuse(400, "a chunk header line of the request body is too long");
      }
      return Progress::kNeedMore;
    }
    if (ec) return OnParseError(ec, *buffer);
  }
}

HttpRequest HttpRequestReader::TakeRequest() {
  auto& req = parser_->get();
  HttpRequest request;
  request.method = std::string(req.method_string());
  request.path = std::move(path_);
  request.params = std::move(params_);
  for (const auto& field : req) {
    request.headers.emplace_back(std::string(field.name_string()),
                                 std::string(field.value()));
  }
  request.body = std::move(req.body());
  keep_alive_ = req.keep_alive();
  version_ = req.version();
  parser_.reset();
  return request;
}

HttpRequestReader::Progress HttpRequestReader::Refuse(int status, std::string message) {
  refusal_ = Refusal{status, std::move(message)};
  parser_.reset();
  return Progress::kRefused;
}

HttpRequestReader::Progress HttpRequestReader::OnParseError(
    const error_code& ec, const beast::flat_buffer& buffer) {
  if (ec == http::error::header_limit) {
    const auto data = buffer.data();
    const std::string_view seen(static_cast<const char*>(data.data()), data.size());
    if (seen.find('\n') == std::string_view::npos) {
      return Refuse(414, "the request line is longer than " +
                             std::to_string(options_.max_header_bytes) + " bytes");
    }
    return Refuse(431, "the request header is larger than " +
                           std::to_string(options_.max_header_bytes) + " bytes");
  }
  if (ec == http::error::body_limit) {
    return Refuse(413, "request body is over the limit of " +
                           std::to_string(options_.max_body_bytes) + " bytes");
  }
  if (ec == http::error::bad_content_length) {
    return Refuse(400,
                  "invalid Content-Length (not a decimal number, two different "
                  "values, or alongside Transfer-Encoding)");
  }
  if (ec == http::error::bad_transfer_encoding) {
    return Refuse(400, "Transfer-Encoding repeated or alongside Content-Length");
  }
  if (ec == http::error::bad_version) {
    // A well-formed version other than 1.x is 505, anything else 400.
    const auto data = buffer.data();
    const std::string_view seen(static_cast<const char*>(data.data()), data.size());
    const std::string_view line = seen.substr(0, seen.find('\r'));
    const std::string_view v = line.substr(line.rfind(' ') + 1);
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (v.size() == 8 && v.substr(0, 5) == "HTTP/" && digit(v[5]) && v[6] == '.' &&
        digit(v[7])) {
      return Refuse(505, "only HTTP/1.0 and HTTP/1.1 are supported");
    }
  }
  if (ec == http::error::bad_chunk || ec == http::error::bad_chunk_extension) {
    return Refuse(400, "malformed chunked request body");
  }
  return Refuse(400, "malformed request: " + ec.message());
}

bool HttpRequestReader::CheckHeader(size_t buffered) {
  const auto& req = parser_->get();
  if (req.version() != 10 && req.version() != 11) {
    return RefuseHeader(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  }
  if (req.target().size() > static_cast<size_t>(options_.max_target_bytes)) {
    return RefuseHeader(414, "the request target is longer than " +
                                 std::to_string(options_.max_target_bytes) + " bytes");
  }
  int fields = 0, hosts = 0;
  bool has_te = false, te_ok = true, te_known = true;
  std::string_view encoding, expect;
  for (const auto& field : req) {
    ++fields;
    const std::string_view name = field.name_string();
    if (Is(name, "host")) ++hosts;
    if (Is(name, "content-encoding")) encoding = field.value();
    if (Is(name, "expect")) expect = field.value();
    if (Is(name, "transfer-encoding")) {
      // Exactly one field, exactly "chunked".
      te_ok = te_ok && !has_te && Is(Trim(field.value()), "chunked");
      has_te = true;
      for (std::string_view rest = field.value(); te_known;) {
        const auto comma = rest.find(',');
        const auto token = Trim(rest.substr(0, comma));
        te_known = token.empty() || Is(token, "chunked");
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
      }
    }
  }
  if (fields > options_.max_headers) {
    return RefuseHeader(431, "the request has more than " +
                                 std::to_string(options_.max_headers) + " header fields");
  }
  if (req.version() == 11 && hosts != 1) {
    return RefuseHeader(400, hosts == 0 ? "an HTTP/1.1 request needs a Host header"
                                        : "the request has more than one Host header");
  }
  if (has_te && !te_known) {
    return RefuseHeader(501, "unsupported Transfer-Encoding (only chunked is supported)");
  }
  if (has_te && !te_ok) {
    return RefuseHeader(400, "Transfer-Encoding must be chunked, once");
  }
  const std::string_view method = req.method_string();
  if (!has_te && !req.has_content_length() &&
      (method == "POST" || method == "PUT" || method == "PATCH")) {
    return RefuseHeader(411,
                        "a " + std::string(method) +
                            " request needs Content-Length or chunked Transfer-Encoding");
  }
  auto coding = ParseContentCoding(encoding);
  if (!coding.ok()) return RefuseHeader(415, coding.status().message());
  coding_ = *coding;
  if (!expect.empty()) {
    if (!Is(Trim(expect), "100-continue")) {
      return RefuseHeader(417, "unsupported Expect (only 100-continue)");
    }
    expect_continue_ = !parser_->is_done() && buffered == 0;
  }
  if (!ParseTarget(req.target(), &path_, &params_)) {
    return RefuseHeader(400, "malformed request target");
  }
  return true;
}

}  // namespace ingester::http_internal
