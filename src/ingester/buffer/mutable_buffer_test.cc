#include "ingester/buffer/mutable_buffer.h"

#include <arrow/util/byte_size.h>
#include <gtest/gtest.h>

#include <sstream>

#include "ingester/buffer/buffer_test_util.h"
#include "ingester/common/error.h"

namespace ingester {
namespace {

using buffer_test::BatchMaker;
using buffer_test::FieldNames;
using buffer_test::Opt;
using buffer_test::RowStrings;
using ::testing::ElementsAre;

std::vector<std::shared_ptr<arrow::RecordBatch>> Snap(MutableBuffer& buffer) {
  auto snapshot = buffer.Snapshot();
  EXPECT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  for (const auto& b : *snapshot) {
    EXPECT_EQ(b->schema(), buffer.schema());
    EXPECT_TRUE(b->ValidateFull().ok());
  }
  return snapshot.ValueOr({});
}

TEST(MutableBuffer, SchemaEvolutionNullFillsBothWays) {
  MutableBuffer buffer;
  ASSERT_TRUE(
      buffer.Append(BatchMaker().Tag("host", {"a"}).I64("usage", {1}).Time({10}).Build())
          .ok());
  // Later write adds a tag and a field, and lacks `usage`.
  ASSERT_TRUE(buffer
                  .Append(BatchMaker()
                              .F64("temp", {2.5})
                              .Tag("region", {"eu"})
                              .Tag("host", {"b"})
                              .Time({20})
                              .Build())
                  .ok());
  // And one with only a field.
  ASSERT_TRUE(buffer.Append(BatchMaker().I64("usage", {3}).Time({30}).Build()).ok());

  EXPECT_THAT(FieldNames(*buffer.schema()),
              ElementsAre("host", "region", "usage", "temp", "time"));
  EXPECT_THAT(RowStrings(Snap(buffer)),
              ElementsAre("host=a region=null usage=1 temp=null time=10",
                          "host=b region=eu usage=null temp=2.5 time=20",
                          "host=null region=null usage=3 temp=null time=30"));
  EXPECT_EQ(buffer.Rows(), 3);
  EXPECT_EQ(buffer.min_time(), 10);
  EXPECT_EQ(buffer.max_time(), 30);
}

TEST(MutableBuffer, AllFieldTypesAndDictionaryTagsSurviveIntact) {
  MutableBuffer buffer;
  // Two batches with different dictionaries for the same tag.
  ASSERT_TRUE(buffer
                  .Append(BatchMaker()
                              .Tag("host", {"x", "y", std::nullopt, "x"})
                              .I64("i", {-1, 2, std::nullopt, 4})
                              .U64("u", {1, std::nullopt, 3, 18446744073709551615ull})
                              .F64("f", {0.5, 1.5, 2.5, std::nullopt})
                              .Bool("b", {true, false, std::nullopt, true})
                              .Str("s", {"p", std::nullopt, "", "q r"})
                              .Time({4, 3, 2, 1})
                              .Build())
                  .ok());
  ASSERT_TRUE(
      buffer.Append(BatchMaker().Tag("host", {"z", "y"}).Time({5, 6}).Build()).ok());
  EXPECT_THAT(RowStrings(Snap(buffer)),
              ElementsAre("host=x i=-1 u=1 f=0.5 b=true s=p time=4",
                          "host=y i=2 u=null f=1.5 b=false s=null time=3",
                          "host=null i=null u=3 f=2.5 b=null s= time=2",
                          "host=x i=4 u=18446744073709551615 f=null b=true s=q r time=1",
                          "host=z i=null u=null f=null b=null s=null time=5",
                          "host=y i=null u=null f=null b=null s=null time=6"));
}

TEST(MutableBuffer, ConflictingTypeIsRejectedAndChangesNothing) {
  MutableBuffer buffer;
  ASSERT_TRUE(buffer.Append(BatchMaker().I64("v", {1}).Time({1}).Build()).ok());
  auto schema = buffer.schema();
  auto st =
      buffer.Append(BatchMaker().F64("v", {2}).Tag("new_tag", {"t"}).Time({2}).Build());
  EXPECT_EQ(ErrorKindOf(st), ErrorKind::kConflict) << st.ToString();
  EXPECT_EQ(buffer.Rows(), 1);
  EXPECT_EQ(buffer.schema(), schema);
  EXPECT_THAT(RowStrings(Snap(buffer)), ElementsAre("v=1 time=1"));
}

TEST(MutableBuffer, RejectsNullTimeAndMissingTime) {
  MutableBuffer buffer;
  arrow::TimestampBuilder tb(ArrowTypeFor(ColumnType::kTime),
                             arrow::default_memory_pool());
  ASSERT_TRUE(tb.Append(1).ok());
  ASSERT_TRUE(tb.AppendNull().ok());
  auto time = *tb.Finish();
  auto with_null = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("time", time->type())}), 2, {time});
  EXPECT_EQ(ErrorKindOf(buffer.Append(with_null)), ErrorKind::kInvalidInput);
  EXPECT_EQ(ErrorKindOf(buffer.Append(BatchMaker().I64("v", {1}).Build())),
            ErrorKind::kInvalidInput);
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.schema()->num_fields(), 0);
}

