#include "ingester/wal/write_op_codec.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "ingester/wal/wal_test_util.h"

namespace ingester::wal {
namespace {

using testing::ExpectOpsEqual;
using testing::MakeOp;

WriteOp RoundTrip(const WriteOp& op, PayloadCompression compression) {
  EncodeOptions options;
  options.compression = compression;
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
  for (auto compression : {PayloadCompression::kZstd, PayloadCompression::kNone}) {
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
