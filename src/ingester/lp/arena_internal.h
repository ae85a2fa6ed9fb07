// A bump allocator for unescaped strings: blocks are never moved or freed before the
// arena is reset or destroyed, so string_views into them stay valid that long, and
// moving the arena (with its ParsedBody) keeps them valid too. Internal to lp/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace ingester::lp::internal {

class Arena {
 public:
  Arena() = default;
  Arena(Arena&&) noexcept = default;
  Arena& operator=(Arena&&) noexcept = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // `n` bytes, valid until Reset() or destruction.
  char* Allocate(size_t n) {
    if (n > kBlockSize / 4) return NewBlock(n);  // large: a block of its own
    if (n > left_) {
      next_ = NewBlock(kBlockSize);
      left_ = kBlockSize;
    }
    char* out = next_;
    next_ += n;
    left_ -= n;
    return out;
  }

  // Frees every block.
  void Reset() {
    blocks_.clear();
    block_sizes_.clear();
    next_ = nullptr;
    left_ = 0;
    bytes_reserved_ = 0;
  }

  size_t bytes_reserved() const { return bytes_reserved_; }

  // Whether [p, p + n) lies inside one block (for tests and the fuzzer).
  bool Contains(const char* p, size_t n) const {
    const auto begin = reinterpret_cast<uintptr_t>(p);
    for (size_t i = 0; i < blocks_.size(); ++i) {
      const auto block = reinterpret_cast<uintptr_t>(blocks_[i].get());
      if (begin >= block && begin + n <= block + block_sizes_[i]) return true;
    }
    return false;
  }

 private:
  static constexpr size_t kBlockSize = 16 * 1024;

  char* NewBlock(size_t size) {
    blocks_.push_back(std::make_unique_for_overwrite<char[]>(size));
    block_sizes_.push_back(size);
    bytes_reserved_ += size;
    return blocks_.back().get();
  }

  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<size_t> block_sizes_;
  char* next_ = nullptr;  // free space of the current standard block
  size_t left_ = 0;
  size_t bytes_reserved_ = 0;
};

}  // namespace ingester::lp::internal
