#include "ingester/server/http_connection.h"

#include <strings.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <optional>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "ingester/common/error.h"
#include "ingester/server/http_request_reader.h"

namespace ingester::http_internal {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr size_t kReadChunk = 16 * 1024;
// The first read of an idle TLS connection (see BeginRequest): small, as most are idle.
constexpr size_t kIdleTlsReadChunk = 1024;
// The first byte of a TLS connection: a handshake record.
constexpr unsigned char kTlsHandshakeRecord = 0x16;
constexpr size_t kBodyReadChunk = 64 * 1024;
constexpr auto kSweepPeriod = std::chrono::milliseconds(100);
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 1 << 20;

std::string HttpDate() {
  char out[64];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  return std::string(out,
                     std::strftime(out, sizeof(out), "%a, %d %b %Y %H:%M:%S GMT", &tm));
}

// Header values come from handlers; a CR or LF in one would split the response.
void AppendField(std::string* out, std::string_view name, std::string_view value) {
  *out += name;
  *out += ": ";
  for (char c : value) {
    if (c != '\r' && c != '\n') out->push_back(c);
  }
  *out += "\r\n";
}

using TlsStream = asio::ssl::stream<tcp::socket>;

// `Stream` is tcp::socket (plain HTTP) or TlsStream (HTTPS: front->tls_context is set).
// The TLS connection starts in kHandshake: its first byte must open a TLS handshake (a
// plain HTTP request gets a plain-text 400 and is closed), the handshake must complete
// within the header timeout, and then it is served like a plain one over the TLS stream,
// ending with a TLS close_notify instead of a TCP half-close.
template <typename Stream>
class Connection final : public HttpConnection,
                         public std::enable_shared_from_this<Connection<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  Connection(FrontState* front, Shard* shard, tcp::socket socket,
             bool refusal) requires(!kTls)
      : front_(front),
        shard_(shard),
        io_(std::move(socket)),
        refusal_(refusal),
        reader_(front->options) {}

  Connection(FrontState* front, Shard* shard, tcp::socket socket,
             bool refusal) requires(kTls)
      : front_(front),
        shard_(shard),
        io_(std::move(socket), *front->tls_context),
        refusal_(refusal),
        reader_(front->options) {}

  // On the shard's thread.
  void Start() override {
    pos_ =
        shard_->connections.insert(shard_->connections.end(), this->shared_from_this());
    if (front_->stopping.load()) return Close();  // Stop has closed the others already
    error_code ec;
    socket().set_option(tcp::no_delay(true), ec);
    socket().non_blocking(true, ec);
    if constexpr (kTls) {
      // The handshake counts against the header timeout; a refusal (over the connection
      // limit) is answered once it is done.
      SetState(State::kHandshake, options().header_timeout);
      return WaitReadable();
    }
    if (refusal_) return Refuse();
    BeginRequest();
  }

  void Close() override {
    if (state_ == State::kClosed) return;
    auto keep = this->shared_from_this();
    state_ = State::kClosed;
    error_code ec;
    socket().close(ec);
    shard_->connections.erase(pos_);
    if (refusal_) {
      front_->refusing.fetch_sub(1);
    } else {
      front_->open.fetch_sub(1);
      front_->open_gauge->Add(-1);
    }
    if (!worker_busy_) stream_ = nullptr;
    reader_.Clear();
    // A TLS read in flight may still decrypt into the buffer (its transport read had
    // completed): it is released with the connection then.
    if (!reading_) buffer_ = beast::flat_buffer();
  }

  bool Busy() const override {
    return state_ == State::kHeader || state_ == State::kBody ||
           state_ == State::kWorking || state_ == State::kWriting;
  }

  void CheckDeadline(Clock::time_point now) override {
    if (now < deadline_) return;
    switch (state_) {
      case State::kIdle:
        return Close();
      case State::kHandshake:
        front_->timeouts->Add();
        return Close();
      case State::kHeader:
        front_->timeouts->Add();
        return SendError(408, "the request header was not received within " +
                                  std::to_string(front_->options.header_timeout.count()) +
                                  " ms");
      case State::kBody:
        front_->timeouts->Add();
        return SendError(408, "the request body made no progress for " +
                                  std::to_string(front_->options.body_timeout.count()) +
                                  " ms");
      case State::kWriting:
        front_->timeouts->Add();
        return Close();
      default:
        return Close();
    }
  }

