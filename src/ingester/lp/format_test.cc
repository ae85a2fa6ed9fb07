#include "ingester/lp/format.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "ingester/lp/parser.h"

namespace ingester::lp {
namespace {

template <typename Fn>
std::string Escaped(Fn fn, std::string_view text) {
  std::string out;
  fn(text, &out);
  return out;
}

std::string Value(const Field& field) {
  std::string out;
  AppendFieldValue(field, &out);
  return out;
}

TEST(Format, EscapesExactlyTheSpecialCharacters) {
  EXPECT_EQ(Escaped(AppendMeasurement, R"(a,b c=d\e"f)"), R"(a\,b\ c=d\\e"f)");
  EXPECT_EQ(Escaped(AppendTagKey, R"(a,b c=d\e"f)"), R"(a\,b\ c\=d\\e"f)");
  EXPECT_EQ(Escaped(AppendTagValue, R"(a,b c=d\e"f)"), R"(a\,b\ c\=d\\e"f)");
  EXPECT_EQ(Escaped(AppendFieldKey, R"(a,b c=d\e"f)"), R"(a\,b\ c\=d\\e"f)");
  EXPECT_EQ(Escaped(AppendMeasurement, "plain"), "plain");
}

TEST(Format, FieldValues) {
  EXPECT_EQ(Value(Field::Float("f", 0.1)), "0.1");
  EXPECT_EQ(Value(Field::Float("f", 5.0)), "5");
  EXPECT_EQ(Value(Field::Float("f", -0.0)), "-0");
  EXPECT_EQ(Value(Field::Float("f", 1e21)), "1e+21");
  EXPECT_EQ(Value(Field::Float("f", std::numeric_limits<double>::denorm_min())),
            "5e-324");
  EXPECT_EQ(Value(Field::Integer("f", -3)), "-3i");
  EXPECT_EQ(Value(Field::Integer("f", std::numeric_limits<int64_t>::min())),
            "-9223372036854775808i");
  EXPECT_EQ(Value(Field::Unsigned("f", std::numeric_limits<uint64_t>::max())),
            "18446744073709551615u");
  EXPECT_EQ(Value(Field::Boolean("f", true)), "true");
  EXPECT_EQ(Value(Field::Boolean("f", false)), "false");
  EXPECT_EQ(Value(Field::String("f", R"(say "hi" \ ,= x)")), R"("say \"hi\" \\ ,= x")");
  EXPECT_EQ(Field::String("a b", "x").ToString(), R"(a\ b="x")");
}

TEST(Format, LineRoundTrips) {
  const std::vector<Tag> tags = {{"host name", "a,b"}, {"k=", "b\\c"}};
  const std::vector<Field> fields = {Field::Float("f", 1.5), Field::String("s", "q\"\n"),
                                     Field::Unsigned("u", 7)};
  const ParsedLine line{1, "my cpu", tags, fields, -42};
  const std::string text = FormatLine(line);
  EXPECT_EQ(text, R"(my\ cpu,host\ name=a\,b,k\==b\\c f=1.5,s="q\")"
                  "\n"
                  R"(",u=7u -42)");
  const ParsedBody parsed = Parse(text, {});
  ASSERT_EQ(parsed.lines().size(), 1u) << parsed.ErrorStatus().ToString();
  const ParsedLine& back = parsed.lines()[0];
  EXPECT_EQ(back.measurement, line.measurement);
  EXPECT_EQ(std::vector<Tag>(back.tags.begin(), back.tags.end()), tags);
  EXPECT_EQ(std::vector<Field>(back.fields.begin(), back.fields.end()), fields);
  EXPECT_EQ(back.timestamp_ns, -42);
}

}  // namespace
}  // namespace ingester::lp
