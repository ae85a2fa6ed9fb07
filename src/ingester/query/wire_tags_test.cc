// Tags as the outputs send them when a ticket asks for int16 indices: the same rows,
// and batches whose dictionary outgrows int16 compacted or cut, never refused.
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

// A batch of `rows` rows whose host of row i is value_of(i) (negative: null), under a
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

// The wire batches hold the model batch's rows, value for value, in order, each batch
// valid and under the wire schema.
void ExpectSameRows(const arrow::RecordBatch& model,
                    const std::vector<std::shared_ptr<arrow::RecordBatch>>& wire) {
  const auto wire_schema = WireSchema(model.schema());
  int64_t row = 0;
  for (const auto& batch : wire) {
    ASSERT_TRUE(batch->schema()->Equals(*wire_schema, /*check_metadata=*/true));
    ASSERT_OK(batch->ValidateFull());
    for (int64_t r = 0; r < batch->num_rows(); ++r, ++row) {
      for (int c = 0; c < model.num_columns(); ++c) {
        ASSERT_EQ(Cell(*batch->column(c), r), Cell(*model.column(c), row))
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
  // Without tags nothing changes, not even the object.
  auto plain = arrow::schema({arrow::field("x", arrow::int64())});
  EXPECT_EQ(WireSchema(plain), plain);
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

TEST(WireTags, IndicesUnderNullsAreNeverReadEvenOutOfRange) {
  // What a client may send: nulls whose index points far outside the dictionary.
  for (int64_t dictionary_size : {int64_t{5}, int64_t{40'000}}) {
    auto batch =
        Batch(2000, dictionary_size, [](int64_t r) { return r % 4 == 0 ? -1 : r % 5; });
    auto indices =
        std::static_pointer_cast<arrow::DictionaryArray>(batch->column(0))->indices();
    auto* raw = indices->data()->GetMutableValues<int32_t>(1);
    for (int64_t r = 0; r < 2000; r += 4) raw[r] = (r % 8 == 0) ? (1 << 30) : -7;
    ASSERT_OK_AND_ASSIGN(wire, ToWire(batch, WireSchema(batch->schema())));
    ExpectSameRows(*batch, wire);
  }
}

TEST(WireTags, EmptyAndAllNullBatches) {
  for (int64_t dictionary_size : {int64_t{3}, int64_t{40'000}}) {
    auto empty = Batch(0, dictionary_size, [](int64_t r) { return r; });
    ASSERT_OK_AND_ASSIGN(wire, ToWire(empty, WireSchema(empty->schema())));
    ASSERT_EQ(wire.size(), 1u);
    EXPECT_EQ(wire[0]->num_rows(), 0);
    ASSERT_OK(wire[0]->ValidateFull());
    auto nulls = Batch(100, dictionary_size, [](int64_t) { return -1; });
    ASSERT_OK_AND_ASSIGN(wire_nulls, ToWire(nulls, WireSchema(nulls->schema())));
    ExpectSameRows(*nulls, wire_nulls);
  }
}

TEST(WireTags, AValidIndexOutsideItsDictionaryIsAnErrorNotACrash) {
  auto batch = Batch(10, 40'000, [](int64_t r) { return r; });
  auto indices =
      std::static_pointer_cast<arrow::DictionaryArray>(batch->column(0))->indices();
  indices->data()->GetMutableValues<int32_t>(1)[3] = 50'000;
  auto wire = ToWire(batch, WireSchema(batch->schema()));
  ASSERT_FALSE(wire.ok());
  EXPECT_NE(wire.status().message().find("outside a dictionary of 40000"),
            std::string::npos)
      << wire.status().ToString();
}

TEST(WireTags, ResponseOverTheBufferTree) {
  QueryFixture f;
  f.Write(
      "cpu,host=a,region=eu usage=1 100\ncpu,host=b usage=2 200\n"
      "cpu,region=us usage=3 300\ncpu,host=c usage=4 " +
      std::to_string(kDay + 5) + "\n");
  ASSERT_OK_AND_ASSIGN(plain, f.exec()->Query(Request()));
  ASSERT_OK_AND_ASSIGN(model, CollectAll(plain.get()));
  ASSERT_OK_AND_ASSIGN(response, f.exec()->Query(Request()));
  auto wire = WireResponse(std::move(response));
  EXPECT_TRUE(wire->schema()->Equals(*WireSchema(plain->schema())));
  ASSERT_OK_AND_ASSIGN(collected, CollectAll(wire.get()));
  ASSERT_EQ(collected.size(), 2u);
  ASSERT_EQ(collected.size(), model.size());
  for (size_t p = 0; p < collected.size(); ++p) {
    EXPECT_EQ(collected[p].info.partition_key, model[p].info.partition_key);
    ASSERT_EQ(model[p].batches.size(), 1u);
    ExpectSameRows(*model[p].batches[0], collected[p].batches);
  }
}

}  // namespace
}  // namespace ingester::query
