#include "ingester/partition/partition_key.h"

#include <gtest/gtest.h>

#include "ingester/partition/partition_template.h"

namespace ingester::partition {
namespace {

constexpr int64_t kHour = 3'600'000'000'000LL;
constexpr int64_t kDay = 24 * kHour;
// 2024-01-31T10:00:00Z
constexpr int64_t kJan31 = 19753 * kDay + 10 * kHour;

using Values = std::vector<std::optional<std::string_view>>;

PartitionTemplate RegionDaily() {
  return PartitionTemplate::Make(
             {TemplatePart::Tag("region"), TemplatePart::Time("%Y-%m-%d")})
      .ValueOrDie();
}

TEST(KeyValueTest, MissingEmptyAndPlainValues) {
  EXPECT_EQ(EncodeKeyValue(std::nullopt), "!");
  EXPECT_EQ(EncodeKeyValue(""), "^");
  EXPECT_EQ(EncodeKeyValue("eu-west"), "eu-west");
  EXPECT_EQ(EncodeKeyValue("z\xc3\xbcrich"), "z\xc3\xbcrich");  // UTF-8 stays
}

TEST(KeyValueTest, ReservedBytesArePercentEncoded) {
  EXPECT_EQ(EncodeKeyValue("a|b!c^d#e%f"), "a%7Cb%21c%5Ed%23e%25f");
  EXPECT_EQ(EncodeKeyValue("!"), "%21");
  EXPECT_EQ(EncodeKeyValue("^"), "%5E");
  EXPECT_EQ(EncodeKeyValue("tab\there"), "tab%09here");
  // Bytes that are not well-formed UTF-8 are escaped too: keys are valid UTF-8.
  EXPECT_EQ(EncodeKeyValue("a\xff\xc3("), "a%FF%C3(");
  EXPECT_EQ(EncodeKeyValue("\xed\xa0\x80"), "%ED%A0%80");  // a surrogate
}

TEST(KeyValueTest, LongValuesAreCutWithAMarker) {
  EXPECT_EQ(EncodeKeyValue(std::string(200, 'a')), std::string(200, 'a'));  // fits
  EXPECT_EQ(EncodeKeyValue(std::string(201, 'a')), std::string(199, 'a') + "#");
  EXPECT_EQ(EncodeKeyValue(std::string(5000, 'a')), std::string(199, 'a') + "#");
  // An escape is never split: 197 + "%7C" = 200 fits in 199? No: cut before it.
  EXPECT_EQ(EncodeKeyValue(std::string(197, 'a') + "||"), std::string(197, 'a') + "#");
  EXPECT_EQ(EncodeKeyValue(std::string(196, 'a') + "||"), std::string(196, 'a') + "%7C#");
  // Nor a UTF-8 character (2 bytes at 198..199).
  EXPECT_EQ(EncodeKeyValue(std::string(198, 'a') + "\xc3\xa9xyz"),
            std::string(198, 'a') + "#");
  EXPECT_EQ(EncodeKeyValue(std::string(197, 'a') + "\xc3\xa9xyz"),
            std::string(197, 'a') + "\xc3\xa9#");
  for (size_t n : {199, 200, 201, 300}) {
    EXPECT_LE(EncodeKeyValue(std::string(n, '|')).size(), kMaxKeyValueBytes) << n;
  }
}

TEST(PartitionKeyTest, FormatsPartsInTemplateOrder) {
  auto t = RegionDaily();
  EXPECT_EQ(FormatPartitionKey(t, kJan31, Values{"eu"}), "eu|2024-01-31");
  EXPECT_EQ(FormatPartitionKey(t, kJan31, Values{std::nullopt}), "!|2024-01-31");
  EXPECT_EQ(FormatPartitionKey(t, kJan31, Values{""}), "^|2024-01-31");
  EXPECT_EQ(FormatPartitionKey(t, kJan31, Values{"a|b"}), "a%7Cb|2024-01-31");
  EXPECT_EQ(FormatPartitionKey(PartitionTemplate(), kJan31, {}), "2024-01-31");
  auto hourly = PartitionTemplate::Make({TemplatePart::Time("%Y-%m-%dT%H"),
                                         TemplatePart::Tag("a"), TemplatePart::Tag("b")})
                    .ValueOrDie();
  EXPECT_EQ(FormatPartitionKey(hourly, kJan31, Values{"x", std::nullopt}),
            "2024-01-31T10|x|!");
}

TEST(PartitionKeyTest, ParseRoundTrips) {
  auto t = PartitionTemplate::Make({TemplatePart::Tag("region"),
                                    TemplatePart::Time("%Y-%m-%dT%H"),
                                    TemplatePart::Tag("host")})
               .ValueOrDie();
  const TimeRange hour{kJan31, kJan31 + kHour};
  struct Case {
    std::optional<std::string> region, host;
  };
  for (const Case& c : {Case{"eu", "a"}, Case{std::nullopt, "a|b!c^d#e%f"}, Case{"", ""},
                        Case{"\xff\xfe", "z\xc3\xbcrich\x01"}, Case{"!", "^"},
                        Case{"%21", std::nullopt}}) {
    Values values = {c.region, c.host};
    const std::string key = FormatPartitionKey(t, kJan31 + 59 * 60'000'000'000LL, values);
    auto parsed = ParsePartitionKey(t, key).ValueOrDie();
    EXPECT_EQ(parsed.time, hour) << key;
    ASSERT_EQ(parsed.tags.size(), 2u);
    EXPECT_EQ(parsed.tags[0], (KeyTagValue{"region", c.region, false})) << key;
    EXPECT_EQ(parsed.tags[1], (KeyTagValue{"host", c.host, false})) << key;
  }
}

TEST(PartitionKeyTest, ParseReportsTruncation) {
  auto t = RegionDaily();
  const std::string long_value = std::string(150, 'x') + std::string(100, '|');
  const std::string key = FormatPartitionKey(t, kJan31, Values{long_value});
  auto parsed = ParsePartitionKey(t, key).ValueOrDie();
  ASSERT_EQ(parsed.tags.size(), 1u);
  EXPECT_TRUE(parsed.tags[0].truncated);
  // 150 x and 16 escapes fit in 199 bytes.
  EXPECT_EQ(parsed.tags[0].value, std::string(150, 'x') + std::string(16, '|'));
  EXPECT_EQ(long_value.rfind(*parsed.tags[0].value, 0), 0u);
}

TEST(PartitionKeyTest, ParseRejectsKeysOfAnotherShape) {
  auto t = RegionDaily();
  for (const char* key : {"2024-01-31", "eu|2024-01-31|x", "eu|2024-13-01",
                          "e%7|2024-01-31", "e%ZZ|2024-01-31", "|2024-01-31"}) {
    auto parsed = ParsePartitionKey(t, key);
    ASSERT_FALSE(parsed.ok()) << key;
    EXPECT_NE(parsed.status().message().find(key), std::string::npos)
        << parsed.status().message();
  }
  EXPECT_EQ(ParsePartitionKey(PartitionTemplate(), "2024-01-31").ValueOrDie().time,
            (TimeRange{19753 * kDay, 19754 * kDay}));
}

TEST(PartitionKeyMayMatchTest, PrunesByTime) {
  PartitionTemplate daily;
  const std::vector<TagPredicate> none;
  EXPECT_TRUE(PartitionKeyMayMatch(daily, "2024-01-31", {}, none));
  EXPECT_TRUE(PartitionKeyMayMatch(daily, "2024-01-31", {kJan31, std::nullopt}, none));
  EXPECT_FALSE(
      PartitionKeyMayMatch(daily, "2024-01-31", {19754 * kDay, std::nullopt}, none));
  EXPECT_FALSE(
      PartitionKeyMayMatch(daily, "2024-01-31", {std::nullopt, 19753 * kDay}, none));
  EXPECT_TRUE(
      PartitionKeyMayMatch(daily, "2024-01-31", {std::nullopt, 19753 * kDay + 1}, none));
  auto hourly = PartitionTemplate::Make({TemplatePart::Time("%Y-%m-%dT%H")}).ValueOrDie();
  EXPECT_TRUE(PartitionKeyMayMatch(hourly, "2024-01-31T10", {kJan31, kJan31 + 1}, none));
  EXPECT_FALSE(PartitionKeyMayMatch(hourly, "2024-01-31T09", {kJan31, kJan31 + 1}, none));
  EXPECT_FALSE(
      PartitionKeyMayMatch(hourly, "2024-01-31T11", {kJan31, kJan31 + kHour}, none));
  // A key that does not parse under the template is never pruned.
  EXPECT_TRUE(PartitionKeyMayMatch(daily, "eu|2024-01-31", {0, 1}, none));
  EXPECT_TRUE(PartitionKeyMayMatch(daily, "garbage", {0, 1}, none));
}

TEST(PartitionKeyMayMatchTest, PrunesByTagInLists) {
  auto t = RegionDaily();
  const TimeRange all;
  auto in = [](std::string tag, std::vector<std::string> values) {
    return std::vector<TagPredicate>{{std::move(tag), std::move(values)}};
  };
  EXPECT_TRUE(PartitionKeyMayMatch(t, "eu|2024-01-31", all, in("region", {"eu"})));
  EXPECT_TRUE(PartitionKeyMayMatch(t, "eu|2024-01-31", all, in("region", {"us", "eu"})));
  EXPECT_FALSE(PartitionKeyMayMatch(t, "eu|2024-01-31", all, in("region", {"us", "ap"})));
  EXPECT_FALSE(PartitionKeyMayMatch(t, "eu|2024-01-31", all, in("region", {})));
  // Rows lacking the tag never match a predicate on it; an empty value is a value.
  EXPECT_FALSE(PartitionKeyMayMatch(t, "!|2024-01-31", all, in("region", {"eu", ""})));
  EXPECT_TRUE(PartitionKeyMayMatch(t, "^|2024-01-31", all, in("region", {""})));
  EXPECT_FALSE(PartitionKeyMayMatch(t, "^|2024-01-31", all, in("region", {"^"})));
  EXPECT_TRUE(PartitionKeyMayMatch(t, "%5E|2024-01-31", all, in("region", {"^"})));
  EXPECT_TRUE(PartitionKeyMayMatch(t, "a%7Cb|2024-01-31", all, in("region", {"a|b"})));
  // Tags the template does not name do not prune.
  EXPECT_TRUE(PartitionKeyMayMatch(t, "eu|2024-01-31", all, in("host", {"x"})));
  // Several predicates AND, with time too.
  std::vector<TagPredicate> both = {
      {"region", {"eu"}}, {"host", {"a"}}, {"region", {"eu", "us"}}};
  EXPECT_TRUE(PartitionKeyMayMatch(t, "eu|2024-01-31", all, both));
  both.push_back({"region", {"us"}});
  EXPECT_FALSE(PartitionKeyMayMatch(t, "eu|2024-01-31", all, both));
  EXPECT_FALSE(PartitionKeyMayMatch(t, "eu|2024-01-31", {0, kDay}, in("region", {"eu"})));
}

TEST(PartitionKeyMayMatchTest, TruncatedValuesMatchWhatTheyWereWrittenUnder) {
  auto t = RegionDaily();
  const std::string a = std::string(250, 'v') + "a", b = std::string(250, 'v') + "b";
  const std::string key = FormatPartitionKey(t, kJan31, Values{a});
  EXPECT_EQ(key, FormatPartitionKey(t, kJan31, Values{b}));  // one partition holds both
  const TimeRange all;
  EXPECT_TRUE(PartitionKeyMayMatch(t, key, all, {{"region", {a}}}));
  EXPECT_TRUE(PartitionKeyMayMatch(t, key, all, {{"region", {b}}}));
  EXPECT_FALSE(PartitionKeyMayMatch(t, key, all, {{"region", {std::string(199, 'v')}}}));
  EXPECT_FALSE(PartitionKeyMayMatch(t, key, all, {{"region", {"v"}}}));
}

}  // namespace
}  // namespace ingester::partition
