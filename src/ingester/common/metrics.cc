#include "ingester/common/metrics.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>

namespace ingester {

Counter* MetricsRegistry::AddCounter(std::string name, std::string help,
                                     std::string labels) {
  MutexLock lock(&mu_);
  auto& e =
      entries_.emplace_back(Entry{std::move(name), std::move(help), std::move(labels),
                                  true, nullptr, nullptr, nullptr});
  e.counter = std::make_unique<Counter>();
  return e.counter.get();
}

Gauge* MetricsRegistry::AddGauge(std::string name, std::string help, std::string labels) {
  MutexLock lock(&mu_);
  auto& e =
      entries_.emplace_back(Entry{std::move(name), std::move(help), std::move(labels),
                                  false, nullptr, nullptr, nullptr});
  e.gauge = std::make_unique<Gauge>();
  return e.gauge.get();
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<int64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(std::chrono::nanoseconds duration) {
  const double seconds = std::chrono::duration<double>(duration).count();
  const size_t i = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(duration.count(), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<int64_t> Histogram::bucket_counts() const {
  std::vector<int64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

double Histogram::sum_seconds() const {
  return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                              0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                              5,      10,    30,     60};
  return kBounds;
}

const std::vector<double>& JobBuckets() {
  static const std::vector<double> kBounds = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1,
                                              5,     10,    30,   60,   120, 300, 600};
  return kBounds;
}

Histogram* MetricsRegistry::AddHistogram(std::string name, std::string help,
                                         std::vector<double> bounds, std::string labels) {
  MutexLock lock(&mu_);
  auto& e =
      entries_.emplace_back(Entry{std::move(name), std::move(help), std::move(labels),
                                  false, nullptr, nullptr, nullptr});
  e.histogram = std::make_unique<Histogram>(std::move(bounds));
  return e.histogram.get();
}

namespace {

// A number as Prometheus reads it: shortest round-trip form ("0.005", "1", "30").
std::string FormatDouble(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

void RenderHistogram(const std::string& name, const std::string& labels,
                     const Histogram& h, std::string* out) {
  const std::string prefix = labels.empty() ? "{" : "{" + labels + ",";
  const auto counts = h.bucket_counts();
  int64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const std::string le = i < h.bounds().size() ? FormatDouble(h.bounds()[i]) : "+Inf";
    *out += name + "_bucket" + prefix + "le=\"" + le + "\"} " +
            std::to_string(cumulative) + "\n";
  }
  const std::string suffix = labels.empty() ? "" : "{" + labels + "}";
  *out += name + "_sum" + suffix + " " + FormatDouble(h.sum_seconds()) + "\n";
  // The count is the +Inf bucket's, read once, so the two always agree.
  *out += name + "_count" + suffix + " " + std::to_string(cumulative) + "\n";
}

}  // namespace

std::string MetricsRegistry::RenderText() const {
  MutexLock lock(&mu_);
  std::string out;
  std::set<std::string> described;
  for (const auto& e : entries_) {
    if (described.insert(e.name).second) {
      out += "# HELP " + e.name + " " + e.help + "\n";
      out += "# TYPE " + e.name +
             (e.histogram    ? " histogram\n"
              : e.is_counter ? " counter\n"
                             : " gauge\n");
    }
    if (e.histogram) {
      RenderHistogram(e.name, e.labels, *e.histogram, &out);
      continue;
    }
    out += e.name;
    if (!e.labels.empty()) out += "{" + e.labels + "}";
    out +=
        " " + std::to_string(e.is_counter ? e.counter->value() : e.gauge->value()) + "\n";
  }
  return out;
}

}  // namespace ingester
