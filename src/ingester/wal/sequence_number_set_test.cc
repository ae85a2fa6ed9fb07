#include "ingester/wal/sequence_number_set.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace ingester::wal {
namespace {

TEST(SequenceNumberSet, MergesAdjacentNumbersIntoRanges) {
  SequenceNumberSet s;
  EXPECT_TRUE(s.empty());
  EXPECT_FALSE(s.min().has_value());
  for (SequenceNumber n : {5, 3, 4, 9, 1, 10, 8}) EXPECT_TRUE(s.Add(n));
  EXPECT_FALSE(s.Add(4));
  EXPECT_EQ(s.ToString(), "1,3-5,8-10");
  EXPECT_EQ(s.size(), 7u);
  EXPECT_EQ(s.ranges().size(), 3u);
  EXPECT_EQ(s.min(), 1u);
  EXPECT_EQ(s.max(), 10u);
  EXPECT_TRUE(s.Add(2));
  EXPECT_EQ(s.ToString(), "1-5,8-10");
}

TEST(SequenceNumberSet, RemoveSplitsRanges) {
  SequenceNumberSet s;
  s.AddRange(1, 10);
  EXPECT_TRUE(s.Remove(5));
  EXPECT_FALSE(s.Remove(5));
  EXPECT_EQ(s.ToString(), "1-4,6-10");
  s.RemoveRange(3, 8);
  EXPECT_EQ(s.ToString(), "1-2,9-10");
  EXPECT_EQ(s.size(), 4u);
  s.RemoveRange(0, 100);
  EXPECT_TRUE(s.empty());
}

TEST(SequenceNumberSet, MergeSubtractIntersect) {
  SequenceNumberSet a, b;
  a.AddRange(1, 100);
  b.AddRange(50, 150);
  EXPECT_TRUE(a.Intersects(b));
  SequenceNumberSet c = a;
  c.Subtract(b);
  EXPECT_EQ(c.ToString(), "1-49");
  EXPECT_FALSE(c.Intersects(b));
  c.Merge(b);
  EXPECT_EQ(c.ToString(), "1-150");
  EXPECT_EQ(c.size(), 150u);
}

TEST(SequenceNumberSet, AgreesWithStdSetUnderRandomOperations) {
  std::mt19937_64 rng(42);
  SequenceNumberSet s;
  std::set<SequenceNumber> reference;
  for (int i = 0; i < 20000; ++i) {
    SequenceNumber n = rng() % 500;
    if (rng() % 3 == 0) {
      EXPECT_EQ(s.Remove(n), reference.erase(n) == 1);
    } else {
      EXPECT_EQ(s.Add(n), reference.insert(n).second);
    }
  }
  EXPECT_EQ(s.size(), reference.size());
  for (SequenceNumber n = 0; n < 500; ++n)
    EXPECT_EQ(s.Contains(n), reference.count(n) == 1);
  // Ranges are disjoint and never adjacent.
  SequenceNumber prev_last = 0;
  bool first = true;
  for (const auto& [f, l] : s.ranges()) {
    EXPECT_LE(f, l);
    if (!first) {
      EXPECT_GT(f, prev_last + 1);
    }
    prev_last = l;
    first = false;
  }
}

}  // namespace
}  // namespace ingester::wal
