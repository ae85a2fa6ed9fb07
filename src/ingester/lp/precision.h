// Timestamp precision of a line protocol body, as named by the `precision` parameter of
// the write APIs, and the conversion of a raw timestamp to nanoseconds.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace ingester::lp {

enum class Precision : uint8_t {
  // Each timestamp's magnitude picks its unit, as InfluxDB 3 does (see GuessPrecision).
  kAuto,
  kNanosecond,
  kMicrosecond,
  kMillisecond,
  kSecond,
  kMinute,  // InfluxDB v1 only
  kHour,    // InfluxDB v1 only
};

// Accepts the spellings of all three write APIs:
//   auto                                   (v3)
//   ns, n, nanosecond                      (v2 ns, v1 n, v3 nanosecond)
//   us, u, µs, microsecond                 (v2 us, v1 u)
//   ms, millisecond
//   s, second
//   m, minute, h, hour                     (v1)
// Anything else is an InvalidInput error naming the accepted values.
arrow::Result<Precision> ParsePrecision(std::string_view text);

// "auto", "ns", "us", "ms", "s", "m", "h".
std::string_view PrecisionName(Precision precision);

// The unit kAuto picks for a raw timestamp `t`, by the magnitude of |t| (the thresholds
// of InfluxDB 3, which put the switch points far from any date a client sends today):
//   |t| <  5e9   seconds       (up to 2128-06 in seconds)
//   |t| <  5e12  milliseconds  (up to 2128-06 in milliseconds; from 1970-02-27)
//   |t| <  5e15  microseconds  (from 1970-02-27 in microseconds)
//   otherwise    nanoseconds   (from 1970-02-27 in nanoseconds)
// So a timestamp within ~58 days of the epoch in ms/us/ns is read in a coarser unit;
// callers who write such times must name the precision.
Precision GuessPrecision(int64_t t);

// Nanoseconds per unit of a precision other than kAuto.
int64_t NanosPerUnit(Precision precision);

// `t` (in `precision`, kAuto resolved with GuessPrecision) in nanoseconds, or nullopt
// when that does not fit in an int64.
std::optional<int64_t> ToNanos(int64_t t, Precision precision);

}  // namespace ingester::lp