 private:
  enum class State {
    kHandshake,
    kIdle,
    kHeader,
    kBody,
    kWorking,
    kWriting,
    kLingering,
    kClosed
  };
  enum class Then { kNextRequest, kPullChunk, kParse, kLinger };

  const HttpFrontOptions& options() const { return front_->options; }

  tcp::socket& socket() {
    if constexpr (kTls) {
      return io_.next_layer();
    } else {
      return io_;
    }
  }

  void BeginRequest() {
    if (front_->draining.load()) return GracefulClose();  // no new request now
    reader_.Reset();
    close_after_ = false;
    if (buffer_.size() > 0) {  // a pipelined request
      SetState(State::kHeader, options().header_timeout);
      return Parse();
    }
    // An idle connection keeps no buffer: it waits for readability, then allocates.
    buffer_ = beast::flat_buffer();
    SetState(State::kIdle, options().idle_timeout);
    if constexpr (kTls) {
      // Records already read from the socket may wait inside the TLS layer, where a
      // readable socket would not announce them: read, with a small buffer.
      ReadSome();
    } else {
      WaitReadable();
    }
  }

  void SetState(State state, std::chrono::milliseconds timeout) {
    state_ = state;
    deadline_ = Clock::now() + timeout;
  }

  void WaitReadable() {
    if (reading_) return;
    reading_ = true;
    socket().async_wait(tcp::socket::wait_read,
                        [self = this->shared_from_this()](const error_code& ec) {
                          self->OnReadable(ec);
                        });
  }

  void OnReadable(const error_code& wait_ec) {
    reading_ = false;
    if (state_ == State::kClosed) return;
    if (wait_ec) return Close();
    if (state_ == State::kLingering) return Drain();
    if constexpr (kTls) {
      if (state_ == State::kHandshake) return Sniff();
    }
    if (state_ == State::kIdle) ReadSome();
  }

  // TLS: the first bytes have come. A TLS client opens with a handshake record; anything
  // else (a plain HTTP request) is answered in plain text and closed.
  void Sniff() {
    unsigned char first = 0;
    error_code ec;
    const size_t n =
        socket().receive(asio::buffer(&first, 1), tcp::socket::message_peek, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again)
      return WaitReadable();
    if (ec || n == 0) return Close();  // closed before saying anything
    if (first != kTlsHandshakeRecord) {
      front_->tls_failures->Add();
      return SendError(400, "this port speaks HTTPS (TLS); the request was plain HTTP");
    }
    io_.async_handshake(asio::ssl::stream_base::server,
                        [self = this->shared_from_this()](const error_code& hs_ec) {
                          self->OnHandshake(hs_ec);
                        });
  }

  void OnHandshake(const error_code& ec) {
    if (state_ == State::kClosed) return;
    if (ec) {
      front_->tls_failures->Add();
      spdlog::debug("HTTP: TLS handshake failed: {}", ec.message());
      return Close();
    }
    tls_established_ = true;
    if (refusal_) return Refuse();
    BeginRequest();
  }

