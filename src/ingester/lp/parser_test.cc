#include "ingester/lp/parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ingester/common/error.h"
#include "ingester/lp/format.h"
#include "ingester/testing/tsbs_generator.h"

namespace ingester::lp {
namespace {

constexpr int64_t kNow = 1'700'000'000'123'456'789;

ParsedBody ParseNs(std::string_view body) {
  ParseOptions options;
  options.default_time_ns = kNow;
  return Parse(body, options);
}

// The only line of `parsed`, failing the test on errors.
const ParsedLine& Only(const ParsedBody& parsed) {
  static const ParsedLine kEmpty;
  EXPECT_FALSE(parsed.has_errors()) << parsed.ErrorStatus().ToString();
  EXPECT_EQ(parsed.lines().size(), 1u);
  return parsed.lines().empty() ? kEmpty : parsed.lines()[0];
}

// The single field of a one-line body "m f=<value>".
Field FieldOf(const ParsedBody& parsed) {
  const ParsedLine& line = Only(parsed);
  EXPECT_EQ(line.fields.size(), 1u);
  return line.fields.empty() ? Field{} : line.fields[0];
}

// The only error of `body`, as "line L, column C: message".
std::string OnlyError(std::string_view body, ParseOptions options = {}) {
  const ParsedBody parsed = Parse(body, options);
  EXPECT_EQ(parsed.error_count(), 1u) << body;
  EXPECT_TRUE(parsed.lines().empty()) << body;
  return parsed.errors().empty() ? "" : parsed.errors()[0].ToString();
}

std::vector<Tag> Tags(const ParsedLine& line) {
  return {line.tags.begin(), line.tags.end()};
}
std::vector<Field> Fields(const ParsedLine& line) {
  return {line.fields.begin(), line.fields.end()};
}

TEST(Parser, FullLine) {
  const ParsedBody parsed = ParseNs(
      "cpu,host=a,region=eu usage=0.5,count=3i,big=7u,ok=t,note=\"hi there\" "
      "1700000000000000000\n");
  const ParsedLine& line = Only(parsed);
  EXPECT_EQ(line.line_number, 1u);
  EXPECT_EQ(line.measurement, "cpu");
  EXPECT_EQ(Tags(line), (std::vector<Tag>{{"host", "a"}, {"region", "eu"}}));
  EXPECT_EQ(Fields(line),
            (std::vector<Field>{Field::Float("usage", 0.5), Field::Integer("count", 3),
                                Field::Unsigned("big", 7), Field::Boolean("ok", true),
                                Field::String("note", "hi there")}));
  EXPECT_EQ(line.timestamp_ns, 1'700'000'000'000'000'000);
}

TEST(Parser, NoTagsAndNoTimestampTakesTheDefaultTime) {
  const ParsedBody parsed = ParseNs("cpu f=1");
  const ParsedLine& line = Only(parsed);
  EXPECT_TRUE(line.tags.empty());
  EXPECT_EQ(line.timestamp_ns, kNow);
}

TEST(Parser, KeepsInputOrderOfTagsAndLines) {
  const ParsedBody parsed = ParseNs("b,z=1,a=2 y=1,x=2 1\na q=1 2\nb,z=3 x=1 3\n");
  ASSERT_EQ(parsed.lines().size(), 3u);
  EXPECT_EQ(parsed.lines()[0].tags[0].key, "z");
  EXPECT_EQ(parsed.lines()[0].tags[1].key, "a");
  EXPECT_EQ(parsed.lines()[0].fields[0].key, "y");
  EXPECT_EQ(parsed.lines()[1].measurement, "a");
  EXPECT_EQ(parsed.lines()[2].tags[0].value, "3");
  // Tags and fields of all lines are runs of two flat arrays.
  EXPECT_EQ(parsed.total_tags(), 3u);
  EXPECT_EQ(parsed.total_fields(), 4u);
  EXPECT_EQ(parsed.lines()[0].tags.data() + 2, parsed.lines()[2].tags.data());
  EXPECT_EQ(parsed.lines()[1].fields.data() + 1, parsed.lines()[2].fields.data());
}

TEST(Parser, Floats) {
  const std::pair<const char*, double> kCases[] = {
      {"1", 1.0},
      {"-1", -1.0},
      {"1.5", 1.5},
      {"-1e3", -1000.0},
      {".5", 0.5},
      {"1.", 1.0},
      {"1E+3", 1000.0},
      {"2e-3", 0.002},
      {"0", 0.0},
      {"00012.50", 12.5},
      {"1e308", 1e308},
      {"1e-400", 0.0},
      {"4.9e-324", 4.9e-324},
      {"123456789012345678901234567890", 123456789012345678901234567890.0},
      {"0.1000000000000000055511151231257827", 0.1},
      {"1.7976931348623157e308", 1.7976931348623157e308},
  };
  for (const auto& [text, value] : kCases) {
    const std::string body = std::string("m f=") + text;
    const Field field = FieldOf(ParseNs(body));
    EXPECT_EQ(field.type, FieldType::kFloat) << text;
    EXPECT_EQ(field.f64, value) << text;
  }
  EXPECT_TRUE(std::signbit(FieldOf(ParseNs("m f=-0")).f64));
}

TEST(Parser, FloatsRoundTripExactly) {
  // Random bit patterns printed with 17 significant digits must read back bit-exact.
  uint64_t state = 42;
  for (int i = 0; i < 20000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t bits = state;
    double v;
    std::memcpy(&v, &bits, sizeof(v));
    if (!std::isfinite(v)) continue;
    char text[64];
    std::snprintf(text, sizeof(text), i % 2 ? "%.17g" : "%.6e", v);
    const std::string body = std::string("m f=") + text;
    const Field field = FieldOf(ParseNs(body));
    EXPECT_EQ(field.f64, std::strtod(text, nullptr)) << text;
  }
}

TEST(Parser, Integers) {
  EXPECT_EQ(FieldOf(ParseNs("m f=123i")), Field::Integer("f", 123));
  EXPECT_EQ(FieldOf(ParseNs("m f=-123i")), Field::Integer("f", -123));
  EXPECT_EQ(FieldOf(ParseNs("m f=0i")), Field::Integer("f", 0));
  EXPECT_EQ(FieldOf(ParseNs("m f=9223372036854775807i")),
            Field::Integer("f", std::numeric_limits<int64_t>::max()));
  EXPECT_EQ(FieldOf(ParseNs("m f=-9223372036854775808i")),
            Field::Integer("f", std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(FieldOf(ParseNs("m f=000000000000000000000042i")), Field::Integer("f", 42));
  EXPECT_EQ(FieldOf(ParseNs("m f=0u")), Field::Unsigned("f", 0));
  EXPECT_EQ(FieldOf(ParseNs("m f=18446744073709551615u")),
            Field::Unsigned("f", std::numeric_limits<uint64_t>::max()));
}

TEST(Parser, Booleans) {
  for (const char* t : {"t", "T", "true", "True", "TRUE"}) {
    EXPECT_EQ(FieldOf(ParseNs(std::string("m f=") + t)), Field::Boolean("f", true)) << t;
  }
  for (const char* f : {"f", "F", "false", "False", "FALSE"}) {
    EXPECT_EQ(FieldOf(ParseNs(std::string("m f=") + f)), Field::Boolean("f", false)) << f;
  }
}

TEST(Parser, Strings) {
  EXPECT_EQ(FieldOf(ParseNs("m f=\"\"")), Field::String("f", ""));
  EXPECT_EQ(FieldOf(ParseNs("m f=\"a, b=c d\"")), Field::String("f", "a, b=c d"));
  EXPECT_EQ(FieldOf(ParseNs(R"(m f="say \"hi\"")")), Field::String("f", R"(say "hi")"));
  EXPECT_EQ(FieldOf(ParseNs(R"(m f="back\\slash")")),
            Field::String("f", R"(back\slash)"));
  // A backslash before any other byte is literal.
  EXPECT_EQ(FieldOf(ParseNs(R"(m f="a\nb\,c")")), Field::String("f", R"(a\nb\,c)"));
  EXPECT_EQ(FieldOf(ParseNs(R"(m f="ends\\")")), Field::String("f", R"(ends\)"));
  EXPECT_EQ(FieldOf(ParseNs("m f=\"caf\xC3\xA9 \xF0\x9F\x98\x80\"")),
            Field::String("f", "caf\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_EQ(FieldOf(ParseNs("m f=\"# not a comment\"")),
            Field::String("f", "# not a comment"));
}

TEST(Parser, StringsMaySpanLines) {
  const ParsedBody parsed =
      ParseNs("m f=\"one\ntwo\r\nthree\",g=1i 5\nm f=2 6\n\nm f=3\n");
  ASSERT_EQ(parsed.lines().size(), 3u);
  EXPECT_EQ(parsed.lines()[0].fields[0].str, "one\ntwo\r\nthree");
  EXPECT_EQ(parsed.lines()[0].line_number, 1u);
  EXPECT_EQ(parsed.lines()[1].line_number, 4u);
  EXPECT_EQ(parsed.lines()[2].line_number, 6u);
}

TEST(Parser, MeasurementEscapes) {
  EXPECT_EQ(Only(ParseNs(R"(my\ cpu\,x f=1)")).measurement, "my cpu,x");
  EXPECT_EQ(Only(ParseNs(R"(a\\b f=1)")).measurement, R"(a\b)");
  // `=` needs no escape in a measurement, and `\=` is a literal backslash there.
  EXPECT_EQ(Only(ParseNs(R"(a=b f=1)")).measurement, "a=b");
  EXPECT_EQ(Only(ParseNs(R"(a\=b f=1)")).measurement, R"(a\=b)");
  EXPECT_EQ(Only(ParseNs(R"(a\b\"c f=1)")).measurement, R"(a\b\"c)");
  EXPECT_EQ(Only(ParseNs(R"(\ lead f=1)")).measurement, " lead");
}

TEST(Parser, TagAndFieldKeyEscapes) {
  const ParsedBody parsed =
      ParseNs(R"(m,k\,1\=\ x=v\,1\=\ y\\z,lit=a\b f\ 1\,\==1,g\\=2)");
  const ParsedLine& line = Only(parsed);
  EXPECT_EQ(Tags(line), (std::vector<Tag>{{"k,1= x", R"(v,1= y\z)"}, {"lit", R"(a\b)"}}));
  EXPECT_EQ(line.fields[0].key, "f 1,=");
  EXPECT_EQ(line.fields[1].key, R"(g\)");
  // An unescaped `=` in a tag value is literal (as in InfluxDB IOx).
  EXPECT_EQ(Only(ParseNs("m,t=a=b f=1")).tags[0].value, "a=b");
}

TEST(Parser, ViewsPointIntoTheBodyUnlessUnescaped) {
  const std::string body = R"(cpu,host=a\ b,plain=x f="q\"",g="plain")";
  const ParsedBody parsed = ParseNs(body);
  const ParsedLine& line = Only(parsed);
  auto in_body = [&](std::string_view v) {
    return v.data() >= body.data() && v.data() + v.size() <= body.data() + body.size();
  };
  EXPECT_TRUE(in_body(line.measurement));
  EXPECT_TRUE(in_body(line.tags[1].value));
  EXPECT_TRUE(in_body(line.fields[1].str));
  EXPECT_FALSE(in_body(line.tags[0].value));
  EXPECT_TRUE(parsed.TEST_InArena(line.tags[0].value));
  EXPECT_TRUE(parsed.TEST_InArena(line.fields[0].str));
  // Moving the body keeps every view valid.
  ParsedBody moved = ParseNs(body);
  const ParsedBody target = std::move(moved);
  EXPECT_EQ(Only(target).tags[0].value, "a b");
  EXPECT_EQ(Only(target).fields[0].str, "q\"");
}

TEST(Parser, CommentsBlankLinesAndWhitespace) {
  const ParsedBody parsed = ParseNs(
      "# a comment\n"
      "\n"
      "   \t \n"
      "  \tcpu f=1 10   \t\n"
      "cpu f=2 20\r\n"
      "\r\n"
      "   # indented comment with \xFF bad bytes\n"
      "cpu  f=3\r\n"
      "cpu f=4  \t 40\r\n"
      "cpu f=5");
  ASSERT_FALSE(parsed.has_errors()) << parsed.ErrorStatus().ToString();
  ASSERT_EQ(parsed.lines().size(), 5u);
  const uint32_t kLines[] = {4, 5, 8, 9, 10};
  const int64_t kTimes[] = {10, 20, kNow, 40, kNow};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(parsed.lines()[i].line_number, kLines[i]);
    EXPECT_EQ(parsed.lines()[i].timestamp_ns, kTimes[i]);
    EXPECT_EQ(parsed.lines()[i].fields[0].f64, static_cast<double>(i + 1));
  }
  EXPECT_TRUE(ParseNs("").lines().empty());
  EXPECT_FALSE(ParseNs("\n\n# x\n").has_errors());
}

TEST(Parser, Timestamps) {
  EXPECT_EQ(Only(ParseNs("m f=1 -1")).timestamp_ns, -1);
  EXPECT_EQ(Only(ParseNs("m f=1 0")).timestamp_ns, 0);
  EXPECT_EQ(Only(ParseNs("m f=1 9223372036854775807")).timestamp_ns,
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(Only(ParseNs("m f=1 -9223372036854775808")).timestamp_ns,
            std::numeric_limits<int64_t>::min());
}

TEST(Parser, PrecisionConversions) {
  struct Case {
    Precision precision;
    const char* raw;
    int64_t ns;
  };
  const Case kCases[] = {
      {Precision::kNanosecond, "1700000000123456789", 1700000000123456789},
      {Precision::kMicrosecond, "1700000000123456", 1700000000123456000},
      {Precision::kMillisecond, "1700000000123", 1700000000123000000},
      {Precision::kSecond, "1700000000", 1700000000000000000},
      {Precision::kSecond, "-1", -1000000000},
      {Precision::kMinute, "2", 120000000000},
      {Precision::kHour, "3", 10800000000000},
      // auto: |t| < 5e9 is seconds, < 5e12 ms, < 5e15 us, else ns.
      {Precision::kAuto, "1700000000", 1700000000000000000},
      {Precision::kAuto, "4999999999", 4999999999000000000},
      {Precision::kAuto, "5000000000", 5000000000000000},
      {Precision::kAuto, "1700000000123", 1700000000123000000},
      {Precision::kAuto, "4999999999999", 4999999999999000000},
      {Precision::kAuto, "5000000000000", 5000000000000000},
      {Precision::kAuto, "1700000000123456", 1700000000123456000},
      {Precision::kAuto, "5000000000000000", 5000000000000000},
      {Precision::kAuto, "1700000000123456789", 1700000000123456789},
      {Precision::kAuto, "-1700000000", -1700000000000000000},
      {Precision::kAuto, "0", 0},
  };
  for (const Case& c : kCases) {
    ParseOptions options;
    options.precision = c.precision;
    const std::string body = std::string("m f=1 ") + c.raw;
    EXPECT_EQ(Only(Parse(body, options)).timestamp_ns, c.ns)
        << PrecisionName(c.precision) << " " << c.raw;
  }
  // The default time is already in nanoseconds: no precision applies to it.
  ParseOptions options;
  options.precision = Precision::kSecond;
  options.default_time_ns = kNow;
  EXPECT_EQ(Only(Parse("m f=1", options)).timestamp_ns, kNow);
}

TEST(Parser, TimestampOverflowIsAnError) {
  ParseOptions options;
  options.precision = Precision::kSecond;
  EXPECT_EQ(OnlyError("m f=1 9223372037", options),
            "line 1, column 7: timestamp \"9223372037\" in s is out of range for "
            "nanoseconds since the epoch");
  EXPECT_EQ(Only(Parse("m f=1 9223372036", options)).timestamp_ns, 9223372036000000000);
  options.precision = Precision::kHour;
  EXPECT_EQ(OnlyError("m f=1 -2562048", options).substr(0, 34),
            "line 1, column 7: timestamp \"-2562");
  // Auto precision cannot overflow: each unit's range ends below 5e18 ns.
  options.precision = Precision::kAuto;
  EXPECT_EQ(Only(Parse("m f=1 4999999999999999", options)).timestamp_ns,
            4'999'999'999'999'999'000);
  EXPECT_EQ(OnlyError("m f=1 92233720368547758070"),
            "line 1, column 7: timestamp \"92233720368547758070\" out of range");
}

TEST(Precision, ParseNames) {
  const std::pair<const char*, Precision> kNames[] = {
      {"auto", Precision::kAuto},
      {"ns", Precision::kNanosecond},
      {"n", Precision::kNanosecond},
      {"nanosecond", Precision::kNanosecond},
      {"us", Precision::kMicrosecond},
      {"u", Precision::kMicrosecond},
      {"\xC2\xB5s", Precision::kMicrosecond},
      {"microsecond", Precision::kMicrosecond},
      {"ms", Precision::kMillisecond},
      {"millisecond", Precision::kMillisecond},
      {"s", Precision::kSecond},
      {"second", Precision::kSecond},
      {"m", Precision::kMinute},
      {"h", Precision::kHour},
  };
  for (const auto& [name, precision] : kNames) {
    auto parsed = ParsePrecision(name);
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(*parsed, precision) << name;
  }
  for (Precision p : {Precision::kAuto, Precision::kNanosecond, Precision::kMicrosecond,
                      Precision::kMillisecond, Precision::kSecond, Precision::kMinute,
                      Precision::kHour}) {
    EXPECT_EQ(*ParsePrecision(PrecisionName(p)), p);
  }
  for (const char* bad : {"", "NS", "sec", "d", "auto "}) {
    auto parsed = ParsePrecision(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(ErrorKindOf(parsed.status()), ErrorKind::kInvalidInput);
  }
}

TEST(Precision, GuessAndOverflow) {
  EXPECT_EQ(GuessPrecision(std::numeric_limits<int64_t>::min()), Precision::kNanosecond);
  EXPECT_EQ(GuessPrecision(-4'999'999'999), Precision::kSecond);
  EXPECT_EQ(GuessPrecision(-5'000'000'000), Precision::kMillisecond);
  EXPECT_EQ(ToNanos(std::numeric_limits<int64_t>::min(), Precision::kAuto),
            std::numeric_limits<int64_t>::min());
  EXPECT_FALSE(
      ToNanos(std::numeric_limits<int64_t>::min(), Precision::kSecond).has_value());
  EXPECT_EQ(ToNanos(-9'223'372'036, Precision::kSecond), -9'223'372'036'000'000'000);
}

// Every kind of bad line, with the exact line, column and reason.
TEST(ParserErrors, ReasonsAndPositions) {
  const std::pair<const char*, const char*> kCases[] = {
      {"cpu", "line 1, column 4: missing field set"},
      {"cpu ", "line 1, column 5: missing field set"},
      {"cpu,t=1", "line 1, column 8: missing field set"},
      {"cpu,t=1 \r\n", "line 1, column 10: missing field set"},
      {",t=1 f=1", "line 1, column 1: missing measurement"},
      {"cpu,=1 f=1", "line 1, column 5: missing tag key"},
      {"cpu, f=1", "line 1, column 5: missing tag key"},
      {"cpu,t f=1", "line 1, column 6: missing '=' after tag key \"t\""},
      {"cpu,t= f=1", "line 1, column 7: missing value for tag key \"t\""},
      {"cpu,t=,u=1 f=1", "line 1, column 7: missing value for tag key \"t\""},
      {"cpu =1", "line 1, column 5: missing field key"},
      {"cpu f=1,", "line 1, column 9: missing field key"},
      {"cpu f", "line 1, column 6: missing '=' after field key \"f\""},
      {"cpu f,g=1", "line 1, column 6: missing '=' after field key \"f\""},
      {"cpu f=", "line 1, column 7: missing value for field key \"f\""},
      {"cpu f= 1", "line 1, column 7: missing value for field key \"f\""},
      {"cpu f=1,f=2", "line 1, column 9: duplicate field key \"f\""},
      {"cpu,t=1,t=2 f=1", "line 1, column 9: duplicate tag key \"t\""},
      {"cpu,t=1 t=2", "line 1, column 9: field key \"t\" is also a tag key"},
      {"cpu,time=1 f=1",
       "line 1, column 5: tag key \"time\" is reserved for the timestamp"},
      {"cpu time=1",
       "line 1, column 5: field key \"time\" is reserved for the timestamp"},
      {"cpu f=12xi", "line 1, column 7: invalid integer value \"12xi\""},
      {"cpu f=1.5i", "line 1, column 7: invalid integer value \"1.5i\""},
      {"cpu f=-i", "line 1, column 7: invalid integer value \"-i\""},
      {"cpu f=9223372036854775808i",
       "line 1, column 7: integer value \"9223372036854775808i\" out of range"},
      {"cpu f=-9223372036854775809i",
       "line 1, column 7: integer value \"-9223372036854775809i\" out of range"},
      {"cpu f=-1u", "line 1, column 7: invalid unsigned value \"-1u\""},
      {"cpu f=18446744073709551616u",
       "line 1, column 7: unsigned value \"18446744073709551616u\" out of range"},
      {"cpu f=12x", "line 1, column 7: invalid float value \"12x\""},
      {"cpu f=1.2.3", "line 1, column 7: invalid float value \"1.2.3\""},
      {"cpu f=.", "line 1, column 7: invalid float value \".\""},
      {"cpu f=1e", "line 1, column 7: invalid float value \"1e\""},
      {"cpu f=+1", "line 1, column 7: invalid float value \"+1\""},
      {"cpu f=1e309", "line 1, column 7: float value \"1e309\" out of range"},
      {"cpu f=-1e309", "line 1, column 7: float value \"-1e309\" out of range"},
      {"cpu f=NaN",
       "line 1, column 7: NaN and infinite float values are not supported: \"NaN\""},
      {"cpu f=-Inf",
       "line 1, column 7: NaN and infinite float values are not supported: \"-Inf\""},
      {"cpu f=infinity",
       "line 1, column 7: NaN and infinite float values are not supported: \"infinity\""},
      {"cpu f=tru", "line 1, column 7: invalid boolean value \"tru\""},
      {"cpu f=TRue", "line 1, column 7: invalid boolean value \"TRue\""},
      {"cpu f=yes",
       "line 1, column 7: invalid field value \"yes\" (string values must be "
       "in double quotes)"},
      {"cpu f=\"open", "line 1, column 7: unterminated string value for field key \"f\""},
      {"cpu f=\"a\"b",
       "line 1, column 10: unexpected character after the string value of "
       "field key \"f\""},
      {"cpu f=1 12a", "line 1, column 9: invalid timestamp \"12a\""},
      {"cpu f=1 1.5", "line 1, column 9: invalid timestamp \"1.5\""},
      {"cpu f=1 -", "line 1, column 9: invalid timestamp \"-\""},
      {"cpu f=1 1 2", "line 1, column 11: unexpected content after the timestamp"},
      {"  cpu f=1 x", "line 1, column 11: invalid timestamp \"x\""},
  };
  for (const auto& [body, expected] : kCases) {
    EXPECT_EQ(OnlyError(body), expected) << body;
  }
}

TEST(ParserErrors, InvalidUtf8) {
  const std::pair<const char*, const char*> kCases[] = {
      {"c\xFFu f=1", "line 1, column 2: invalid UTF-8"},
      {"cpu,k\xC3=v f=1", "line 1, column 6: invalid UTF-8"},      // truncated
      {"cpu,k=\xC0\xAF f=1", "line 1, column 7: invalid UTF-8"},   // overlong '/'
      {"cpu f\xED\xA0\x80=1", "line 1, column 6: invalid UTF-8"},  // surrogate
      {"cpu f=\"ok \xF4\x90\x80\x80\"",
       "line 1, column 11: invalid UTF-8"},  // > U+10FFFF
      {"cpu f=\"\xE2\x82\"", "line 1, column 8: invalid UTF-8"},
      {"cpu,k=v f=\"a\n\x80\"", "line 2, column 1: invalid UTF-8"},
  };
  for (const auto& [body, expected] : kCases) {
    EXPECT_EQ(OnlyError(body), expected) << body;
  }
  // Valid multi-byte text everywhere.
  const ParsedBody parsed = ParseNs(
      "w\xC3\xA4rme,st\xC3\xA4"
      "dt=Z\xC3\xBCrich t\xC2\xB0=1,s=\"\xF0\x9F\x8C\xA1\"");
  EXPECT_EQ(Only(parsed).tags[0].value, "Z\xC3\xBCrich");
}

TEST(ParserErrors, GoodLinesAroundBadOnesStillParse) {
  const std::string body =
      "cpu f=1i 1\n"
      "cpu f=12xi 2\n"
      "\n"
      "cpu,host=a  f=3i 3\n"
      "cpu,host=a,host=b f=4i 4\r\n"
      "  cpu f=5i 5\r\n"
      "cpu f=\"multi\n"
      "line\" junk\n"
      "cpu f=9i 9\n"
      "cpu f=\"unterminated\n"
      "cpu f=11i 11";
  const ParsedBody parsed = ParseNs(body);
  std::vector<int64_t> times;
  std::vector<uint32_t> numbers;
  for (const ParsedLine& line : parsed.lines()) {
    times.push_back(line.timestamp_ns);
    numbers.push_back(line.line_number);
  }
  EXPECT_EQ(times, (std::vector<int64_t>{1, 3, 5, 9, 11}));
  EXPECT_EQ(numbers, (std::vector<uint32_t>{1, 4, 6, 9, 11}));
  ASSERT_EQ(parsed.error_count(), 4u);
  EXPECT_EQ(parsed.errors()[0].ToString(),
            "line 2, column 7: invalid integer value \"12xi\"");
  EXPECT_EQ(parsed.errors()[1].ToString(),
            "line 5, column 12: duplicate tag key \"host\"");
  EXPECT_EQ(parsed.errors()[2].ToString(),
            "line 8, column 7: invalid timestamp \"junk\"");
  // An unterminated string ends its line at the next newline, so the rest is kept.
  EXPECT_EQ(parsed.errors()[3].ToString(),
            "line 10, column 7: unterminated string value for field key \"f\"");
}

TEST(ParserErrors, ColumnsCountBytesOfThePhysicalLine) {
  const ParsedBody parsed = ParseNs("cpu f=1\n\n\t  cpu,t=\xC3\xA9 f=12xi\n");
  ASSERT_EQ(parsed.errors().size(), 1u);
  EXPECT_EQ(parsed.errors()[0], (LineError{3, 15, "invalid integer value \"12xi\""}));
}

TEST(ParserErrors, LongAndBinaryTokensAreQuotedSafely) {
  const std::string body = "cpu f=" + std::string(100, 'x') + "\x01i";
  const std::string error = OnlyError(body);
  EXPECT_EQ(error, "line 1, column 7: invalid integer value \"" + std::string(64, 'x') +
                       "...\"");
  EXPECT_EQ(OnlyError("cpu f=a\x01\xFFi"),
            "line 1, column 7: invalid integer value \"a\\x01\\xFFi\"");
}

TEST(ParserErrors, MaxErrorsBoundsKeptMessagesButCountsAll) {
  std::string body;
  for (int i = 0; i < 50; ++i) body += "bad\ncpu f=1\n";
  ParseOptions options;
  options.max_errors = 3;
  const ParsedBody parsed = Parse(body, options);
  EXPECT_EQ(parsed.lines().size(), 50u);
  EXPECT_EQ(parsed.error_count(), 50u);
  ASSERT_EQ(parsed.errors().size(), 3u);
  EXPECT_EQ(parsed.errors()[2].line, 5u);
  const arrow::Status status = parsed.ErrorStatus(2);
  EXPECT_EQ(ErrorKindOf(status), ErrorKind::kInvalidInput);
  EXPECT_EQ(status.message(),
            "50 bad lines of line protocol: line 1, column 4: missing field set; line 3, "
            "column 4: missing field set; and 48 more");
  EXPECT_TRUE(Parse("cpu f=1", {}).ErrorStatus().ok());
}

TEST(ParserKeys, ManyKeysAndHashCollisions) {
  // More keys than the pairwise check handles: the sorted path finds the duplicate.
  std::string body = "m";
  for (int i = 0; i < 40; ++i) body += ",t" + std::to_string(i) + "=v";
  body += " ";
  for (int i = 0; i < 40; ++i) body += (i ? ",f" : "f") + std::to_string(i) + "=1i";
  EXPECT_EQ(Only(ParseNs(body)).fields.size(), 40u);
  const std::string dup = body + ",t17=2i";
  const size_t column = body.size() + 2;
  EXPECT_EQ(OnlyError(dup), "line 1, column " + std::to_string(column) +
                                ": field key \"t17\" is also a tag key");

  // Keys that agree in length and in their first and last eight bytes are still
  // distinct keys, both with few and with many keys on the line.
  const std::string a = "prefix__A__suffix_", b = "prefix__B__suffix_";
  EXPECT_EQ(Only(ParseNs("m " + a + "=1," + b + "=2")).fields.size(), 2u);
  EXPECT_EQ(OnlyError("m " + a + "=1," + b + "=2," + a + "=3"),
            "line 1, column 45: duplicate field key \"" + a + "\"");
  std::string many = "m ";
  for (int i = 0; i < 40; ++i) {
    many += (i ? "," : "") + std::string("prefix__") + static_cast<char>('A' + i) +
            "__suffix_=1";
  }
  EXPECT_EQ(Only(ParseNs(many)).fields.size(), 40u);
  EXPECT_EQ(OnlyError(many + ",prefix__C__suffix_=1"),
            "line 1, column " + std::to_string(many.size() + 2) +
                ": duplicate field key \"prefix__C__suffix_\"");
}

TEST(ParserKeys, RepeatedKeySetsStillCatchDuplicates) {
  // The parser skips the duplicate search for a line with the previous line's keys; a
  // line with a duplicate never matches that.
  const ParsedBody parsed = ParseNs(
      "m,a=1,b=2 x=1,y=2\n"
      "m,a=1,b=2 x=1,y=2\n"
      "m,a=1,a=2 x=1,y=2\n"
      "m,a=1,b=2 x=1,x=2\n"
      "m,a=1,b=2 x=1,y=2\n");
  EXPECT_EQ(parsed.lines().size(), 3u);
  ASSERT_EQ(parsed.error_count(), 2u);
  EXPECT_EQ(parsed.errors()[0].line, 3u);
  EXPECT_EQ(parsed.errors()[1].line, 4u);
}

TEST(Parser, ReusesParserAndBody) {
  Parser parser;
  ParsedBody parsed;
  parser.Parse("a,t=x\\ y f=\"s\\\"\" 1\nbad\n", {}, &parsed);
  EXPECT_EQ(parsed.lines().size(), 1u);
  EXPECT_EQ(parsed.error_count(), 1u);
  parser.Parse("b f=2i 2\nc f=3i 3\n", {}, &parsed);
  ASSERT_EQ(parsed.lines().size(), 2u);
  EXPECT_FALSE(parsed.has_errors());
  EXPECT_TRUE(parsed.errors().empty());
  EXPECT_EQ(parsed.lines()[1].measurement, "c");
  EXPECT_EQ(parsed.lines()[1].fields[0], Field::Integer("f", 3));
  EXPECT_EQ(parsed.total_tags(), 0u);
}

// Property: random lines (names full of characters that need escaping, multi-byte
// UTF-8, every field type over its whole range), formatted with lp/format.h into one
// body with random line endings, comments and blank lines, parse back to the same lines.
class RandomLines {
 public:
  explicit RandomLines(uint64_t seed) : state_(seed) {}

  struct OwnedField {
    std::string key;
    Field value;  // str points into `text`
    std::string text;
  };
  struct OwnedLine {
    std::string measurement;
    std::vector<std::pair<std::string, std::string>> tags;
    std::vector<OwnedField> fields;
    int64_t timestamp_ns;
  };

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }

  // A non-empty name without newlines; `first_ok` filters its first piece.
  std::string Name(bool measurement) {
    static const char* const kPieces[] = {"a",
                                          "b",
                                          "z",
                                          "Q",
                                          "0",
                                          "9",
                                          "_",
                                          "-",
                                          ".",
                                          ",",
                                          "=",
                                          " ",
                                          "\\",
                                          "\\\\",
                                          "\"",
                                          "#",
                                          "'",
                                          "\t",
                                          "\r",
                                          "\\,",
                                          "\\ ",
                                          "\\=",
                                          "\\\"",
                                          "\xC3\xA9",
                                          "\xE2\x82\xAC",
                                          "\xF0\x9F\x98\x80",
                                          "time",
                                          "i",
                                          "u",
                                          "t"};
    std::string out;
    const size_t n = 1 + Below(8);
    while (out.size() < n) {
      std::string piece = kPieces[Below(std::size(kPieces))];
      if (out.empty() && measurement &&
          (piece[0] == '#' || piece[0] == '\t' || piece[0] == '\r')) {
        continue;  // no line protocol spelling starts a line with these
      }
      out += piece;
    }
    return out;
  }

  std::string StringValue() {
    static const char* const kPieces[] = {"x",    " ",  ",",        "=",
                                          "\"",   "\\", "\\\\",     "\n",
                                          "\r\n", "#",  "\xC3\xA9", "\xF0\x9F\x98\x80"};
    std::string out;
    const size_t n = Below(10);
    for (size_t i = 0; i < n; ++i) out += kPieces[Below(std::size(kPieces))];
    return out;
  }

  double Float() {
    for (;;) {
      double v;
      switch (Below(3)) {
        case 0: {
          const uint64_t bits = Next();
          std::memcpy(&v, &bits, sizeof(v));
          break;
        }
        case 1:
          v = static_cast<double>(static_cast<int64_t>(Next()) >> Below(64));
          break;
        default:
          v = static_cast<double>(Below(2000)) / 8.0 - 100.0;
          break;
      }
      if (std::isfinite(v)) return v;
    }
  }

  OwnedLine Line() {
    OwnedLine line;
    line.measurement = Name(true);
    std::vector<std::string> keys;
    auto fresh_key = [&] {
      for (;;) {
        std::string key = Name(false);
        if (key == "time" || std::find(keys.begin(), keys.end(), key) != keys.end())
          continue;
        keys.push_back(key);
        return key;
      }
    };
    const size_t tags = Below(4);
    for (size_t i = 0; i < tags; ++i) {
      std::string key = fresh_key();
      line.tags.emplace_back(std::move(key), Name(false));
    }
    const size_t fields = 1 + Below(5);
    line.fields.resize(fields);
    for (OwnedField& f : line.fields) {
      f.key = fresh_key();
      switch (Below(5)) {
        case 0:
          f.value = Field::Float("", Float());
          break;
        case 1:
          f.value = Field::Integer("", static_cast<int64_t>(Next()) >> Below(64));
          break;
        case 2:
          f.value = Field::Unsigned("", Next() >> Below(64));
          break;
        case 3:
          f.value = Field::Boolean("", Below(2) == 1);
          break;
        default:
          f.text = StringValue();
          f.value = Field::String("", "");
          break;
      }
    }
    line.timestamp_ns = static_cast<int64_t>(Next()) >> Below(64);
    return line;
  }

 private:
  uint64_t state_;
};

TEST(ParserProperty, FormattedRandomLinesParseBackEqual) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    RandomLines random(seed);
    std::vector<RandomLines::OwnedLine> expected;
    std::string body;
    std::vector<uint32_t> line_numbers;
    uint32_t physical = 1;
    for (int i = 0; i < 20; ++i) {
      if (random.Below(4) == 0) {
        body += random.Below(2) ? "# comment, \"unbalanced\n" : "  \t\n";
        ++physical;
      }
      RandomLines::OwnedLine line = random.Line();
      // Views for the formatter.
      std::vector<Tag> tags;
      for (const auto& [k, v] : line.tags) tags.push_back({k, v});
      std::vector<Field> fields;
      for (RandomLines::OwnedField& f : line.fields) {
        f.value.key = f.key;
        if (f.value.type == FieldType::kString) f.value.str = f.text;
        fields.push_back(f.value);
      }
      ParsedLine view{0, line.measurement, tags, fields, line.timestamp_ns};
      std::string text = FormatLine(view);
      line_numbers.push_back(physical);
      physical += 1 + static_cast<uint32_t>(std::count(text.begin(), text.end(), '\n'));
      body += text;
      body += random.Below(3) == 0 ? "\r\n" : "\n";
      expected.push_back(std::move(line));
    }
    const ParsedBody parsed = Parse(body, {});
    ASSERT_FALSE(parsed.has_errors())
        << "seed " << seed << ": " << parsed.ErrorStatus().ToString() << "\n"
        << body;
    ASSERT_EQ(parsed.lines().size(), expected.size()) << "seed " << seed;
    for (size_t i = 0; i < expected.size(); ++i) {
      const ParsedLine& got = parsed.lines()[i];
      const RandomLines::OwnedLine& want = expected[i];
      SCOPED_TRACE("seed " + std::to_string(seed) + " line " + std::to_string(i));
      EXPECT_EQ(got.line_number, line_numbers[i]);
      EXPECT_EQ(got.measurement, want.measurement);
      ASSERT_EQ(got.tags.size(), want.tags.size());
      for (size_t t = 0; t < want.tags.size(); ++t) {
        EXPECT_EQ(got.tags[t].key, want.tags[t].first);
        EXPECT_EQ(got.tags[t].value, want.tags[t].second);
      }
      ASSERT_EQ(got.fields.size(), want.fields.size());
      for (size_t f = 0; f < want.fields.size(); ++f) {
        EXPECT_EQ(got.fields[f], want.fields[f].value) << got.fields[f].ToString();
        if (want.fields[f].value.type == FieldType::kFloat) {
          EXPECT_EQ(std::signbit(got.fields[f].f64),
                    std::signbit(want.fields[f].value.f64));
        }
      }
      EXPECT_EQ(got.timestamp_ns, want.timestamp_ns);
    }
  }
}

TEST(Parser, TsbsBodies) {
  tsbs::CpuOptions options;
  options.hosts = 7;
  tsbs::CpuGenerator generator(options);
  const std::string body = generator.Generate(100);
  const ParsedBody parsed = ParseNs(body);
  ASSERT_FALSE(parsed.has_errors()) << parsed.ErrorStatus().ToString();
  ASSERT_EQ(parsed.lines().size(), 100u);
  for (size_t i = 0; i < 100; ++i) {
    const ParsedLine& line = parsed.lines()[i];
    EXPECT_EQ(line.measurement, "cpu");
    ASSERT_EQ(line.tags.size(), 10u);
    EXPECT_EQ(line.tags[0].key, "hostname");
    EXPECT_EQ(line.tags[0].value, "host_" + std::to_string(i % 7));
    EXPECT_EQ(line.tags[9].key, "service_environment");
    ASSERT_EQ(line.fields.size(), 10u);
    EXPECT_EQ(line.fields[0].key, "usage_user");
    EXPECT_EQ(line.fields[9].key, "usage_guest_nice");
    for (const Field& f : line.fields) {
      EXPECT_EQ(f.type, FieldType::kInteger);
      EXPECT_GE(f.i64, 0);
      EXPECT_LE(f.i64, 100);
    }
    EXPECT_EQ(line.timestamp_ns,
              options.start_ns + static_cast<int64_t>(i / 7) * options.interval_ns);
  }
}

TEST(TsbsGenerator, DeterministicAndResumable) {
  tsbs::CpuOptions options;
  options.hosts = 3;
  options.seed = 9;
  const std::string whole = tsbs::CpuGenerator(options).Generate(10);
  tsbs::CpuGenerator pieces(options);
  std::string appended = pieces.Generate(4);
  pieces.Append(6, &appended);
  EXPECT_EQ(appended, whole);
  EXPECT_EQ(pieces.rows_generated(), 10u);
  EXPECT_EQ(pieces.next_timestamp_ns(), options.start_ns + 3 * options.interval_ns);
  options.seed = 10;
  EXPECT_NE(tsbs::CpuGenerator(options).Generate(10), whole);
  EXPECT_EQ(std::count(whole.begin(), whole.end(), '\n'), 10);
}

}  // namespace
}  // namespace ingester::lp
