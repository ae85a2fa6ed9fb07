#include "ingester/buffer/column_set.h"

#include <gtest/gtest.h>

#include "ingester/buffer/buffer_test_util.h"
#include "ingester/common/error.h"

namespace ingester {
namespace {

using buffer_test::BatchMaker;
using buffer_test::FieldNames;
using buffer_test::RowStrings;
using ::testing::ElementsAre;

TEST(ColumnSet, CanonicalOrderTagsThenFieldsInFirstSeenOrderThenTime) {
  ColumnSet set;
  auto a = BatchMaker().I64("usage", {1}).Time({1}).Tag("host", {"a"}).Build();
  auto b = BatchMaker().Time({1}).F64("temp", {1.5}).Tag("region", {"eu"}).Build();
  ASSERT_TRUE(set.Merge(*a->schema(), true).ok());
  auto first = set.schema();
  EXPECT_THAT(FieldNames(*first), ElementsAre("host", "usage", "time"));
  ASSERT_TRUE(set.Merge(*b->schema(), true).ok());
  EXPECT_THAT(FieldNames(*set.schema()),
              ElementsAre("host", "region", "usage", "temp", "time"));
  EXPECT_NE(first, set.schema());
  EXPECT_FALSE(set.schema()->GetFieldByName("time")->nullable());
  EXPECT_TRUE(set.schema()->GetFieldByName("temp")->nullable());

  // A schema with nothing new keeps the same schema object.
  auto same = set.schema();
  EXPECT_FALSE(set.Add(*a->schema()));
  EXPECT_EQ(same, set.schema());
}

TEST(ColumnSet, RejectsConflictsUnsupportedTypesAndMissingTime) {
  ColumnSet set;
  ASSERT_TRUE(
      set.Merge(*BatchMaker().I64("v", {1}).Time({1}).Build()->schema(), true).ok());

  auto conflict =
      set.Check(*BatchMaker().F64("v", {1}).Time({1}).Build()->schema(), true);
  EXPECT_EQ(ErrorKindOf(conflict), ErrorKind::kConflict) << conflict.ToString();

  auto no_time = set.Check(*BatchMaker().I64("v", {1}).Build()->schema(), true);
  EXPECT_EQ(ErrorKindOf(no_time), ErrorKind::kInvalidInput);
  EXPECT_TRUE(set.Check(*BatchMaker().I64("v", {1}).Build()->schema(), false).ok());

  auto bad_time = arrow::schema({arrow::field("time", arrow::int64())});
  EXPECT_EQ(ErrorKindOf(set.Check(*bad_time, true)), ErrorKind::kInvalidInput);
  auto micros =
      arrow::schema({arrow::field("time", arrow::timestamp(arrow::TimeUnit::MICRO))});
  EXPECT_EQ(ErrorKindOf(set.Check(*micros, true)), ErrorKind::kInvalidInput);
  auto int8_tag =
      arrow::schema({arrow::field("t", arrow::dictionary(arrow::int8(), arrow::utf8())),
                     arrow::field("time", ArrowTypeFor(ColumnType::kTime))});
  EXPECT_EQ(ErrorKindOf(set.Check(*int8_tag, true)), ErrorKind::kInvalidInput);
  auto dup =
      arrow::schema({arrow::field("x", arrow::int64()), arrow::field("x", arrow::int64()),
                     arrow::field("time", ArrowTypeFor(ColumnType::kTime))});
  EXPECT_EQ(ErrorKindOf(set.Check(*dup, true)), ErrorKind::kInvalidInput);

  // Nothing was added by the failed checks.
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(set.TypeOf("v"), ColumnType::kI64);
}

TEST(ConformBatch, FillsMissingColumnsWithNullsAndProjects) {
  auto batch =
      BatchMaker().Tag("host", {"a", "b"}).I64("usage", {1, 2}).Time({10, 20}).Build();
  auto target = arrow::schema({arrow::field("region", ArrowTypeFor(ColumnType::kTag)),
                               arrow::field("host", ArrowTypeFor(ColumnType::kTag)),
                               arrow::field("temp", arrow::float64()),
                               arrow::field("flag", arrow::boolean()),
                               arrow::field("note", arrow::utf8()),
                               arrow::field("time", ArrowTypeFor(ColumnType::kTime))});
  NullArrayCache nulls;
  for (NullArrayCache* cache : {&nulls, static_cast<NullArrayCache*>(nullptr)}) {
    auto conformed = ConformBatch(batch, target, cache);
    ASSERT_TRUE(conformed.ok()) << conformed.status().ToString();
    ASSERT_TRUE((*conformed)->ValidateFull().ok());
    EXPECT_EQ((*conformed)->schema(), target);
    EXPECT_THAT(RowStrings({*conformed}),
                ElementsAre("region=null host=a temp=null flag=null note=null time=10",
                            "region=null host=b temp=null flag=null note=null time=20"));
  }
  // Same schema object: the batch itself.
  EXPECT_EQ(*ConformBatch(batch, batch->schema()), batch);
  // Type mismatch by name.
  auto wrong = arrow::schema({arrow::field("usage", arrow::float64())});
  EXPECT_EQ(ErrorKindOf(ConformBatch(batch, wrong).status()), ErrorKind::kConflict);
}

TEST(NullArrayCache, SlicesOneSharedArray) {
  NullArrayCache cache;
  auto a = *cache.Get(arrow::int64(), 10);
  auto b = *cache.Get(arrow::int64(), 5);
  EXPECT_EQ(a->length(), 10);
  EXPECT_EQ(b->length(), 5);
  EXPECT_EQ(b->null_count(), 5);
  EXPECT_EQ(a->data()->buffers[1], b->data()->buffers[1]);
  auto c = *cache.Get(arrow::int64(), 100);
  EXPECT_EQ(c->length(), 100);
  EXPECT_EQ(c->null_count(), 100);
  EXPECT_TRUE(c->ValidateFull().ok());
}

TEST(MergeSchemas, UnionInCanonicalOrder) {
  ColumnSet one, two;
  ASSERT_TRUE(
      one.Merge(*BatchMaker().Tag("a", {"x"}).I64("f", {1}).Time({1}).Build()->schema(),
                true)
          .ok());
  ASSERT_TRUE(
      two.Merge(*BatchMaker().Tag("b", {"x"}).I64("g", {1}).Time({1}).Build()->schema(),
                true)
          .ok());
  auto merged = MergeSchemas({one.schema(), two.schema()});
  ASSERT_TRUE(merged.ok());
  EXPECT_THAT(FieldNames(**merged), ElementsAre("a", "b", "f", "g", "time"));
  EXPECT_EQ(*MergeSchemas({one.schema(), one.schema()}), one.schema());
}

}  // namespace
}  // namespace ingester
