#include "ingester/wal/format.h"

#include <gtest/gtest.h>

#include "ingester/common/crc32c.h"
#include "ingester/common/error.h"

namespace ingester::wal {
namespace {

TEST(WalFormat, SegmentFileNamesSortLikeIds) {
  EXPECT_EQ(SegmentFileName(1), "00000000000000000001.dat");
  EXPECT_EQ(SegmentFileName(18446744073709551615ull), "18446744073709551615.dat");
  EXPECT_LT(SegmentFileName(9), SegmentFileName(10));
  EXPECT_EQ(ParseSegmentFileName(SegmentFileName(42)), 42u);
  EXPECT_FALSE(ParseSegmentFileName("00000000000000000042.dat.tmp"));
  EXPECT_FALSE(ParseSegmentFileName("42.dat"));
  EXPECT_FALSE(ParseSegmentFileName("0000000000000000004x.dat"));
  EXPECT_FALSE(ParseSegmentFileName("00000000000000000042.txt"));
}

TEST(WalFormat, MaskRoundTripsAndChangesTheValue) {
  for (uint32_t crc : {0u, 1u, 0xdeadbeefu, 0xffffffffu}) {
    EXPECT_EQ(UnmaskCrc(MaskCrc(crc)), crc);
    EXPECT_NE(MaskCrc(crc), crc);
  }
}

TEST(WalFormat, HeaderRoundTripAndRejections) {
  SegmentHeader h = EncodeSegmentHeader(77);
  ASSERT_EQ(h.size(), kSegmentHeaderSize);
  auto id = DecodeSegmentHeader(h.data(), "f.dat");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, 77u);

  SegmentHeader bad_magic = h;
  bad_magic[0] = 'X';
  auto r = DecodeSegmentHeader(bad_magic.data(), "seg.dat");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrorKindOf(r.status()), ErrorKind::kDataLoss);
  EXPECT_NE(r.status().message().find("seg.dat"), std::string::npos);
  EXPECT_NE(r.status().message().find("magic"), std::string::npos);

  SegmentHeader bad_id = h;
  bad_id[16] ^= 1;  // the checksum no longer matches
  r = DecodeSegmentHeader(bad_id.data(), "seg.dat");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("checksum"), std::string::npos);

  SegmentHeader future = h;
  EncodeFixed32(future.data() + 8, kFormatVersion + 1);
  EncodeFixed32(future.data() + 24, MaskCrc(crc32c::Value(future.data(), 24)));
  r = DecodeSegmentHeader(future.data(), "seg.dat");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("version 2"), std::string::npos);
}

TEST(WalFormat, EntryChecksumCoversTheSegmentId) {
  const std::string payload = "some payload bytes";
  const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  EXPECT_EQ(EntryChecksum(5, p, payload.size()),
            EntryChecksum(5, crc32c::Value(payload)));
  EXPECT_NE(EntryChecksum(5, p, payload.size()), EntryChecksum(6, p, payload.size()));
  uint8_t frame[kEntryHeaderSize];
  EncodeEntryHeader(5, static_cast<uint32_t>(payload.size()), crc32c::Value(payload),
                    frame);
  EXPECT_EQ(DecodeFixed32(frame), payload.size());
  EXPECT_EQ(DecodeFixed32(frame + 4), EntryChecksum(5, p, payload.size()));
}

TEST(WalFormat, FixedWidthIntegersAreLittleEndian) {
  uint8_t b[8];
  EncodeFixed32(b, 0x04030201u);
  EXPECT_EQ(b[0], 1);
  EXPECT_EQ(b[3], 4);
  EXPECT_EQ(DecodeFixed32(b), 0x04030201u);
  EncodeFixed64(b, 0x0807060504030201ull);
  EXPECT_EQ(b[7], 8);
  EXPECT_EQ(DecodeFixed64(b), 0x0807060504030201ull);
}

}  // namespace
}  // namespace ingester::wal
