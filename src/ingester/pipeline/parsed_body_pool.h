// A small pool of parsed line protocol bodies, so that their vectors keep their capacity
// between requests: allocating them afresh for every request cost more in page faults
// than the parse itself.
#pragma once

#include <memory>
#include <vector>

#include "ingester/common/thread_annotations.h"
#include "ingester/lp/parser.h"

namespace ingester {

// Keeps up to `kMaxPooled` parsed bodies for reuse; more are freed on release, which
// bounds the memory held for bodies not in use. Thread-safe; a Handle must not outlive
// its pool.
class ParsedBodyPool {
 public:
  struct Release {
    ParsedBodyPool* pool;
    void operator()(lp::ParsedBody* body) const { pool->Put(body); }
  };
  using Handle = std::unique_ptr<lp::ParsedBody, Release>;

  // A body from the pool (its contents are whatever the last parse left: Parse resets
  // it), or a new one.
  Handle Acquire() EXCLUDES(mu_);

  static constexpr size_t kMaxPooled = 8;

 private:
  void Put(lp::ParsedBody* body) EXCLUDES(mu_);

  Mutex mu_;
  std::vector<std::unique_ptr<lp::ParsedBody>> free_ GUARDED_BY(mu_);
};

}  // namespace ingester
