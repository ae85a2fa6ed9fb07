// Each class of bad data the Flight and replay paths must refuse, built buffer by buffer
// (the Arrow builders would not produce them), and the error naming column, row and
// problem.
#include "ingester/dml/write_validation.h"

#include <arrow/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ingester/common/error.h"

namespace ingester {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'700'000'000'000'000'000LL;

template <typename T>
std::shared_ptr<arrow::Buffer> BufferOf(const std::vector<T>& values) {
  return arrow::Buffer::FromString(std::string(
      reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)));
}

// A utf8 array from raw offsets and bytes, unchecked.
std::shared_ptr<arrow::Array> RawStrings(const std::vector<int32_t>& offsets,
                                         const std::string& bytes) {
  return arrow::MakeArray(arrow::ArrayData::Make(
      arrow::utf8(), static_cast<int64_t>(offsets.size()) - 1,
      {nullptr, BufferOf(offsets), arrow::Buffer::FromString(bytes)}, 0));
}

std::shared_ptr<arrow::Array> Strings(const std::vector<std::string>& values) {
  arrow::StringBuilder builder;
  EXPECT_TRUE(builder.AppendValues(values).ok());
  return builder.Finish().ValueOrDie();
}

// A tag column: dictionary<int32, utf8> from raw indices, unchecked.
std::shared_ptr<arrow::Array> RawTag(const std::vector<int32_t>& indices,
                                     const std::shared_ptr<arrow::Array>& dictionary) {
  auto data = arrow::ArrayData::Make(ArrowTypeFor(ColumnType::kTag),
                                     static_cast<int64_t>(indices.size()),
                                     {nullptr, BufferOf(indices)}, 0);
  data->dictionary = dictionary->data();
  return arrow::MakeArray(data);
}

std::shared_ptr<arrow::Array> Doubles(const std::vector<double>& values) {
  arrow::DoubleBuilder builder;
  EXPECT_TRUE(builder.AppendValues(values).ok());
  return builder.Finish().ValueOrDie();
}

std::shared_ptr<arrow::Array> Times(const std::vector<std::optional<int64_t>>& values) {
  arrow::TimestampBuilder builder(ArrowTypeFor(ColumnType::kTime),
                                  arrow::default_memory_pool());
  for (const auto& v : values)
    EXPECT_TRUE((v ? builder.Append(*v) : builder.AppendNull()).ok());
  return builder.Finish().ValueOrDie();
}

// A data-model batch of `columns` (name, role, array) plus a valid `time`.
std::shared_ptr<arrow::RecordBatch> Batch(
    const std::vector<std::tuple<std::string, ColumnType, std::shared_ptr<arrow::Array>>>&
        columns) {
  arrow::FieldVector fields;
  arrow::ArrayVector arrays;
  int64_t rows = 1;
  for (const auto& [name, role, array] : columns) {
    fields.push_back(arrow::field(name, ArrowTypeFor(role)));
    arrays.push_back(array);
    rows = array->length();
  }
  std::vector<std::optional<int64_t>> times(static_cast<size_t>(rows), kT0);
  fields.push_back(arrow::field("time", ArrowTypeFor(ColumnType::kTime), false));
  arrays.push_back(Times(times));
  return arrow::RecordBatch::Make(arrow::schema(fields), rows, arrays);
}

void ExpectInvalid(const arrow::Status& status, const std::vector<std::string>& parts) {
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(ErrorKindOf(status), ErrorKind::kInvalidInput) << status.ToString();
  for (const auto& part : parts) EXPECT_THAT(status.message(), HasSubstr(part));
}

