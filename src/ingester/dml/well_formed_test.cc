// IsWellFormedDataModelColumn must never accept what arrow::Array::ValidateFull refuses:
// each malformed array below is refused by both; well-formed ones (sliced too) pass both.
#include "ingester/dml/well_formed.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "ingester/common/column_type.h"

namespace ingester {
namespace {

template <typename T>
std::shared_ptr<arrow::Buffer> BufferOf(const std::vector<T>& values) {
  return arrow::Buffer::FromString(std::string(
      reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)));
}

std::shared_ptr<arrow::ArrayData> RawStrings(const std::vector<int32_t>& offsets,
                                             const std::string& bytes) {
  return arrow::ArrayData::Make(
      arrow::utf8(), static_cast<int64_t>(offsets.size()) - 1,
      {nullptr, BufferOf(offsets), arrow::Buffer::FromString(bytes)}, 0);
}

std::shared_ptr<arrow::ArrayData> RawTag(
    const std::vector<int32_t>& indices, std::shared_ptr<arrow::ArrayData> dictionary,
    std::shared_ptr<arrow::Buffer> validity = nullptr, int64_t null_count = 0) {
  auto data = arrow::ArrayData::Make(
      ArrowTypeFor(ColumnType::kTag), static_cast<int64_t>(indices.size()),
      {std::move(validity), BufferOf(indices)}, null_count);
  data->dictionary = std::move(dictionary);
  return data;
}

bool ArrowAccepts(const std::shared_ptr<arrow::ArrayData>& data) {
  return arrow::MakeArray(data)->ValidateFull().ok();
}

void ExpectAccepted(const std::shared_ptr<arrow::ArrayData>& data) {
  EXPECT_TRUE(ArrowAccepts(data)) << data->type->ToString();
  EXPECT_TRUE(IsWellFormedDataModelColumn(*data)) << data->type->ToString();
}

void ExpectRefused(const std::shared_ptr<arrow::ArrayData>& data, const char* what) {
  EXPECT_FALSE(ArrowAccepts(data)) << what << ": the case must be malformed for Arrow";
  EXPECT_FALSE(IsWellFormedDataModelColumn(*data)) << what;
}

TEST(WellFormedTest, WellFormedColumnsOfEveryTypeAndSlicesPass) {
  arrow::StringBuilder strings;
  ASSERT_TRUE(strings.AppendValues({"a", "", "h\xc3\xa9"}).ok());
  ASSERT_TRUE(strings.AppendNull().ok());
  auto s = strings.Finish().ValueOrDie();
  ExpectAccepted(s->data());
  // A slice's null count is unknown until counted: left to the bitmap.
  ExpectAccepted(s->Slice(1, 3)->data());

  auto tag = RawTag({0, 2, 1, 0}, RawStrings({0, 1, 2, 4}, "abcd"));
  ExpectAccepted(tag);
  ExpectAccepted(arrow::MakeArray(tag)->Slice(1, 3)->data());

  arrow::DoubleBuilder doubles;
  ASSERT_TRUE(doubles.AppendValues({1.5, 2.5}).ok());
  ASSERT_TRUE(doubles.AppendNull().ok());
  auto d = doubles.Finish().ValueOrDie();
  ExpectAccepted(d->data());
  ExpectAccepted(d->Slice(1)->data());

  arrow::Int64Builder ints;
  ASSERT_TRUE(ints.AppendValues({1, 2, 3}).ok());
  ExpectAccepted(ints.Finish().ValueOrDie()->data());

  arrow::BooleanBuilder bools;
  ASSERT_TRUE(bools.AppendValues(std::vector<bool>{true, false, true}).ok());
  auto b = bools.Finish().ValueOrDie();
  ExpectAccepted(b->data());
  ExpectAccepted(b->Slice(1)->data());

  arrow::TimestampBuilder times(ArrowTypeFor(ColumnType::kTime),
                                arrow::default_memory_pool());
  ASSERT_TRUE(times.AppendValues({1, 2}).ok());
  ExpectAccepted(times.Finish().ValueOrDie()->data());
}

TEST(WellFormedTest, MalformedColumnsAreRefused) {
  auto dict = RawStrings({0, 1, 2}, "ab");
  ExpectRefused(RawTag({0, 2}, dict), "index past the dictionary");
  ExpectRefused(RawTag({0, 2147483647}, dict), "large index");
  ExpectRefused(RawTag({-1, 0}, dict), "negative index");
  ExpectRefused(RawTag({0, 1}, RawStrings({0, 1, 3}, "ab")), "dictionary offsets");
  ExpectRefused(RawTag({0, 1}, RawStrings({0, 1, 2}, "a\xff")), "dictionary UTF-8");
  {
    auto no_dict = RawTag({0}, dict);
    no_dict->dictionary = nullptr;
    EXPECT_FALSE(IsWellFormedDataModelColumn(*no_dict)) << "no dictionary";
  }
  ExpectRefused(RawStrings({0, 2, 1}, "abc"), "descending offsets");
  ExpectRefused(RawStrings({0, 1, 9}, "abc"), "offsets past the data");
  ExpectRefused(RawStrings({-1, 1}, "abc"), "negative first offset");
  ExpectRefused(RawStrings({0, 1, 2}, "a\xc3"), "UTF-8 cut in a value");
  // Valid as a whole, but the two-byte character straddles the two values: refused
  // here whatever Arrow says (which may check the data as a whole).
  EXPECT_FALSE(IsWellFormedDataModelColumn(*RawStrings({0, 1, 2}, "\xc3\xa9")));

  // Buffers too short for the length.
  ExpectRefused(arrow::ArrayData::Make(arrow::float64(), 3,
                                       {nullptr, BufferOf(std::vector<double>{1, 2})}, 0),
                "short values");
  ExpectRefused(
      arrow::ArrayData::Make(arrow::int64(), 2,
                             {nullptr, BufferOf(std::vector<int64_t>{1, 2})}, 0, 1),
      "offset past the values");
  {
    auto past_end = RawTag({0, 1}, dict);
    past_end->offset = 1;  // two indices from the second: one short
    ExpectRefused(past_end, "indices past the end");
    auto longer = RawStrings({0, 1}, "a");
    longer->length = 2;  // one offset short
    ExpectRefused(longer, "offsets past the end");
  }
  {
    // A null count that does not match the bitmap (0b01: one null of two). Arrow's own
    // validation may or may not count; this check refuses it either way.
    auto miscounted = RawTag({0, 1}, dict);
    miscounted->buffers[0] = BufferOf(std::vector<uint8_t>{0x01});
    EXPECT_FALSE(IsWellFormedDataModelColumn(*miscounted)) << "null count";
    miscounted->null_count = 1;
    ExpectAccepted(miscounted);
  }
  ExpectRefused(arrow::ArrayData::Make(arrow::float64(), 2,
                                       {nullptr, BufferOf(std::vector<double>{1, 2})}, 1),
                "nulls without a bitmap");
}

// Random small tag and string columns, mostly well-formed, some with a bad index, a
// descending or overlong offset, a stray byte >= 0x80 or a shifted offset/length: the
// check must never accept one Arrow refuses, and must accept most well-formed ones.
TEST(WellFormedTest, NeverAcceptsWhatArrowRefusesOnRandomColumns) {
  std::mt19937 rng(20261128);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  int accepted = 0, arrow_accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    const int values = 1 + pick(5);
    std::vector<int32_t> offsets{0};
    std::string bytes;
    for (int v = 0; v < values; ++v) {
      const int len = pick(4);
      for (int b = 0; b < len; ++b) {
        bytes += pick(40) == 0 ? static_cast<char>(0x80 + pick(0x80))
                               : static_cast<char>('a' + pick(26));
      }
      offsets.push_back(static_cast<int32_t>(bytes.size()));
    }
    if (pick(20) == 0) offsets[1 + pick(values)] += pick(2) == 0 ? -2 : 3;
    auto dict = RawStrings(offsets, bytes);
    const int rows = 1 + pick(6);
    std::vector<int32_t> indices;
    for (int r = 0; r < rows; ++r) {
      indices.push_back(pick(30) == 0 ? values + pick(3) - (pick(2) == 0 ? values + 2 : 0)
                                      : pick(values));
    }
    auto column = pick(3) == 0 ? dict : RawTag(indices, dict);
    if (pick(15) == 0) column->offset += 1;
    if (pick(15) == 0) column->length += 1;
    const bool arrow_ok = ArrowAccepts(column);
    const bool ours = IsWellFormedDataModelColumn(*column);
    if (ours) {
      EXPECT_TRUE(arrow_ok) << "round " << round << ": accepted what Arrow refuses";
    }
    accepted += ours;
    arrow_accepted += arrow_ok;
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GE(accepted, arrow_accepted * 9 / 10) << "too many left to Arrow";
  EXPECT_LT(arrow_accepted, 3000) << "no malformed case was generated";
}

TEST(WellFormedTest, TypesOutsideTheDataModelAreLeftToArrow) {
  arrow::Int32Builder ints;
  ASSERT_TRUE(ints.AppendValues({1, 2}).ok());
  auto i32 = ints.Finish().ValueOrDie();
  EXPECT_TRUE(i32->ValidateFull().ok());
  EXPECT_FALSE(IsWellFormedDataModelColumn(*i32->data()));
  // A tag with int8 indices is accepted by the Flight path but not settled here.
  auto data = arrow::ArrayData::Make(arrow::dictionary(arrow::int8(), arrow::utf8()), 1,
                                     {nullptr, BufferOf(std::vector<int8_t>{0})}, 0);
  data->dictionary = RawStrings({0, 1}, "a");
  EXPECT_TRUE(arrow::MakeArray(data)->ValidateFull().ok());
  EXPECT_FALSE(IsWellFormedDataModelColumn(*data));
}

}  // namespace
}  // namespace ingester
