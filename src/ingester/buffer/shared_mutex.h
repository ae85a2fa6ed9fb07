// A reader-writer mutex that carries the clang thread-safety annotations of
// common/thread_annotations.h (which has only an exclusive Mutex). Used by the buffer
// tree's per-level maps: lookups of existing nodes (the hot path) take the shared side
// and run in parallel; only node creation takes the exclusive side, briefly.
#pragma once

#include <shared_mutex>

#include "ingester/common/thread_annotations.h"

#define INGESTER_ACQUIRE_SHARED(...) \
  INGESTER_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define INGESTER_RELEASE_SHARED(...) \
  INGESTER_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))

namespace ingester {

class CAPABILITY("mutex") SharedMutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  void LockShared() INGESTER_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() INGESTER_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds the exclusive side for a scope.
class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterLock() RELEASE() { mu_->Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* mu_;
};

// Holds the shared side for a scope.
class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) INGESTER_ACQUIRE_SHARED(mu) : mu_(mu) {
    mu_->LockShared();
  }
  ~ReaderLock() RELEASE() { mu_->UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* mu_;
};

}  // namespace ingester
