#include "ingester/wal/write_op_codec.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "ingester/wal/payload_codec.h"
#include "ingester/wal/wal_test_util.h"

namespace ingester::wal {
namespace {

using testing::ExpectOpsEqual;
using testing::MakeOp;

WriteOp RoundTrip(const WriteOp& op, PayloadCompression compression, int level = 0) {
  EncodeOptions options;
  options.compression = compression;
  options.level = level;
  auto payload = EncodeWriteOp(op, options);
  EXPECT_TRUE(payload.ok()) << payload.status();
  auto decoded =
      DecodeWriteOp(reinterpret_cast<const uint8_t*>(payload->data()), payload->size());
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return decoded.ValueOrDie();
}

TEST(WriteOpCodec, RoundTripsEveryColumnTypeWithNulls) {
  WriteOp op = MakeOp(1000, /*writes=*/3, /*rows=*/257);
  op.writes[1].batch =
      op.writes[1].batch->ReplaceSchemaMetadata(arrow::key_value_metadata({"k"}, {"v"}));
  for (auto compression :
       {PayloadCompression::kZstd, PayloadCompression::kLz4, PayloadCompression::kNone}) {
    SCOPED_TRACE(PayloadCompressionName(compression));
    WriteOp decoded = RoundTrip(op, compression);
    ExpectOpsEqual(op, decoded);
    // Tags stay dictionary encoded and nulls survive.
    const auto& batch = decoded.writes[0].batch;
    EXPECT_EQ(batch->column(0)->type_id(), arrow::Type::DICTIONARY);
    EXPECT_GT(batch->column(1)->null_count(), 0);
    EXPECT_GT(batch->column(5)->null_count(), 0);
    EXPECT_EQ(batch->column(7)->null_count(), 0);
  }
}

TEST(WriteOpCodec, EmptyOpAndZeroRowBatch) {
  WriteOp empty;
  empty.namespace_id = NamespaceId(1);
  empty.namespace_name = "";
  ExpectOpsEqual(empty, RoundTrip(empty, PayloadCompression::kZstd));

  WriteOp zero = MakeOp(5, 1, 0);
  ExpectOpsEqual(zero, RoundTrip(zero, PayloadCompression::kZstd));
}

TEST(WriteOpCodec, HeadroomIsReservedAndZstdShrinksRepetitiveData) {
  WriteOp op = MakeOp(1, 1, 2000);
  EncodeOptions none{PayloadCompression::kNone, 0};
  EncodeOptions zstd{PayloadCompression::kZstd, 8};
  auto raw = EncodeWriteOp(op, none);
  auto compressed = EncodeWriteOp(op, zstd);
  ASSERT_TRUE(raw.ok() && compressed.ok());
  EXPECT_EQ(compressed->substr(0, 8), std::string(8, '\0'));
  EXPECT_LT(compressed->size(), raw->size() / 2);
  auto decoded = DecodeWriteOp(reinterpret_cast<const uint8_t*>(compressed->data() + 8),
                               compressed->size() - 8);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectOpsEqual(op, *decoded);
}

TEST(WriteOpCodec, SummaryMatchesTheOp) {
  WriteOp op = MakeOp(40, 2, 33);
  auto payload = EncodeWriteOp(op);
  ASSERT_TRUE(payload.ok());
  auto summary = DecodeWriteOpSummary(reinterpret_cast<const uint8_t*>(payload->data()),
                                      payload->size());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->namespace_name, "bananas");
  ASSERT_EQ(summary->writes.size(), 2u);
  EXPECT_EQ(summary->writes[1].sequence_number, 41u);
  EXPECT_EQ(summary->writes[1].table_name, "table_1");
  EXPECT_EQ(summary->RowCount(), 66);
}

TEST(WriteOpCodec, EveryCodecAndZstdLevelRoundTripsAndNamesItself) {
  WriteOp op = MakeOp(7, /*writes=*/2, /*rows=*/3000);
  struct Case {
    PayloadCompression compression;
    int level;
  };
  for (Case c : {Case{PayloadCompression::kNone, 0}, Case{PayloadCompression::kLz4, 0},
                 Case{PayloadCompression::kZstd, 0}, Case{PayloadCompression::kZstd, -5},
                 Case{PayloadCompression::kZstd, 3}}) {
    SCOPED_TRACE(std::string(PayloadCompressionName(c.compression)) + " level " +
                 std::to_string(c.level));
    EncodeOptions options;
    options.compression = c.compression;
    options.level = c.level;
    auto payload = EncodeWriteOp(op, options);
    ASSERT_TRUE(payload.ok()) << payload.status();
    EXPECT_EQ(static_cast<uint8_t>((*payload)[0]), static_cast<uint8_t>(c.compression));
    ExpectOpsEqual(op, RoundTrip(op, c.compression, c.level));
    // The same thread encodes again with its kept contexts and buffers.
    ExpectOpsEqual(op, RoundTrip(op, c.compression, c.level));
  }
}

TEST(WriteOpCodec, CodecNamesAndLevels) {
  EXPECT_EQ(*ParsePayloadCompression("lz4"), PayloadCompression::kLz4);
  EXPECT_EQ(*ParsePayloadCompression("zstd"), PayloadCompression::kZstd);
  EXPECT_EQ(*ParsePayloadCompression("none"), PayloadCompression::kNone);
  auto bad = ParsePayloadCompression("gzip");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("gzip"), std::string::npos);
  EXPECT_TRUE(ValidateCompressionLevel(PayloadCompression::kZstd, 19).ok());
  EXPECT_TRUE(ValidateCompressionLevel(PayloadCompression::kZstd, -7).ok());
  EXPECT_FALSE(ValidateCompressionLevel(PayloadCompression::kZstd, 20).ok());
  EXPECT_FALSE(ValidateCompressionLevel(PayloadCompression::kLz4, 3).ok());
  EXPECT_TRUE(ValidateCompressionLevel(PayloadCompression::kNone, 0).ok());
  EncodeOptions options;
  options.compression = PayloadCompression::kLz4;
  options.level = 5;
  EXPECT_FALSE(EncodeWriteOp(MakeOp(1), options).ok());
}

