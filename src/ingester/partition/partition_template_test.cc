#include "ingester/partition/partition_template.h"

#include <gtest/gtest.h>

#include "ingester/common/error.h"

namespace ingester::partition {
namespace {

TEST(PartitionTemplateTest, DefaultIsOneDailyTimePart) {
  PartitionTemplate t;
  EXPECT_TRUE(t.is_default());
  EXPECT_EQ(t.ToJson(), R"({"parts":[{"time_format":"%Y-%m-%d"}]})");
  ASSERT_EQ(t.parts().size(), 1u);
  EXPECT_EQ(t.parts()[0], TemplatePart::Time("%Y-%m-%d"));
  EXPECT_TRUE(t.tag_names().empty());
  EXPECT_EQ(t.time_part_index(), 0u);
  EXPECT_EQ(t.time_format().period(), TimePeriod::kDay);
  EXPECT_EQ(PartitionTemplate::FromJson(t.ToJson()).ValueOrDie(), t);
}

TEST(PartitionTemplateTest, JsonRoundTrip) {
  const std::string json =
      R"({"parts": [{"tag_value": "region"}, {"time_format": "%Y-%m-%dT%H"},
                    {"tag_value": "host"}]})";
  auto t = PartitionTemplate::FromJson(json).ValueOrDie();
  EXPECT_FALSE(t.is_default());
  EXPECT_EQ(t.tag_names(), (std::vector<std::string>{"region", "host"}));
  EXPECT_EQ(t.time_part_index(), 1u);
  EXPECT_EQ(t.time_format().period(), TimePeriod::kHour);
  EXPECT_EQ(t.ToJson(),
            R"({"parts":[{"tag_value":"region"},{"time_format":"%Y-%m-%dT%H"},)"
            R"({"tag_value":"host"}]})");
  EXPECT_EQ(PartitionTemplate::FromJson(t.ToJson()).ValueOrDie(), t);
  auto made = PartitionTemplate::Make({TemplatePart::Tag("region"),
                                       TemplatePart::Time("%Y-%m-%dT%H"),
                                       TemplatePart::Tag("host")})
                  .ValueOrDie();
  EXPECT_EQ(made, t);
  EXPECT_NE(made, PartitionTemplate());
  // Order matters.
  EXPECT_NE(
      PartitionTemplate::Make({TemplatePart::Time("%Y-%m-%dT%H"),
                               TemplatePart::Tag("region"), TemplatePart::Tag("host")})
          .ValueOrDie(),
      t);
}

TEST(PartitionTemplateTest, EightPartsAreTheLimit) {
  std::vector<TemplatePart> parts = {TemplatePart::Time("%Y")};
  for (int i = 0; i < 7; ++i) parts.push_back(TemplatePart::Tag("t" + std::to_string(i)));
  EXPECT_TRUE(PartitionTemplate::Make(parts).ok());
  parts.push_back(TemplatePart::Tag("t7"));
  auto nine = PartitionTemplate::Make(parts);
  ASSERT_FALSE(nine.ok());
  EXPECT_NE(nine.status().message().find("9 parts, more than the limit of 8"),
            std::string::npos)
      << nine.status().message();
}

TEST(PartitionTemplateTest, BadTemplatesNameTheProblem) {
  struct Case {
    const char* json;
    const char* why;
  };
  for (
      const Case& c : {
          Case{"", "not valid JSON"},
          Case{"{\"parts\": [", "not valid JSON"},
          Case{"[]", "must be a JSON object"},
          Case{"{}", "'parts' must be an array"},
          Case{R"({"parts": {}})", "'parts' must be an array"},
          Case{R"({"parts": [], "x": 1})", "unknown key 'x'"},
          Case{R"({"parts": []})", "no parts"},
          Case{R"({"parts": [{"tag_value": "a"}]})", "exactly one time_format"},
          Case{R"({"parts": [{"time_format": "%Y"}, {"time_format": "%Y-%m"}]})",
               "more than one time_format"},
          Case{R"({"parts": [{"time_format": "%Y", "tag_value": "a"}]})",
               "part 0 must be an object with exactly one key"},
          Case{R"({"parts": ["region"]})", "part 0 must be an object"},
          Case{R"({"parts": [{"time_format": "%Y"}, {"tagValue": "a"}]})",
               "part 1 has unknown key 'tagValue'"},
          Case{R"({"parts": [{"time_format": 5}]})", "'time_format' must be a string"},
          Case{R"({"parts": [{"time_format": "%H"}]})", "time format '%H'"},
          Case{R"({"parts": [{"time_format": "%Y"}, {"tag_value": ""}]})",
               "names no tag"},
          Case{R"({"parts": [{"time_format": "%Y"}, {"tag_value": "time"}]})",
               "names the time column"},
          Case{
              R"({"parts": [{"tag_value": "a"}, {"time_format": "%Y"}, {"tag_value": "a"}]})",
              "tag 'a' appears twice"},
      }) {
    auto t = PartitionTemplate::FromJson(c.json);
    ASSERT_FALSE(t.ok()) << c.json;
    EXPECT_EQ(ErrorKindOf(t.status()), ErrorKind::kInvalidInput) << c.json;
    EXPECT_NE(t.status().message().find(c.why), std::string::npos)
        << c.json << " -> " << t.status().message();
    EXPECT_EQ(t.status().message().rfind("partition template", 0) == 0 ||
                  t.status().message().rfind("time format", 0) == 0,
              true)
        << t.status().message();
  }
  auto long_tag = PartitionTemplate::Make(
      {TemplatePart::Time("%Y"), TemplatePart::Tag(std::string(201, 'a'))});
  ASSERT_FALSE(long_tag.ok());
  EXPECT_NE(long_tag.status().message().find("longer than 200 bytes"), std::string::npos);
}

}  // namespace
}  // namespace ingester::partition
