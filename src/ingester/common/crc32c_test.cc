#include "ingester/common/crc32c.h"

#include <string>

#include <gtest/gtest.h>

namespace ingester::crc32c {
namespace {

TEST(Crc32c, KnownVectors) {
  // RFC 3720 (iSCSI) B.4 test vectors.
  std::string zeros(32, '\0');
  EXPECT_EQ(Value(zeros), 0x8A9136AAu);
  std::string ones(32, '\xFF');
  EXPECT_EQ(Value(ones), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(Value(ascending), 0x46DD794Eu);
  EXPECT_EQ(Value(std::string_view("123456789")), 0xE3069283u);
}

TEST(Crc32c, ExtendEqualsWhole) {
  std::string data = "the quick brown fox jumps over the lazy dog, twice or more";
  for (size_t split = 0; split <= data.size(); ++split) {
    uint32_t part = Extend(0, data.data(), split);
    EXPECT_EQ(Extend(part, data.data() + split, data.size() - split), Value(data))
        << split;
  }
}

TEST(Crc32c, DetectsSingleBitFlip) {
  std::string data(1000, 'x');
  uint32_t before = Value(data);
  data[517] ^= 0x04;
  EXPECT_NE(Value(data), before);
}

}  // namespace
}  // namespace ingester::crc32c
