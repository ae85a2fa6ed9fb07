// Clang thread-safety annotations (checked with -Wthread-safety when building with
// clang; empty elsewhere) and a std::mutex wrapper that carries them.
#pragma once

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define INGESTER_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define INGESTER_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) INGESTER_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY INGESTER_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) INGESTER_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) INGESTER_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) INGESTER_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) INGESTER_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) INGESTER_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) INGESTER_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS INGESTER_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace ingester {

class CAPABILITY("mutex") Mutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // For std::condition_variable_any and std::unique_lock.
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

// A condition variable that waits on an ingester::Mutex the caller holds.
class CondVar {
 public:
  template <typename Predicate>
  void Wait(Mutex* mu, Predicate pred) REQUIRES(mu) NO_THREAD_SAFETY_ANALYSIS {
    cv_.wait(*mu, pred);
  }
  template <typename Duration, typename Predicate>
  bool WaitFor(Mutex* mu, Duration d, Predicate pred) REQUIRES(mu) NO_THREAD_SAFETY_ANALYSIS {
    return cv_.wait_for(*mu, d, pred);
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace ingester
