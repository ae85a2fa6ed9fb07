#include "ingester/query/time_format.h"

#include <charconv>
#include <cstdio>

#include "ingester/common/civil_time.h"
#include "ingester/common/error.h"

namespace ingester::query {

namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr int64_t kSecondsPerDay = 86'400;

bool TakeChar(std::string_view* text, char c) {
  if (text->empty() || (*text)[0] != c) return false;
  text->remove_prefix(1);
  return true;
}

arrow::Status Bad(std::string_view text, std::string_view why) {
  return InvalidInput("'" + std::string(text) + "' is not a timestamp (" +
                      std::string(why) +
                      "): use nanoseconds since the epoch or RFC 3339, like "
                      "2023-11-14T22:13:20Z");
}

}  // namespace

arrow::Result<int64_t> ParseTimestamp(std::string_view text) {
  if (text.empty()) return Bad(text, "empty");
  // An integer of nanoseconds.
  {
    int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && ptr == text.data() + text.size()) return value;
    if (ec == std::errc::result_out_of_range) return Bad(text, "out of the int64 range");
  }
  std::string_view rest = text;
  int64_t y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, frac = 0, offset_s = 0;
  if (!TakeDigits(&rest, 4, &y) || !TakeChar(&rest, '-') || !TakeDigits(&rest, 2, &mo) ||
      !TakeChar(&rest, '-') || !TakeDigits(&rest, 2, &d)) {
    return Bad(text, "expected YYYY-MM-DD");
  }
  if (mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo))
    return Bad(text, "no such date");
  if (!rest.empty()) {
    if (!TakeChar(&rest, 'T') && !TakeChar(&rest, 't') && !TakeChar(&rest, ' ')) {
      return Bad(text, "expected T after the date");
    }
    if (!TakeDigits(&rest, 2, &h) || !TakeChar(&rest, ':') ||
        !TakeDigits(&rest, 2, &mi) || !TakeChar(&rest, ':') ||
        !TakeDigits(&rest, 2, &s)) {
      return Bad(text, "expected HH:MM:SS");
    }
    if (h > 23 || mi > 59 || s > 60) return Bad(text, "no such time of day");
    if (TakeChar(&rest, '.')) {
      size_t digits = 0;
      while (!rest.empty() && rest[0] >= '0' && rest[0] <= '9') {
        if (digits < 9) frac = frac * 10 + (rest[0] - '0');
        ++digits;
        rest.remove_prefix(1);
      }
      if (digits == 0) return Bad(text, "expected digits after the decimal point");
      for (size_t i = digits; i < 9; ++i) frac *= 10;
    }
    if (TakeChar(&rest, 'Z') || TakeChar(&rest, 'z')) {
    } else if (!rest.empty() && (rest[0] == '+' || rest[0] == '-')) {
      const int64_t sign = rest[0] == '-' ? -1 : 1;
      rest.remove_prefix(1);
      int64_t oh = 0, om = 0;
      if (!TakeDigits(&rest, 2, &oh) || !TakeChar(&rest, ':') ||
          !TakeDigits(&rest, 2, &om) || oh > 23 || om > 59) {
        return Bad(text, "expected a zone offset like +01:00");
      }
      offset_s = sign * (oh * 3600 + om * 60);
    }
    if (!rest.empty()) return Bad(text, "unexpected '" + std::string(rest) + "'");
  }
  const int64_t seconds =
      DaysFromCivil(y, mo, d) * kSecondsPerDay + h * 3600 + mi * 60 + s - offset_s;
  int64_t ns = 0;
  if (__builtin_mul_overflow(seconds, kNanosPerSecond, &ns) ||
      __builtin_add_overflow(ns, frac, &ns)) {
    return Bad(text, "outside the years 1677-2262");
  }
  return ns;
}

std::string FormatTimestamp(int64_t ns) {
  int64_t seconds = ns / kNanosPerSecond;
  int64_t frac = ns % kNanosPerSecond;
  if (frac < 0) {
    frac += kNanosPerSecond;
    --seconds;
  }
  int64_t days = seconds / kSecondsPerDay;
  int64_t secs = seconds % kSecondsPerDay;
  if (secs < 0) {
    secs += kSecondsPerDay;
    --days;
  }
  int64_t y = 0, m = 0, d = 0;
  CivilFromDays(days, &y, &m, &d);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld",
                        static_cast<long long>(y), static_cast<long long>(m),
                        static_cast<long long>(d), static_cast<long long>(secs / 3600),
                        static_cast<long long>(secs / 60 % 60),
                        static_cast<long long>(secs % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (frac != 0) {
    std::snprintf(buf, sizeof buf, ".%09lld", static_cast<long long>(frac));
    std::string digits(buf);
    while (digits.back() == '0') digits.pop_back();
    out += digits;
  }
  out += 'Z';
  return out;
}

}  // namespace ingester::query
