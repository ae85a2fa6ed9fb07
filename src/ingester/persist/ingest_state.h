// Whether the ingester accepts writes, and if not, why. Writes are turned away with a
// Backpressure error (the HTTP layer answers 503 with Retry-After) while any reason is
// set; each reason is set and cleared by the part that watches it, so the state clears
// by itself once the cause goes away:
//
//   reason             set by                                 cleared when
//   persist saturated  PersistHandle: a worker queue is full  every queue is below half
//                                                             its depth (on a dequeue)
//   disk full          PersistTriggers' disk check: WAL       use drops below the
//                      volume use >= the threshold (90 %)     threshold
//   shutting down      the facade, on SIGTERM                 never
//
// Thread-safe and lock-free: the write path pays one atomic load (Check()).
#pragma once

#include <arrow/status.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "ingester/common/metrics.h"

namespace ingester::persist {

enum class IngestBlock : uint32_t {
  kPersistSaturated = 1u << 0,
  kDiskFull = 1u << 1,
  kShuttingDown = 1u << 2,
};

// "persist saturated", "disk full", "shutting down".
const char* IngestBlockName(IngestBlock reason);

class IngestState {
 public:
  // `metrics`, if set, must outlive this; it gets a gauge per reason
  // (ingester_ingest_blocked{reason="..."}, 0 or 1) and a counter of refused checks.
  explicit IngestState(MetricsRegistry* metrics = nullptr);
  IngestState(const IngestState&) = delete;
  IngestState& operator=(const IngestState&) = delete;

  // OK while writes are accepted; otherwise a Backpressure error naming every reason set.
  // One atomic load when OK.
  arrow::Status Check() const;
  bool accepting() const { return bits_.load(std::memory_order_acquire) == 0; }

  // Set / clear one reason; true if this call changed it (transitions are logged).
  bool Set(IngestBlock reason);
  bool Clear(IngestBlock reason);
  bool IsSet(IngestBlock reason) const {
    return (bits_.load(std::memory_order_acquire) & static_cast<uint32_t>(reason)) != 0;
  }
  // The reasons set, as a bit set of IngestBlock values.
  uint32_t bits() const { return bits_.load(std::memory_order_acquire); }
  // How many Check() calls refused a write.
  int64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  void UpdateGauge(IngestBlock reason, bool set);

  std::atomic<uint32_t> bits_{0};
  mutable std::atomic<int64_t> refused_{0};
  Gauge* saturated_gauge_ = nullptr;
  Gauge* disk_full_gauge_ = nullptr;
  Gauge* shutting_down_gauge_ = nullptr;
  Counter* refused_counter_ = nullptr;
};

// Fraction of the volume in use, in [0, 1], as df's Use% computes it: used / (used +
// available), where available is what an unprivileged process can still write (the
// blocks reserved for root count in neither). 0 when both are unknown (0).
double DiskUseFraction(uint64_t used, uint64_t available);

}  // namespace ingester::persist
