// The memory limit of persist work (--exec-mem-limit): compaction and Parquet encoding
// allocate through a LimitedMemoryPool, which refuses an allocation that would take the
// pool over its limit with arrow::Status::OutOfMemory instead of letting the process
// grow until the kernel kills it. The limit is "on demand": nothing is reserved up front,
// each allocation is checked as it happens, so many small jobs share the budget.
//
//   persist job A ──> JobMemoryPool (A's bytes, A's peak) ──┐
//   persist job B ──> JobMemoryPool (B's bytes, B's peak) ──┼──> LimitedMemoryPool ──>
//   parent
//                                                           │    (sum <= limit)
//                                                           (jemalloc/
//                                                                                      system)
//
// What a job does when it is refused is the policy of RunWithMemoryRetry (below): it
// gives back everything the failed attempt allocated, waits until the others have
// released enough memory for its peak to fit, and tries again; when no one else holds
// memory it fails at once, since waiting cannot help a job that is alone over the limit.
#pragma once

#include <arrow/memory_pool.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>

#include "ingester/common/thread_annotations.h"

namespace ingester::persist {

struct MemoryLimitOptions {
  // Bytes the pool may have allocated at once; 0 means no limit (the pool only counts).
  int64_t limit_bytes = 0;
  // Where the memory comes from; must outlive the pool.
  arrow::MemoryPool* parent = arrow::default_memory_pool();

  arrow::Status Validate() const;
};

// Thread-safe: accounting is lock-free (one atomic add per allocation); the mutex is
// only taken by Free when some thread waits in WaitUntilAtMost.
class LimitedMemoryPool final : public arrow::MemoryPool {
 public:
  static arrow::Result<std::unique_ptr<LimitedMemoryPool>> Make(
      const MemoryLimitOptions& options);
  // Every buffer allocated through the pool must be freed before it is destroyed.
  ~LimitedMemoryPool() override;

  using arrow::MemoryPool::Allocate;
  using arrow::MemoryPool::Free;
  using arrow::MemoryPool::Reallocate;

  // OutOfMemory (nothing allocated) when bytes_allocated() + size would pass the limit.
  arrow::Status Allocate(int64_t size, int64_t alignment, uint8_t** out) override;
  // Growing is checked like an allocation of the difference; shrinking always succeeds.
  arrow::Status Reallocate(int64_t old_size, int64_t new_size, int64_t alignment,
                           uint8_t** ptr) override;
  void Free(uint8_t* buffer, int64_t size, int64_t alignment) override;
  void ReleaseUnused() override { parent_->ReleaseUnused(); }

  int64_t bytes_allocated() const override { return bytes_.load(); }
  // Highest bytes_allocated() seen since Make (or ResetPeak).
  int64_t max_memory() const override { return peak_.load(); }
  int64_t total_bytes_allocated() const override { return total_bytes_.load(); }
  int64_t num_allocations() const override { return num_allocations_.load(); }
  std::string backend_name() const override { return parent_->backend_name(); }

  int64_t limit_bytes() const { return limit_; }
  // Allocations refused for the limit so far.
  int64_t rejected_allocations() const { return rejected_.load(); }
  void ResetPeak() { peak_.store(bytes_.load()); }

  // Blocks until bytes_allocated() <= `bytes`, `timeout` passes or `stop` is requested.
  // Returns whether the condition held.
  bool WaitUntilAtMost(int64_t bytes, std::chrono::nanoseconds timeout,
                       std::stop_token stop = {}) EXCLUDES(mu_);

 private:
  explicit LimitedMemoryPool(const MemoryLimitOptions& options);
  // Counts `delta` more bytes if the limit allows; false (nothing counted) otherwise.
  bool Reserve(int64_t delta);
  void Release(int64_t delta);
  arrow::Status Refuse(int64_t size) const;

