#include "ingester/partition/time_format.h"

#include <limits>

#include "ingester/common/error.h"
#include "ingester/common/utf8.h"

namespace ingester::partition {

namespace {

constexpr int64_t kNanosPerHour = 3'600'000'000'000LL;
constexpr int64_t kNanosPerDay = 24 * kNanosPerHour;
constexpr size_t kMaxFormatBytes = 64;

int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void AppendDigits(int64_t value, int width, std::string* out) {
  char buf[24];
  int n = 0;
  const bool negative = value < 0;
  uint64_t v = negative ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n < width) buf[n++] = '0';
  if (negative) out->push_back('-');
  while (n > 0) out->push_back(buf[--n]);
}

// `day` * `unit` ns, or nullopt when that is outside int64.
std::optional<int64_t> Nanos(int64_t count, int64_t unit) {
  int64_t out = 0;
  if (__builtin_mul_overflow(count, unit, &out)) return std::nullopt;
  return out;
}

}  // namespace

int64_t DayOfTime(int64_t time_ns) { return FloorDiv(time_ns, kNanosPerDay); }

TimeFormat::TimeFormat()
    : format_("%Y-%m-%d"),
      period_(TimePeriod::kDay),
      tokens_{{Field::kYear, {}},
              {Field::kLiteral, "-"},
              {Field::kMonth, {}},
              {Field::kLiteral, "-"},
              {Field::kDay, {}}} {}

arrow::Result<TimeFormat> TimeFormat::Make(std::string_view format) {
  auto bad = [&](const std::string& why) {
    return InvalidInput("time format '" + std::string(format) + "': " + why);
  };
  if (format.empty()) return bad("is empty");
  if (format.size() > kMaxFormatBytes) {
    return bad("is longer than " + std::to_string(kMaxFormatBytes) + " bytes");
  }
  TimeFormat out;
  out.format_ = std::string(format);
  out.tokens_.clear();
  bool seen[5] = {};
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '|')
      return bad("'|' is the partition key delimiter and cannot appear in it");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return bad("control characters are not allowed");
    }
    if (static_cast<unsigned char>(c) >= 0x80) {
      // Literal non-ASCII text: whole, well-formed UTF-8 characters only.
      const size_t n = Utf8SequenceLength(format, i);
      if (n == 0) return bad("is not valid UTF-8");
      std::string chars(format.substr(i, n));
      i += n - 1;
      if (!out.tokens_.empty() && out.tokens_.back().field == Field::kLiteral) {
        out.tokens_.back().literal += chars;
      } else {
        out.tokens_.push_back({Field::kLiteral, std::move(chars)});
      }
      continue;
    }
    Field field = Field::kLiteral;
    std::string literal(1, c);
    if (c == '%') {
      if (i + 1 == format.size()) return bad("ends with a lone '%'");
      switch (format[++i]) {
        case 'Y':
          field = Field::kYear;
          break;
        case 'm':
          field = Field::kMonth;
          break;
        case 'd':
          field = Field::kDay;
          break;
        case 'H':
          field = Field::kHour;
          break;
        case '%':
          break;
        default:
          return bad(std::string("unsupported conversion '%") + format[i] +
                     "' (supported: %Y %m %d %H and %%)");
      }
    }
    if (field == Field::kLiteral) {
      if (!out.tokens_.empty() && out.tokens_.back().field == Field::kLiteral) {
        out.tokens_.back().literal += literal;
      } else {
        out.tokens_.push_back({Field::kLiteral, std::move(literal)});
      }
      continue;
    }
    if (seen[static_cast<int>(field)]) {
      return bad(std::string("'%") + format[i] + "' appears twice");
    }
    seen[static_cast<int>(field)] = true;
    out.tokens_.push_back({field, {}});
  }
  const bool y = seen[static_cast<int>(Field::kYear)],
             m = seen[static_cast<int>(Field::kMonth)],
             d = seen[static_cast<int>(Field::kDay)],
             h = seen[static_cast<int>(Field::kHour)];
  if (!y || (d && !m) || (h && !d)) {
    return bad(
        "must name one calendar period: %Y, optionally with %m, then %d, then %H "
        "(e.g. %Y-%m-%d or %Y-%m-%dT%H)");
  }
  out.period_ = h   ? TimePeriod::kHour
                : d ? TimePeriod::kDay
                : m ? TimePeriod::kMonth
                    : TimePeriod::kYear;
  return out;
}

