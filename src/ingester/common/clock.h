// Wall-clock time, behind an interface so tests can control it (testing/fake_clock.h).
#pragma once

#include <cstdint>

namespace ingester {

class Clock {
 public:
  virtual ~Clock() = default;
  // Nanoseconds since the Unix epoch, UTC.
  virtual int64_t NowNanos() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowNanos() const override;
  // A process-wide instance; never destroyed.
  static const SystemClock* Get();
};

}  // namespace ingester
