#include "ingester/persist/memory_limit.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

namespace ingester::persist {

arrow::Status MemoryLimitOptions::Validate() const {
  if (limit_bytes < 0) {
    return arrow::Status::Invalid("memory limit must be >= 0 (0: none), got ",
                                  limit_bytes);
  }
  if (parent == nullptr) return arrow::Status::Invalid("memory limit: no parent pool");
  return arrow::Status::OK();
}

arrow::Result<std::unique_ptr<LimitedMemoryPool>> LimitedMemoryPool::Make(
    const MemoryLimitOptions& options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  return std::unique_ptr<LimitedMemoryPool>(new LimitedMemoryPool(options));
}

LimitedMemoryPool::LimitedMemoryPool(const MemoryLimitOptions& options)
    : parent_(options.parent), limit_(options.limit_bytes) {}

LimitedMemoryPool::~LimitedMemoryPool() = default;

bool LimitedMemoryPool::Reserve(int64_t delta) {
  int64_t now = bytes_.load();
  while (true) {
    const int64_t next = now + delta;
    if (limit_ > 0 && next > limit_) return false;
    if (bytes_.compare_exchange_weak(now, next)) {
      int64_t peak = peak_.load();
      while (next > peak && !peak_.compare_exchange_weak(peak, next)) {
      }
      return true;
    }
  }
}

void LimitedMemoryPool::Release(int64_t delta) {
  bytes_.fetch_sub(delta);
  if (waiters_.load() > 0) {
    // Taking the mutex orders this notification after a waiter's check of bytes_.
    std::lock_guard<Mutex> lock(mu_);
    freed_.notify_all();
  }
}

arrow::Status LimitedMemoryPool::Refuse(int64_t size) const {
  rejected_.fetch_add(1);
  return arrow::Status::OutOfMemory(
      "persist memory limit: allocating ", size, " bytes with ", bytes_.load(),
      " in use would pass the limit of ", limit_, " bytes (--exec-mem-limit)");
}

arrow::Status LimitedMemoryPool::Allocate(int64_t size, int64_t alignment,
                                          uint8_t** out) {
  if (size < 0) return arrow::Status::Invalid("negative allocation size ", size);
  if (!Reserve(size)) return Refuse(size);
  arrow::Status st = parent_->Allocate(size, alignment, out);
  if (!st.ok()) {
    Release(size);
    return st;
  }
  total_bytes_.fetch_add(size);
  num_allocations_.fetch_add(1);
  return arrow::Status::OK();
}

arrow::Status LimitedMemoryPool::Reallocate(int64_t old_size, int64_t new_size,
                                            int64_t alignment, uint8_t** ptr) {
  if (new_size < 0) return arrow::Status::Invalid("negative allocation size ", new_size);
  const int64_t growth = new_size - old_size;
  if (growth > 0 && !Reserve(growth)) return Refuse(growth);
  arrow::Status st = parent_->Reallocate(old_size, new_size, alignment, ptr);
  if (!st.ok()) {
    if (growth > 0) Release(growth);
    return st;
  }
  if (growth < 0) Release(-growth);
  if (growth > 0) total_bytes_.fetch_add(growth);
  num_allocations_.fetch_add(1);
  return arrow::Status::OK();
}

void LimitedMemoryPool::Free(uint8_t* buffer, int64_t size, int64_t alignment) {
  parent_->Free(buffer, size, alignment);
  Release(size);
}

bool LimitedMemoryPool::WaitUntilAtMost(int64_t bytes, std::chrono::nanoseconds timeout,
                                        std::stop_token stop) {
  waiters_.fetch_add(1);
  bool satisfied;
  {
    std::unique_lock<Mutex> lock(mu_);
    satisfied =
        freed_.wait_for(lock, stop, timeout, [&] { return bytes_.load() <= bytes; });
  }
  waiters_.fetch_sub(1);
  return satisfied;
}

arrow::Status MemoryRetryPolicy::Validate() const {
  if (max_attempts < 1) {
    return arrow::Status::Invalid("memory retry: max_attempts must be >= 1");
  }
  if (max_wait.count() < 0) {
    return arrow::Status::Invalid("memory retry: max_wait must be >= 0");
  }
  return arrow::Status::OK();
}

void JobMemoryPool::Count(int64_t delta) {
  const int64_t now = bytes_.fetch_add(delta) + delta;
  int64_t peak = peak_.load();
  while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
  }
}

