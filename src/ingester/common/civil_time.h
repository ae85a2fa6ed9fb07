// Calendar arithmetic (proleptic Gregorian, UTC) and the digit parsing that date text
// needs: one copy for partition keys, timestamps in queries and anything else.
#pragma once

#include <cstdint>
#include <string_view>

namespace ingester {

// Days since 1970-01-01 of a date, and back (Howard Hinnant's algorithms). Valid far
// beyond the int64 nanosecond range.
int64_t DaysFromCivil(int64_t year, int64_t month, int64_t day);
void CivilFromDays(int64_t days, int64_t* year, int64_t* month, int64_t* day);
bool IsLeapYear(int64_t year);
// `month` in 1..12.
int DaysInMonth(int64_t year, int64_t month);

// Consumes exactly `digits` decimal digits from the front of `*text` into `*out`; false
// (nothing consumed) when there are fewer.
bool TakeDigits(std::string_view* text, size_t digits, int64_t* out);

}  // namespace ingester