std::shared_ptr<arrow::RecordBatch> NumberedRow(int i) {
  auto b = BatchMaker();
  b.Tag("host", {"h" + std::to_string(i % 37)}).I64("v", {i});
  // Schema evolution midway.
  if (i >= 1000) b.F64("late", {i * 0.5});
  return b.Time({i}).Build();
}

std::string NumberedRowString(int i) {
  std::ostringstream late;
  if (i >= 1000) {
    late << (i * 0.5);
  } else {
    late << "null";
  }
  return "host=h" + std::to_string(i % 37) + " v=" + std::to_string(i) +
         " late=" + late.str() + " time=" + std::to_string(i);
}

// Batches whose buffers do not fit their length, as a path that skipped validation
// could hand over: refused with the column named, never read out of bounds.
TEST(MutableBuffer, RefusesColumnsWhoseBuffersDoNotFit) {
  auto good =
      BatchMaker().Tag("host", {"a", "b"}).Str("note", {"x", "y"}).Time({1, 2}).Build();
  // Built from ArrayData: a DictionaryArray cannot even be made without a dictionary.
  auto with_column = [&](int i, std::shared_ptr<arrow::ArrayData> data) {
    std::vector<std::shared_ptr<arrow::ArrayData>> columns;
    for (int c = 0; c < good->num_columns(); ++c) columns.push_back(good->column_data(c));
    columns[static_cast<size_t>(i)] = std::move(data);
    return arrow::RecordBatch::Make(good->schema(), good->num_rows(), std::move(columns));
  };
  // Strings whose last offset lies past the data (small and large batches both).
  for (int64_t rows : {2, 5000}) {
    std::vector<int32_t> offsets(static_cast<size_t>(rows) + 1, 0);
    offsets.back() = 1 << 30;
    auto note = arrow::ArrayData::Make(arrow::utf8(), rows,
                                       {nullptr,
                                        arrow::Buffer::FromString(std::string(
                                            reinterpret_cast<const char*>(offsets.data()),
                                            offsets.size() * sizeof(int32_t))),
                                        arrow::Buffer::FromString("xy")},
                                       0);
    auto batch = BatchMaker()
                     .Tag("host", std::vector<std::optional<std::string>>(rows, "a"))
                     .Str("note", std::vector<std::optional<std::string>>(rows, "x"))
                     .Time(std::vector<int64_t>(rows, 1))
                     .Build();
    batch = batch->SetColumn(1, batch->schema()->field(1), arrow::MakeArray(note))
                .ValueOrDie();
    MutableBuffer buffer;
    auto st = buffer.Append(batch);
    EXPECT_EQ(ErrorKindOf(st), ErrorKind::kInvalidInput) << st.ToString();
    EXPECT_NE(st.message().find("column 'note' is malformed"), std::string::npos) << st;
    EXPECT_TRUE(buffer.empty());
  }
  // A tag whose indices buffer is shorter than its length, and one without dictionary.
  auto host = good->column_data(0)->Copy();
  host->buffers[1] = arrow::SliceBuffer(host->buffers[1], 0, 4);
  MutableBuffer buffer;
  EXPECT_EQ(ErrorKindOf(buffer.Append(with_column(0, host))), ErrorKind::kInvalidInput);
  auto no_dictionary = good->column_data(0)->Copy();
  no_dictionary->dictionary = nullptr;
  EXPECT_EQ(ErrorKindOf(buffer.Append(with_column(0, no_dictionary))),
            ErrorKind::kInvalidInput);
  EXPECT_TRUE(buffer.empty());
  EXPECT_TRUE(buffer.Append(good).ok());
  EXPECT_EQ(buffer.Rows(), 2);
}

