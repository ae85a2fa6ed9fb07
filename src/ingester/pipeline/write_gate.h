// The admission stage of the write pipeline and the drain at shutdown.
//
//   Admit() ──> [admitted: in_flight] ── parse, validate ──> BeginApply() ──> [applying:
//      │ closed: refused (503)                                  │ cancelled:   WAL,
//      buffer] v                                                        v refused (503),
//      never
//   Close() ── refuse new writes                                  acknowledged
//   Drain(deadline) ── waits for in_flight == 0; at the deadline cancels the rest and
//                      waits for those already applying (one WAL append each)
//
// Every counter is incremented before its flag is read, so Drain either waits for a
// write or the write sees the flag: no write is acknowledged after Drain returns.
#pragma once

#include <arrow/result.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "ingester/common/thread_annotations.h"

namespace ingester {

class WriteGate {
 public:
  // Held by a write while it is in a stage; leaves the stage when the last copy goes.
  using Ticket = std::shared_ptr<void>;

  WriteGate() = default;
  WriteGate(const WriteGate&) = delete;
  WriteGate& operator=(const WriteGate&) = delete;

  // Admits a write unless the gate is closed (Backpressure naming the shutdown). The
  // ticket must be dropped before the gate goes.
  arrow::Result<Ticket> Admit();
  // For an admitted write about to be sequenced and applied: refused (Backpressure)
  // once Drain gave up waiting, so that a write not yet in the WAL is never applied.
  arrow::Result<Ticket> BeginApply();

  // Refuses new writes from now on. Returns whether the gate was already closed.
  bool Close();
  bool closed() const { return closed_.load(); }

  // Call after Close(). Waits until no admitted write is in flight, or until
  // `deadline`; then (false) stops the remaining ones from applying and waits for those
  // already applying. True when all finished in time.
  bool Drain(std::chrono::steady_clock::time_point deadline) EXCLUDES(mu_);

 private:
  void LeaveAdmitted() EXCLUDES(mu_);
  void LeaveApplying() EXCLUDES(mu_);

  // Writes are refused once set; `in_flight` counts the ones admitted before. The last
  // write to leave after the flag is set wakes Drain() through `drained_`.
  std::atomic<bool> closed_{false};
  std::atomic<int64_t> in_flight_{0};
  // Set by Drain when in-flight writes outlive the deadline: a write that has not
  // reached the WAL yet is then refused; `applying_` counts the ones past that check.
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> applying_{0};
  Mutex mu_;  // only pairs the notifications with Drain's waits
  CondVar drained_;
};

}  // namespace ingester
