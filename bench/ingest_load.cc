// ingest_load: posts TSBS cpu-only line protocol to an HTTP write endpoint over N
// keep-alive connections and reports rows/s, MB/s, request latency percentiles and its
// own CPU time. Bodies are generated before the clock starts, so the generator is not
// measured; the tool's ceiling is measured against bench/null_server
// (docs/benchmarks.md).
//
//   ingest_load --host 127.0.0.1:8080 --connections 8 --lines-per-body 5000 --rows
//   2000000 ingest_load --hosts 100 --interval 10s --duration 1h --start recent --path
//   '/write?db=b'
//
// The data set is TSBS's: `--hosts` series, one row per host every `--interval`, from
// `--start`. `--duration` sets the row count to hosts x duration / interval (otherwise
// `--rows`). `--start recent` ends the data set at the last UTC midnight, for servers
// that drop samples outside a retention window (VictoriaMetrics keeps one month by
// default); a span of at most a day then falls in one UTC day, as one partition.
//
// Connection c sends bodies c, c + N, c + 2N, ... of one stream; every body must be
// answered 204. The exit status is 1 if any request failed.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <CLI/CLI.hpp>

#include "ingester/common/units.h"
#include "ingester/testing/tsbs_generator.h"

namespace {

using Clock = std::chrono::steady_clock;

struct LoadOptions {
  std::string host = "127.0.0.1:8080";
  std::string path = "/api/v3/write_lp?db=bench";
  int connections = 8;
  int lines_per_body = 5000;
  int64_t rows = 2'000'000;
  uint32_t hosts = 1000;
  std::string interval = "10s";
  std::string duration;  // empty: use `rows`
  std::string start = "2016-01-01T00:00:00Z";
  uint64_t seed = 1;
  bool json = false;
  bool metrics = true;
};

struct ConnectionResult {
  std::vector<double> latencies_ms;
  int64_t rows = 0;
  int64_t bytes = 0;
  int64_t errors = 0;
  std::string first_error;
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto index = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

// The value of an unlabelled metric in Prometheus text, or -1.
double MetricValue(const std::string& text, const std::string& name) {
  size_t pos = 0;
  while ((pos = text.find(name + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      return std::stod(text.substr(pos + name.size() + 1));
    }
    pos += name.size();
  }
  return -1;
}

// User + system CPU seconds of this process so far.
double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// "2016-01-01T00:00:00Z" (UTC, whole seconds) or an integer of ns since the epoch.
bool ParseStart(const std::string& text, int64_t* out) {
  int y, mo, d, h, mi, s;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &s) == 6) {
    const std::chrono::sys_days day{std::chrono::year(y) / mo / d};
    const auto t =
        day + std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(s);
    *out = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch())
               .count();
    return true;
  }
  try {
    size_t used = 0;
    *out = std::stoll(text, &used);
    return used == text.size();
  } catch (...) {
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  LoadOptions o;
  CLI::App app{"HTTP line protocol load generator (TSBS cpu-only)"};
  app.add_option("--host", o.host, "Server HOST:PORT")->capture_default_str();
  app.add_option("--path", o.path, "Write path with query")->capture_default_str();
  app.add_option("--connections", o.connections, "Keep-alive connections")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--lines-per-body", o.lines_per_body, "Lines per request")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--rows", o.rows, "Rows in all (unless --duration)")
      ->capture_default_str();
  app.add_option("--hosts", o.hosts, "TSBS hosts (series = hosts)")
      ->capture_default_str();
  app.add_option("--interval", o.interval, "Time between two rows of a host")
      ->capture_default_str();
  app.add_option("--duration", o.duration,
                 "Span of the data set (rows = hosts x "
                 "duration / interval)");
  app.add_option("--start", o.start,
                 "First timestamp: RFC 3339 UTC, ns since the epoch, or 'recent'")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Generator seed")->capture_default_str();
  app.add_flag("--json", o.json, "One JSON object instead of text");
  app.add_flag("!--no-metrics", o.metrics, "Do not read /metrics afterwards");
  CLI11_PARSE(app, argc, argv);

  auto interval = ingester::ParseDuration(o.interval);
  if (!interval.ok() || interval->count() <= 0) {
    std::fprintf(stderr, "bad --interval %s\n", o.interval.c_str());
    return 2;
  }
  if (!o.duration.empty()) {
    auto span = ingester::ParseDuration(o.duration);
    if (!span.ok()) {
      std::fprintf(stderr, "bad --duration %s\n", o.duration.c_str());
      return 2;
    }
    o.rows = static_cast<int64_t>(o.hosts) * (span->count() / interval->count());
  }
  if (o.rows <= 0) {
    std::fprintf(stderr, "nothing to send: --rows or --duration gives 0 rows\n");
    return 2;
  }
  ingester::tsbs::CpuOptions gen_options;
  gen_options.hosts = std::max<uint32_t>(o.hosts, 1);
  gen_options.interval_ns = interval->count();
  gen_options.seed = o.seed;
  if (o.start == "recent") {
    const int64_t intervals = (o.rows + gen_options.hosts - 1) / gen_options.hosts;
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    constexpr int64_t kDay = 86'400'000'000'000;
    const int64_t end = now / kDay * kDay;
    gen_options.start_ns = end - intervals * gen_options.interval_ns;
  } else if (!ParseStart(o.start, &gen_options.start_ns)) {
    std::fprintf(stderr, "bad --start %s\n", o.start.c_str());
    return 2;
  }

