#include "ingester/pipeline/parsed_body_pool.h"

namespace ingester {

ParsedBodyPool::Handle ParsedBodyPool::Acquire() {
  {
    MutexLock lock(&mu_);
    if (!free_.empty()) {
      auto* body = free_.back().release();
      free_.pop_back();
      return Handle(body, Release{this});
    }
  }
  return Handle(new lp::ParsedBody(), Release{this});
}

void ParsedBodyPool::Put(lp::ParsedBody* body) {
  std::unique_ptr<lp::ParsedBody> owned(body);
  MutexLock lock(&mu_);
  if (free_.size() < kMaxPooled) free_.push_back(std::move(owned));
}

}  // namespace ingester
