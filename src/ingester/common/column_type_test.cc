#include "ingester/common/column_type.h"

#include <arrow/type.h>
#include <gtest/gtest.h>

namespace ingester {
namespace {

TEST(ColumnType, NamesRoundTrip) {
  for (auto t : {ColumnType::kTag, ColumnType::kI64, ColumnType::kU64, ColumnType::kF64,
                 ColumnType::kBool, ColumnType::kString, ColumnType::kTime}) {
    EXPECT_EQ(ColumnTypeFromName(ColumnTypeName(t)), t);
  }
  EXPECT_FALSE(ColumnTypeFromName("decimal").has_value());
}

TEST(ColumnType, ArrowRoundTrip) {
  for (auto t : {ColumnType::kTag, ColumnType::kI64, ColumnType::kU64, ColumnType::kF64,
                 ColumnType::kBool, ColumnType::kString}) {
    EXPECT_EQ(ColumnTypeFromArrow("x", *ArrowTypeFor(t)), t);
  }
  EXPECT_EQ(ColumnTypeFromArrow("time", *ArrowTypeFor(ColumnType::kTime)),
            ColumnType::kTime);
  // A timestamp column that is not `time` is not part of the data model.
  EXPECT_FALSE(
      ColumnTypeFromArrow("other", *ArrowTypeFor(ColumnType::kTime)).has_value());
  EXPECT_FALSE(ColumnTypeFromArrow("x", *arrow::int32()).has_value());
}

}  // namespace
}  // namespace ingester
