#include "ingester/partition/row_partitioner.h"

#include <gtest/gtest.h>

namespace ingester::partition {
namespace {

constexpr int64_t kDay = 86'400'000'000'000LL;
constexpr int64_t kJan31 = 19753 * kDay;

using Values = std::vector<std::optional<std::string_view>>;

TEST(RowPartitionerTest, DefaultTemplateGroupsByDay) {
  RowPartitioner p{PartitionTemplate()};
  EXPECT_TRUE(p.tag_names().empty());
  EXPECT_EQ(p.Assign(kJan31, {}), 0u);
  EXPECT_EQ(p.Assign(kJan31 + kDay - 1, {}), 0u);
  EXPECT_EQ(p.Assign(kJan31 + kDay, {}), 1u);
  EXPECT_EQ(p.Assign(kJan31 - 1, {}), 2u);
  EXPECT_EQ(p.Assign(kJan31 + 5, {}), 0u);
  ASSERT_EQ(p.group_count(), 3u);
  EXPECT_EQ(p.Key(0), "2024-01-31");
  EXPECT_EQ(p.Key(1), "2024-02-01");
  EXPECT_EQ(p.Key(2), "2024-01-30");
  auto keys = p.KeysInOrder();
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].key, "2024-01-30");
  EXPECT_EQ(keys[0].groups, std::vector<uint32_t>{2});
  EXPECT_EQ(keys[2].key, "2024-02-01");
}

TEST(RowPartitionerTest, GroupsByTagValuesAndPeriod) {
  RowPartitioner p{
      PartitionTemplate::Make({TemplatePart::Tag("region"),
                               TemplatePart::Time("%Y-%m-%d"), TemplatePart::Tag("host")})
          .ValueOrDie()};
  EXPECT_EQ(p.tag_names(), (std::vector<std::string>{"region", "host"}));
  // Views into separate buffers with equal bytes are equal values.
  std::string eu1 = "eu", eu2 = "eu";
  EXPECT_EQ(p.Assign(kJan31, Values{eu1, "a"}), 0u);
  EXPECT_EQ(p.Assign(kJan31 + 1, Values{"us", "a"}), 1u);
  EXPECT_EQ(p.Assign(kJan31 + 2, Values{eu2, "a"}), 0u);
  EXPECT_EQ(p.Assign(kJan31 + kDay, Values{eu2, "a"}), 2u);
  EXPECT_EQ(p.Assign(kJan31, Values{std::nullopt, "a"}), 3u);
  EXPECT_EQ(p.Assign(kJan31, Values{"", "a"}), 4u);  // empty is not missing
  EXPECT_EQ(p.Assign(kJan31, Values{"eu", std::nullopt}), 5u);
  EXPECT_EQ(p.Assign(kJan31, Values{std::nullopt, "a"}), 3u);
  EXPECT_EQ(p.Assign(kJan31, Values{"us", "a"}), 1u);
  ASSERT_EQ(p.group_count(), 6u);
  EXPECT_EQ(p.Key(0), "eu|2024-01-31|a");
  EXPECT_EQ(p.Key(1), "us|2024-01-31|a");
  EXPECT_EQ(p.Key(2), "eu|2024-02-01|a");
  EXPECT_EQ(p.Key(3), "!|2024-01-31|a");
  EXPECT_EQ(p.Key(4), "^|2024-01-31|a");
  EXPECT_EQ(p.Key(5), "eu|2024-01-31|!");
}

TEST(RowPartitionerTest, ManyGroupsStayDistinct) {
  RowPartitioner p{
      PartitionTemplate::Make({TemplatePart::Tag("h"), TemplatePart::Time("%Y")})
          .ValueOrDie()};
  std::vector<std::string> hosts;
  for (int i = 0; i < 5000; ++i) hosts.push_back("host_" + std::to_string(i));
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 5000; ++i) {
      ASSERT_EQ(p.Assign(kJan31, Values{hosts[i]}), static_cast<uint32_t>(i));
    }
  }
  EXPECT_EQ(p.Key(4321), "host_4321|2024");
}

TEST(RowPartitionerTest, ValuesCutToOneKeyShareIt) {
  RowPartitioner p{
      PartitionTemplate::Make({TemplatePart::Tag("t"), TemplatePart::Time("%Y")})
          .ValueOrDie()};
  const std::string a = std::string(300, 'x') + "a", b = std::string(300, 'x') + "b";
  EXPECT_EQ(p.Assign(kJan31, Values{a}), 0u);
  EXPECT_EQ(p.Assign(kJan31, Values{"short"}), 1u);
  EXPECT_EQ(p.Assign(kJan31, Values{b}), 2u);
  EXPECT_EQ(p.Key(0), p.Key(2));
  auto keys = p.KeysInOrder();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].key, "short|2024");
  EXPECT_EQ(keys[1].groups, (std::vector<uint32_t>{0, 2}));
}

}  // namespace
}  // namespace ingester::partition
