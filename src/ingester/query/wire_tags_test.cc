// Tags as the outputs send them: int16 indices, the same rows, and batches whose
// dictionary outgrows int16 compacted or cut, never refused.
#include "ingester/query/wire_tags.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>
#include <gtest/gtest.h>

#include <string>

#include "ingester/query/query_test_util.h"

namespace ingester::query {
namespace {

using namespace ingester::query::testing;  // NOLINT

const auto kTagType = arrow::dictionary(arrow::int32(), arrow::utf8());

std::shared_ptr<arrow::Schema> ModelSchema() {
  return arrow::schema(
      {arrow::field("host", kTagType), arrow::field("usage", arrow::float64()),
       arrow::field("time", arrow::timestamp(arrow::TimeUnit::NANO), false)},
      arrow::key_value_metadata({"k"}, {"v"}));
}

// A batch of `rows` rows whose host of row i is value_of(i) ("" is null), under a
// dictionary of `dictionary_size` values "h0", "h1", ... (value_of names ones of them).
std::shared_ptr<arrow::RecordBatch> Batch(
    int64_t rows, int64_t dictionary_size,
    const std::function<int64_t(int64_t)>& value_of) {
  arrow::StringBuilder dictionary;
  for (int64_t i = 0; i < dictionary_size; ++i) {
    EXPECT_TRUE(dictionary.Append("h" + std::to_string(i)).ok());
  }
  arrow::Int32Builder indices;
  arrow::DoubleBuilder usage;
  arrow::TimestampBuilder time(arrow::timestamp(arrow::TimeUnit::NANO),
                               arrow::default_memory_pool());
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t v = value_of(r);
    EXPECT_TRUE(
        (v < 0 ? indices.AppendNull() : indices.Append(static_cast<int32_t>(v))).ok());
    EXPECT_TRUE(usage.Append(static_cast<double>(r)).ok());
    EXPECT_TRUE(time.Append(r).ok());
  }
  auto host = std::make_shared<arrow::DictionaryArray>(
      kTagType, indices.Finish().ValueOrDie(), dictionary.Finish().ValueOrDie());
  return arrow::RecordBatch::Make(
      ModelSchema(), rows,
      {host, usage.Finish().ValueOrDie(), time.Finish().ValueOrDie()});
}

// A cell as text; a tag by its value, whatever its index and dictionary.
std::string Cell(const arrow::Array& column, int64_t row) {
  if (column.IsNull(row)) return "null";
  if (column.type_id() == arrow::Type::DICTIONARY) {
    const auto& dict = static_cast<const arrow::DictionaryArray&>(column);
    return dict.dictionary()->GetScalar(dict.GetValueIndex(row)).ValueOrDie()->ToString();
  }
  return column.GetScalar(row).ValueOrDie()->ToString();
}

// The batches as one batch under the data model (widened, decoded dictionaries equal).
void ExpectSameRows(const arrow::RecordBatch& model,
                    const std::vector<std::shared_ptr<arrow::RecordBatch>>& wire) {
  int64_t row = 0;
  for (const auto& batch : wire) {
    ASSERT_OK_AND_ASSIGN(widened, WidenTags(batch));
    ASSERT_TRUE(widened->schema()->Equals(*model.schema(), /*check_metadata=*/true));
    ASSERT_OK(widened->ValidateFull());
    for (int64_t r = 0; r < widened->num_rows(); ++r, ++row) {
      for (int c = 0; c < model.num_columns(); ++c) {
        ASSERT_EQ(Cell(*widened->column(c), r), Cell(*model.column(c), row))
            << "row " << row << " column " << c;
      }
    }
  }
  EXPECT_EQ(row, model.num_rows());
}

TEST(WireTags, SchemaNarrowsTagsOnlyAndKeepsMetadata) {
  auto wire = WireSchema(ModelSchema());
  EXPECT_TRUE(
      wire->field(0)->type()->Equals(arrow::dictionary(arrow::int16(), arrow::utf8())));
  EXPECT_EQ(wire->field(0)->name(), "host");
  EXPECT_TRUE(wire->field(1)->Equals(ModelSchema()->field(1)));
  EXPECT_FALSE(wire->field(2)->nullable());
  ASSERT_NE(wire->metadata(), nullptr);
  EXPECT_EQ(wire->metadata()->Get("k").ValueOrDie(), "v");
  EXPECT_TRUE(WidenTagSchema(wire)->Equals(*ModelSchema(), /*check_metadata=*/true));
  // Without tags nothing changes, not even the object.
  auto plain = arrow::schema({arrow::field("x", arrow::int64())});
  EXPECT_EQ(WireSchema(plain), plain);
  EXPECT_EQ(WidenTagSchema(plain), plain);
}

TEST(WireTags, SmallDictionaryKeepsItsBatchAndDictionary) {
  auto batch = Batch(1000, 7, [](int64_t r) { return r % 9 == 0 ? -1 : r % 7; });
  ASSERT_OK_AND_ASSIGN(wire, ToWire(batch, WireSchema(batch->schema())));
  ASSERT_EQ(wire.size(), 1u);
  EXPECT_TRUE(wire[0]->schema()->field(0)->type()->Equals(
      arrow::dictionary(arrow::int16(), arrow::utf8())));
  ASSERT_OK(wire[0]->ValidateFull());
  EXPECT_EQ(wire[0]->column(0)->null_count(), batch->column(0)->null_count());
  // The dictionary is passed on as it is (the Flight stream sends it once).
  EXPECT_EQ(wire[0]->column(0)->data()->dictionary, batch->column(0)->data()->dictionary);
  ExpectSameRows(*batch, wire);
}

TEST(WireTags, SlicedBatchWithNulls) {
  auto batch = Batch(500, 5, [](int64_t r) { return r % 3 == 0 ? -1 : r % 5; });
  auto slice = batch->Slice(13, 301);
  ASSERT_OK_AND_ASSIGN(wire, ToWire(slice, WireSchema(slice->schema())));
  ASSERT_EQ(wire.size(), 1u);
  ASSERT_OK(wire[0]->ValidateFull());
  ExpectSameRows(*slice, wire);
}

TEST(WireTags, OversizedDictionaryIsCompactedToTheValuesUsed) {
  // A buffer-like dictionary of 40,000 values, of which the batch uses a few far apart.
  auto batch = Batch(100, 40'000, [](int64_t r) { return (r * 397) % 40'000; });
  ASSERT_OK_AND_ASSIGN(wire, ToWire(batch, WireSchema(batch->schema())));
  ASSERT_EQ(wire.size(), 1u);
  const auto& host = static_cast<const arrow::DictionaryArray&>(*wire[0]->column(0));
  EXPECT_LE(host.dictionary()->length(), 100);
  ExpectSameRows(*batch, wire);
}