TEST(WriteOpCodec, CorruptCompressedBodiesAreErrors) {
  WriteOp op = MakeOp(1, 1, 500);
  for (auto compression : {PayloadCompression::kZstd, PayloadCompression::kLz4}) {
    SCOPED_TRACE(PayloadCompressionName(compression));
    EncodeOptions options;
    options.compression = compression;
    auto payload = EncodeWriteOp(op, options);
    ASSERT_TRUE(payload.ok());
    // A body length that disagrees with what the data decompresses to.
    std::string bad = *payload;
    bad[1] = static_cast<char>(bad[1] + 1);
    EXPECT_FALSE(
        DecodeWriteOp(reinterpret_cast<const uint8_t*>(bad.data()), bad.size()).ok());
    // Compressed bytes cut short.
    bad = payload->substr(0, payload->size() / 2);
    EXPECT_FALSE(
        DecodeWriteOp(reinterpret_cast<const uint8_t*>(bad.data()), bad.size()).ok());
  }
}

TEST(WriteOpCodec, GarbageIsAnErrorNotACrash) {
  WriteOp op = MakeOp(1, 2, 50);
  auto payload = EncodeWriteOp(op, {PayloadCompression::kNone, 0});
  ASSERT_TRUE(payload.ok());
  const auto* p = reinterpret_cast<const uint8_t*>(payload->data());
  // Every truncation fails cleanly.
  for (size_t n = 0; n < payload->size(); n += 7) {
    EXPECT_FALSE(DecodeWriteOp(p, n).ok()) << n;
  }
  // A huge declared string length is caught by bounds checks, not allocated.
  std::string bad = *payload;
  bad[kPayloadPrefixSize + 9] = '\xff';   // namespace name length, low byte
  bad[kPayloadPrefixSize + 12] = '\x7f';  // ... high byte
  EXPECT_FALSE(
      DecodeWriteOp(reinterpret_cast<const uint8_t*>(bad.data()), bad.size()).ok());
  // Unknown compression and version bytes.
  bad = *payload;
  bad[0] = 9;
  EXPECT_FALSE(
      DecodeWriteOp(reinterpret_cast<const uint8_t*>(bad.data()), bad.size()).ok());
  bad = *payload;
  bad[kPayloadPrefixSize] = 2;
  auto r = DecodeWriteOp(reinterpret_cast<const uint8_t*>(bad.data()), bad.size());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("version"), std::string::npos);
}

TEST(WriteOpCodec, RefusesAWriteWithoutBatch) {
  WriteOp op = MakeOp(1);
  op.writes[0].batch = nullptr;
  EXPECT_FALSE(EncodeWriteOp(op).ok());
}

}  // namespace
}  // namespace ingester::wal
