#include "ingester/common/json.h"

#include <gtest/gtest.h>

namespace ingester::json {
namespace {

TEST(Json, EscapesSpecialCharacters) {
  EXPECT_EQ(Quote("plain"), "\"plain\"");
  EXPECT_EQ(Quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Quote("line\nnext\ttab"), "\"line\\nnext\\ttab\"");
  EXPECT_EQ(Quote(std::string_view("\x01", 1)), "\"\\u0001\"");
}

TEST(Json, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(Quote("caf\xC3\xA9 \xF0\x9F\x93\x88"), "\"caf\xC3\xA9 \xF0\x9F\x93\x88\"");
  EXPECT_EQ(Quote("bad\xFF"
                  "end"),
            "\"bad\xEF\xBF\xBD"
            "end\"");
  EXPECT_EQ(Quote("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");  // overlong '/'
  EXPECT_EQ(Quote("cut\xE2\x82"), "\"cut\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

}  // namespace
}  // namespace ingester::json
