#include "ingester/query/wire_tags.h"

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/builder.h>
#include <arrow/compute/api_vector.h>
#include <arrow/compute/exec.h>
#include <arrow/datum.h>
#include <arrow/type.h>
#include <arrow/util/bitmap_ops.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>
#include <climits>
#include <cstdint>
#include <deque>
#include <utility>

namespace ingester::query {

namespace {

// dictionary<int32, utf8>: a tag column of the data model.
bool IsModelTag(const arrow::DataType& type) {
  if (type.id() != arrow::Type::DICTIONARY) return false;
  const auto& dict = static_cast<const arrow::DictionaryType&>(type);
  return dict.index_type()->id() == arrow::Type::INT32 &&
         dict.value_type()->id() == arrow::Type::STRING;
}

// dst[i] = src[i] for values that fit int16 (others saturate: only indices under nulls
// can be out of range). Eight at a time with SSE2, which GCC's -O2 does not do itself
// (this loop was 4 % of a full scan's server CPU).
void NarrowCopy(const int32_t* src, int16_t* dst, int64_t n) {
  int64_t i = 0;
#ifdef __SSE2__
  for (; i + 8 <= n; i += 8) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 4));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_packs_epi32(lo, hi));
  }
#endif
  for (; i < n; ++i) {
    dst[i] = static_cast<int16_t>(std::clamp<int32_t>(src[i], INT16_MIN, INT16_MAX));
  }
}

// An int16 index array of `values` (n = in.length values) with the validity of the
// int32 indices `in` (its bitmap shared when it starts at offset 0, copied otherwise).
arrow::Result<std::shared_ptr<arrow::Array>> Int16Indices(
    const arrow::ArrayData& in, std::shared_ptr<arrow::Buffer> values,
    arrow::MemoryPool* pool) {
  std::shared_ptr<arrow::Buffer> validity;
  if (in.MayHaveNulls()) {
    if (in.offset == 0) {
      validity = in.buffers[0];
    } else {
      ARROW_ASSIGN_OR_RAISE(
          validity,
          arrow::internal::CopyBitmap(pool, in.buffers[0]->data(), in.offset, in.length));
    }
  }
  return arrow::MakeArray(arrow::ArrayData::Make(arrow::int16(), in.length,
                                                 {std::move(validity), std::move(values)},
                                                 in.GetNullCount()));
}

// `column`'s indices as int16 under `wire_type`; its dictionary has at most
// kMaxWireDictionary entries, so every valid index fits. (What an index under a null
// becomes does not matter: readers never look at it.)
arrow::Result<std::shared_ptr<arrow::Array>> NarrowIndices(
    const arrow::DictionaryArray& column,
    const std::shared_ptr<arrow::DataType>& wire_type, arrow::MemoryPool* pool) {
  const arrow::ArrayData& in = *column.indices()->data();
  const int64_t n = in.length;
  ARROW_ASSIGN_OR_RAISE(
      std::shared_ptr<arrow::Buffer> values,
      arrow::AllocateBuffer(n * static_cast<int64_t>(sizeof(int16_t)), pool));
  NarrowCopy(in.GetValues<int32_t>(1), reinterpret_cast<int16_t*>(values->mutable_data()),
             n);
  ARROW_ASSIGN_OR_RAISE(auto indices, Int16Indices(in, std::move(values), pool));
  return std::make_shared<arrow::DictionaryArray>(wire_type, std::move(indices),
                                                  column.dictionary());
}

// `column` (a dictionary of more than kMaxWireDictionary entries) under `wire_type`,
// its dictionary cut down to the values its rows use, in the order they first appear;
// 0 under nulls (whatever index they carry is never looked at). When the rows use more
// than kMaxWireDictionary values, `*cut` is set to the first row that would exceed it and
// nothing is returned.
arrow::Result<std::shared_ptr<arrow::Array>> CompactIndices(
    const arrow::DictionaryArray& column,
    const std::shared_ptr<arrow::DataType>& wire_type, arrow::MemoryPool* pool,
    int64_t* cut) {
  const arrow::Array& indices = *column.indices();
  const int32_t* src = indices.data()->GetValues<int32_t>(1);
  const int64_t n = indices.length();
  const int64_t dictionary_length = column.dictionary()->length();
  std::vector<int32_t> remap(static_cast<size_t>(dictionary_length), -1);
  arrow::Int32Builder used(pool);  // dictionary entries kept, by new index
  ARROW_ASSIGN_OR_RAISE(
      std::shared_ptr<arrow::Buffer> values,
      arrow::AllocateBuffer(n * static_cast<int64_t>(sizeof(int16_t)), pool));
  auto* dst = reinterpret_cast<int16_t*>(values->mutable_data());
  for (int64_t i = 0; i < n; ++i) {
    if (indices.IsNull(i)) {
      dst[i] = 0;
      continue;
    }
    const int32_t index = src[i];
    if (index < 0 || index >= dictionary_length) {
      return arrow::Status::Invalid("wire tags: index ", index, " of row ", i,
                                    " is outside a dictionary of ", dictionary_length);
    }
    int32_t& mapped = remap[static_cast<size_t>(index)];
    if (mapped < 0) {
      if (used.length() == kMaxWireDictionary) {
        *cut = i;
        return nullptr;
      }
      mapped = static_cast<int32_t>(used.length());
      ARROW_RETURN_NOT_OK(used.Append(index));
    }
    dst[i] = static_cast<int16_t>(mapped);
  }
  std::shared_ptr<arrow::Array> take;
  ARROW_RETURN_NOT_OK(used.Finish(&take));
  arrow::compute::ExecContext ctx(pool);
  ARROW_ASSIGN_OR_RAISE(
      arrow::Datum dictionary,
      arrow::compute::Take(column.dictionary(), take,
                           arrow::compute::TakeOptions::Defaults(), &ctx));
  ARROW_ASSIGN_OR_RAISE(auto narrowed,
                        Int16Indices(*indices.data(), std::move(values), pool));
  return std::make_shared<arrow::DictionaryArray>(wire_type, std::move(narrowed),
                                                  dictionary.make_array());
}

