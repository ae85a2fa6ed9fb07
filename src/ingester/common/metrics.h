// Process metrics rendered in the Prometheus text exposition format. Counters and
// gauges are lock-free atomics; the registry's lock guards only registration and
// rendering, never an update.
#pragma once

#include <atomic>
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

class MetricsRegistry {
 public:
  // The returned pointers live as long as the registry. Names follow Prometheus rules
  // (e.g. ingester_write_requests_total); `labels` is empty or `key="value",...`.
  Counter* AddCounter(std::string name, std::string help, std::string labels = "");
  Gauge* AddGauge(std::string name, std::string help, std::string labels = "");

  std::string RenderText() const;

 private:
  struct Entry {
    std::string name, help, labels;
    bool is_counter;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
  };
  mutable Mutex mu_;
  std::vector<Entry> entries_ GUARDED_BY(mu_);
};

}  // namespace ingester
