#include "ingester/server/http_front.h"

#include <sys/resource.h>

#include <atomic>
#include <future>
#include <utility>  // before Boost.Asio 1.74, whose awaitable.hpp misses it
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>

#include "ingester/server/http_connection.h"

namespace ingester {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

using http_internal::FrontState;
using http_internal::HttpConnection;
using http_internal::Shard;

constexpr int kMaxRefusing = 256;
// File descriptors kept for everything else (WAL, catalog, Parquet, Flight).
constexpr int kFdReserve = 1024;

}  // namespace

struct HttpFront::Impl {
  FrontState state;
  int port = 0;
  // Destroyed in reverse: the workers (whose queued tasks hold connections) first, the
  // shards (whose io_contexts the sockets use) last.
  std::vector<std::unique_ptr<Shard>> shards;
  std::unique_ptr<tcp::acceptor> acceptor;           // on shards[0]
  std::unique_ptr<asio::steady_timer> accept_pause;  // on shards[0]
  std::unique_ptr<asio::thread_pool> workers;
  size_t next_shard = 0;  // accept handler only
  Clock::time_point last_accept_warning;

  void Accept();
  void OnAccept(const error_code& ec, tcp::socket socket, Shard* shard);
};

void HttpFront::Impl::Accept() {
  Shard* shard = shards[next_shard++ % shards.size()].get();
  acceptor->async_accept(shard->ctx,
                         [this, shard](const error_code& ec, tcp::socket socket) {
                           OnAccept(ec, std::move(socket), shard);
                         });
}

void HttpFront::Impl::OnAccept(const error_code& ec, tcp::socket socket, Shard* shard) {
  if (state.stopping.load() || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors or memory: wait rather than spin; a refused handshake: go on.
    const bool resource = ec == asio::error::no_descriptors ||
                          ec == asio::error::no_buffer_space ||
                          ec == asio::error::no_memory;
    if (!resource) return Accept();
    if (Clock::now() - last_accept_warning > std::chrono::seconds(10)) {
      last_accept_warning = Clock::now();
      spdlog::warn("HTTP accept failed ({}); pausing accepts for 100 ms", ec.message());
    }
    accept_pause->expires_after(std::chrono::milliseconds(100));
    accept_pause->async_wait([this](const error_code& wait_ec) {
      if (!wait_ec && !state.stopping.load()) Accept();
    });
    return;
  }
  state.accepted->Add();
  bool refusal = false;
  if (state.open.load() >= state.max_connections) {
    state.refused->Add();
    if (state.refusing.load() >= kMaxRefusing) return Accept();  // `socket` closes here
    state.refusing.fetch_add(1);
    refusal = true;
  } else {
    state.open.fetch_add(1);
    state.open_gauge->Add(1);
  }
  auto connection = HttpConnection::Make(&state, shard, std::move(socket), refusal);
  asio::post(shard->ctx, [connection] { connection->Start(); });
  Accept();
}

arrow::Status HttpFrontOptions::Validate() const {
  if (io_threads < 1) return arrow::Status::Invalid("--http-io-threads must be >= 1");
  if (worker_threads < 1) return arrow::Status::Invalid("--http-threads must be >= 1");
  if (max_connections < 1)
    return arrow::Status::Invalid("--max-http-connections must be >= 1");
  if (max_body_bytes < 1) {
    return arrow::Status::Invalid("--max-http-request-size must be positive");
  }
  if (max_header_bytes < 1024) {
    return arrow::Status::Invalid("--max-http-header-bytes must be at least 1KiB");
  }
  if (max_headers < 8) return arrow::Status::Invalid("--max-http-headers must be >= 8");
  if (max_target_bytes < 256 || max_target_bytes > max_header_bytes) {
    return arrow::Status::Invalid(
        "the longest request target must be 256 bytes or more, and "
        "at most --max-http-header-bytes");
  }
  for (auto timeout : {header_timeout, body_timeout, idle_timeout}) {
    if (timeout < std::chrono::milliseconds(100)) {
      return arrow::Status::Invalid("HTTP timeouts must be at least 100ms");
    }
  }
  return arrow::Status::OK();
}

namespace {

// Raises the soft descriptor limit to the hard one; returns the soft limit (or -1 for
// no limit).
int64_t RaiseFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<int64_t>(limit.rlim_cur);
}

}  // namespace

