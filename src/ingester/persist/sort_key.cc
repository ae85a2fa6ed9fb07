#include "ingester/persist/sort_key.h"

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <algorithm>
#include <string_view>
#include <unordered_set>

#include "ingester/catalog/catalog.h"
#include "ingester/common/column_type.h"
#include "ingester/common/error.h"

namespace ingester::persist {

namespace {

// Adds the dictionary values `array` references to `seen`. The views point into the
// array's dictionary, which the caller keeps alive.
arrow::Status CollectReferencedValues(const arrow::Array& array,
                                      std::unordered_set<std::string_view>* seen) {
  if (array.type_id() != arrow::Type::DICTIONARY) {
    return arrow::Status::TypeError("tag column is ", array.type()->ToString(),
                                    ", expected a dictionary");
  }
  const auto& dict_array = static_cast<const arrow::DictionaryArray&>(array);
  if (dict_array.indices()->type_id() != arrow::Type::INT32 ||
      dict_array.dictionary()->type_id() != arrow::Type::STRING) {
    return arrow::Status::TypeError("tag column is ", array.type()->ToString(),
                                    ", expected dictionary<int32, utf8>");
  }
  const auto& indices = static_cast<const arrow::Int32Array&>(*dict_array.indices());
  const auto& values = static_cast<const arrow::StringArray&>(*dict_array.dictionary());
  // Each dictionary entry is inserted once, however many rows reference it.
  std::vector<bool> referenced(static_cast<size_t>(values.length()), false);
  for (int64_t i = 0; i < indices.length(); ++i) {
    if (indices.IsNull(i)) continue;
    const int32_t index = indices.Value(i);
    if (index < 0 || index >= values.length()) {
      return arrow::Status::Invalid("dictionary index ", index, " out of range");
    }
    if (!referenced[static_cast<size_t>(index)]) {
      referenced[static_cast<size_t>(index)] = true;
      if (values.IsValid(index)) seen->insert(values.GetView(index));
    }
  }
  return arrow::Status::OK();
}

bool Contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

arrow::Result<std::vector<TagCardinality>> ComputeTagCardinalities(
    const arrow::Schema& schema,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
  std::vector<TagCardinality> result;
  for (const auto& field : schema.fields()) {
    if (ColumnTypeFromArrow(field->name(), *field->type()) != ColumnType::kTag) continue;
    std::unordered_set<std::string_view> seen;
    for (const auto& batch : batches) {
      const auto column = batch->GetColumnByName(field->name());
      if (column == nullptr) continue;
      ARROW_RETURN_NOT_OK(CollectReferencedValues(*column, &seen));
    }
    result.push_back({field->name(), static_cast<int64_t>(seen.size())});
  }
  return result;
}

std::vector<std::string> ComputeSortKey(const std::vector<std::string>& existing,
                                        const std::vector<TagCardinality>& tags) {
  std::vector<TagCardinality> missing;
  for (const auto& tag : tags) {
    if (tag.name != kTimeColumnName && !Contains(existing, tag.name)) {
      missing.push_back(tag);
    }
  }
  std::sort(missing.begin(), missing.end(),
            [](const TagCardinality& a, const TagCardinality& b) {
              if (a.distinct != b.distinct) return a.distinct < b.distinct;
              return a.name < b.name;
            });
  std::vector<std::string> key = existing;
  auto time_it = std::find(key.begin(), key.end(), kTimeColumnName);
  std::vector<std::string> added;
  added.reserve(missing.size());
  for (auto& tag : missing) added.push_back(std::move(tag.name));
  key.insert(time_it, added.begin(), added.end());
  if (!Contains(key, kTimeColumnName)) key.emplace_back(kTimeColumnName);
  return key;
}

std::vector<std::string> FilterSortKey(const std::vector<std::string>& key,
                                       const std::vector<std::string>& columns) {
  std::vector<std::string> result;
  for (const auto& name : key) {
    if (Contains(columns, name)) result.push_back(name);
  }
  return result;
}

arrow::Result<SortKeyUpdate> UpdateCatalogSortKey(catalog::Catalog* catalog,
                                                  PartitionId partition_id,
                                                  std::vector<std::string> expected,
                                                  const std::vector<TagCardinality>& tags,
                                                  int max_attempts) {
  SortKeyUpdate update;
  while (true) {
    std::vector<std::string> wanted = ComputeSortKey(expected, tags);
    if (wanted == expected) {
      update.key = std::move(expected);
      return update;
    }
    if (update.cas_attempts >= max_attempts) {
      return Conflict("sort key of partition " + std::to_string(partition_id.value()) +
                      " still changing after " + std::to_string(max_attempts) +
                      " compare-and-swap attempts");
    }
    ++update.cas_attempts;
    auto swapped = catalog->CasSortKey(partition_id, expected, wanted);
    if (swapped.ok()) {
      update.key = std::move(swapped->sort_key);
      return update;
    }
    const auto* conflict = catalog::SortKeyConflictOf(swapped.status());
    if (conflict == nullptr) return swapped.status();
    // Someone else changed the key: rebuild ours on top of theirs.
    expected = conflict->observed();
  }
}

}  // namespace ingester::persist
