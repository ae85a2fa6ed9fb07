// Partition keys: by default the UTC day of a row's time, "YYYY-MM-DD".
#pragma once

#include <cstdint>
#include <string>

namespace ingester {

inline constexpr int64_t kNanosPerDay = 86'400'000'000'000LL;

// The day number (days since 1970-01-01, UTC) of `time_ns`; floors negative times.
inline int64_t DayOf(int64_t time_ns) {
  int64_t day = time_ns / kNanosPerDay;
  return (time_ns % kNanosPerDay < 0) ? day - 1 : day;
}

// "YYYY-MM-DD" of a day number (proleptic Gregorian calendar).
std::string DailyPartitionKey(int64_t day);

}  // namespace ingester
