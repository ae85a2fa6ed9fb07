#include "ingester/lp/precision.h"

#include <string>
#include <utility>

#include "ingester/common/error.h"

namespace ingester::lp {

arrow::Result<Precision> ParsePrecision(std::string_view text) {
  static constexpr std::pair<std::string_view, Precision> kNames[] = {
      {"auto", Precision::kAuto},
      {"ns", Precision::kNanosecond},
      {"n", Precision::kNanosecond},
      {"nanosecond", Precision::kNanosecond},
      {"us", Precision::kMicrosecond},
      {"u", Precision::kMicrosecond},
      {"\xC2\xB5s", Precision::kMicrosecond},  // µs
      {"microsecond", Precision::kMicrosecond},
      {"ms", Precision::kMillisecond},
      {"millisecond", Precision::kMillisecond},
      {"s", Precision::kSecond},
      {"second", Precision::kSecond},
      {"m", Precision::kMinute},
      {"minute", Precision::kMinute},
      {"h", Precision::kHour},
      {"hour", Precision::kHour},
  };
  for (const auto& [name, precision] : kNames) {
    if (text == name) return precision;
  }
  return InvalidInput("invalid precision \"" + std::string(text) +
                      "\" (use auto, ns, us, ms, s; or n, u, ms, s, m, h)");
}

std::string_view PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kAuto:
      return "auto";
    case Precision::kNanosecond:
      return "ns";
    case Precision::kMicrosecond:
      return "us";
    case Precision::kMillisecond:
      return "ms";
    case Precision::kSecond:
      return "s";
    case Precision::kMinute:
      return "m";
    case Precision::kHour:
      return "h";
  }
  return "?";
}

Precision GuessPrecision(int64_t t) {
  // |t| without overflow for INT64_MIN.
  const uint64_t magnitude =
      t < 0 ? 0 - static_cast<uint64_t>(t) : static_cast<uint64_t>(t);
  if (magnitude < 5'000'000'000ULL) return Precision::kSecond;
  if (magnitude < 5'000'000'000'000ULL) return Precision::kMillisecond;
  if (magnitude < 5'000'000'000'000'000ULL) return Precision::kMicrosecond;
  return Precision::kNanosecond;
}

int64_t NanosPerUnit(Precision precision) {
  switch (precision) {
    case Precision::kAuto:
    case Precision::kNanosecond:
      return 1;
    case Precision::kMicrosecond:
      return 1'000;
    case Precision::kMillisecond:
      return 1'000'000;
    case Precision::kSecond:
      return 1'000'000'000;
    case Precision::kMinute:
      return 60'000'000'000;
    case Precision::kHour:
      return 3'600'000'000'000;
  }
  return 1;
}

std::optional<int64_t> ToNanos(int64_t t, Precision precision) {
  if (precision == Precision::kAuto) precision = GuessPrecision(t);
  int64_t out;
  if (__builtin_mul_overflow(t, NanosPerUnit(precision), &out)) return std::nullopt;
  return out;
}

}  // namespace ingester::lp
