// Test helpers of the buffer module: build data-model record batches tersely and render
// buffered rows as strings, so tests compare what a reader would see (decoded tag values,
// nulls) rather than physical layout (dictionaries, batch boundaries).
#pragma once

#include <arrow/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ingester::buffer_test {

template <typename T>
using Opt = std::vector<std::optional<T>>;

class BatchMaker {
 public:
  BatchMaker& Tag(const std::string& name, const Opt<std::string>& values) {
    arrow::StringDictionary32Builder b;
    for (const auto& v : values) Check(v ? b.Append(*v) : b.AppendNull());
    return Add(name, b);
  }
  BatchMaker& I64(const std::string& name, const Opt<int64_t>& values) {
    return Primitive<arrow::Int64Builder>(name, values);
  }
  BatchMaker& U64(const std::string& name, const Opt<uint64_t>& values) {
    return Primitive<arrow::UInt64Builder>(name, values);
  }
  BatchMaker& F64(const std::string& name, const Opt<double>& values) {
    return Primitive<arrow::DoubleBuilder>(name, values);
  }
  BatchMaker& Bool(const std::string& name, const Opt<bool>& values) {
    return Primitive<arrow::BooleanBuilder>(name, values);
  }
  BatchMaker& Str(const std::string& name, const Opt<std::string>& values) {
    return Primitive<arrow::StringBuilder>(name, values);
  }
  BatchMaker& Time(const std::vector<int64_t>& values) {
    arrow::TimestampBuilder b(arrow::timestamp(arrow::TimeUnit::NANO),
                              arrow::default_memory_pool());
    for (int64_t v : values) Check(b.Append(v));
    return Add("time", b);
  }
  std::shared_ptr<arrow::RecordBatch> Build() const {
    int64_t rows = columns_.empty() ? 0 : columns_[0]->length();
    return arrow::RecordBatch::Make(arrow::schema(fields_), rows, columns_);
  }

 private:
  static void Check(const arrow::Status& st) { ASSERT_TRUE(st.ok()) << st.ToString(); }

  template <typename Builder, typename T>
  BatchMaker& Primitive(const std::string& name, const Opt<T>& values) {
    Builder b;
    for (const auto& v : values) Check(v ? b.Append(*v) : b.AppendNull());
    return Add(name, b);
  }
  BatchMaker& Add(const std::string& name, arrow::ArrayBuilder& b) {
    std::shared_ptr<arrow::Array> array;
    Check(b.Finish(&array));
    fields_.push_back(arrow::field(name, array->type(), name != "time"));
    columns_.push_back(std::move(array));
    return *this;
  }

  arrow::FieldVector fields_;
  arrow::ArrayVector columns_;
};

// "name=value" for column `c` of row `i`; tags decoded, timestamps as raw integers.
inline std::string CellString(const arrow::RecordBatch& batch, int c, int64_t i) {
  const auto& array = batch.column(c);
  std::string out = batch.schema()->field(c)->name() + "=";
  if (array->IsNull(i)) return out + "null";
  switch (array->type_id()) {
    case arrow::Type::DICTIONARY: {
      const auto& dict = static_cast<const arrow::DictionaryArray&>(*array);
      const auto& values = static_cast<const arrow::StringArray&>(*dict.dictionary());
      return out + std::string(values.GetView(dict.GetValueIndex(i)));
    }
    case arrow::Type::TIMESTAMP:
      return out +
             std::to_string(static_cast<const arrow::TimestampArray&>(*array).Value(i));
    case arrow::Type::STRING:
      return out + std::string(static_cast<const arrow::StringArray&>(*array).GetView(i));
    default:
      return out + array->GetScalar(i).ValueOrDie()->ToString();
  }
}

// Every row of `batches` in order, each as "a=1 b=null time=5" over its batch's schema.
inline std::vector<std::string> RowStrings(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
  std::vector<std::string> rows;
  for (const auto& batch : batches) {
    for (int64_t i = 0; i < batch->num_rows(); ++i) {
      std::string row;
      for (int c = 0; c < batch->num_columns(); ++c) {
        if (c > 0) row += ' ';
        row += CellString(*batch, c, i);
      }
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

inline std::vector<std::string> FieldNames(const arrow::Schema& schema) {
  std::vector<std::string> names;
  for (const auto& f : schema.fields()) names.push_back(f->name());
  return names;
}

}  // namespace ingester::buffer_test
