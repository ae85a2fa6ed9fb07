#include "ingester/pipeline/write_gate.h"

#include <algorithm>

#include "ingester/common/error.h"

namespace ingester {

arrow::Result<WriteGate::Ticket> WriteGate::Admit() {
  // Count ourselves in before looking at the flag, so Drain() either sees us in flight
  // or we see its flag.
  in_flight_.fetch_add(1);
  Ticket ticket(nullptr, [this](void*) { LeaveAdmitted(); });
  if (closed_.load()) return Backpressure("the ingester is shutting down");
  return ticket;
}

arrow::Result<WriteGate::Ticket> WriteGate::BeginApply() {
  // Counted in before the flag is read, so Drain either waits for this write or this
  // write sees the flag.
  applying_.fetch_add(1);
  Ticket ticket(nullptr, [this](void*) { LeaveApplying(); });
  if (cancelled_.load()) {
    return Backpressure(
        "the ingester is shutting down (--shutdown-timeout reached): the write was not "
        "applied");
  }
  return ticket;
}

bool WriteGate::Close() { return closed_.exchange(true); }

void WriteGate::LeaveAdmitted() {
  if (in_flight_.fetch_sub(1) == 1 && closed_.load()) {
    MutexLock lock(&mu_);
    drained_.NotifyAll();
  }
}

void WriteGate::LeaveApplying() {
  if (applying_.fetch_sub(1) == 1 && cancelled_.load()) {
    MutexLock lock(&mu_);
    drained_.NotifyAll();
  }
}

bool WriteGate::Drain(std::chrono::steady_clock::time_point deadline) {
  MutexLock lock(&mu_);
  // The wait is in slices only to survive a wake-up lost between a writer's decrement
  // and its notify; the predicate is what ends it.
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    const auto slice = std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(50), deadline - std::chrono::steady_clock::now());
    drained_.WaitFor(&mu_, slice, [&] { return in_flight_.load() == 0; });
  }
  if (in_flight_.load() == 0) return true;
  cancelled_.store(true);
  while (applying_.load() > 0) {
    drained_.WaitFor(&mu_, std::chrono::milliseconds(50),
                     [&] { return applying_.load() == 0; });
  }
  return false;
}

}  // namespace ingester
