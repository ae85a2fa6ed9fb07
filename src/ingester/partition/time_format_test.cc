#include "ingester/partition/time_format.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>

namespace ingester::partition {
namespace {

constexpr int64_t kHour = 3'600'000'000'000LL;
constexpr int64_t kDay = 24 * kHour;

TimeFormat Fmt(std::string_view f) { return TimeFormat::Make(f).ValueOrDie(); }

TEST(TimeFormatTest, DefaultIsDaily) {
  TimeFormat daily;
  EXPECT_EQ(daily.format(), "%Y-%m-%d");
  EXPECT_EQ(daily.period(), TimePeriod::kDay);
  EXPECT_EQ(daily, Fmt("%Y-%m-%d"));
  EXPECT_EQ(daily.Format(0), "1970-01-01");
  EXPECT_EQ(daily.Format(1'700'000'000'000'000'000LL), "2023-11-14");
  EXPECT_EQ(daily.Format(1'709'164'800'000'000'000LL), "2024-02-29");
  EXPECT_EQ(daily.Format(kDay - 1), "1970-01-01");
  EXPECT_EQ(daily.Format(kDay), "1970-01-02");
}

TEST(TimeFormatTest, NegativeTimesFloor) {
  TimeFormat daily;
  EXPECT_EQ(daily.Format(-1), "1969-12-31");
  EXPECT_EQ(daily.Format(-kDay), "1969-12-31");
  EXPECT_EQ(daily.Format(-kDay - 1), "1969-12-30");
  EXPECT_EQ(Fmt("%Y-%m-%d %H").Format(-1), "1969-12-31 23");
}

TEST(TimeFormatTest, ExtremeTimes) {
  TimeFormat daily;
  EXPECT_EQ(daily.Format(INT64_MAX), "2262-04-11");
  EXPECT_EQ(daily.Format(INT64_MIN), "1677-09-21");
  // The periods at the ends of the int64 range have an open bound.
  auto last = daily.Parse("2262-04-11");
  ASSERT_TRUE(last.has_value());
  EXPECT_TRUE(last->start.has_value());
  EXPECT_FALSE(last->end.has_value());
  auto first = Fmt("%Y").Parse("1677");
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(first->start.has_value());
  EXPECT_TRUE(first->Contains(INT64_MIN));
}

TEST(TimeFormatTest, HourMonthYear) {
  const int64_t t = 1'700'000'000'000'000'000LL;  // 2023-11-14T22:13:20Z
  EXPECT_EQ(Fmt("%Y-%m-%dT%H").Format(t), "2023-11-14T22");
  EXPECT_EQ(Fmt("%Y-%m-%dT%H").period(), TimePeriod::kHour);
  EXPECT_EQ(Fmt("%Y-%m").Format(t), "2023-11");
  EXPECT_EQ(Fmt("%Y-%m").period(), TimePeriod::kMonth);
  EXPECT_EQ(Fmt("%Y").Format(t), "2023");
  EXPECT_EQ(Fmt("%d.%m.%Y").Format(t), "14.11.2023");
  EXPECT_EQ(Fmt("%Y 100%%").Format(t), "2023 100%");
  EXPECT_EQ(Fmt("%Y\xc3\xa9t\xc3\xa9").Format(t), "2023\xc3\xa9t\xc3\xa9");
}

TEST(TimeFormatTest, ParseGivesThePeriod) {
  EXPECT_EQ(TimeFormat().Parse("1970-01-02"), (TimeRange{kDay, 2 * kDay}));
  EXPECT_EQ(TimeFormat().Parse("1969-12-31"), (TimeRange{-kDay, 0}));
  EXPECT_EQ(Fmt("%Y-%m-%dT%H").Parse("1970-01-02T05"),
            (TimeRange{kDay + 5 * kHour, kDay + 6 * kHour}));
  EXPECT_EQ(Fmt("%Y-%m").Parse("2024-02"),
            (TimeRange{19754 * kDay, (19754 + 29) * kDay}));  // leap February
  EXPECT_EQ(Fmt("%Y-%m").Parse("2023-12"), (TimeRange{19692 * kDay, 19723 * kDay}));
  EXPECT_EQ(Fmt("%Y").Parse("1970"), (TimeRange{0, 365 * kDay}));
  EXPECT_EQ(Fmt("%d.%m.%Y").Parse("02.01.1970"), (TimeRange{kDay, 2 * kDay}));
}

TEST(TimeFormatTest, ParseRejectsOtherText) {
  TimeFormat daily;
  for (const char* text : {"", "2024-13-01", "2024-02-30", "2023-02-29", "2024-01-01x",
                           "2024-1-01", "24-01-01", "2024/01/01", "eu|2024-01-01"}) {
    EXPECT_FALSE(daily.Parse(text).has_value()) << text;
  }
  EXPECT_FALSE(Fmt("%Y-%m-%dT%H").Parse("2024-01-01T24").has_value());
}

TEST(TimeFormatTest, ParseOfFormatCoversTheTime) {
  std::mt19937_64 rng(7);
  // 1678..2261, clear of the int64 ends.
  std::uniform_int_distribution<int64_t> times(-9'200'000'000'000'000'000LL,
                                               9'200'000'000'000'000'000LL);
  for (const char* f : {"%Y-%m-%d", "%Y-%m-%dT%H", "%Y-%m", "%Y", "%H:%d/%m/%Y"}) {
    const TimeFormat format = Fmt(f);
    for (int i = 0; i < 2000; ++i) {
      const int64_t t = times(rng);
      const std::string text = format.Format(t);
      auto range = format.Parse(text);
      ASSERT_TRUE(range.has_value()) << f << " " << text;
      EXPECT_TRUE(range->Contains(t)) << f << " " << text << " " << t;
      EXPECT_EQ(format.Format(*range->start), text);
      EXPECT_EQ(format.Format(*range->end - 1), text);
      EXPECT_NE(format.Format(*range->end), text);
    }
  }
}

TEST(TimeFormatTest, RejectsFormatsThatNameNoPeriod) {
  struct Case {
    const char* format;
    const char* why;
  };
  for (const Case& c :
       {Case{"", "is empty"}, Case{"%H", "one calendar period"},
        Case{"%m-%d", "one calendar period"}, Case{"%Y-%d", "one calendar period"},
        Case{"%Y-%m %H", "one calendar period"},
        Case{"%Y-%j", "unsupported conversion '%j'"},
        Case{"%Y-%m-%d %M", "unsupported conversion '%M'"}, Case{"%Y%", "lone '%'"},
        Case{"%Y-%Y", "appears twice"}, Case{"%Y|%m", "delimiter"},
        Case{"%Y\n", "control"}, Case{"%Y\xff", "not valid UTF-8"}}) {
    auto made = TimeFormat::Make(c.format);
    ASSERT_FALSE(made.ok()) << c.format;
    EXPECT_NE(made.status().message().find(c.why), std::string::npos)
        << c.format << ": " << made.status().message();
    EXPECT_NE(made.status().message().find("time format"), std::string::npos);
  }
  EXPECT_FALSE(TimeFormat::Make(std::string(65, 'x') + "%Y").ok());
}

}  // namespace
}  // namespace ingester::partition
