// The background task that rotates the WAL every `period` and hands each closed segment
// to a subscriber (the persist system, which marks partitions for persist and releases
// the segment once its writes are persisted).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "ingester/common/thread_annotations.h"
#include "ingester/wal/closed_segment.h"
#include "ingester/wal/wal.h"

namespace ingester::wal {

struct RotationTaskOptions {
  // IOx's default --wal-rotation-period.
  std::chrono::nanoseconds period = std::chrono::seconds(300);

  arrow::Status Validate() const;
};

class RotationTask {
 public:
  // Called on the task's thread after each successful rotation, never concurrently.
  // It must not call Stop() (it would wait for itself).
  using Callback = std::function<void(ClosedSegment)>;
  // Called likewise after a failed rotation (which is also logged); may be empty.
  using ErrorCallback = std::function<void(const arrow::Status&)>;

  // Starts the thread; the first rotation is one period from now.
  static arrow::Result<std::unique_ptr<RotationTask>> Make(
      std::shared_ptr<Wal> wal, RotationTaskOptions options, Callback on_rotated,
      ErrorCallback on_error = nullptr);
  // Stop().
  ~RotationTask();

  // Rotates as soon as the thread is free, then restarts the period. Thread-safe.
  void RotateNow();
  // Stops the thread promptly: a waiting task wakes at once; a rotation in progress (and
  // its callback) finishes first. Thread-safe; idempotent.
  void Stop();

  int64_t rotations() const;
  // Failed Rotate() calls (logged; a failed WAL fails every later one too).
  int64_t failures() const;
  // The error of the latest rotation if it failed, OK once one succeeds (and before the
  // first). While it is set, writes go on into a segment that cannot be closed, hence
  // never deleted: the WAL only grows. /health reports it. Thread-safe.
  arrow::Status last_error() const;

 private:
  RotationTask(std::shared_ptr<Wal> wal, RotationTaskOptions options, Callback on_rotated,
               ErrorCallback on_error);
  void Run();

  const std::shared_ptr<Wal> wal_;
  const RotationTaskOptions options_;
  const Callback on_rotated_;
  const ErrorCallback on_error_;

  mutable Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool trigger_ GUARDED_BY(mu_) = false;
  arrow::Status last_error_ GUARDED_BY(mu_);
  std::atomic<int64_t> rotations_{0};  // counted before the callback runs
  std::atomic<int64_t> failures_{0};

  std::thread thread_;  // started in Make, joined by the first Stop()
  std::once_flag join_once_;
};

}  // namespace ingester::wal