arrow::Status AppendWire(const std::shared_ptr<arrow::RecordBatch>& batch,
                         const std::shared_ptr<arrow::Schema>& wire_schema,
                         arrow::MemoryPool* pool,
                         std::vector<std::shared_ptr<arrow::RecordBatch>>* out) {
  arrow::ArrayVector columns = batch->columns();
  for (int c = 0; c < batch->num_columns(); ++c) {
    const auto& wire_type = wire_schema->field(c)->type();
    if (!IsModelTag(*columns[c]->type()) || IsModelTag(*wire_type)) continue;
    const auto column = std::static_pointer_cast<arrow::DictionaryArray>(columns[c]);
    if (column->dictionary()->length() > kMaxWireDictionary) {
      // A dictionary bigger than int16 names (the buffer's cover a whole partition):
      // only the values the rows use, or a cut where they become too many.
      int64_t cut = batch->num_rows();
      ARROW_ASSIGN_OR_RAISE(columns[c], CompactIndices(*column, wire_type, pool, &cut));
      if (cut < batch->num_rows()) {
        ARROW_RETURN_NOT_OK(AppendWire(batch->Slice(0, cut), wire_schema, pool, out));
        return AppendWire(batch->Slice(cut), wire_schema, pool, out);
      }
      continue;
    }
    ARROW_ASSIGN_OR_RAISE(columns[c], NarrowIndices(*column, wire_type, pool));
  }
  out->push_back(
      arrow::RecordBatch::Make(wire_schema, batch->num_rows(), std::move(columns)));
  return arrow::Status::OK();
}

class WirePartition final : public PartitionResponse {
 public:
  WirePartition(std::unique_ptr<PartitionResponse> inner,
                std::shared_ptr<arrow::Schema> wire_schema, arrow::MemoryPool* pool)
      : inner_(std::move(inner)), wire_schema_(std::move(wire_schema)), pool_(pool) {}

  const PartitionInfo& info() const override { return inner_->info(); }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    while (pending_.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto batch, inner_->Next());
      if (batch == nullptr) return nullptr;
      ARROW_ASSIGN_OR_RAISE(auto wire, ToWire(batch, wire_schema_, pool_));
      pending_.insert(pending_.end(), wire.begin(), wire.end());
    }
    auto batch = std::move(pending_.front());
    pending_.pop_front();
    return batch;
  }

 private:
  std::unique_ptr<PartitionResponse> inner_;
  const std::shared_ptr<arrow::Schema> wire_schema_;
  arrow::MemoryPool* const pool_;
  // The slices of a batch cut to fit int16 (usually none waiting).
  std::deque<std::shared_ptr<arrow::RecordBatch>> pending_;
};

class WireQueryResponse final : public QueryResponse {
 public:
  WireQueryResponse(std::unique_ptr<QueryResponse> inner, arrow::MemoryPool* pool)
      : inner_(std::move(inner)), schema_(WireSchema(inner_->schema())), pool_(pool) {}

  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }

  arrow::Result<std::unique_ptr<PartitionResponse>> NextPartition() override {
    ARROW_ASSIGN_OR_RAISE(auto partition, inner_->NextPartition());
    if (partition == nullptr) return nullptr;
    return std::make_unique<WirePartition>(std::move(partition), schema_, pool_);
  }

 private:
  std::unique_ptr<QueryResponse> inner_;
  const std::shared_ptr<arrow::Schema> schema_;
  arrow::MemoryPool* const pool_;
};

}  // namespace

std::shared_ptr<arrow::Schema> WireSchema(const std::shared_ptr<arrow::Schema>& schema) {
  arrow::FieldVector fields = schema->fields();
  bool changed = false;
  for (auto& field : fields) {
    if (!IsModelTag(*field->type())) continue;
    field = field->WithType(arrow::dictionary(arrow::int16(), arrow::utf8()));
    changed = true;
  }
  if (!changed) return schema;
  return arrow::schema(std::move(fields), schema->metadata());
}

arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ToWire(
    const std::shared_ptr<arrow::RecordBatch>& batch,
    const std::shared_ptr<arrow::Schema>& wire_schema, arrow::MemoryPool* pool) {
  if (batch->num_columns() != wire_schema->num_fields()) {
    return arrow::Status::Invalid("wire tags: a batch of ", batch->num_columns(),
                                  " columns under a schema of ",
                                  wire_schema->num_fields());
  }
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  ARROW_RETURN_NOT_OK(AppendWire(batch, wire_schema, pool, &out));
  return out;
}

std::unique_ptr<QueryResponse> WireResponse(std::unique_ptr<QueryResponse> response,
                                            arrow::MemoryPool* pool) {
  return std::make_unique<WireQueryResponse>(std::move(response), pool);
}

std::unique_ptr<QueryResponse> WithTagIndexType(std::unique_ptr<QueryResponse> response,
                                                TagIndexType type) {
  if (type == TagIndexType::kInt32) return response;
  return WireResponse(std::move(response));
}

std::shared_ptr<arrow::Schema> SchemaWithTagIndexType(
    const std::shared_ptr<arrow::Schema>& schema, TagIndexType type) {
  return type == TagIndexType::kInt32 ? schema : WireSchema(schema);
}

}  // namespace ingester::query
