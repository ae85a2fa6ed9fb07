// The time part of a partition template: a strftime-like format naming a calendar
// period (UTC), compiled once so that the write path formats a period, not a row.
//
// Supported conversions: %Y (4-digit year), %m (01-12), %d (01-31), %H (00-23) and %%.
// The conversions used must name one calendar period, coarsest first: {%Y}, {%Y %m},
// {%Y %m %d} or {%Y %m %d %H}, each at most once, in any textual order ("%d.%m.%Y" is
// a day). Anything else is literal text, except '|' (the key's part delimiter) and
// control characters. So every formatted period parses back to exactly the time range
// it covers, which is what pruning by key needs.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/common/civil_time.h"
#include "ingester/common/predicate.h"

namespace ingester::partition {

// The calendar period a time format names (its finest conversion).
enum class TimePeriod { kYear, kMonth, kDay, kHour };

class TimeFormat {
 public:
  // The daily format, "%Y-%m-%d".
  TimeFormat();
  // InvalidInput (common/error.h) naming the format and what is wrong with it.
  static arrow::Result<TimeFormat> Make(std::string_view format);

  const std::string& format() const { return format_; }
  TimePeriod period() const { return period_; }

  // The number of the period holding `time_ns` (ns since the epoch, UTC; negative
  // times floor). Equal numbers format to equal text; distinct numbers to distinct text.
  int64_t PeriodOf(int64_t time_ns) const;
  // The times period `period` covers: [its start, the next period's start); a bound
  // outside the int64 nanosecond range is absent.
  TimeRange PeriodRange(int64_t period) const;
  // Appends the text of period `period` (a PeriodOf result).
  void AppendPeriod(int64_t period, std::string* out) const;
  std::string Format(int64_t time_ns) const;

  // The times `text` covers, if it is this format's text of a valid period: [start of
  // the period, start of the next). A bound outside the int64 nanosecond range (years
  // 1677-2262) is absent. nullopt when `text` is not this format's output.
  std::optional<TimeRange> Parse(std::string_view text) const;

  bool operator==(const TimeFormat& other) const { return format_ == other.format_; }

 private:
  enum class Field { kLiteral, kYear, kMonth, kDay, kHour };
  struct Token {
    Field field = Field::kLiteral;
    std::string literal;  // kLiteral only
  };

  std::string format_;
  TimePeriod period_ = TimePeriod::kDay;
  std::vector<Token> tokens_;
};

// Days since 1970-01-01 (proleptic Gregorian, UTC) of `time_ns`; floors negative times.
int64_t DayOfTime(int64_t time_ns);

}  // namespace ingester::partition
