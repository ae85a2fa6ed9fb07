#include "ingester/wal/rotation_task.h"

#include "ingester/common/logging.h"

namespace ingester::wal {

arrow::Status RotationTaskOptions::Validate() const {
  if (period <= std::chrono::nanoseconds::zero()) {
    return arrow::Status::Invalid("WAL rotation period must be positive");
  }
  return arrow::Status::OK();
}

arrow::Result<std::unique_ptr<RotationTask>> RotationTask::Make(
    std::shared_ptr<Wal> wal, RotationTaskOptions options, Callback on_rotated,
    ErrorCallback on_error) {
  ARROW_RETURN_NOT_OK(options.Validate());
  if (wal == nullptr) return arrow::Status::Invalid("RotationTask needs a WAL");
  std::unique_ptr<RotationTask> task(new RotationTask(
      std::move(wal), options, std::move(on_rotated), std::move(on_error)));
  task->thread_ = std::thread([t = task.get()] { t->Run(); });
  return task;
}

RotationTask::RotationTask(std::shared_ptr<Wal> wal, RotationTaskOptions options,
                           Callback on_rotated, ErrorCallback on_error)
    : wal_(std::move(wal)),
      options_(options),
      on_rotated_(std::move(on_rotated)),
      on_error_(std::move(on_error)) {}

RotationTask::~RotationTask() { Stop(); }

void RotationTask::RotateNow() {
  MutexLock lock(&mu_);
  trigger_ = true;
  cv_.NotifyAll();
}

void RotationTask::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.NotifyAll();
  }
  std::call_once(join_once_, [this] {
    if (thread_.joinable()) thread_.join();
  });
}

int64_t RotationTask::rotations() const { return rotations_.load(); }

int64_t RotationTask::failures() const { return failures_.load(); }

arrow::Status RotationTask::last_error() const {
  MutexLock lock(&mu_);
  return last_error_;
}

void RotationTask::Run() {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + options_.period;
  MutexLock lock(&mu_);
  while (true) {
    cv_.WaitFor(&mu_, deadline - Clock::now(),
                [&]() REQUIRES(mu_) { return stop_ || trigger_; });
    if (stop_) return;
    if (!trigger_ && Clock::now() < deadline) continue;  // woken early
    trigger_ = false;
    mu_.Unlock();
    auto closed = wal_->Rotate();
    mu_.Lock();
    last_error_ = closed.status();  // before the callbacks: they may read it
    mu_.Unlock();
    if (closed.ok()) {
      rotations_.fetch_add(1);
      spdlog::info("WAL rotation: closed segment {} ({} entries, {} rows, {} bytes)",
                   closed->id, closed->entries, closed->rows, closed->bytes);
      if (on_rotated_) on_rotated_(std::move(*closed));
    } else {
      failures_.fetch_add(1);
      spdlog::error("WAL rotation failed: {}", closed.status().ToString());
      if (on_error_) on_error_(closed.status());
    }
    mu_.Lock();
    deadline = Clock::now() + options_.period;
  }
}

}  // namespace ingester::wal