int64_t TimeFormat::PeriodOf(int64_t time_ns) const {
  switch (period_) {
    case TimePeriod::kHour:
      return FloorDiv(time_ns, kNanosPerHour);
    case TimePeriod::kDay:
      return DayOfTime(time_ns);
    case TimePeriod::kMonth:
    case TimePeriod::kYear: {
      int64_t y = 0, m = 0, d = 0;
      CivilFromDays(DayOfTime(time_ns), &y, &m, &d);
      return period_ == TimePeriod::kYear ? y : y * 12 + (m - 1);
    }
  }
  return 0;
}

void TimeFormat::AppendPeriod(int64_t period, std::string* out) const {
  int64_t y = 0, m = 1, d = 1, h = 0;
  switch (period_) {
    case TimePeriod::kHour:
      h = period - FloorDiv(period, 24) * 24;
      CivilFromDays(FloorDiv(period, 24), &y, &m, &d);
      break;
    case TimePeriod::kDay:
      CivilFromDays(period, &y, &m, &d);
      break;
    case TimePeriod::kMonth:
      y = FloorDiv(period, 12);
      m = period - y * 12 + 1;
      break;
    case TimePeriod::kYear:
      y = period;
      break;
  }
  for (const Token& token : tokens_) {
    switch (token.field) {
      case Field::kLiteral:
        *out += token.literal;
        break;
      case Field::kYear:
        AppendDigits(y, 4, out);
        break;
      case Field::kMonth:
        AppendDigits(m, 2, out);
        break;
      case Field::kDay:
        AppendDigits(d, 2, out);
        break;
      case Field::kHour:
        AppendDigits(h, 2, out);
        break;
    }
  }
}

std::string TimeFormat::Format(int64_t time_ns) const {
  std::string out;
  AppendPeriod(PeriodOf(time_ns), &out);
  return out;
}

std::optional<TimeRange> TimeFormat::Parse(std::string_view text) const {
  int64_t y = 0, m = 1, d = 1, h = 0;
  for (const Token& token : tokens_) {
    bool ok = true;
    switch (token.field) {
      case Field::kLiteral:
        ok = text.substr(0, token.literal.size()) == token.literal;
        if (ok) text.remove_prefix(token.literal.size());
        break;
      case Field::kYear:
        ok = TakeDigits(&text, 4, &y);
        break;
      case Field::kMonth:
        ok = TakeDigits(&text, 2, &m);
        break;
      case Field::kDay:
        ok = TakeDigits(&text, 2, &d);
        break;
      case Field::kHour:
        ok = TakeDigits(&text, 2, &h);
        break;
    }
    if (!ok) return std::nullopt;
  }
  if (!text.empty() || m < 1 || m > 12 || d < 1 || d > DaysInMonth(y, m) || h > 23) {
    return std::nullopt;
  }
  const int64_t day = DaysFromCivil(y, m, d);
  switch (period_) {
    case TimePeriod::kHour:
      return PeriodRange(day * 24 + h);
    case TimePeriod::kDay:
      return PeriodRange(day);
    case TimePeriod::kMonth:
      return PeriodRange(y * 12 + m - 1);
    case TimePeriod::kYear:
      return PeriodRange(y);
  }
  return std::nullopt;
}

TimeRange TimeFormat::PeriodRange(int64_t period) const {
  switch (period_) {
    case TimePeriod::kHour:
      return TimeRange{Nanos(period, kNanosPerHour), Nanos(period + 1, kNanosPerHour)};
    case TimePeriod::kDay:
      return TimeRange{Nanos(period, kNanosPerDay), Nanos(period + 1, kNanosPerDay)};
    case TimePeriod::kMonth: {
      const int64_t y = FloorDiv(period, 12), m = period - y * 12 + 1;
      return TimeRange{
          Nanos(DaysFromCivil(y, m, 1), kNanosPerDay),
          Nanos(m == 12 ? DaysFromCivil(y + 1, 1, 1) : DaysFromCivil(y, m + 1, 1),
                kNanosPerDay)};
    }
    case TimePeriod::kYear:
      return TimeRange{Nanos(DaysFromCivil(period, 1, 1), kNanosPerDay),
                       Nanos(DaysFromCivil(period + 1, 1, 1), kNanosPerDay)};
  }
  return {};
}

}  // namespace ingester::partition
