#include "ingester/write/line_index.h"

#include <gtest/gtest.h>

namespace ingester {
namespace {

TEST(LineIndex, FindsLinesAndColumns) {
  std::string body = "first line\r\nsecond\n\nfourth";
  LineIndex index(body);
  EXPECT_EQ(index.Line(1), "first line");
  EXPECT_EQ(index.Line(2), "second");
  EXPECT_EQ(index.Line(3), "");
  EXPECT_EQ(index.Line(4), "fourth");
  EXPECT_EQ(index.Line(5), "");
  EXPECT_EQ(index.Line(0), "");
  EXPECT_EQ(index.ColumnOf(2, body.data() + body.find("cond")), 3u);
  EXPECT_EQ(index.ColumnOf(1, body.data() + body.find("cond")), 0u);  // not on line 1
  std::string elsewhere = "x";
  EXPECT_EQ(index.ColumnOf(1, elsewhere.data()), 0u);
}

}  // namespace
}  // namespace ingester
