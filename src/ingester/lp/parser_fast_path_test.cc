// The parser's fast paths: a line's keys predicted from the previous good line's (no
// name scan, no unique-key check), ParsedLine::same_keys_as_previous, the timestamp and
// short-integer fast paths and the vectorised ASCII check. For the prediction the
// reference is each line parsed alone by a fresh parser, which has no previous line to
// predict from: a body must parse to exactly what its lines parse to one by one
// (values, views, errors with their columns and messages). Numbers are checked against
// std::from_chars / std::strtod.
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/lp/parser.h"
#include "ingester/lp/parser_test_util.h"
#include "ingester/testing/tsbs_generator.h"

namespace ingester::lp {
namespace {

std::vector<std::string_view> PhysicalLines(std::string_view body) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= body.size()) {
    const size_t nl = body.find('\n', start);
    if (nl == std::string_view::npos) {
      out.push_back(body.substr(start));
      break;
    }
    out.push_back(body.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

// Parses `body` (no string value spans lines) whole and line by line and expects the
// same result; returns the whole parse.
ParsedBody ExpectSameAsLineByLine(std::string_view body, ParseOptions options = {}) {
  options.max_errors = 1'000'000;
  Parser parser;
  ParsedBody whole;
  parser.Parse(body, options, &whole);
  size_t next_line = 0;
  size_t next_error = 0;
  const std::vector<std::string_view> lines = PhysicalLines(body);
  for (size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE("line " + std::to_string(i + 1) + ": " + std::string(lines[i]));
    const ParsedBody alone = Parse(lines[i], options);  // a fresh parser
    for (const ParsedLine& want : alone.lines()) {
      if (next_line >= whole.lines().size()) {
        ADD_FAILURE() << "line missing from the whole parse";
        return whole;
      }
      const ParsedLine& got = whole.lines()[next_line++];
      EXPECT_EQ(got.line_number, i + 1);
      EXPECT_EQ(got.measurement, want.measurement);
      EXPECT_EQ(Tags(got), Tags(want));
      EXPECT_EQ(Fields(got), Fields(want));
      for (size_t f = 0; f < got.fields.size() && f < want.fields.size(); ++f) {
        if (got.fields[f].type == FieldType::kFloat) {
          EXPECT_EQ(std::signbit(got.fields[f].f64), std::signbit(want.fields[f].f64));
        }
      }
      EXPECT_EQ(got.timestamp_ns, want.timestamp_ns);
      // Views into the body sit at the same column as in the line alone.
      for (size_t t = 0; t < got.tags.size() && t < want.tags.size(); ++t) {
        EXPECT_EQ(whole.TEST_InArena(got.tags[t].key),
                  alone.TEST_InArena(want.tags[t].key));
        if (!whole.TEST_InArena(got.tags[t].key)) {
          EXPECT_EQ(got.tags[t].key.data() - lines[i].data(),
                    want.tags[t].key.data() - lines[i].data());
        }
      }
      for (size_t f = 0; f < got.fields.size() && f < want.fields.size(); ++f) {
        if (!whole.TEST_InArena(got.fields[f].key)) {
          EXPECT_EQ(got.fields[f].key.data() - lines[i].data(),
                    want.fields[f].key.data() - lines[i].data());
        }
      }
    }
    for (const LineError& want : alone.errors()) {
      if (next_error >= whole.errors().size()) {
        ADD_FAILURE() << "error missing from the whole parse: " << want.ToString();
        return whole;
      }
      const LineError& got = whole.errors()[next_error++];
      EXPECT_EQ(got.line, i + 1);
      EXPECT_EQ(got.column, want.column);
      EXPECT_EQ(got.message, want.message);
    }
  }
  EXPECT_EQ(next_line, whole.lines().size());
  EXPECT_EQ(next_error, whole.errors().size());
  // The hint is never wrong.
  for (size_t i = 0; i < whole.lines().size(); ++i) {
    if (whole.lines()[i].same_keys_as_previous) {
      EXPECT_GT(i, 0u);
      if (i > 0) {
        EXPECT_TRUE(SameKeys(whole.lines()[i], whole.lines()[i - 1]))
            << "line " << whole.lines()[i].line_number;
      }
    }
  }
  return whole;
}

std::vector<bool> SameKeysFlags(const ParsedBody& parsed) {
  std::vector<bool> out;
  for (const ParsedLine& line : parsed.lines()) out.push_back(line.same_keys_as_previous);
  return out;
}

TEST(ParserFastPath, SameKeysAsPrevious) {
  const ParsedBody parsed = ExpectSameAsLineByLine(
      "m,a=1,b=2 f=1i,g=2\n"         // first: nothing to compare with
      "m,a=3,b=4 f=5i,g=6 7\n"       // same keys and types
      "m,a=3,b=4 f=5,g=6\n"          // f is now a float
      "n,a=3,b=4 f=5,g=6\n"          // another measurement, same keys: still true
      "m,a=1 f=1,g=2\n"              // a tag fewer
      "m,a=1,b=2,c=3 f=1,g=2\n"      // a tag more
      "m,a=1,b=2,c=3 f=,g=2\n"       // bad: the good line before stays the model
      "m,a=9,b=2,c=3 f=1,g=2\n"      // same keys as the last good line
      "m,a=9,b=2,c=3 f=1,g=2,h=3\n"  // a field more
      "m,a=9,b=2,c=3 f=1\n");        // a field fewer
  EXPECT_EQ(SameKeysFlags(parsed), (std::vector<bool>{false, true, false, true, false,
                                                      false, true, false, false}));
  EXPECT_EQ(parsed.error_count(), 1u);
}

TEST(ParserFastPath, TsbsLinesAllRepeatTheirKeys) {
  tsbs::CpuOptions options;
  options.hosts = 13;
  const std::string body = tsbs::CpuGenerator(options).Generate(200);
  const ParsedBody parsed = ExpectSameAsLineByLine(body);
  ASSERT_EQ(parsed.lines().size(), 200u);
  EXPECT_FALSE(parsed.lines()[0].same_keys_as_previous);
  for (size_t i = 1; i < 200; ++i) EXPECT_TRUE(parsed.lines()[i].same_keys_as_previous);
}

TEST(ParserFastPath, DuplicateKeysAfterAGoodLine) {
  const ParsedBody parsed = ExpectSameAsLineByLine(
      "m,a=1,b=2 f=1,g=2\n"
      "m,a=1,a=2 f=1,g=2\n"      // duplicate tag where b was
      "m,a=1,b=2 f=1,f=2\n"      // duplicate field where g was
      "m,a=1,b=2 f=1,a=2\n"      // field key also a tag key
      "m,a=1,b=2 f=1,g=2,g=3\n"  // a duplicate past the previous line's keys
      "m,a=1,b=2,b=3 f=1,g=2\n"  // likewise for tags
      "m,a=1,b=2 f=1,g=2\n");
  EXPECT_EQ(parsed.lines().size(), 2u);
  ASSERT_EQ(parsed.errors().size(), 5u);
  EXPECT_EQ(parsed.errors()[0].ToString(), "line 2, column 7: duplicate tag key \"a\"");
  EXPECT_EQ(parsed.errors()[1].ToString(),
            "line 3, column 15: duplicate field key \"f\"");
  EXPECT_EQ(parsed.errors()[2].ToString(),
            "line 4, column 15: field key \"a\" is also a tag key");
  EXPECT_TRUE(parsed.lines()[1].same_keys_as_previous);
}

// The column of a duplicate key: a key in the body is placed by its text, an unescaped
// copy by where its escaped form starts.
TEST(ParserFastPath, DuplicateKeyColumnsWithEscapes) {
  EXPECT_EQ(OnlyError("m,a\\ b=1,a\\ b=2 f=1"),
            "line 1, column 10: duplicate tag key \"a b\"");
  EXPECT_EQ(OnlyError("m,a\\ b=1,x=2 y=1,a\\ b=2"),
            "line 1, column 18: field key \"a b\" is also a tag key");
  EXPECT_EQ(OnlyError("m,q=1 f\\,g=1,h=2,f\\,g=3"),
            "line 1, column 18: duplicate field key \"f,g\"");
  EXPECT_EQ(OnlyError("m,q=1 f\\,g=1,h=2,h=3"),
            "line 1, column 18: duplicate field key \"h\"");
  std::string many = "m ";
  for (int i = 0; i < 40; ++i) many += "k\\ " + std::to_string(i) + "=1,";
  many += "k\\ 7=2";
  EXPECT_EQ(OnlyError(many), "line 1, column " + std::to_string(many.size() - 5) +
                                 ": duplicate field key \"k 7\"");
}

TEST(ParserFastPath, KeysThatStartLikeThePreviousLinesKeys) {
  const ParsedBody parsed = ExpectSameAsLineByLine(
      "m,host=a f=1\n"
      "m,hostname=b f=1\n"
      "m,ho=c f=1\n"
      "m,host=a f=1\n"
      "m,host\\ x=a f=1\n"
      "m,host,x=1 f=1\n"
      "m,host x=1\n"
      "m,host=a fx=1\n"
      "m,host=a f\n"
      "m,host=a f,g=1\n"
      "m,host=a f=1\n"
      "m,host");
  EXPECT_EQ(parsed.lines().size(), 7u);
}

TEST(ParserFastPath, EscapedAndBackslashedKeys) {
  const ParsedBody parsed = ExpectSameAsLineByLine(
      "m,a\\ b=1 f\\,x=1\n"
      "m,a\\ b=2 f\\,x=2\n"  // the previous keys were unescaped copies: scanned again
      "m,a\\b=1 f\\b=1\n"    // a literal backslash stays in the body
      "m,a\\b=2 f\\b=2\n"    // and is predicted
      "m,a\\=1 f\\b=2\n"     // an escaped '=' where the previous key had a backslash
      "m,a=1 f=1\n"
      "m,a\\=1 f=1\n"
      "m,a\\ f=1\n"  // ends in a backslash
      "m,a=1 f\\=1\n"
      "m,a=1 f=1\n"
      "m,a\\\\=1 f=1\n");
  ASSERT_GE(parsed.lines().size(), 4u);
  EXPECT_EQ(parsed.lines()[1].tags[0].key, "a b");
  EXPECT_EQ(parsed.lines()[1].fields[0].key, "f,x");
  EXPECT_EQ(parsed.lines()[3].tags[0].key, "a\\b");
  EXPECT_TRUE(parsed.lines()[3].same_keys_as_previous);
}

TEST(ParserFastPath, ReservedAndMissingNames) {
  ExpectSameAsLineByLine(
      "m,a=1 f=1\n"
      "m,time=1 f=1\n"
      "m,a=1 time=1\n"
      "m,a=1 f=1\n"
      "m,a= f=1\n"
      "m,a=1 f=\n"
      "m,a=1 f=1,\n"
      "m,=1 f=1\n"
      "m,a=1 =1\n"
      "m,a=1 f=\"x\"y\n"
      "m,a=1 f=1 12x\n"
      "m,a=1 f=\xff\n"
      "m,a=\xc3\xa9 f=1\n"
      "m,a=1 f=1\n");
}

TEST(ParserFastPath, TimestampFastPathAgreesWithTheGrammar) {
  const std::vector<std::string> kStamps = {
      "0",
      "-0",
      "1",
      "01",
      "-1",
      "+1",
      "-",
      "1x",
      "1.5",
      "1451606400000000000",
      "9223372036854775807",
      "9223372036854775808",
      "-9223372036854775808",
      "-9223372036854775809",
      "9999999999999999999",
      "12345678901234567890",
      "00000000000000000001",
      "1700000000",
      "1700000000123",
      "1700000000123456",
      "9223372037",
      "-2562048",
      "4999999999999999",
  };
  const std::vector<std::string> kEnds = {"", "\n", " ", "\t", "\r\n", " \t ", " x"};
  for (const Precision precision :
       {Precision::kNanosecond, Precision::kMicrosecond, Precision::kMillisecond,
        Precision::kSecond, Precision::kMinute, Precision::kHour, Precision::kAuto}) {
    std::string body;
    for (const std::string& stamp : kStamps) {
      for (const std::string& end : kEnds) {
        body += "m,a=1 f=1 " + stamp + end;
        if (end.empty() || end.back() != '\n') body += "\n";
      }
    }
    ParseOptions options;
    options.precision = precision;
    SCOPED_TRACE(std::string(PrecisionName(precision)));
    ExpectSameAsLineByLine(body, options);
  }
  // And the values, against the grammar's own numbers.
  EXPECT_EQ(Only(ParseNs("m f=1 -0")).timestamp_ns, 0);
  EXPECT_EQ(Only(ParseNs("m f=1 01")).timestamp_ns, 1);
  EXPECT_EQ(Only(ParseNs("m f=1 00000000000000000001")).timestamp_ns, 1);
  EXPECT_EQ(OnlyError("m f=1 9223372036854775808"),
            "line 1, column 7: timestamp \"9223372036854775808\" out of range");
  EXPECT_EQ(OnlyError("m f=1 +1"), "line 1, column 7: invalid timestamp \"+1\"");
  ParseOptions ms;
  ms.precision = Precision::kMillisecond;
  EXPECT_EQ(OnlyError("m f=1 9223372036855 ", ms),
            "line 1, column 7: timestamp \"9223372036855\" in ms is out of range for "
            "nanoseconds since the epoch");
}

// Random lines from a few key sets with near misses (prefixes, escapes, duplicates,
// reserved names, type changes, bad values), so predictions hit and miss in every
// order: the body parses as its lines do one by one.
TEST(ParserFastPath, RandomBodiesParseAsTheirLines) {
  uint64_t state = 42;
  auto next = [&state]() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  };
  auto pick = [&next](const auto& v) { return v[next() % v.size()]; };
  const std::vector<std::string> kMeasurements = {"m", "m", "cpu", "m\\ x", "m\\,y"};
  const std::vector<std::vector<std::string>> kTagSets = {
      {"a", "b"},
      {"a", "b"},
      {"a", "b", "c"},
      {"a"},
      {},
      {"host", "region"},
      {"hostname", "region"},
      {"ho", "region"},
      {"a\\ b", "b"},
      {"a\\b", "b"},
      {"a", "a"},
      {"a", "time"},
      {"a\\", "b"},
      {"a\\=", "b"},
      {"é", "b"},
  };
  const std::vector<std::vector<std::string>> kFieldSets = {
      {"f", "g"}, {"f", "g"}, {"f", "g", "h"}, {"f"},         {"fg", "g"},
      {"f", "f"}, {"f", "a"}, {"f\\,x", "g"},  {"time", "g"}, {"f\\ ", "g"},
  };
  const std::vector<std::string> kTagValues = {"1", "x", "host_1", "a\\ b", "", "a\\"};
  const std::vector<std::string> kFieldValues = {
      "1i",    "1i",    "1",          "1.5", "-2i", "3u",  "t",
      "false", "\"s\"", "\"a\\\"b\"", "1x",  "",    "nan", "99999999999999999999i"};
  const std::vector<std::string> kStamps = {
      "", " 1700000000000000000", " -5", " 1", " 9223372036854775808", " 1x", " 1 "};
  for (int round = 0; round < 40; ++round) {
    std::string body;
    for (int line = 0; line < 60; ++line) {
      body += pick(kMeasurements);
      for (const std::string& key : pick(kTagSets)) {
        body += "," + key + "=" + pick(kTagValues);
      }
      body += " ";
      bool first = true;
      for (const std::string& key : pick(kFieldSets)) {
        if (!first) body += ",";
        first = false;
        body += key + "=" + pick(kFieldValues);
      }
      body += pick(kStamps);
      body += "\n";
    }
    for (const Precision precision : {Precision::kNanosecond, Precision::kAuto}) {
      ParseOptions options;
      options.precision = precision;
      SCOPED_TRACE("round " + std::to_string(round));
      ExpectSameAsLineByLine(body, options);
      if (HasFailure()) return;
    }
  }
}

// Integers of every digit count, with each suffix, at the end of the body (fewer than
// eight bytes left) and inside it, against std::from_chars and std::strtod.
TEST(ParserFastPath, IntegersOfEveryLength) {
  std::vector<std::string> numbers = {"0",
                                      "00",
                                      "007",
                                      "1234567",
                                      "12345678",
                                      "123456789",
                                      "9999999",
                                      "10000000",
                                      "9223372036854775807",
                                      "9223372036854775808",
                                      "18446744073709551615",
                                      "18446744073709551616",
                                      "0000000000000000000001"};
  uint64_t state = 7;
  for (int length = 1; length <= 21; ++length) {
    for (int k = 0; k < 5; ++k) {
      std::string n;
      for (int i = 0; i < length; ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        n += static_cast<char>('0' + (state >> 33) % 10);
      }
      numbers.push_back(n);
    }
  }
  for (const std::string& digits : numbers) {
    for (const std::string sign : {"", "-"}) {
      for (const std::string suffix : {"i", "u", "", "x", "i5", ".5"}) {
        const std::string value = sign + digits + suffix;
        for (const std::string after : {"", ",g=1 1", " 1", "\n"}) {
          const std::string body = "m f=" + value + after;
          SCOPED_TRACE(body);
          const ParsedBody parsed = Parse(body, {});
          const bool ok = !parsed.has_errors() && parsed.lines().size() == 1;
          const Field got = ok ? parsed.lines()[0].fields[0] : Field{};
          const std::string number = sign + digits;
          if (suffix == "i") {
            int64_t want = 0;
            const auto [ptr, ec] =
                std::from_chars(number.data(), number.data() + number.size(), want);
            if (ec == std::errc()) {
              ASSERT_TRUE(ok) << parsed.ErrorStatus().ToString();
              EXPECT_EQ(got.type, FieldType::kInteger);
              EXPECT_EQ(got.i64, want);
            } else {
              ASSERT_EQ(parsed.errors().size(), 1u);
              EXPECT_EQ(parsed.errors()[0].message,
                        "integer value \"" + value + "\" out of range");
            }
          } else if (suffix == "u") {
            uint64_t want = 0;
            const auto [ptr, ec] =
                std::from_chars(digits.data(), digits.data() + digits.size(), want);
            if (!sign.empty()) {
              ASSERT_EQ(parsed.errors().size(), 1u);
              EXPECT_EQ(parsed.errors()[0].message,
                        "invalid unsigned value \"" + value + "\"");
            } else if (ec == std::errc()) {
              ASSERT_TRUE(ok) << parsed.ErrorStatus().ToString();
              EXPECT_EQ(got.type, FieldType::kUnsigned);
              EXPECT_EQ(got.u64, want);
            } else {
              ASSERT_EQ(parsed.errors().size(), 1u);
              EXPECT_EQ(parsed.errors()[0].message,
                        "unsigned value \"" + value + "\" out of range");
            }
          } else if (suffix.empty() || suffix == ".5") {
            ASSERT_TRUE(ok) << parsed.ErrorStatus().ToString();
            EXPECT_EQ(got.type, FieldType::kFloat);
            EXPECT_EQ(got.f64, std::strtod(value.c_str(), nullptr));
          } else {
            ASSERT_EQ(parsed.errors().size(), 1u);
            EXPECT_EQ(parsed.errors()[0].column, 5u);
          }
        }
      }
    }
  }
}

// Timestamps of every digit count, signed and not, ended in each way, with each
// precision, against std::from_chars and the precision's multiplier.
TEST(ParserFastPath, TimestampsOfEveryLength) {
  std::vector<std::string> numbers = {"9223372036854775807",
                                      "9223372036854775808",
                                      "0000000000000000000000001",
                                      "99999999",
                                      "100000000",
                                      "1234567812345678"};
  uint64_t state = 11;
  for (int length = 1; length <= 22; ++length) {
    for (int k = 0; k < 6; ++k) {
      std::string n;
      for (int i = 0; i < length; ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        n += static_cast<char>('0' + (state >> 33) % 10);
      }
      numbers.push_back(n);
    }
  }
  for (const Precision precision :
       {Precision::kNanosecond, Precision::kMillisecond, Precision::kAuto}) {
    for (const std::string& digits : numbers) {
      for (const std::string sign : {"", "-"}) {
        for (const std::string after : {"", "\n", " ", "\t\r", "x"}) {
          const std::string number = sign + digits;
          const std::string body = "m f=1 " + number + after;
          SCOPED_TRACE(body + " " + std::string(PrecisionName(precision)));
          ParseOptions options;
          options.precision = precision;
          const ParsedBody parsed = Parse(body, options);
          int64_t raw = 0;
          const auto [ptr, ec] =
              std::from_chars(number.data(), number.data() + number.size(), raw);
          if (after == "x") {
            ASSERT_EQ(parsed.errors().size(), 1u);
            EXPECT_EQ(parsed.errors()[0].message,
                      "invalid timestamp \"" + number + "x\"");
            continue;
          }
          if (ec != std::errc()) {
            ASSERT_EQ(parsed.errors().size(), 1u);
            EXPECT_EQ(parsed.errors()[0].message,
                      "timestamp \"" + number + "\" out of range");
            continue;
          }
          const std::optional<int64_t> ns = ToNanos(raw, precision);
          if (!ns.has_value()) {
            ASSERT_EQ(parsed.errors().size(), 1u);
            EXPECT_NE(parsed.errors()[0].message.find(
                          "is out of range for nanoseconds since the epoch"),
                      std::string::npos);
            continue;
          }
          ASSERT_FALSE(parsed.has_errors()) << parsed.ErrorStatus().ToString();
          ASSERT_EQ(parsed.lines().size(), 1u);
          EXPECT_EQ(parsed.lines()[0].timestamp_ns, *ns);
        }
      }
    }
  }
}

// A byte above 0x7F at every position of lines of many lengths: invalid UTF-8 is found
// where it is, and valid multi-byte characters pass.
TEST(ParserFastPath, NonAsciiAtEveryPosition) {
  for (size_t before = 0; before < 70; ++before) {
    for (size_t after : {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 64}) {
      const std::string bad =
          "m,a=" + std::string(before, 'x') + "\xff" + std::string(after, 'y') + " f=1";
      EXPECT_EQ(OnlyError(bad),
                "line 1, column " + std::to_string(5 + before) + ": invalid UTF-8")
          << before << " " << after;
      const std::string good = "m,a=" + std::string(before, 'x') + "\xc3\xa9" +
                               std::string(after, 'y') + " f=1";
      const ParsedBody parsed = Parse(good, {});
      ASSERT_FALSE(parsed.has_errors()) << parsed.ErrorStatus().ToString();
      EXPECT_EQ(parsed.lines()[0].tags[0].value,
                std::string(before, 'x') + "\xc3\xa9" + std::string(after, 'y'));
    }
  }
}

}  // namespace
}  // namespace ingester::lp
