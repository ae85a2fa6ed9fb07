#include "ingester/common/json.h"

#include <cstdio>

namespace ingester::json {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t len = c < 0x80           ? 1
               : (c >> 5) == 0x6  ? 2
               : (c >> 4) == 0xE  ? 3
               : (c >> 3) == 0x1E ? 4
                                  : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  if (len == 2 && c < 0xC2) return 0;                          // overlong
  if (len == 3 && c == 0xE0 && byte(i + 1) < 0xA0) return 0;   // overlong
  if (len == 3 && c == 0xED && byte(i + 1) >= 0xA0) return 0;  // surrogate
  if (len == 4 && (c > 0xF4 || (c == 0xF0 && byte(i + 1) < 0x90) ||
                   (c == 0xF4 && byte(i + 1) >= 0x90))) {
    return 0;
  }
  return len;
}

}  // namespace

void AppendString(std::string* out, std::string_view text) {
  out->push_back('"');
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20) {
      switch (c) {
        case '\n':
          out->append("\\n");
          break;
        case '\r':
          out->append("\\r");
          break;
        case '\t':
          out->append("\\t");
          break;
        default: {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out->append(buf);
        }
      }
      ++i;
    } else if (c < 0x80) {
      out->push_back(static_cast<char>(c));
      ++i;
    } else if (size_t len = Utf8SequenceLength(text, i); len > 0) {
      out->append(text.substr(i, len));
      i += len;
    } else {
      out->append("\xEF\xBF\xBD");  // U+FFFD
      ++i;
    }
  }
  out->push_back('"');
}

std::string Quote(std::string_view text) {
  std::string out;
  AppendString(&out, text);
  return out;
}

}  // namespace ingester::json
