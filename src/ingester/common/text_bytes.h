// Short texts (keys, tag values) compared and loaded for hashing without a library call:
// the parser's key prediction and the per-batch hash tables of the parser and of the
// write builder (neither hash is stored anywhere).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace ingester {

inline uint64_t LoadWord(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// `head` and `tail`: the first and last 8 bytes of p[0, n) when n >= 8 (overlapping
// when n < 16), the first and last 4 when 4 <= n < 8; below 4, `head` packs the first,
// middle and last byte and `tail` is 0 (both 0 when n == 0).
inline void LoadEnds(const char* p, size_t n, uint64_t* head, uint64_t* tail) {
  if (n >= 8) {
    *head = LoadWord(p);
    *tail = LoadWord(p + n - 8);
  } else if (n >= 4) {
    uint32_t x, y;
    std::memcpy(&x, p, 4);
    std::memcpy(&y, p + n - 4, 4);
    *head = x;
    *tail = y;
  } else if (n > 0) {
    *head = static_cast<uint64_t>(static_cast<uint8_t>(p[0])) |
            static_cast<uint64_t>(static_cast<uint8_t>(p[n / 2])) << 8 |
            static_cast<uint64_t>(static_cast<uint8_t>(p[n - 1])) << 16;
    *tail = 0;
  } else {
    *head = 0;
    *tail = 0;
  }
}

// Whether the n bytes at `a` and `b` are equal; for short texts (keys, tag values),
// without a library call.
inline bool SameBytes(const char* a, const char* b, size_t n) {
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      if (LoadWord(a + i) != LoadWord(b + i)) return false;
    }
    return LoadWord(a + n - 8) == LoadWord(b + n - 8);  // overlapping the loop's
  }
  if (n >= 4) {
    uint32_t x, y, z, w;
    std::memcpy(&x, a, 4);
    std::memcpy(&y, b, 4);
    std::memcpy(&z, a + n - 4, 4);
    std::memcpy(&w, b + n - 4, 4);
    return x == y && z == w;
  }
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

inline bool SameText(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         (a.data() == b.data() || SameBytes(a.data(), b.data(), a.size()));
}

}  // namespace ingester
