#include "ingester/lp/scan_internal.h"

namespace ingester::lp::internal {

const char* FindInvalidUtf8(const char* p, const char* end) {
  const auto* s = reinterpret_cast<const unsigned char*>(p);
  const auto* e = reinterpret_cast<const unsigned char*>(end);
  while (s < e) {
    if (*s < 0x80) {
      // Skip an ASCII run eight bytes at a time.
      const char* ascii_end = reinterpret_cast<const char*>(s);
      while (e - reinterpret_cast<const unsigned char*>(ascii_end) >= 8 &&
             IsAscii(ascii_end, ascii_end + 8)) {
        ascii_end += 8;
      }
      s = reinterpret_cast<const unsigned char*>(ascii_end);
      while (s < e && *s < 0x80) ++s;
      continue;
    }
    const unsigned char c = *s;
    int length;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return reinterpret_cast<const char*>(s);
    }
    if (e - s < length || s[1] < lo || s[1] > hi) return reinterpret_cast<const char*>(s);
    for (int i = 2; i < length; ++i) {
      if ((s[i] & 0xC0) != 0x80) return reinterpret_cast<const char*>(s);
    }
    s += length;
  }
  return end;
}

}  // namespace ingester::lp::internal
