#include "ingester/lp/parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ingester/common/error.h"
#include "ingester/lp/parser_test_util.h"

namespace ingester::lp {
namespace {

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
      ParseNs(R"(m,k\,1\=\ x=v\,1\=\ y\\z,lit=a\b f\ 1\,\==1,g\\h=2)");
  const ParsedLine& line = Only(parsed);
  EXPECT_EQ(Tags(line), (std::vector<Tag>{{"k,1= x", R"(v,1= y\z)"}, {"lit", R"(a\b)"}}));
  ASSERT_EQ(line.fields.size(), 2u);
  EXPECT_EQ(line.fields[0].key, "f 1,=");
  EXPECT_EQ(line.fields[1].key, R"(g\h)");
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

}  // namespace
}  // namespace ingester::lp
