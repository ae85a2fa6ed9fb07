// null_server: an HTTP server that reads every request body, discards it and answers
// 204. ingest_load against it measures the load tool's own ceiling (plus the least any
// HTTP server must spend on the same bytes), so a figure for a real server can be read
// against what the tool could have sent.
//
//   null_server --bind 127.0.0.1:18090 [--threads 64]
//
// Any POST path is accepted; GET /health answers 200. The body is consumed in chunks as
// it arrives and never stored. Prints "listening on HOST:PORT" once it accepts
// connections; stops on SIGINT or SIGTERM and prints the requests and bytes it read.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include <httplib.h>
#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  std::string bind = "127.0.0.1:18090";
  int threads = 64;
  CLI::App app{"HTTP server that discards request bodies (load tool ceiling)"};
  app.add_option("--bind", bind, "HOST:PORT")->capture_default_str();
  app.add_option("--threads", threads, "Worker threads (one per keep-alive connection)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  const auto colon = bind.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "--bind must be HOST:PORT\n");
    return 2;
  }
  const std::string host = bind.substr(0, colon);
  const int port = std::stoi(bind.substr(colon + 1));

  // Signals are taken by a thread of our own (sigwait), so stopping the server is not
  // done from a signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  httplib::Server server;
  server.new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  server.set_keep_alive_max_count(1'000'000);
  server.set_payload_max_length(1ULL << 32);
  std::atomic<int64_t> requests{0}, bytes{0};
  server.Post(".*", [&](const httplib::Request&, httplib::Response& res,
                        const httplib::ContentReader& reader) {
    int64_t n = 0;
    reader([&n](const char*, size_t length) {
      n += static_cast<int64_t>(length);
      return true;
    });
    requests.fetch_add(1, std::memory_order_relaxed);
    bytes.fetch_add(n, std::memory_order_relaxed);
    res.status = 204;
  });
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });

  // cpp-httplib 0.11 listens with a backlog of 5: 16 clients connecting at once would
  // see resets. Keep the listening socket and raise the backlog once bound.
  int listen_fd = -1;
  server.set_socket_options([&listen_fd](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_fd = sock;
  });
  if (!server.bind_to_port(host, port) || listen_fd < 0 ||
      ::listen(listen_fd, SOMAXCONN) != 0) {
    std::fprintf(stderr, "cannot listen on %s\n", bind.c_str());
    return 1;
  }
  std::thread stopper([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    server.stop();
  });
  std::printf("listening on %s\n", bind.c_str());
  std::fflush(stdout);
  server.listen_after_bind();
  // If listening ended for another reason, wake the signal thread (the signal is blocked
  // in every thread, so it only reaches sigwait).
  ::kill(::getpid(), SIGTERM);
  stopper.join();
  std::printf("%lld requests, %lld body bytes\n", static_cast<long long>(requests.load()),
              static_cast<long long>(bytes.load()));
  return 0;
}