arrow::Result<std::unique_ptr<HttpFront>> HttpFront::Start(
    const HttpFrontOptions& options, HttpHandler handler) {
  ARROW_RETURN_NOT_OK(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->state.options = options;
  impl->state.handler = std::move(handler);
  if (options.tls) {
    ARROW_ASSIGN_OR_RAISE(impl->state.tls_context, MakeServerTlsContext(*options.tls));
  }
  impl->state.max_connections = options.max_connections;
  if (const int64_t files = RaiseFileLimit();
      files >= 0 && files - kFdReserve < options.max_connections) {
    impl->state.max_connections =
        static_cast<int>(std::max<int64_t>(files - kFdReserve, 16));
    spdlog::warn(
        "HTTP: the file descriptor limit ({}) allows {} connections, not the {} of "
        "--max-http-connections; raise `ulimit -n` for more",
        files, impl->state.max_connections, options.max_connections);
  }
  for (int i = 0; i < options.io_threads; ++i)
    impl->shards.push_back(std::make_unique<Shard>());
  auto& ctx = impl->shards[0]->ctx;

  error_code ec;
  tcp::resolver resolver(ctx);
  auto endpoints =
      resolver.resolve(options.host, std::to_string(options.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return arrow::Status::IOError("cannot resolve HTTP address ", options.host, ": ",
                                  ec.message());
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  impl->acceptor = std::make_unique<tcp::acceptor>(ctx);
  impl->accept_pause = std::make_unique<asio::steady_timer>(ctx);
  auto& acceptor = *impl->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return arrow::Status::IOError("cannot listen for HTTP on ", options.host, ":",
                                  options.port, ": ", ec.message());
  }
  impl->port = acceptor.local_endpoint(ec).port();
  impl->workers = std::make_unique<asio::thread_pool>(options.worker_threads);
  impl->state.workers = impl->workers.get();

  Impl* raw = impl.get();
  for (auto& shard : impl->shards) {
    Shard* s = shard.get();
    s->Sweep(&raw->state);
    s->thread = std::thread([s] { s->ctx.run(); });
  }
  asio::post(ctx, [raw] { raw->Accept(); });
  spdlog::info(
      "HTTP API listening on {}:{} ({}, {} I/O threads, {} workers, up to {} "
      "connections)",
      options.host, impl->port, options.tls ? "HTTPS" : "plain HTTP", options.io_threads,
      options.worker_threads, impl->state.max_connections);
  return std::unique_ptr<HttpFront>(new HttpFront(std::move(impl)));
}

HttpFront::HttpFront(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpFront::~HttpFront() { Stop(); }

int HttpFront::port() const { return impl_->port; }

int HttpFront::max_connections() const { return impl_->state.max_connections; }

std::string HttpFront::MetricsText() const { return impl_->state.metrics.RenderText(); }

int HttpFront::Drain(Clock::time_point deadline) {
  Impl* impl = impl_.get();
  if (impl->state.stopping.load() || impl->state.draining.exchange(true)) return 0;
  // On each I/O thread: `f` over the shard, waited for.
  auto on_shards = [impl](auto f) {
    std::vector<std::future<int>> results;
    for (size_t i = 0; i < impl->shards.size(); ++i) {
      Shard* shard = impl->shards[i].get();
      auto promise = std::make_shared<std::promise<int>>();
      results.push_back(promise->get_future());
      asio::post(shard->ctx, [shard, promise, f, first = i == 0] {
        promise->set_value(f(shard, first));
      });
    }
    int total = 0;
    for (auto& r : results) total += r.get();
    return total;
  };
  std::atomic<int> idle{0};
  int busy = on_shards([impl, &idle](Shard* shard, bool first) {
    if (first) {
      error_code ec;
      impl->acceptor->close(ec);
      impl->accept_pause->cancel();
    }
    int under_way = 0;
    std::vector<std::shared_ptr<HttpConnection>> all(shard->connections.begin(),
                                                     shard->connections.end());
    for (auto& connection : all) {
      if (connection->Busy()) {
        ++under_way;
      } else {
        connection->Close();  // idle (a lingering one has its answer and closes soon)
        idle.fetch_add(1);
      }
    }
    return under_way;
  });
  spdlog::info(
      "HTTP: stopped accepting; closed {} open client connection(s) that were idle; "
      "waiting for {} request(s) under way",
      idle.load(), busy);
  while (busy > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(20),
                                                          deadline - Clock::now()));
    busy = on_shards([](Shard* shard, bool) {
      int under_way = 0;
      for (const auto& connection : shard->connections) under_way += connection->Busy();
      return under_way;
    });
  }
  if (busy > 0) {
    spdlog::warn(
        "HTTP: {} request(s) still under way at --shutdown-timeout are cancelled (their "
        "connections closed; no write of theirs is acknowledged)",
        busy);
  }
  return busy;
}

void HttpFront::Stop() {
  Impl* impl = impl_.get();
  if (impl->state.stopping.exchange(true)) return;
  const int open = impl->state.open.load();
  // 1. On each I/O thread: stop accepting, close every connection, stop the sweep.
  std::vector<std::future<void>> closed;
  for (size_t i = 0; i < impl->shards.size(); ++i) {
    Shard* shard = impl->shards[i].get();
    auto done = std::make_shared<std::promise<void>>();
    closed.push_back(done->get_future());
    asio::post(shard->ctx, [impl, shard, done, first = i == 0] {
      error_code ec;
      if (first) {
        impl->acceptor->close(ec);
        impl->accept_pause->cancel();
      }
      std::vector<std::shared_ptr<HttpConnection>> all(shard->connections.begin(),
                                                       shard->connections.end());
      for (auto& connection : all) connection->Close();
      shard->sweep.cancel();
      done->set_value();
    });
  }
  for (auto& f : closed) f.wait();
  if (open > 0) spdlog::info("HTTP: closed {} open client connection(s)", open);
  // 2. Requests not started are dropped (never acknowledged); running ones finish and
  // post their responses to connections that are closed.
  impl->workers->stop();
  impl->workers->join();
  // 3. The I/O threads run out of work and return.
  for (auto& shard : impl->shards) {
    shard->guard.reset();
    if (shard->thread.joinable()) shard->thread.join();
  }
}

}  // namespace ingester