  arrow::MemoryPool* const parent_;
  const int64_t limit_;  // 0: unlimited
  std::atomic<int64_t> bytes_{0};
  std::atomic<int64_t> peak_{0};
  std::atomic<int64_t> total_bytes_{0};
  std::atomic<int64_t> num_allocations_{0};
  mutable std::atomic<int64_t> rejected_{0};
  // Threads inside WaitUntilAtMost; Free only locks and notifies when it is non-zero.
  std::atomic<int> waiters_{0};
  Mutex mu_;
  // Signalled (under mu_) when memory is freed while waiters_ > 0. mu_ guards no data:
  // it only orders a waiter's check of bytes_ against a freer's notification.
  // (std::condition_variable_any rather than CondVar: the wait takes a stop token.)
  std::condition_variable_any freed_;
};

// The allocations of one job, forwarded to a shared LimitedMemoryPool: counts the job's
// own bytes and peak, and what the job needed when it was refused, so that a retry can
// wait for the right amount. Thread-safe (a job may allocate from several threads).
// Must outlive every buffer allocated through it.
class JobMemoryPool final : public arrow::MemoryPool {
 public:
  explicit JobMemoryPool(LimitedMemoryPool* shared) : shared_(shared) {}

  using arrow::MemoryPool::Allocate;
  using arrow::MemoryPool::Free;
  using arrow::MemoryPool::Reallocate;

  arrow::Status Allocate(int64_t size, int64_t alignment, uint8_t** out) override;
  arrow::Status Reallocate(int64_t old_size, int64_t new_size, int64_t alignment,
                           uint8_t** ptr) override;
  void Free(uint8_t* buffer, int64_t size, int64_t alignment) override;

  int64_t bytes_allocated() const override { return bytes_.load(); }
  int64_t max_memory() const override { return peak_.load(); }
  int64_t total_bytes_allocated() const override { return total_bytes_.load(); }
  int64_t num_allocations() const override { return num_allocations_.load(); }
  std::string backend_name() const override { return shared_->backend_name(); }

  LimitedMemoryPool* shared() const { return shared_; }
  // The most the job has been known to need at once: its bytes when an allocation was
  // refused plus the refused size, or its peak if larger.
  int64_t known_need() const { return std::max(refused_need_.load(), peak_.load()); }

 private:
  void Count(int64_t delta);
  void NoteRefused(int64_t extra);

  LimitedMemoryPool* const shared_;
  std::atomic<int64_t> bytes_{0};
  std::atomic<int64_t> peak_{0};
  std::atomic<int64_t> total_bytes_{0};
  std::atomic<int64_t> num_allocations_{0};
  std::atomic<int64_t> refused_need_{0};
};

// What a job does when its allocations are refused. See RunWithMemoryRetry.
struct MemoryRetryPolicy {
  // Attempts in all, the first included; at least 1.
  int max_attempts = 4;
  // Longest wait for memory between two attempts; the job retries when it ends even if
  // the memory did not come.
  std::chrono::milliseconds max_wait{30'000};
  // Test hook, called before each wait with the byte count the job waits for.
  std::function<void(int64_t wait_until_at_most)> TEST_before_wait = nullptr;

  arrow::Status Validate() const;
};

struct MemoryRetryStats {
  int attempts = 0;
  int waits = 0;
  std::chrono::nanoseconds waited{0};
};

// Runs `attempt`, whose allocations go through `job`, and applies the memory policy:
//  - OK, or any error other than OutOfMemory: returned as is.
//  - OutOfMemory: `attempt` must have released what it allocated for the failed try
//    (its temporaries are gone when it returns). If no other job holds memory in the
//    shared pool, waiting cannot help: the OutOfMemory is returned at once. Otherwise
//    the job waits (at most policy.max_wait) until the shared pool has room for what it
//    is known to need (job->known_need()), then tries again, up to policy.max_attempts
//    attempts; the last OutOfMemory is returned, naming the attempts. A stop request
//    ends the wait and returns the OutOfMemory.
// Memory the job keeps across attempts (job->bytes_allocated() when it fails) counts as
// its own, not as the others'. Thread-safe for distinct jobs.
arrow::Status RunWithMemoryRetry(JobMemoryPool* job, const MemoryRetryPolicy& policy,
                                 const std::function<arrow::Status()>& attempt,
                                 MemoryRetryStats* stats = nullptr,
                                 std::stop_token stop = {});

}  // namespace ingester::persist