  // A request is under way: read what is there (Asio tries at once, then waits).
  void ReadSome() {
    if (reading_) return;
    reading_ = true;
    size_t chunk = state_ == State::kBody ? kBodyReadChunk : kReadChunk;
    if (kTls && state_ == State::kIdle) chunk = kIdleTlsReadChunk;
    io_.async_read_some(buffer_.prepare(chunk),
                        [self = this->shared_from_this()](
                            const error_code& ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(const error_code& ec, size_t n) {
    reading_ = false;
    if (state_ == State::kClosed) return;
    if (state_ == State::kLingering) return Drain();
    // Answered meanwhile (a timeout): what came is not read.
    if (state_ != State::kIdle && state_ != State::kHeader && state_ != State::kBody)
      return;
    // A TLS peer that closes TCP without its close_notify ends the stream all the same.
    if (ec == asio::error::eof || (kTls && ec == asio::ssl::error::stream_truncated)) {
      if (state_ == State::kIdle) return Close();
      // Half-closed in the middle of a request: it can still read our answer.
      return SendError(400, "the connection was closed before the request was complete");
    }
    if (ec) return Close();
    buffer_.commit(n);
    if (state_ == State::kIdle) {
      SetState(State::kHeader, options().header_timeout);
    } else if (state_ == State::kBody) {
      deadline_ = Clock::now() + options().body_timeout;
    }
    Parse();
  }

  void Parse() {
    const auto progress = reader_.Parse(&buffer_);
    if (reader_.header_done() && state_ == State::kHeader) {
      SetState(State::kBody, options().body_timeout);
    }
    switch (progress) {
      case HttpRequestReader::Progress::kNeedMore:
        return ReadSome();
      case HttpRequestReader::Progress::kExpectContinue: {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        return Write(asio::buffer(kContinue.data(), kContinue.size()), Then::kParse);
      }
      case HttpRequestReader::Progress::kComplete:
        return Dispatch();
      case HttpRequestReader::Progress::kRefused:
        return SendError(reader_.refusal().status, reader_.refusal().message);
    }
  }

  void Dispatch() {
    request_ = reader_.TakeRequest();
    coding_ = reader_.coding();
    keep_alive_ = reader_.keep_alive();
    version_ = reader_.version();
    head_ = request_.method == "HEAD";
    state_ = State::kWorking;
    deadline_ = Clock::time_point::max();
    front_->requests->Add();
    asio::post(*front_->workers, [self = this->shared_from_this()] {
      HttpResponse response = self->front_->Run(self->request_, self->coding_);
      self->request_.body = std::string();
      asio::post(
          self->socket().get_executor(),
          [self, r = std::move(response)]() mutable { self->OnResponse(std::move(r)); });
    });
  }

  void OnResponse(HttpResponse response) {
    front_->CountRefusal(response.status);
    if (state_ == State::kClosed) return;
    request_ = HttpRequest();
    close_after_ = !keep_alive_ || front_->stopping.load() || front_->draining.load();
    const bool stream = response.stream != nullptr && !head_;
    const bool chunked = stream && version_ == 11;
    if (stream && !chunked)
      close_after_ = true;  // HTTP/1.0: the end of the body is the close
    const bool no_body = response.status == 204 || response.status == 304;
    out_ = Head(response, chunked,
                no_body || stream ? std::nullopt : std::optional(response.body.size()));
    if (stream) {
      stream_ = std::move(response.stream);
      raw_stream_ = !chunked;
      return Write(asio::buffer(out_), Then::kPullChunk);
    }
    if (!head_ && !no_body) out_ += response.body;
    Write(asio::buffer(out_), Then::kNextRequest);
  }

  std::string Head(const HttpResponse& response, bool chunked,
                   std::optional<size_t> content_length) {
    std::string head = "HTTP/1.1 " + std::to_string(response.status) + " ";
    head += http::obsolete_reason(
        http::int_to_status(static_cast<unsigned>(response.status)));
    head += "\r\n";
    AppendField(&head, "Date", shard_->date);
    for (const auto& [name, value] : response.headers) AppendField(&head, name, value);
    if (chunked) head += "Transfer-Encoding: chunked\r\n";
    if (content_length)
      AppendField(&head, "Content-Length", std::to_string(*content_length));
    if (close_after_) {
      head += "Connection: close\r\n";
    } else if (version_ == 10) {
      head += "Connection: keep-alive\r\n";
    }
    head += "\r\n";
    return head;
  }

  void PullChunk() {
    worker_busy_ = true;
    state_ = State::kWorking;
    deadline_ = Clock::time_point::max();
    asio::post(*front_->workers, [self = this->shared_from_this()] {
      auto chunk = self->stream_();
      asio::post(self->socket().get_executor(),
                 [self, c = std::move(chunk)]() mutable { self->OnChunk(std::move(c)); });
    });
  }

  void OnChunk(arrow::Result<std::optional<std::string>> chunk) {
    worker_busy_ = false;
    if (state_ == State::kClosed || !chunk.ok()) {
      // A failed stream is cut without its last chunk; the route has logged why.
      stream_ = nullptr;
      return Close();
    }
    if (!chunk->has_value()) {
      stream_ = nullptr;
      if (raw_stream_) return GracefulClose();
      out_ = "0\r\n\r\n";
      return Write(asio::buffer(out_), Then::kNextRequest);
    }
    chunk_ = std::move(**chunk);
    if (raw_stream_) return Write(asio::buffer(chunk_), Then::kPullChunk);
    char size_line[32];
    const int len = std::snprintf(size_line, sizeof(size_line), "%zx\r\n", chunk_.size());
    out_.assign(size_line, static_cast<size_t>(len));
    static constexpr std::string_view kCrlf = "\r\n";
    const std::array<asio::const_buffer, 3> buffers{
        asio::buffer(out_), asio::buffer(chunk_),
        asio::buffer(kCrlf.data(), kCrlf.size())};
    Write(buffers, Then::kPullChunk);
  }

  // A protocol-level refusal: the handler does not run; the connection is closed after.
  void SendError(int status, std::string message) {
    front_->malformed->Add();
    spdlog::debug("HTTP {}: {}", status, message);
    front_->CountRefusal(status);
    auto response = HttpResponse::ProtocolError(status, message);
    if (status == 503) response.SetHeader("Retry-After", "1");
    close_after_ = true;
    out_ = Head(response, false, response.body.size()) + response.body;
    Write(asio::buffer(out_), Then::kLinger);
  }

  void Refuse() {
    front_->CountRefusal(503);
    auto response = HttpResponse::ProtocolError(
        503, "over the server's limit of " + std::to_string(front_->max_connections) +
                 " connections; retry later");
    response.SetHeader("Retry-After", "1");
    close_after_ = true;
    version_ = 11;
    out_ = Head(response, false, response.body.size()) + response.body;
    Write(asio::buffer(out_), Then::kLinger);
  }

  template <typename Buffers>
  void Write(const Buffers& buffers, Then then) {
    state_ = State::kWriting;
    deadline_ = Clock::now() + options().body_timeout;
    auto done = [self = this->shared_from_this(), then](const error_code& ec, size_t) {
      self->OnWritten(ec, then);
    };
    if constexpr (kTls) {
      // Before the handshake (the plain-text 400) the bytes go to the socket as they are.
      if (!tls_established_) {
        asio::async_write(socket(), buffers, std::move(done));
        return;
      }
    }
    asio::async_write(io_, buffers, std::move(done));
  }

  void OnWritten(const error_code& ec, Then then) {
    if (state_ == State::kClosed) return;
    if (ec) return Close();
    switch (then) {
      case Then::kNextRequest:
        return close_after_ ? GracefulClose() : BeginRequest();
      case Then::kPullChunk:
        return PullChunk();
      case Then::kParse:
        state_ = State::kBody;
        deadline_ = Clock::now() + options().body_timeout;
        return Parse();
      case Then::kLinger:
        return GracefulClose();
    }
  }

  // Shuts our side, then reads and drops what the client still sends (bounded in time
  // and bytes), so that closing does not reset the connection before it reads our answer.
  void GracefulClose() {
    if constexpr (kTls) {
      if (tls_established_) return TlsShutdown();
    }
    error_code ec;
    socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    reader_.Clear();
    if (!reading_) buffer_ = beast::flat_buffer();  // else a read in flight targets it
    state_ = State::kLingering;
    deadline_ = Clock::now() + kLingerTime;
    WaitReadable();
  }

  // TLS: sends close_notify and waits for the client's (or its close), within the linger
  // time. A read in flight cannot share the session with the shutdown: then close at
  // once.
  void TlsShutdown() {
    if (reading_) return Close();
    reader_.Clear();
    buffer_ = beast::flat_buffer();
    state_ = State::kLingering;
    deadline_ = Clock::now() + kLingerTime;
    io_.async_shutdown(
        [self = this->shared_from_this()](const error_code&) { self->Close(); });
  }

  void Drain() {
    char sink[4096];
    while (true) {
      error_code ec;
      const size_t n = socket().read_some(asio::buffer(sink), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again)
        return WaitReadable();
      if (ec) return Close();  // EOF: the client has read and closed
      lingered_ += n;
      if (lingered_ > kLingerBytes) return Close();
    }
  }

  FrontState* front_;
  Shard* shard_;
  // Plain: the socket; TLS: the TLS stream over it (socket() is the socket either way).
  Stream io_;
  const bool refusal_;
  // TLS: the handshake is done; reads and writes go through the TLS stream.
  bool tls_established_ = !kTls;
  std::list<std::shared_ptr<HttpConnection>>::iterator pos_;
  State state_ = State::kIdle;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool reading_ = false;
  beast::flat_buffer buffer_;
  HttpRequestReader reader_;
  ContentCoding coding_ = ContentCoding::kIdentity;
  // Handed to a worker while kWorking; the I/O thread does not touch it meanwhile.
  HttpRequest request_;
  bool keep_alive_ = true, head_ = false, close_after_ = false;
  unsigned version_ = 11;
  std::string out_, chunk_;
  // Called on a worker while worker_busy_; released on this thread only when it is not.
  HttpBodyStream stream_;
  bool worker_busy_ = false;
  bool raw_stream_ = false;
  size_t lingered_ = 0;
};

}  // namespace

std::shared_ptr<HttpConnection> HttpConnection::Make(FrontState* front, Shard* shard,
                                                     tcp::socket socket, bool refusal) {
  if (front->tls_context != nullptr) {
    return std::make_shared<Connection<TlsStream>>(front, shard, std::move(socket),
                                                   refusal);
  }
  return std::make_shared<Connection<tcp::socket>>(front, shard, std::move(socket),
                                                   refusal);
}

Shard::Shard() : date(HttpDate()) {}

void Shard::Sweep(FrontState* front) {
  sweep.expires_after(kSweepPeriod);
  sweep.async_wait([this, front](const error_code& ec) {
    if (ec || front->stopping.load()) return;
    date = HttpDate();
    const auto now = Clock::now();
    // CheckDeadline may close (unlink) a connection: walk a copy.
    std::vector<std::shared_ptr<HttpConnection>> all(connections.begin(),
                                                     connections.end());
    for (auto& connection : all) connection->CheckDeadline(now);
    Sweep(front);
  });
}

std::vector<std::pair<int, Counter*>> FrontState::RegisterRefusals(
    MetricsRegistry* metrics) {
  // The statuses this server answers; 0 stands for any other.
  static constexpr int kStatuses[] = {400, 401, 404, 405, 408, 411, 413, 414, 415,
                                      417, 422, 431, 500, 501, 503, 505, 0};
  std::vector<std::pair<int, Counter*>> out;
  for (int status : kStatuses) {
    const std::string labels = status == 0
                                   ? std::string("status=\"other\",code=\"other\"")
                                   : "status=\"" + std::to_string(status) + "\",code=\"" +
                                         std::string(InfluxErrorCode(status)) + "\"";
    out.emplace_back(
        status, metrics->AddCounter(
                    "ingester_http_refusals_total",
                    "HTTP requests answered with an error status, by status and "
                    "InfluxDB's code for it (400 invalid input, 401 no or a wrong token, "
                    "413 too large, 503 overloaded or refusing writes, ...).",
                    labels));
  }
  return out;
}

void FrontState::CountRefusal(int status) const {
  if (status < 400) return;
  for (const auto& [s, counter] : refusals) {
    if (s == status || s == 0) {
      counter->Add();
      return;
    }
  }
}

HttpResponse FrontState::Run(HttpRequest& request, ContentCoding coding) const {
  if (coding != ContentCoding::kIdentity) {
    auto decoded = DecodeContent(coding, std::move(request.body), options.max_body_bytes);
    if (!decoded.ok()) {
      malformed->Add();
      const bool too_large = ErrorKindOf(decoded.status()) == ErrorKind::kTooLarge;
      return HttpResponse::ProtocolError(too_large ? 413 : 400,
                                         decoded.status().message());
    }
    request.body = std::move(*decoded);
  }
  try {
    return handler(request);
  } catch (const std::exception& e) {
    spdlog::error("HTTP {} {}: {}", request.method, request.path, e.what());
    return HttpResponse::ProtocolError(500, e.what());
  }
}

}  // namespace ingester::http_internal
