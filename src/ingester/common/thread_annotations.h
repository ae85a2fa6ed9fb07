// Clang thread-safety annotations (checked with -Wthread-safety when building with
// clang; empty elsewhere) and a std::mutex wrapper that carries them.
#pragma once

#include <condition_variable>
#include <mutex>
#include <shared_mutex>

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
#define ACQUIRE_SHARED(...) \
  INGESTER_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) \
  INGESTER_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
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

// A reader-writer mutex: lookups (the hot path) take the shared side in parallel; only
// inserts take the exclusive side, briefly.
class CAPABILITY("mutex") SharedMutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  void LockShared() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds the exclusive side of a SharedMutex for a scope.
class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterLock() RELEASE() { mu_->Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* mu_;
};

// Holds the shared side of a SharedMutex for a scope.
class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_->LockShared(); }
  ~ReaderLock() RELEASE() { mu_->UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* mu_;
};

// A condition variable that waits on an ingester::Mutex the caller holds.
class CondVar {
 public:
  template <typename Predicate>
  void Wait(Mutex* mu, Predicate pred) REQUIRES(mu) NO_THREAD_SAFETY_ANALYSIS {
    cv_.wait(*mu, pred);
  }
  template <typename Duration, typename Predicate>
  bool WaitFor(Mutex* mu, Duration d, Predicate pred)
      REQUIRES(mu) NO_THREAD_SAFETY_ANALYSIS {
    return cv_.wait_for(*mu, d, pred);
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace ingester
