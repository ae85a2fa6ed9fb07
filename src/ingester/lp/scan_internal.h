// Byte scanning primitives of the line protocol parser: find the first of a few
// delimiter bytes (16 bytes at a time with SSE2), and UTF-8 validation with an ASCII
// fast path. Internal to lp/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ingester::lp::internal {

// The first byte in [p, end) equal to one of `Cs`, or `end`.
template <char... Cs>
inline const char* FindAny(const char* p, const char* end) {
#if defined(__SSE2__)
  while (end - p >= 16) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i hits = _mm_setzero_si128();
    ((hits = _mm_or_si128(hits, _mm_cmpeq_epi8(chunk, _mm_set1_epi8(Cs)))), ...);
    const int mask = _mm_movemask_epi8(hits);
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  for (; p < end; ++p) {
    const char c = *p;
    if (((c == Cs) || ...)) return p;
  }
  return end;
}

// True when every byte of [p, end) is ASCII (below 0x80).
inline bool IsAscii(const char* p, const char* end) {
#if defined(__SSE2__)
  if (end - p >= 16) {
    __m128i a = _mm_setzero_si128();
    __m128i b = _mm_setzero_si128();
    for (; end - p >= 32; p += 32) {
      a = _mm_or_si128(a, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      b = _mm_or_si128(b, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
    }
    if (end - p >= 16) {
      a = _mm_or_si128(a, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      p += 16;
    }
    if (_mm_movemask_epi8(_mm_or_si128(a, b)) != 0) return false;
  }
#endif
  uint64_t high = 0;
  for (; end - p >= 8; p += 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    high |= word;
  }
  for (; p < end; ++p) high |= static_cast<uint8_t>(*p);
  return (high & 0x8080808080808080ULL) == 0;
}

// The first byte of [p, end) that does not belong to a well-formed UTF-8 sequence
// (overlong forms, surrogates and code points above U+10FFFF are ill-formed), or `end`
// when the whole range is valid UTF-8.
const char* FindInvalidUtf8(const char* p, const char* end);

}  // namespace ingester::lp::internal
