#include "ingester/query/row_filter.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/scalar.h>

#include <limits>

#include "ingester/common/column_type.h"

namespace ingester::query {

RowFilter::RowFilter(Predicate predicate, arrow::MemoryPool* pool)
    : predicate_(std::move(predicate)), ctx_(pool) {
  for (const auto& tag : predicate_.tags) {
    arrow::StringBuilder builder(pool);
    std::shared_ptr<arrow::Array> values;
    // Appending a few short strings can only fail on allocation; an empty set then
    // matches nothing, which Evaluate() reports as an error below.
    bool ok = builder.AppendValues(tag.values).ok() && builder.Finish(&values).ok();
    value_sets_.push_back(ok ? values : nullptr);
  }
}

arrow::Status RowFilter::AndInto(std::optional<arrow::Datum>* acc, arrow::Datum mask) {
  if (!acc->has_value()) {
    *acc = std::move(mask);
    return arrow::Status::OK();
  }
  // Null (unknown) in either side stays null, which Filter drops.
  ARROW_ASSIGN_OR_RAISE(**acc, arrow::compute::And(**acc, mask, &ctx_));
  return arrow::Status::OK();
}

arrow::Result<RowMask> RowFilter::Evaluate(const arrow::RecordBatch& batch,
                                           bool time_covered) {
  const RowMask kNone{RowMask::Kind::kNone, nullptr};
  if (batch.num_rows() == 0) return kNone;
  std::optional<arrow::Datum> acc;

  // Tags first: a tag the batch lacks, or whose dictionary holds none of the values,
  // rules the batch out without touching a row.
  for (size_t i = 0; i < predicate_.tags.size(); ++i) {
    const auto& tag = predicate_.tags[i];
    if (value_sets_[i] == nullptr) {
      return arrow::Status::OutOfMemory("building the value set of tag '", tag.tag, "'");
    }
    auto column = batch.GetColumnByName(tag.tag);
    if (column == nullptr || tag.values.empty()) return kNone;
    if (column->type_id() != arrow::Type::DICTIONARY) {
      return arrow::Status::Invalid("tag column '", tag.tag, "' is ",
                                    column->type()->ToString(), ", not a dictionary");
    }
    const auto& dict = static_cast<const arrow::DictionaryArray&>(*column);
    arrow::compute::SetLookupOptions options(value_sets_[i],
                                             arrow::compute::SetLookupOptions::SKIP);
    ARROW_ASSIGN_OR_RAISE(
        arrow::Datum dict_match,
        arrow::compute::CallFunction("is_in", {dict.dictionary()}, &options, &ctx_));
    // Hold the array: a reference into make_array()'s temporary would dangle.
    const std::shared_ptr<arrow::Array> match_array = dict_match.make_array();
    const auto& matches = static_cast<const arrow::BooleanArray&>(*match_array);
    const int64_t true_count = matches.true_count();
    if (true_count == 0) return kNone;
    if (true_count == matches.length() && dict.null_count() == 0) continue;
    // Per row, through the indices: equal to the one matching entry, or in the set of
    // matching entries (a boolean take of the dictionary's mask costs several times
    // more). A null index gives null, which Filter drops.
    arrow::Int32Builder wanted(ctx_.memory_pool());
    ARROW_RETURN_NOT_OK(wanted.Reserve(true_count));
    for (int64_t e = 0; e < matches.length(); ++e) {
      if (matches.IsValid(e) && matches.Value(e)) {
        wanted.UnsafeAppend(static_cast<int32_t>(e));
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto wanted_indices, wanted.Finish());
    arrow::Datum row_match;
    if (true_count == 1) {
      auto index = std::make_shared<arrow::Int32Scalar>(
          static_cast<const arrow::Int32Array&>(*wanted_indices).Value(0));
      ARROW_ASSIGN_OR_RAISE(row_match, arrow::compute::CallFunction(
                                           "equal", {dict.indices(), index}, &ctx_));
    } else {
      arrow::compute::SetLookupOptions by_index(wanted_indices,
                                                arrow::compute::SetLookupOptions::SKIP);
      ARROW_ASSIGN_OR_RAISE(row_match, arrow::compute::CallFunction(
                                           "is_in", {dict.indices()}, &by_index, &ctx_));
    }
    ARROW_RETURN_NOT_OK(AndInto(&acc, std::move(row_match)));
  }

  if (!time_covered && !predicate_.time.unbounded()) {
    auto time = batch.GetColumnByName(std::string(kTimeColumnName));
    if (time == nullptr) return arrow::Status::Invalid("batch has no time column");
    if (predicate_.time.start) {
      auto bound =
          std::make_shared<arrow::TimestampScalar>(*predicate_.time.start, time->type());
      ARROW_ASSIGN_OR_RAISE(
          auto m, arrow::compute::CallFunction("greater_equal", {time, bound}, &ctx_));
      ARROW_RETURN_NOT_OK(AndInto(&acc, std::move(m)));
    }
    if (predicate_.time.end) {
      auto bound =
          std::make_shared<arrow::TimestampScalar>(*predicate_.time.end, time->type());
      ARROW_ASSIGN_OR_RAISE(auto m,
                            arrow::compute::CallFunction("less", {time, bound}, &ctx_));
      ARROW_RETURN_NOT_OK(AndInto(&acc, std::move(m)));
    }
  }

  if (!acc.has_value()) return RowMask{RowMask::Kind::kAll, nullptr};
  auto mask = acc->make_array();
  const auto& bools = static_cast<const arrow::BooleanArray&>(*mask);
  const int64_t selected = bools.true_count();
  if (selected == 0) return kNone;
  if (selected == batch.num_rows()) return RowMask{RowMask::Kind::kAll, nullptr};
  return RowMask{RowMask::Kind::kSome, std::move(mask)};
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> RowFilter::Apply(
    const std::shared_ptr<arrow::RecordBatch>& batch, const RowMask& mask) {
  switch (mask.kind) {
    case RowMask::Kind::kAll:
      return batch;
    case RowMask::Kind::kNone:
      return nullptr;
    case RowMask::Kind::kSome:
      break;
  }
  ARROW_ASSIGN_OR_RAISE(
      arrow::Datum filtered,
      arrow::compute::Filter(batch, mask.mask, arrow::compute::FilterOptions::Defaults(),
                             &ctx_));
  return filtered.record_batch();
}

}  // namespace ingester::query
