#include <charconv>
#include <cmath>
#include <system_error>

#include "ingester/lp/number_internal.h"

namespace ingester::lp::internal {

namespace {

inline bool IsDigit(char c) { return static_cast<unsigned char>(c - '0') <= 9; }

// Powers of ten that a double holds exactly.
constexpr double kExactPowersOfTen[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                        1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                        1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

}  // namespace

NumberStatus ParseFloat(const char* p, const char* end, double* out) {
  const char* const begin = p;
  const bool negative = p < end && *p == '-';
  p += negative;

  // Syntax check while collecting up to 19 significant digits of the mantissa.
  uint64_t mantissa = 0;
  int significant = 0;     // digits in `mantissa`, leading zeros excluded
  bool truncated = false;  // more significant digits than `mantissa` holds
  int64_t exponent10 = 0;  // value = mantissa * 10^exponent10
  int64_t magnitude = 0;   // decimal exponent of the leading digit, +1
  bool seen_digit = false;
  for (; p < end && IsDigit(*p); ++p) {
    seen_digit = true;
    if (significant == 0 && *p == '0') continue;
    if (significant < 19) {
      mantissa = mantissa * 10 + static_cast<unsigned>(*p - '0');
      ++significant;
    } else {
      ++exponent10;
      truncated |= *p != '0';
    }
    ++magnitude;
  }
  if (p < end && *p == '.') {
    ++p;
    for (; p < end && IsDigit(*p); ++p) {
      seen_digit = true;
      if (significant == 0 && *p == '0') {
        --magnitude;
        --exponent10;
        continue;
      }
      if (significant < 19) {
        mantissa = mantissa * 10 + static_cast<unsigned>(*p - '0');
        ++significant;
        --exponent10;
      } else {
        truncated |= *p != '0';
      }
    }
  }
  if (!seen_digit) return NumberStatus::kInvalid;
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool exp_negative = false;
    if (p < end && (*p == '+' || *p == '-')) {
      exp_negative = *p == '-';
      ++p;
    }
    if (p == end) return NumberStatus::kInvalid;
    int64_t e = 0;
    for (; p < end && IsDigit(*p); ++p) {
      // Saturate: any exponent this large over- or underflows anyway.
      if (e < 1'000'000'000) e = e * 10 + (*p - '0');
    }
    if (exp_negative) e = -e;
    exponent10 += e;
    magnitude += e;
  }
  if (p != end) return NumberStatus::kInvalid;

  if (mantissa == 0) {
    *out = negative ? -0.0 : 0.0;
    return NumberStatus::kOk;
  }
  // Clinger's fast path: both the mantissa and the power of ten are exact doubles, so one
  // IEEE multiplication or division rounds correctly.
  if (!truncated && mantissa <= (uint64_t{1} << 53) && exponent10 >= -22 &&
      exponent10 <= 22) {
    double v = static_cast<double>(mantissa);
    v = exponent10 < 0 ? v / kExactPowersOfTen[-exponent10]
                       : v * kExactPowersOfTen[exponent10];
    *out = negative ? -v : v;
    return NumberStatus::kOk;
  }

  double v = 0;
  const auto [ptr, ec] = std::from_chars(begin, end, v);
  if (ec == std::errc::result_out_of_range) {
    // `magnitude` is the decimal exponent of the leading digit plus one: positive means
    // the value is above 1 and so overflowed; otherwise it underflowed to zero.
    if (magnitude > 0) return NumberStatus::kOutOfRange;
    *out = negative ? -0.0 : 0.0;
    return NumberStatus::kOk;
  }
  if (ec != std::errc() || ptr != end) return NumberStatus::kInvalid;
  if (!std::isfinite(v)) return NumberStatus::kOutOfRange;
  *out = v;
  return NumberStatus::kOk;
}

}  // namespace ingester::lp::internal
