#include "ingester/common/metrics.h"

#include <set>

namespace ingester {

Counter* MetricsRegistry::AddCounter(std::string name, std::string help, std::string labels) {
  MutexLock lock(&mu_);
  auto& e = entries_.emplace_back(
      Entry{std::move(name), std::move(help), std::move(labels), true, nullptr, nullptr});
  e.counter = std::make_unique<Counter>();
  return e.counter.get();
}

Gauge* MetricsRegistry::AddGauge(std::string name, std::string help, std::string labels) {
  MutexLock lock(&mu_);
  auto& e = entries_.emplace_back(
      Entry{std::move(name), std::move(help), std::move(labels), false, nullptr, nullptr});
  e.gauge = std::make_unique<Gauge>();
  return e.gauge.get();
}

std::string MetricsRegistry::RenderText() const {
  MutexLock lock(&mu_);
  std::string out;
  std::set<std::string> described;
  for (const auto& e : entries_) {
    if (described.insert(e.name).second) {
      out += "# HELP " + e.name + " " + e.help + "\n";
      out += "# TYPE " + e.name + (e.is_counter ? " counter\n" : " gauge\n");
    }
    out += e.name;
    if (!e.labels.empty()) out += "{" + e.labels + "}";
    out += " " + std::to_string(e.is_counter ? e.counter->value() : e.gauge->value()) + "\n";
  }
  return out;
}

}  // namespace ingester
