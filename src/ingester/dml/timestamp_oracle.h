// Hands out sequence numbers. They identify writes; they do not order them: two
// concurrent writers may append to the WAL and apply to the buffer in either order.
#pragma once

#include <atomic>

#include "ingester/common/ids.h"

namespace ingester {

class TimestampOracle {
 public:
  // The first number handed out is `next`; after a WAL replay, one past the highest seen.
  explicit TimestampOracle(SequenceNumber next = 1) : next_(next) {}

  // Reserves `count` consecutive numbers and returns the first. Lock-free.
  SequenceNumber Next(uint64_t count = 1) {
    return next_.fetch_add(count, std::memory_order_relaxed);
  }
  // The number the next call returns.
  SequenceNumber Peek() const { return next_.load(std::memory_order_relaxed); }

 private:
  std::atomic<SequenceNumber> next_;
};

}  // namespace ingester
