// UTF-8 well-formedness, for names and partition keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ingester {

// Length of the well-formed UTF-8 sequence starting at bytes[i], or 0 if the bytes
// there are not one (RFC 3629: shortest form, no surrogates, at most U+10FFFF).
inline size_t Utf8SequenceLength(std::string_view bytes, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(bytes[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t len;
  uint8_t lo = 0x80;
  uint8_t hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // UTF-16 surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > bytes.size()) return 0;
  const uint8_t b1 = byte(i + 1);
  if (b1 < lo || b1 > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    const uint8_t b = byte(i + k);
    if (b < 0x80 || b > 0xBF) return 0;
  }
  return len;
}

}  // namespace ingester
