#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ingester/common/error.h"
#include "ingester/lp/parser.h"
#include "ingester/lp/parser_test_util.h"

namespace ingester::lp {
namespace {

// Every kind of bad line, with the exact line, column and reason.
TEST(ParserErrors, ReasonsAndPositions) {
  const std::pair<const char*, const char*> kCases[] = {
      {"cpu", "line 1, column 4: missing field set"},
      // A name whose unescaped form ends in a backslash (InfluxDB 3 refuses it too).
      {R"(cpu,host=east\\ value=1)",
       R"(line 1, column 10: tag value "east\" ends in a backslash)"},
      {R"(cpu\\ f=1)", R"(line 1, column 1: measurement "cpu\" ends in a backslash)"},
      {R"(cpu,t\\=1 f=1)", R"(line 1, column 5: tag key "t\" ends in a backslash)"},
      {R"(cpu f\\=1)", R"(line 1, column 5: field key "f\" ends in a backslash)"},
      {R"(cpu,t=\\ f=1)", R"(line 1, column 7: tag value "\" ends in a backslash)"},
      {"cpu,t=a\\", R"(line 1, column 7: tag value "a\" ends in a backslash)"},
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

}  // namespace
}  // namespace ingester::lp