TEST(WriteValidationTest, AValidBatchOfEveryTypePasses) {
  auto host = RawTag({0, 1, 0}, Strings({"a", "b"}));
  arrow::Int64Builder i64;
  ASSERT_TRUE(i64.AppendValues({1, 2, 3}).ok());
  arrow::BooleanBuilder flags;
  ASSERT_TRUE(flags.AppendValues(std::vector<bool>{true, false, true}).ok());
  // A NaN under a null is no value at all.
  auto usage = arrow::MakeArray(
      arrow::ArrayData::Make(arrow::float64(), 3,
                             {BufferOf(std::vector<uint8_t>{0b101}),
                              BufferOf(std::vector<double>{0.5, std::nan(""), 1.5})},
                             1));
  auto batch = Batch({{"host", ColumnType::kTag, host},
                      {"usage", ColumnType::kF64, usage},
                      {"n", ColumnType::kI64, i64.Finish().ValueOrDie()},
                      {"ok", ColumnType::kBool, flags.Finish().ValueOrDie()},
                      {"note", ColumnType::kString, Strings({"x", "", "ü"})}});
  EXPECT_TRUE(ValidateWriteBatch(*batch).ok()) << ValidateWriteBatch(*batch).ToString();
}

TEST(WriteValidationTest, DictionaryIndexOutOfRangeLargeAndSmall) {
  auto dict = Strings({"a"});
  ExpectInvalid(
      ValidateWriteBatch(*Batch({{"host", ColumnType::kTag,
                                  RawTag({std::numeric_limits<int32_t>::max()}, dict)}})),
      {"column 'host' row 0", "dictionary index 2147483647 is out of range", "1 value"});
  ExpectInvalid(
      ValidateWriteBatch(*Batch({{"host", ColumnType::kTag, RawTag({0, 0, 1}, dict)}})),
      {"column 'host' row 2", "dictionary index 1 is out of range"});
  ExpectInvalid(
      ValidateWriteBatch(*Batch({{"host", ColumnType::kTag, RawTag({-1}, dict)}})),
      {"column 'host' row 0", "dictionary index -1"});
}

TEST(WriteValidationTest, BadStringOffsets) {
  // Descending in the middle: first and last offset are fine.
  ExpectInvalid(ValidateColumnValues("note", ColumnType::kString,
                                     *RawStrings({0, 5, 2, 6}, "abcdef")),
                {"column 'note' row 1", "string offsets 5..2"});
  // Past the end of the data.
  ExpectInvalid(ValidateColumnValues("note", ColumnType::kString,
                                     *RawStrings({0, 1, 500}, "abcdef")),
                {"column 'note' row 1", "string offsets 1..500", "6 bytes"});
  // An offsets buffer too short for the length: Arrow's message, without reading it.
  auto short_offsets = arrow::MakeArray(arrow::ArrayData::Make(
      arrow::utf8(), 100,
      {nullptr, BufferOf(std::vector<int32_t>{0, 1}), arrow::Buffer::FromString("a")},
      0));
  ExpectInvalid(ValidateColumnValues("note", ColumnType::kString, *short_offsets),
                {"column 'note' is malformed Arrow data"});
  // In a tag's dictionary.
  ExpectInvalid(ValidateColumnValues("host", ColumnType::kTag,
                                     *RawTag({0}, RawStrings({0, 9}, "abc"))),
                {"column 'host' dictionary value 0", "string offsets 0..9"});
}

TEST(WriteValidationTest, InvalidUtf8InATagAndInAStringField) {
  ExpectInvalid(ValidateColumnValues("note", ColumnType::kString,
                                     *RawStrings({0, 2, 4}, "ok\xff\xfe")),
                {"column 'note' row 1", "not valid UTF-8", "\\xFF"});
  ExpectInvalid(ValidateColumnValues("host", ColumnType::kTag,
                                     *RawTag({0, 1}, RawStrings({0, 1, 3}, "a\xc0\xaf"))),
                {"column 'host' dictionary value 1", "not valid UTF-8"});
  // A plain utf8 tag (the Flight input form).
  ExpectInvalid(
      ValidateColumnValues("host", ColumnType::kTag, *RawStrings({0, 1, 2}, "a\x80")),
      {"column 'host' row 1", "not valid UTF-8"});
}