TEST(MutableBuffer, SmallWritesAreStagedAndSealedIntoFewBatches) {
  MutableBufferOptions options;
  options.staging_seal_rows = 1024;
  MutableBuffer buffer(options);
  constexpr int kWrites = 3000;
  std::vector<std::string> expected;
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_TRUE(buffer.Append(NumberedRow(i)).ok());
    expected.push_back(NumberedRowString(i));
  }
  // 3000 rows: two sealed batches of staging_seal_rows, the rest staged.
  EXPECT_EQ(buffer.num_batches(), 3u);
  EXPECT_EQ(buffer.Rows(), kWrites);
  auto snapshot = Snap(buffer);
  ASSERT_EQ(snapshot.size(), 3u);
  EXPECT_EQ(snapshot[0]->num_rows(), options.staging_seal_rows);
  EXPECT_EQ(RowStrings(snapshot), expected);
  // One dictionary per sealed batch, holding each tag value once.
  auto tags = std::static_pointer_cast<arrow::DictionaryArray>(snapshot[0]->column(0));
  EXPECT_EQ(tags->dictionary()->length(), 37);
  // Memory is the Arrow size of the sealed data: ~ 4 (tag index) + 8 + 8 (+ 8 for
  // `late`) bytes per row, plus bitmaps and dictionaries.
  int64_t bytes = 0;
  for (const auto& b : snapshot) bytes += arrow::util::TotalBufferSize(*b);
  EXPECT_LE(buffer.BufferedBytes(), bytes);
  EXPECT_LT(buffer.BufferedBytes() / kWrites, 40);
}

TEST(MutableBuffer, SmallBatchesSealedByFrequentSnapshotsAreCompacted) {
  MutableBufferOptions options;
  MutableBuffer buffer(options);
  constexpr int kWrites = 3000;
  std::vector<std::string> expected;
  size_t most_batches = 0;
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_TRUE(buffer.Append(NumberedRow(i)).ok());
    expected.push_back(NumberedRowString(i));
    if (i % 3 == 0) {
      ASSERT_TRUE(buffer.Snapshot().ok());  // a query every third write
    }
    most_batches = std::max(most_batches, buffer.num_batches());
  }
  EXPECT_GT(buffer.TEST_compactions(), 0u);
  // Small batches never exceed the bound; large ones are ~ rows / small_batch_rows.
  EXPECT_LE(most_batches, static_cast<size_t>(options.max_small_batches) + 1 +
                              kWrites / options.compaction_fan_in / 64);
  EXPECT_EQ(buffer.Rows(), kWrites);
  EXPECT_EQ(RowStrings(Snap(buffer)), expected);
}

