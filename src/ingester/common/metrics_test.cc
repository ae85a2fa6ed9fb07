#include "ingester/common/metrics.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace ingester {
namespace {

TEST(Metrics, RendersPrometheusText) {
  MetricsRegistry registry;
  auto* writes = registry.AddCounter("ingester_writes_total", "Writes.", "api=\"v3\"");
  auto* buffered = registry.AddGauge("ingester_buffered_bytes", "Bytes buffered.");
  writes->Add(3);
  buffered->Set(42);
  EXPECT_EQ(registry.RenderText(),
            "# HELP ingester_writes_total Writes.\n"
            "# TYPE ingester_writes_total counter\n"
            "ingester_writes_total{api=\"v3\"} 3\n"
            "# HELP ingester_buffered_bytes Bytes buffered.\n"
            "# TYPE ingester_buffered_bytes gauge\n"
            "ingester_buffered_bytes 42\n");
}

TEST(Metrics, RendersHistogramsInSecondsWithCumulativeBuckets) {
  MetricsRegistry registry;
  auto* h = registry.AddHistogram("ingester_x_duration_seconds", "X.", {0.001, 0.5},
                                  "phase=\"a\"");
  h->Observe(std::chrono::microseconds(500));  // le 0.001
  h->Observe(std::chrono::milliseconds(1));    // le 0.001: bounds are inclusive
  h->Observe(std::chrono::milliseconds(200));  // le 0.5
  h->Observe(std::chrono::seconds(2));         // +Inf only
  EXPECT_EQ(registry.RenderText(),
            "# HELP ingester_x_duration_seconds X.\n"
            "# TYPE ingester_x_duration_seconds histogram\n"
            "ingester_x_duration_seconds_bucket{phase=\"a\",le=\"0.001\"} 2\n"
            "ingester_x_duration_seconds_bucket{phase=\"a\",le=\"0.5\"} 3\n"
            "ingester_x_duration_seconds_bucket{phase=\"a\",le=\"+Inf\"} 4\n"
            "ingester_x_duration_seconds_sum{phase=\"a\"} 2.2015\n"
            "ingester_x_duration_seconds_count{phase=\"a\"} 4\n");
  EXPECT_EQ(h->count(), 4);
}

TEST(Metrics, CountersAreExactUnderContention) {
  MetricsRegistry registry;
  auto* c = registry.AddCounter("c_total", "c");
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([c] {
      for (int i = 0; i < 100000; ++i) c->Add();
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(c->value(), 800000);
}

}  // namespace
}  // namespace ingester
