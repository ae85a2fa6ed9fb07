// Comparing secrets (bearer tokens) without leaking where they differ through timing.
#pragma once

#include <string_view>

namespace ingester {

// Whether `a` equals `b`, in time that depends on the sizes only.
inline bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace ingester
