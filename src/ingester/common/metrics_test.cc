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