TEST(MutableBuffer, SmallAndLargeWritesKeepTheirOrder) {
  MutableBuffer buffer;
  std::vector<std::string> expected;
  int next = 0;
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(buffer.Append(NumberedRow(next)).ok());
      expected.push_back(NumberedRowString(next++));
    }
    std::vector<int64_t> times;
    Opt<int64_t> values;
    Opt<std::string> hosts;
    for (int i = 0; i < 2000; ++i, ++next) {
      times.push_back(next);
      values.push_back(next);
      hosts.push_back("h" + std::to_string(next % 37));
      expected.push_back(NumberedRowString(next));
    }
    // Without `late` even past 1000: nulls there.
    for (int i = 0; i < 2000; ++i) {
      auto& e = expected[expected.size() - 2000 + i];
      e.replace(e.find(" late="), e.find(" time=") - e.find(" late="), " late=null");
    }
    ASSERT_TRUE(
        buffer
            .Append(BatchMaker().Tag("host", hosts).I64("v", values).Time(times).Build())
            .ok());
  }
  EXPECT_EQ(RowStrings(Snap(buffer)), expected);
}

TEST(MutableBuffer, LargeBatchesAreKeptZeroCopy) {
  MutableBuffer buffer;
  std::vector<int64_t> times(5000);
  Opt<int64_t> values(5000);
  for (int i = 0; i < 5000; ++i) times[i] = i, values[i] = i;
  auto batch = BatchMaker().I64("v", values).Time(times).Build();
  ASSERT_TRUE(buffer.Append(batch).ok());
  EXPECT_EQ(buffer.BufferedBytes(), arrow::util::TotalBufferSize(*batch));
  auto snapshot = Snap(buffer);
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0]->column(0)->data()->buffers[1],
            batch->column(0)->data()->buffers[1]);
}

TEST(MutableBuffer, SliceOfAHugeBatchIsCopiedSoItDoesNotPinTheParent) {
  MutableBuffer buffer;
  constexpr int kRows = 200000;
  std::vector<int64_t> times(kRows);
  Opt<int64_t> values(kRows);
  for (int i = 0; i < kRows; ++i) times[i] = i, values[i] = i;
  auto parent = BatchMaker().I64("v", values).Time(times).Build();
  auto slice = parent->Slice(100, 10);
  ASSERT_TRUE(buffer.Append(slice).ok());
  EXPECT_LT(buffer.BufferedBytes(), 4096);
  auto snapshot = Snap(buffer);
  EXPECT_EQ(RowStrings(snapshot).front(), "v=100 time=100");
  EXPECT_NE(snapshot[0]->column(0)->data()->buffers[1],
            parent->column(0)->data()->buffers[1]);
}

TEST(MutableBuffer, SnapshotIsImmutableAfterLaterWrites) {
  MutableBuffer buffer;
  ASSERT_TRUE(buffer.Append(BatchMaker().I64("v", {1}).Time({1}).Build()).ok());
  auto before = Snap(buffer);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(
        buffer.Append(BatchMaker().Tag("t", {"x"}).I64("v", {2}).Time({2}).Build()).ok());
  }
  EXPECT_THAT(RowStrings(before), ElementsAre("v=1 time=1"));
  EXPECT_EQ(RowStrings(Snap(buffer)).size(), 101u);
}

TEST(MutableBuffer, EmptyBatchIsIgnored) {
  MutableBuffer buffer;
  ASSERT_TRUE(buffer.Append(BatchMaker().I64("v", {}).Time({}).Build()).ok());
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.num_batches(), 0u);
}

TEST(MutableBufferOptions, Validate) {
  EXPECT_TRUE(MutableBufferOptions{}.Validate().ok());
  MutableBufferOptions bad;
  bad.compaction_fan_in = 1;
  EXPECT_FALSE(bad.Validate().ok());
  bad = {};
  bad.max_small_batches = 2;
  EXPECT_FALSE(bad.Validate().ok());
  bad = {};
  bad.staging_seal_rows = bad.small_batch_rows - 1;
  EXPECT_FALSE(bad.Validate().ok());
}

}  // namespace
}  // namespace ingester
