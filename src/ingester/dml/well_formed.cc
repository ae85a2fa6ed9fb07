#include "ingester/dml/well_formed.h"

#include <arrow/buffer.h>
#include <arrow/type.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/bitmap_ops.h>

#include <string_view>

#include "ingester/catalog/names.h"

namespace ingester {

namespace {

// Arrays longer than this are left to Arrow (no overflow in the size arithmetic below).
constexpr int64_t kMaxLength = int64_t{1} << 40;

bool Holds(const std::shared_ptr<arrow::Buffer>& buffer, int64_t bytes) {
  return buffer != nullptr && buffer->is_cpu() && buffer->size() >= bytes;
}

// Offset, length, buffer count, no children, validity bitmap and null count.
bool CommonOk(const arrow::ArrayData& data, size_t buffers) {
  if (data.offset < 0 || data.length < 0 || data.offset > kMaxLength ||
      data.length > kMaxLength || data.buffers.size() != buffers ||
      !data.child_data.empty()) {
    return false;
  }
  const int64_t end = data.offset + data.length;
  const auto& validity = data.buffers[0];
  const int64_t null_count = data.null_count.load();
  if (validity == nullptr)
    return null_count == 0 || null_count == arrow::kUnknownNullCount;
  if (!Holds(validity, arrow::bit_util::BytesForBits(end))) return false;
  // An unknown count (a slice's) is counted when first asked for, from the bitmap.
  if (null_count == arrow::kUnknownNullCount) return true;
  if (null_count < 0 || null_count > data.length) return false;
  return data.length -
             arrow::internal::CountSetBits(validity->data(), data.offset, data.length) ==
         null_count;
}

bool FixedWidthOk(const arrow::ArrayData& data, int64_t byte_width) {
  if (!CommonOk(data, 2) || data.dictionary != nullptr) return false;
  return Holds(data.buffers[1], (data.offset + data.length) * byte_width);
}

bool BooleanOk(const arrow::ArrayData& data) {
  if (!CommonOk(data, 2) || data.dictionary != nullptr) return false;
  return Holds(data.buffers[1], arrow::bit_util::BytesForBits(data.offset + data.length));
}

// utf8: offsets ascending inside the data, every value (nulls too) valid UTF-8.
bool StringOk(const arrow::ArrayData& data) {
  if (data.type == nullptr || data.type->id() != arrow::Type::STRING) return false;
  if (!CommonOk(data, 3) || data.dictionary != nullptr) return false;
  if (!Holds(data.buffers[1], (data.offset + data.length + 1) * 4)) return false;
  if (!Holds(data.buffers[2], 0)) return false;
  const int32_t* offsets = data.GetValues<int32_t>(1);
  const int64_t size = data.buffers[2]->size();
  const char* bytes = data.buffers[2]->data_as<char>();
  if (offsets[0] < 0) return false;
  for (int64_t i = 0; i < data.length; ++i) {
    if (offsets[i + 1] < offsets[i] || offsets[i + 1] > size) return false;
  }
  // ASCII throughout (the usual case) is valid UTF-8 however it is cut into values.
  const auto* first = reinterpret_cast<const uint8_t*>(bytes) + offsets[0];
  const auto* last = reinterpret_cast<const uint8_t*>(bytes) + offsets[data.length];
  uint8_t high = 0;
  for (const uint8_t* b = first; b < last; ++b) high |= *b;
  if (high < 0x80) return true;
  for (int64_t i = 0; i < data.length; ++i) {
    if (!catalog::IsValidUtf8(std::string_view(
            bytes + offsets[i], static_cast<size_t>(offsets[i + 1] - offsets[i])))) {
      return false;
    }
  }
  return true;
}

// dictionary<int32, utf8>: a well-formed utf8 dictionary, every index (nulls' too)
// inside it.
bool TagOk(const arrow::ArrayData& data) {
  const auto& type = static_cast<const arrow::DictionaryType&>(*data.type);
  if (type.index_type()->id() != arrow::Type::INT32 ||
      type.value_type()->id() != arrow::Type::STRING || data.dictionary == nullptr) {
    return false;
  }
  if (!CommonOk(data, 2)) return false;
  if (!Holds(data.buffers[1], (data.offset + data.length) * 4)) return false;
  const arrow::ArrayData& dict = *data.dictionary;
  if (!StringOk(dict)) return false;
  const uint32_t dict_size = static_cast<uint32_t>(dict.length);
  if (dict.length > INT32_MAX) return false;
  const int32_t* indices = data.GetValues<int32_t>(1);
  // Unsigned comparison: a negative index is out of range too. No early exit, so the
  // loop vectorises.
  bool out_of_range = false;
  for (int64_t i = 0; i < data.length; ++i) {
    out_of_range |= static_cast<uint32_t>(indices[i]) >= dict_size;
  }
  return !out_of_range;
}

}  // namespace

bool IsWellFormedDataModelColumn(const arrow::ArrayData& data) {
  if (data.type == nullptr) return false;
  switch (data.type->id()) {
    case arrow::Type::INT64:
    case arrow::Type::UINT64:
    case arrow::Type::DOUBLE:
    case arrow::Type::TIMESTAMP:
      return FixedWidthOk(data, 8);
    case arrow::Type::BOOL:
      return BooleanOk(data);
    case arrow::Type::STRING:
      return StringOk(data);
    case arrow::Type::DICTIONARY:
      return TagOk(data);
    default:
      return false;
  }
}

}  // namespace ingester
