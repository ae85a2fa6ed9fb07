// Process metrics rendered in the Prometheus text exposition format. Counters and
// gauges are lock-free atomics; the registry's lock guards only registration and
// rendering, never an update.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ingester/common/thread_annotations.h"

namespace ingester {

class Counter {
 public:
  void Add(int64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// A Prometheus histogram of durations, exposed in seconds: a count per bucket (rendered
// cumulative, with le="+Inf"), the sum and the count. Observe is lock-free.
class Histogram {
 public:
  // `bounds`: the buckets' upper bounds in seconds, ascending.
  explicit Histogram(std::vector<double> bounds);

  void Observe(std::chrono::nanoseconds duration);
  // The time since `start` (steady clock).
  void ObserveSince(std::chrono::steady_clock::time_point start) {
    Observe(std::chrono::steady_clock::now() - start);
  }

  const std::vector<double>& bounds() const { return bounds_; }
  // Not cumulative; one more than bounds() (the last is over every bound).
  std::vector<int64_t> bucket_counts() const;
  int64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum_seconds() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<int64_t>[]> buckets_;
  std::atomic<int64_t> count_{0};
  std::atomic<int64_t> sum_ns_{0};
};

// Bucket bounds in seconds: 0.5 ms to 60 s, for request, fsync and query latencies.
const std::vector<double>& LatencyBuckets();
// 1 ms to 10 min, for background jobs (persist phases).
const std::vector<double>& JobBuckets();

// Observes the time from construction to destruction into `histogram` (may be null).
class ScopedHistogramTimer {
 public:
  explicit ScopedHistogramTimer(Histogram* histogram)
      : histogram_(histogram), start_(std::chrono::steady_clock::now()) {}
  ~ScopedHistogramTimer() {
    if (histogram_ != nullptr) histogram_->ObserveSince(start_);
  }
  ScopedHistogramTimer(const ScopedHistogramTimer&) = delete;
  ScopedHistogramTimer& operator=(const ScopedHistogramTimer&) = delete;

 private:
  Histogram* histogram_;
  std::chrono::steady_clock::time_point start_;
};

class MetricsRegistry {
 public:
  // The returned pointers live as long as the registry. Names follow Prometheus rules
  // (e.g. ingester_write_requests_total); `labels` is empty or `key="value",...`.
  Counter* AddCounter(std::string name, std::string help, std::string labels = "");
  Gauge* AddGauge(std::string name, std::string help, std::string labels = "");
  // `name` ends in _seconds; rendered as name_bucket{le=...}, name_sum, name_count.
  Histogram* AddHistogram(std::string name, std::string help, std::vector<double> bounds,
                          std::string labels = "");

  std::string RenderText() const;

 private:
  struct Entry {
    std::string name, help, labels;
    bool is_counter;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;  // when set, neither counter nor gauge
  };
  mutable Mutex mu_;
  std::vector<Entry> entries_ GUARDED_BY(mu_);
};

}  // namespace ingester
