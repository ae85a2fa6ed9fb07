#include "ingester/server/http_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <optional>
#include <utility>  // before Boost.Asio 1.74, whose awaitable.hpp misses it

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "ingester/common/host_port.h"
#include "ingester/server/tls.h"

namespace ingester {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct HttpClient::Impl {
  std::string host_port, token;
  std::chrono::seconds timeout;
  asio::io_context ctx;
  std::optional<tcp::socket> socket;
  std::unique_ptr<asio::ssl::context> tls;                   // set: HTTPS
  std::optional<asio::ssl::stream<tcp::socket>> tls_stream;  // the connection, if HTTPS
  beast::flat_buffer buffer;

  bool connected() const { return socket.has_value() || tls_stream.has_value(); }
  void Disconnect() {
    socket.reset();
    tls_stream.reset();
  }

  arrow::Status Connect() {
    std::string host;
    int port = 0;
    ARROW_RETURN_NOT_OK(SplitHostPort("server address", host_port, &host, &port));
    error_code ec;
    tcp::resolver resolver(ctx);
    auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return arrow::Status::IOError("cannot resolve ", host, ": ", ec.message());
    socket.emplace(ctx);
    asio::connect(*socket, endpoints, ec);
    if (ec) {
      socket.reset();
      return arrow::Status::IOError("cannot connect to ", host_port, ": ", ec.message());
    }
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count());
    ::setsockopt(socket->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(socket->native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    buffer.clear();
    if (tls == nullptr) return arrow::Status::OK();
    tls_stream.emplace(std::move(*socket), *tls);
    socket.reset();
    // SNI for a name (not for an address), and the name or address checked against the
    // certificate.
    error_code addr_ec;
    asio::ip::make_address(host, addr_ec);
    if (addr_ec) ::SSL_set_tlsext_host_name(tls_stream->native_handle(), host.c_str());
    tls_stream->set_verify_callback(asio::ssl::host_name_verification(host));
    tls_stream->handshake(asio::ssl::stream_base::client, ec);
    if (ec) {
      tls_stream.reset();
      return arrow::Status::IOError("TLS handshake with ", host_port,
                                    " failed: ", ec.message());
    }
    return arrow::Status::OK();
  }

  template <typename Stream>
  error_code Exchange(Stream& stream, const http::request<http::string_body>& req,
                      http::response_parser<http::string_body>* parser) {
    error_code ec;
    http::write(stream, req, ec);
    if (!ec) http::read(stream, buffer, *parser, ec);
    return ec;
  }
};

HttpClient::HttpClient(std::string host_port, std::string bearer_token,
                       std::chrono::seconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->host_port = std::move(host_port);
  impl_->token = std::move(bearer_token);
  impl_->timeout = timeout;
}

HttpClient::~HttpClient() = default;

arrow::Status HttpClient::EnableTls(const std::string& ca_file) {
  ARROW_ASSIGN_OR_RAISE(impl_->tls, MakeClientTlsContext(ca_file));
  impl_->Disconnect();
  return arrow::Status::OK();
}

arrow::Result<HttpClientResponse> HttpClient::Post(const std::string& target,
                                                   const std::string& body,
                                                   const std::string& content_type) {
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, impl_->host_port);
  req.set(http::field::content_type, content_type);
  if (!impl_->token.empty())
    req.set(http::field::authorization, "Bearer " + impl_->token);
  req.body() = body;
  req.prepare_payload();
  for (int attempt = 0;; ++attempt) {
    const bool reused = impl_->connected();
    if (!reused) ARROW_RETURN_NOT_OK(impl_->Connect());
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    const error_code ec = impl_->tls_stream
                              ? impl_->Exchange(*impl_->tls_stream, req, &parser)
                              : impl_->Exchange(*impl_->socket, req, &parser);
    if (ec) {
      impl_->Disconnect();
      const bool stale =
          reused && attempt == 0 && !parser.got_some() &&
          (ec == http::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::ssl::error::stream_truncated ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe);
      if (stale) continue;
      if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message) {
        // Bytes came back, but not an HTTP/1.x response: most often the Flight (gRPC)
        // port, which answers HTTP/2 frames.
        return arrow::Status::IOError(
            impl_->host_port, " does not answer in HTTP/1.1 (", ec.message(),
            "): is it the Arrow Flight port? --host takes the ingester's HTTP address "
            "(its --http-bind, 127.0.0.1:8080 by default)");
      }
      return arrow::Status::IOError("request to ", impl_->host_port,
                                    " failed: ", ec.message());
    }
    auto& res = parser.get();
    HttpClientResponse out{static_cast<int>(res.result_int()), std::move(res.body())};
    if (!res.keep_alive()) impl_->Disconnect();
    return out;
  }
}

std::string UrlEncode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace ingester
