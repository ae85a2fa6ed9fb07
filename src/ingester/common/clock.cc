#include "ingester/common/clock.h"

#include <chrono>

namespace ingester {

int64_t SystemClock::NowNanos() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const SystemClock* SystemClock::Get() {
  static const SystemClock* const clock = new SystemClock();
  return clock;
}

}  // namespace ingester