TEST(WriteValidationTest, NanAndInfinitiesAreRefused) {
  const double inf = std::numeric_limits<double>::infinity();
  ExpectInvalid(
      ValidateColumnValues("usage", ColumnType::kF64, *Doubles({1.0, std::nan("")})),
      {"column 'usage' row 1", "NaN", "not supported"});
  ExpectInvalid(ValidateColumnValues("usage", ColumnType::kF64, *Doubles({inf})),
                {"column 'usage' row 0", "+Inf"});
  ExpectInvalid(ValidateColumnValues("usage", ColumnType::kF64, *Doubles({0, 0, -inf})),
                {"column 'usage' row 2", "-Inf"});
}

TEST(WriteValidationTest, EmptyTagValuesAndNullTimes) {
  ExpectInvalid(
      ValidateColumnValues("host", ColumnType::kTag, *RawTag({0, 1}, Strings({"a", ""}))),
      {"column 'host' row 1", "must not be empty"});
  // An empty dictionary entry no row uses is harmless.
  EXPECT_TRUE(
      ValidateColumnValues("host", ColumnType::kTag, *RawTag({0, 0}, Strings({"a", ""})))
          .ok());
  ExpectInvalid(ValidateColumnValues("host", ColumnType::kTag, *Strings({"a", "b", ""})),
                {"column 'host' row 2", "must not be empty"});
  ExpectInvalid(
      ValidateColumnValues("time", ColumnType::kTime, *Times({kT0, std::nullopt})),
      {"column 'time' row 1", "must not be null"});
}

TEST(WriteValidationTest, NamesAndDataModelTypes) {
  auto one = Strings({"x"});
  ExpectInvalid(ValidateWriteBatch(*Batch({{"bad\nname", ColumnType::kString, one}})),
                {"invalid column name", "control character"});
  ExpectInvalid(ValidateWriteBatch(*Batch({{"", ColumnType::kString, one}})),
                {"must not be empty"});
  ExpectInvalid(
      ValidateWriteBatch(*Batch({{std::string("\xff", 1), ColumnType::kString, one}})),
      {"not valid UTF-8"});
  // dictionary<int8, utf8> is Flight input, not the data model.
  auto narrow =
      arrow::DictionaryArray::FromArrays(
          arrow::dictionary(arrow::int8(), arrow::utf8()),
          arrow::MakeArray(arrow::ArrayData::Make(
              arrow::int8(), 1, {nullptr, BufferOf(std::vector<int8_t>{0})}, 0)),
          one)
          .ValueOrDie();
  auto batch = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("host", narrow->type()),
                     arrow::field("time", ArrowTypeFor(ColumnType::kTime))}),
      1, {narrow, Times({kT0})});
  ExpectInvalid(ValidateWriteBatch(*batch),
                {"column 'host'", "not a type of the data model"});
  // No time column.
  auto no_time = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("v", arrow::utf8())}), 1, {one});
  ExpectInvalid(ValidateWriteBatch(*no_time), {"no 'time' column"});
}

TEST(WriteValidationTest, WriteOpNamesTableAndPartition) {
  auto bad = Batch({{"usage", ColumnType::kF64, Doubles({std::nan("")})}});
  WriteOp op{NamespaceId(1), "db", {}};
  op.writes.push_back({TableId(1), "cpu", "2023-11-14", 1, bad});
  ExpectInvalid(ValidateWriteOp(op), {"table \"cpu\" partition \"2023-11-14\"",
                                      "column 'usage' row 0", "NaN"});
  op.writes[0].batch = Batch({{"usage", ColumnType::kF64, Doubles({1})}});
  EXPECT_TRUE(ValidateWriteOp(op).ok());
  op.writes[0].table_name = "a/b";
  ExpectInvalid(ValidateWriteOp(op), {"invalid table name"});
  op.writes[0].table_name = "cpu";
  op.namespace_name = "bad name";
  ExpectInvalid(ValidateWriteOp(op), {"invalid namespace name"});
}

}  // namespace
}  // namespace ingester
