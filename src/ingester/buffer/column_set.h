// The schema of buffered data: which columns a table's partition holds, in a stable
// order, and how batches written with fewer (or differently ordered) columns are
// presented under it.
//
// Column order (the "canonical" order of every schema this module produces):
//
//   +-------------------------+--------------------------------+-----------------+
//   | tags                    | fields                         | time            |
//   | first-seen order        | first-seen order               | always last     |
//   | dictionary<int32, utf8> | int64 uint64 float64 bool utf8 | timestamp[ns]   |
//   | nullable                | nullable                       | non-null        |
//   +-------------------------+--------------------------------+-----------------+
//
// Schemas only grow: a column, once seen, keeps its name, type and relative position; a
// new tag goes after the known tags (so field positions shift), a new field after the
// known fields. Readers should match columns by name, not position, across schemas.
#pragma once

#include <arrow/memory_pool.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ingester/common/column_type.h"

namespace ingester {

// The growing, ordered set of columns of buffered data. Not thread-safe.
class ColumnSet {
 public:
  ColumnSet();

  // Checks that `schema` can join the set: every column has a data-model type exactly as
  // common/column_type.h gives it (`time` must be timestamp[ns]), names are unique,
  // `time` is present when `require_time`, and no column conflicts with the type the set
  // already has for that name. InvalidInput or Conflict (common/error.h) otherwise.
  // Changes nothing.
  arrow::Status Check(const arrow::Schema& schema, bool require_time) const;

  // Adds the columns of `schema` the set lacks. Precondition: Check(schema) is OK.
  // Returns true if the set changed.
  bool Add(const arrow::Schema& schema);

  // Check then Add.
  arrow::Status Merge(const arrow::Schema& schema, bool require_time);

  // The canonical schema of the set. The same object until the set changes, so pointer
  // equality means "same version".
  const std::shared_ptr<arrow::Schema>& schema() const { return schema_; }
  std::optional<ColumnType> TypeOf(std::string_view name) const;
  size_t size() const { return by_name_.size(); }

 private:
  struct Column {
    std::string name;
    ColumnType type;
  };
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>{}(s);
    }
  };

  void Rebuild();

  std::vector<Column> tags_;
  std::vector<Column> fields_;
  bool has_time_ = false;
  std::unordered_map<std::string, ColumnType, NameHash, std::equal_to<>> by_name_;
  std::shared_ptr<arrow::Schema> schema_;
};

// All-null arrays of the data-model types, shared and sliced to the length needed, so
// that presenting a batch under a wider schema allocates nothing per batch. Not
// thread-safe. The returned arrays are immutable and independent of the cache's lifetime.
class NullArrayCache {
 public:
  explicit NullArrayCache(arrow::MemoryPool* pool = arrow::default_memory_pool())
      : pool_(pool) {}
  arrow::Result<std::shared_ptr<arrow::Array>> Get(
      const std::shared_ptr<arrow::DataType>& type, int64_t length);

 private:
  arrow::MemoryPool* pool_;
  // Keyed by type fingerprint (ToString); a handful of entries.
  std::unordered_map<std::string, std::shared_ptr<arrow::Array>> arrays_;
};

// `batch` presented under `target`: columns matched by name, in `target`'s order; columns
// of `target` the batch lacks are all null; columns of the batch not in `target` are
// dropped (so this also projects). A column whose type differs from `target`'s is a
// Conflict. Zero-copy: the batch itself when its schema is `target` (same object),
// otherwise a new batch sharing the columns. `nulls` may be null (then null columns are
// allocated each time).
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ConformBatch(
    const std::shared_ptr<arrow::RecordBatch>& batch,
    const std::shared_ptr<arrow::Schema>& target, NullArrayCache* nulls = nullptr);

// The union of `schemas` in canonical order (columns in order of first appearance
// across the list). When all the schemas are equal, the first one is returned as is.
// Conflict if two schemas disagree on a column's type.
arrow::Result<std::shared_ptr<arrow::Schema>> MergeSchemas(
    const std::vector<std::shared_ptr<arrow::Schema>>& schemas);

}  // namespace ingester
