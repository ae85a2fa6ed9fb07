#include "ingester/persist/ingest_state.h"

#include "ingester/common/error.h"
#include "ingester/common/logging.h"

namespace ingester::persist {

namespace {
constexpr IngestBlock kAllReasons[] = {
    IngestBlock::kPersistSaturated, IngestBlock::kDiskFull, IngestBlock::kShuttingDown};
}  // namespace

const char* IngestBlockName(IngestBlock reason) {
  switch (reason) {
    case IngestBlock::kPersistSaturated:
      return "persist saturated";
    case IngestBlock::kDiskFull:
      return "disk full";
    case IngestBlock::kShuttingDown:
      return "shutting down";
  }
  return "unknown";
}

IngestState::IngestState(MetricsRegistry* metrics) {
  if (metrics == nullptr) return;
  const std::string name = "ingester_ingest_blocked";
  const std::string help = "1 while writes are refused for this reason.";
  saturated_gauge_ = metrics->AddGauge(name, help, "reason=\"persist_saturated\"");
  disk_full_gauge_ = metrics->AddGauge(name, help, "reason=\"disk_full\"");
  shutting_down_gauge_ = metrics->AddGauge(name, help, "reason=\"shutting_down\"");
  refused_counter_ = metrics->AddCounter("ingester_ingest_refused_total",
                                         "Writes refused by the ingest state (503).");
}

arrow::Status IngestState::Check() const {
  const uint32_t bits = bits_.load(std::memory_order_acquire);
  if (bits == 0) return arrow::Status::OK();
  refused_.fetch_add(1, std::memory_order_relaxed);
  if (refused_counter_ != nullptr) refused_counter_->Add();
  std::string why;
  for (IngestBlock reason : kAllReasons) {
    if ((bits & static_cast<uint32_t>(reason)) == 0) continue;
    if (!why.empty()) why += ", ";
    why += IngestBlockName(reason);
  }
  return Backpressure("writes are refused for now: " + why);
}

void IngestState::UpdateGauge(IngestBlock reason, bool set) {
  Gauge* gauge = nullptr;
  switch (reason) {
    case IngestBlock::kPersistSaturated:
      gauge = saturated_gauge_;
      break;
    case IngestBlock::kDiskFull:
      gauge = disk_full_gauge_;
      break;
    case IngestBlock::kShuttingDown:
      gauge = shutting_down_gauge_;
      break;
  }
  if (gauge != nullptr) gauge->Set(set ? 1 : 0);
}

bool IngestState::Set(IngestBlock reason) {
  const uint32_t bit = static_cast<uint32_t>(reason);
  const bool changed = (bits_.fetch_or(bit, std::memory_order_acq_rel) & bit) == 0;
  if (changed) {
    UpdateGauge(reason, true);
    spdlog::warn("ingest state: refusing writes ({})", IngestBlockName(reason));
  }
  return changed;
}

bool IngestState::Clear(IngestBlock reason) {
  const uint32_t bit = static_cast<uint32_t>(reason);
  const bool changed = (bits_.fetch_and(~bit, std::memory_order_acq_rel) & bit) != 0;
  if (changed) {
    UpdateGauge(reason, false);
    spdlog::info("ingest state: {} cleared{}", IngestBlockName(reason),
                 accepting() ? "; accepting writes again" : "");
  }
  return changed;
}

double DiskUseFraction(uint64_t used, uint64_t available) {
  const double total = static_cast<double>(used) + static_cast<double>(available);
  if (total == 0) return 0.0;
  return static_cast<double>(used) / total;
}

}  // namespace ingester::persist
