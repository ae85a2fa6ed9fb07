// Number parsing for line protocol field values and timestamps. Each function takes the
// whole token (no type suffix) and accepts only the line protocol grammar:
//   integer   -?[0-9]+
//   unsigned  [0-9]+
//   float     -?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?
// Internal to lp/.
#pragma once

#include <cstdint>

namespace ingester::lp::internal {

enum class NumberStatus : uint8_t { kOk, kInvalid, kOutOfRange };

// Of eight bytes loaded little-endian (the first byte lowest): a value whose byte i is
// zero iff byte i is a digit. Carries and borrows only run towards later bytes, so the
// bytes up to and including the first non-digit are classified exactly (later ones may
// not be).
inline uint64_t NonDigitBytes(uint64_t w) {
  return ((w & 0xF0F0F0F0F0F0F0F0ULL) |
          (((w + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) ^
         0x3333333333333333ULL;
}

// The value of eight digit bytes loaded little-endian, the first the most significant;
// `digits` = w - 0x3030303030303030 (each byte 0-9). Combined pairwise: 2, then 4, then 8
// digits at a time.
inline uint64_t EightDigitsValue(uint64_t digits) {
  uint64_t x = digits * 10 + (digits >> 8);
  return (((x & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
          (((x >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >>
         32;
}

// Digits of [p, end) as a uint64. Every byte must be a digit and there must be one.
inline NumberStatus ParseDigits(const char* p, const char* end, uint64_t* out) {
  if (p == end) return NumberStatus::kInvalid;
  uint64_t v = 0;
  // Up to 19 digits cannot overflow a uint64 (10^19 - 1 < 2^64).
  const char* fast_end = end - p > 19 ? p + 19 : end;
  for (; p < fast_end; ++p) {
    const unsigned d = static_cast<unsigned char>(*p) - static_cast<unsigned>('0');
    if (d > 9) return NumberStatus::kInvalid;
    v = v * 10 + d;
  }
  bool overflow = false;
  for (; p < end; ++p) {
    const unsigned d = static_cast<unsigned char>(*p) - static_cast<unsigned>('0');
    if (d > 9) return NumberStatus::kInvalid;
    overflow |= __builtin_mul_overflow(v, 10u, &v);
    overflow |= __builtin_add_overflow(v, d, &v);
  }
  *out = v;
  return overflow ? NumberStatus::kOutOfRange : NumberStatus::kOk;
}

inline NumberStatus ParseInt64(const char* p, const char* end, int64_t* out) {
  const bool negative = p < end && *p == '-';
  uint64_t magnitude;
  const NumberStatus status = ParseDigits(p + negative, end, &magnitude);
  if (status != NumberStatus::kOk) return status;
  constexpr uint64_t kMaxPositive = static_cast<uint64_t>(INT64_MAX);
  if (magnitude > kMaxPositive + negative) return NumberStatus::kOutOfRange;
  *out = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
  return NumberStatus::kOk;
}

inline NumberStatus ParseUint64(const char* p, const char* end, uint64_t* out) {
  return ParseDigits(p, end, out);
}

// A finite double; kOutOfRange when the magnitude overflows a double (values too small
// for one become zero, as in every float parser).
NumberStatus ParseFloat(const char* p, const char* end, double* out);

}  // namespace ingester::lp::internal