TEST(WireTags, BatchUsingMoreValuesThanInt16IsCut) {
  // 70,000 rows, each its own host: no int16 dictionary can hold them in one batch.
  auto batch = Batch(70'000, 70'000, [](int64_t r) { return r == 5 ? -1 : r; });
  ASSERT_OK_AND_ASSIGN(wire, ToWire(batch, WireSchema(batch->schema())));
  ASSERT_GE(wire.size(), 3u);
  for (const auto& part : wire) {
    const auto& host = static_cast<const arrow::DictionaryArray&>(*part->column(0));
    EXPECT_LE(host.dictionary()->length(), kMaxWireDictionary);
    ASSERT_OK(part->ValidateFull());
  }
  ExpectSameRows(*batch, wire);
}

TEST(WireTags, WidensInt8Too) {
  arrow::Int8Builder indices;
  ASSERT_OK(indices.AppendValues({1, 0, 1}));
  ASSERT_OK(indices.AppendNull());
  arrow::StringBuilder values;
  ASSERT_OK(values.AppendValues({"a", "b"}));
  auto type = arrow::dictionary(arrow::int8(), arrow::utf8());
  auto column = std::make_shared<arrow::DictionaryArray>(
      type, indices.Finish().ValueOrDie(), values.Finish().ValueOrDie());
  auto batch =
      arrow::RecordBatch::Make(arrow::schema({arrow::field("t", type)}), 4, {column});
  ASSERT_OK_AND_ASSIGN(widened, WidenTags(batch));
  EXPECT_TRUE(widened->schema()->field(0)->type()->Equals(kTagType));
  ASSERT_OK(widened->ValidateFull());
  EXPECT_EQ(Cell(*widened->column(0), 0), "b");
  EXPECT_EQ(Cell(*widened->column(0), 1), "a");
  EXPECT_TRUE(widened->column(0)->IsNull(3));
}

TEST(WireTags, ResponseOverTheBufferTree) {
  QueryFixture f;
  f.Write(
      "cpu,host=a,region=eu usage=1 100\ncpu,host=b usage=2 200\ncpu,region=us usage=3 "
      "300\n");
  ASSERT_OK_AND_ASSIGN(plain, f.exec()->Query(Request()));
  ASSERT_OK_AND_ASSIGN(model, CollectAll(plain.get()));
  ASSERT_OK_AND_ASSIGN(response, f.exec()->Query(Request()));
  auto wire = WireResponse(std::move(response));
  EXPECT_TRUE(wire->schema()->Equals(*WireSchema(plain->schema())));
  ASSERT_OK_AND_ASSIGN(collected, CollectAll(wire.get()));
  ASSERT_EQ(collected.size(), model.size());
  for (auto& partition : collected) {
    EXPECT_EQ(partition.info.partition_key, model[0].info.partition_key);
    for (auto& batch : partition.batches) {
      EXPECT_TRUE(batch->schema()->Equals(*wire->schema()));
      ASSERT_OK_AND_ASSIGN(widened, WidenTags(batch));
      batch = widened;
    }
  }
  EXPECT_EQ(Rows(collected), Rows(model));
}

}  // namespace
}  // namespace ingester::query
