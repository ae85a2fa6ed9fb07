#include "ingester/common/units.h"

#include <gtest/gtest.h>

namespace ingester {
namespace {

TEST(ParseByteSize, Units) {
  EXPECT_EQ(*ParseByteSize("512"), 512);
  EXPECT_EQ(*ParseByteSize("20MB"), 20'000'000);
  EXPECT_EQ(*ParseByteSize("10MiB"), 10 * 1024 * 1024);
  EXPECT_EQ(*ParseByteSize("1gib"), 1024LL * 1024 * 1024);
  EXPECT_EQ(*ParseByteSize("1.5KB"), 1500);
}

TEST(ParseByteSize, Errors) {
  EXPECT_FALSE(ParseByteSize("").ok());
  EXPECT_FALSE(ParseByteSize("MB").ok());
  auto bad = ParseByteSize("10parsecs");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("10parsecs"), std::string::npos);
}

TEST(ParseDuration, Units) {
  using namespace std::chrono_literals;
  EXPECT_EQ(*ParseDuration("300s"), 300s);
  EXPECT_EQ(*ParseDuration("300"), 300s);
  EXPECT_EQ(*ParseDuration("5m"), 5min);
  EXPECT_EQ(*ParseDuration("250ms"), 250ms);
  EXPECT_EQ(*ParseDuration("2h"), 2h);
  EXPECT_FALSE(ParseDuration("5 fortnights").ok());
}

}  // namespace
}  // namespace ingester
