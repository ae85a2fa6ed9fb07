// DeferredLoad<T>: a value loaded lazily, at most once on success, shared by all clones.
//
// The buffer tree pushes namespace and table names down to every partition without a
// catalog round-trip per write: a node created from an op that carries its name is
// seeded with it; a node created during WAL replay (or from a nameless op) gets a loader
// that asks the catalog only when someone first needs the name (persist writes it into
// the Parquet metadata), or in the background when asked to prefetch.
//
// Copies are cheap (one shared_ptr) and all observe the same load. Thread-safe.
//
//   state:   kUnloaded ──Get()/Prefetch()──> kLoading ──loader OK──> kLoaded (final)
//                ^                              │
//                └──────── loader failed ───────┘   (callers waiting on that attempt get
//                                                    its error; the next Get() retries)
//   Seed(v) in kUnloaded or kLoading goes straight to kLoaded; a loader still running
//   then has its result discarded.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "ingester/common/thread_annotations.h"

namespace ingester {

template <typename T>
class DeferredLoad {
 public:
  // Produces the value. Called without any lock held, on the thread of the Get() that
  // started the load (or on the executor given to Prefetch). It must capture (own) what
  // it uses, since it may run after the caller that built it is gone.
  using Loader = std::function<arrow::Result<T>()>;
  // Runs a task later, on some thread (a thread pool, or a new thread).
  using Executor = std::function<void(std::function<void()>)>;

  explicit DeferredLoad(Loader loader) : state_(std::make_shared<State>()) {
    state_->loader = std::move(loader);
  }

  // An already loaded value (the name came with the write).
  static DeferredLoad Ready(T value) {
    DeferredLoad d(Loader{});
    MutexLock lock(&d.state_->mu);
    d.state_->SetLoaded(std::move(value));
    return d;
  }

  // The value, loading it first if no one has. Concurrent callers wait for one load.
  arrow::Result<T> Get() const { return state_->Get(); }

  // The value if it is loaded, without waiting or loading.
  std::optional<T> Peek() const {
    if (const T* v = state_->LoadedValue()) return *v;
    return std::nullopt;
  }

  bool IsLoaded() const { return state_->LoadedValue() != nullptr; }

  // Supplies the value from elsewhere (a later op that carries the name). Returns true if
  // it became the value, false if a value was already loaded (which is kept).
  bool Seed(T value) const {
    if (IsLoaded()) return false;
    MutexLock lock(&state_->mu);
    if (state_->phase == Phase::kLoaded) return false;
    state_->SetLoaded(std::move(value));
    state_->cv.NotifyAll();
    return true;
  }

  // Starts the load in the background unless it is loaded or loading. The task keeps the
  // shared state alive until it finishes. Errors are not reported here: a later Get()
  // retries and returns them.
  void Prefetch(const Executor& executor) const {
    {
      MutexLock lock(&state_->mu);
      if (state_->phase != Phase::kUnloaded) return;
    }
    executor([state = state_] { (void)state->Get(); });
  }
  // As above, on a new detached thread.
  void Prefetch() const {
    Prefetch([](std::function<void()> task) { std::thread(std::move(task)).detach(); });
  }

 private:
  enum class Phase { kUnloaded, kLoading, kLoaded };

  struct State {
    Mutex mu;
    CondVar cv;
    Phase phase GUARDED_BY(mu) = Phase::kUnloaded;
    std::optional<T> value GUARDED_BY(mu);
    // Released once loaded, so that what it captured is freed.
    Loader loader GUARDED_BY(mu);
    // Incremented when a load attempt ends; with `last_error`, lets the callers that
    // waited on a failed attempt return its error instead of each retrying in turn.
    uint64_t attempts_done GUARDED_BY(mu) = 0;
    arrow::Status last_error GUARDED_BY(mu);
    // Set (release) once `value` is final; from then on `value` is read without the lock,
    // so that the per-write checks of a loaded name cost one atomic load.
    std::atomic<bool> loaded{false};

    void SetLoaded(T v) REQUIRES(mu) {
      value = std::move(v);
      phase = Phase::kLoaded;
      loader = nullptr;
      loaded.store(true, std::memory_order_release);
    }

    // The value if loaded, else null. Lock-free: `value` never changes once `loaded`.
    const T* LoadedValue() const NO_THREAD_SAFETY_ANALYSIS {
      return loaded.load(std::memory_order_acquire) ? &*value : nullptr;
    }

    arrow::Result<T> Get() {
      if (const T* v = LoadedValue()) return *v;
      Loader load;
      {
        MutexLock lock(&mu);
        if (phase == Phase::kLoaded) return *value;
        if (phase == Phase::kLoading) {
          const uint64_t waited_for = attempts_done;
          cv.Wait(&mu, [&]() REQUIRES(mu) {
            return phase == Phase::kLoaded || attempts_done != waited_for;
          });
          if (phase == Phase::kLoaded) return *value;
          return last_error;
        }
        if (!loader) {
          return arrow::Status::Invalid("DeferredLoad has no loader and no value");
        }
        phase = Phase::kLoading;
        load = loader;
      }
      arrow::Result<T> result = load();
      MutexLock lock(&mu);
      ++attempts_done;
      if (phase == Phase::kLoaded) {
        // Seeded while the loader ran: the seeded value stands.
      } else if (result.ok()) {
        SetLoaded(*std::move(result));
      } else {
        last_error = result.status();
        phase = Phase::kUnloaded;
      }
      cv.NotifyAll();
      if (phase == Phase::kLoaded) return *value;
      return result.status();
    }
  };

  std::shared_ptr<State> state_;
};

}  // namespace ingester
