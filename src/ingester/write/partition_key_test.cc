#include "ingester/write/partition_key.h"

#include <gtest/gtest.h>

namespace ingester {
namespace {

TEST(PartitionKey, DaysOfKnownTimes) {
  EXPECT_EQ(DailyPartitionKey(DayOf(0)), "1970-01-01");
  EXPECT_EQ(DailyPartitionKey(DayOf(1'700'000'000'000'000'000LL)), "2023-11-14");
  EXPECT_EQ(DailyPartitionKey(DayOf(1'709'164'800'000'000'000LL)), "2024-02-29");
  EXPECT_EQ(DailyPartitionKey(DayOf(kNanosPerDay - 1)), "1970-01-01");
  EXPECT_EQ(DailyPartitionKey(DayOf(kNanosPerDay)), "1970-01-02");
}

TEST(PartitionKey, NegativeTimesFloorToThePreviousDay) {
  EXPECT_EQ(DayOf(-1), -1);
  EXPECT_EQ(DailyPartitionKey(DayOf(-1)), "1969-12-31");
  EXPECT_EQ(DailyPartitionKey(DayOf(-kNanosPerDay)), "1969-12-31");
  EXPECT_EQ(DailyPartitionKey(DayOf(-kNanosPerDay - 1)), "1969-12-30");
}

TEST(PartitionKey, ExtremeTimes) {
  EXPECT_EQ(DailyPartitionKey(DayOf(INT64_MAX)), "2262-04-11");
  EXPECT_EQ(DailyPartitionKey(DayOf(INT64_MIN)), "1677-09-21");
}

}  // namespace
}  // namespace ingester