void JobMemoryPool::NoteRefused(int64_t extra) {
  const int64_t need = bytes_.load() + extra;
  int64_t seen = refused_need_.load();
  while (need > seen && !refused_need_.compare_exchange_weak(seen, need)) {
  }
}

arrow::Status JobMemoryPool::Allocate(int64_t size, int64_t alignment, uint8_t** out) {
  arrow::Status st = shared_->Allocate(size, alignment, out);
  if (!st.ok()) {
    if (st.IsOutOfMemory()) NoteRefused(size);
    return st;
  }
  Count(size);
  total_bytes_.fetch_add(size);
  num_allocations_.fetch_add(1);
  return st;
}

arrow::Status JobMemoryPool::Reallocate(int64_t old_size, int64_t new_size,
                                        int64_t alignment, uint8_t** ptr) {
  arrow::Status st = shared_->Reallocate(old_size, new_size, alignment, ptr);
  if (!st.ok()) {
    if (st.IsOutOfMemory()) NoteRefused(new_size - old_size);
    return st;
  }
  Count(new_size - old_size);
  if (new_size > old_size) total_bytes_.fetch_add(new_size - old_size);
  num_allocations_.fetch_add(1);
  return st;
}

void JobMemoryPool::Free(uint8_t* buffer, int64_t size, int64_t alignment) {
  shared_->Free(buffer, size, alignment);
  bytes_.fetch_sub(size);
}

arrow::Status RunWithMemoryRetry(JobMemoryPool* job, const MemoryRetryPolicy& policy,
                                 const std::function<arrow::Status()>& attempt,
                                 MemoryRetryStats* stats, std::stop_token stop) {
  ARROW_RETURN_NOT_OK(policy.Validate());
  LimitedMemoryPool* shared = job->shared();
  MemoryRetryStats local;
  if (stats == nullptr) stats = &local;
  for (int n = 1;; ++n) {
    ++stats->attempts;
    arrow::Status st = attempt();
    if (st.ok() || !st.IsOutOfMemory()) return st;
    const int64_t own = job->bytes_allocated();
    const int64_t others = shared->bytes_allocated() - own;
    if (others <= 0) {
      return st.WithMessage(st.message(), "; the job alone needs more (at least ",
                            job->known_need(), " bytes), so it is not retried");
    }
    if (n >= policy.max_attempts) {
      return st.WithMessage(st.message(), "; gave up after ", n,
                            " attempts waiting for other jobs to free memory");
    }
    // Room for what we need: the pool must come down to limit - need + what we hold.
    // Never wait for less than our own usage, which cannot happen.
    const int64_t target = std::max(own, shared->limit_bytes() - job->known_need() + own);
    spdlog::warn(
        "persist memory limit reached (attempt {} of {}: {}); waiting up to {} ms for "
        "other jobs to free memory ({} bytes in use by them)",
        n, policy.max_attempts, st.message(), policy.max_wait.count(), others);
    if (policy.TEST_before_wait) policy.TEST_before_wait(target);
    const auto start = std::chrono::steady_clock::now();
    ++stats->waits;
    shared->WaitUntilAtMost(target, policy.max_wait, stop);
    stats->waited += std::chrono::steady_clock::now() - start;
    if (stop.stop_requested()) {
      return st.WithMessage(st.message(), "; stopped while waiting for memory");
    }
  }
}

}  // namespace ingester::persist