  // Pre-generate: connection c sends bodies c, c + N, c + 2N, ... of one TSBS stream.
  ingester::tsbs::CpuGenerator generator(gen_options);
  std::vector<std::vector<std::string>> bodies(static_cast<size_t>(o.connections));
  const int64_t total_bodies = (o.rows + o.lines_per_body - 1) / o.lines_per_body;
  for (int64_t b = 0; b < total_bodies; ++b) {
    int64_t lines = std::min<int64_t>(o.lines_per_body, o.rows - b * o.lines_per_body);
    bodies[static_cast<size_t>(b % o.connections)].push_back(
        generator.Generate(static_cast<uint64_t>(lines)));
  }

  std::vector<ConnectionResult> results(static_cast<size_t>(o.connections));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < o.connections; ++c) {
    threads.emplace_back([&, c] {
      auto& r = results[static_cast<size_t>(c)];
      httplib::Client client("http://" + o.host);
      client.set_keep_alive(true);
      client.set_read_timeout(120);
      client.set_write_timeout(120);
      r.latencies_ms.reserve(bodies[static_cast<size_t>(c)].size());
      ready++;
      while (!go.load()) std::this_thread::yield();
      for (const auto& body : bodies[static_cast<size_t>(c)]) {
        auto start = Clock::now();
        auto res = client.Post(o.path, body, "text/plain; charset=utf-8");
        double ms =
            std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        r.latencies_ms.push_back(ms);
        if (!res || res->status != 204) {
          if (r.errors++ == 0) {
            r.first_error =
                res ? std::to_string(res->status) + " " + res->body.substr(0, 200)
                    : httplib::to_string(res.error());
          }
          continue;
        }
        r.rows += std::count(body.begin(), body.end(), '\n');
        r.bytes += static_cast<int64_t>(body.size());
      }
    });
  }
  while (ready.load() < o.connections) std::this_thread::yield();
  const double cpu_before = CpuSeconds();
  const auto start = Clock::now();
  go = true;
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double client_cpu = CpuSeconds() - cpu_before;

  std::vector<double> all;
  int64_t rows = 0, bytes = 0, errors = 0;
  std::string first_error;
  for (auto& r : results) {
    all.insert(all.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    rows += r.rows;
    bytes += r.bytes;
    errors += r.errors;
    if (first_error.empty()) first_error = r.first_error;
  }
  std::sort(all.begin(), all.end());
  const double p50 = Percentile(all, 0.50), p99 = Percentile(all, 0.99),
               p999 = Percentile(all, 0.999);

  double buffered_bytes = -1, buffered_rows = -1;
  if (o.metrics) {
    httplib::Client client("http://" + o.host);
    if (auto res = client.Get("/metrics"); res && res->status == 200) {
      buffered_bytes = MetricValue(res->body, "ingester_buffered_bytes");
      buffered_rows = MetricValue(res->body, "ingester_buffered_rows");
    }
  }
  const double bytes_per_row = buffered_rows > 0 ? buffered_bytes / buffered_rows : -1;

  if (o.json) {
    std::string error_json;
    for (char ch : first_error) {
      if (ch == '"' || ch == '\\') error_json += '\\';
      error_json += (static_cast<unsigned char>(ch) < 0x20) ? ' ' : ch;
    }
    std::printf(
        "{\"connections\":%d,\"lines_per_body\":%d,\"hosts\":%u,\"rows\":%lld,"
        "\"seconds\":%.3f,\"rows_per_s\":%.0f,\"mb_per_s\":%.2f,\"p50_ms\":%.3f,"
        "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"client_cpu_s\":%.3f,\"errors\":%lld,"
        "\"first_error\":\"%s\",\"buffered_bytes_per_row\":%.1f}\n",
        o.connections, o.lines_per_body, gen_options.hosts, static_cast<long long>(rows),
        seconds, rows / seconds, bytes / seconds / 1e6, p50, p99, p999, client_cpu,
        static_cast<long long>(errors), error_json.c_str(), bytes_per_row);
  } else {
    std::printf("connections %d, %d lines per body, %lld rows in %.2f s\n", o.connections,
                o.lines_per_body, static_cast<long long>(rows), seconds);
    std::printf("rows/s %.0f   MB/s %.1f   latency ms p50 %.2f  p99 %.2f  p999 %.2f\n",
                rows / seconds, bytes / seconds / 1e6, p50, p99, p999);
    std::printf("load tool CPU %.2f s (%.0f%% of one core)\n", client_cpu,
                100 * client_cpu / seconds);
    if (bytes_per_row > 0) std::printf("buffered bytes per row %.1f\n", bytes_per_row);
    if (errors > 0) {
      std::printf("errors %lld (first: %s)\n", static_cast<long long>(errors),
                  first_error.c_str());
    }
  }
  return errors == 0 ? 0 : 1;
}
