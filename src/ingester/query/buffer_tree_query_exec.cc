#include "ingester/query/buffer_tree_query_exec.h"

#include <arrow/compute/initialize.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <algorithm>
#include <set>
#include <utility>

#include "ingester/buffer/buffer_tree.h"
#include "ingester/buffer/column_set.h"
#include "ingester/common/column_type.h"
#include "ingester/common/error.h"
#include "ingester/partition/partition_key.h"
#include "ingester/query/row_filter.h"

namespace ingester::query {

namespace {

struct ExecContext {
  arrow::MemoryPool* pool;
  int64_t max_batch_rows;
};

// One partition's rows: its QueryData view, cut into pieces, filtered, projected.
class BufferPartitionResponse final : public PartitionResponse {
 public:
  BufferPartitionResponse(PartitionQueryData data, std::shared_ptr<arrow::Schema> schema,
                          const Predicate& predicate, bool time_covered,
                          const ExecContext& ctx)
      : info_{data.partition_id, std::move(data.partition_key),
              data.completed_persist_count},
        batches_(std::move(data.batches)),
        schema_(std::move(schema)),
        filter_(predicate, ctx.pool),
        time_covered_(time_covered),
        max_rows_(ctx.max_batch_rows),
        nulls_(ctx.pool) {}

  const PartitionInfo& info() const override { return info_; }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    while (index_ < batches_.size()) {
      const std::shared_ptr<arrow::RecordBatch>& batch = batches_[index_];
      if (offset_ >= batch->num_rows()) {
        // Done with it: let go, so data persisted (or compacted) meanwhile can be freed.
        batches_[index_].reset();
        ++index_;
        offset_ = 0;
        continue;
      }
      const int64_t length = std::min(max_rows_, batch->num_rows() - offset_);
      std::shared_ptr<arrow::RecordBatch> piece =
          offset_ == 0 && length == batch->num_rows() ? batch
                                                      : batch->Slice(offset_, length);
      offset_ += length;
      ARROW_ASSIGN_OR_RAISE(RowMask mask, filter_.Evaluate(*piece, time_covered_));
      if (mask.kind == RowMask::Kind::kNone) continue;
      // Project before filtering, so that only output columns are copied.
      ARROW_ASSIGN_OR_RAISE(auto projected, Project(piece));
      ARROW_ASSIGN_OR_RAISE(auto selected, filter_.Apply(projected, mask));
      return ConformBatch(selected, schema_, &nulls_);
    }
    return nullptr;
  }

 private:
  // The output columns `piece` has, in output order (zero-copy).
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Project(
      const std::shared_ptr<arrow::RecordBatch>& piece) {
    if (piece->schema() != projected_from_) {
      projected_from_ = piece->schema();
      projection_.clear();
      arrow::FieldVector fields;
      for (const auto& field : schema_->fields()) {
        const int index = projected_from_->GetFieldIndex(field->name());
        if (index < 0) continue;
        projection_.push_back(index);
        fields.push_back(projected_from_->field(index));
      }
      projected_schema_ = arrow::schema(std::move(fields));
    }
    arrow::ArrayVector columns;
    columns.reserve(projection_.size());
    for (int index : projection_) columns.push_back(piece->column(index));
    return arrow::RecordBatch::Make(projected_schema_, piece->num_rows(),
                                    std::move(columns));
  }

  const PartitionInfo info_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_;
  const std::shared_ptr<arrow::Schema> schema_;
  RowFilter filter_;
  const bool time_covered_;
  const int64_t max_rows_;
  NullArrayCache nulls_;
  size_t index_ = 0;
  int64_t offset_ = 0;
  // Projection of the last input schema seen (batches of a partition usually share one).
  std::shared_ptr<arrow::Schema> projected_from_;
  std::vector<int> projection_;
  std::shared_ptr<arrow::Schema> projected_schema_;
};

class BufferQueryResponse final : public QueryResponse {
 public:
  BufferQueryResponse(std::shared_ptr<arrow::Schema> schema, Predicate predicate,
                      std::vector<std::shared_ptr<PartitionData>> partitions,
                      const ExecContext& ctx)
      : schema_(std::move(schema)),
        predicate_(std::move(predicate)),
        partitions_(std::move(partitions)),
        ctx_(ctx) {}

  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }

  arrow::Result<std::unique_ptr<PartitionResponse>> NextPartition() override {
    while (index_ < partitions_.size()) {
      std::shared_ptr<PartitionData> partition = std::move(partitions_[index_++]);
      // Its turn: read it now, so writes buffered up to this moment are seen.
      ARROW_ASSIGN_OR_RAISE(PartitionQueryData data, partition->QueryData());
      if (data.rows == 0) continue;
      const TimeRange& time = predicate_.time;
      if (!time.Overlaps(data.min_time, data.max_time)) continue;
      const bool covered = time.Covers(data.min_time, data.max_time);
      return std::make_unique<BufferPartitionResponse>(std::move(data), schema_,
                                                       predicate_, covered, ctx_);
    }
    return nullptr;
  }

 private:
  const std::shared_ptr<arrow::Schema> schema_;
  const Predicate predicate_;
  std::vector<std::shared_ptr<PartitionData>> partitions_;
  const ExecContext ctx_;
  size_t index_ = 0;
};

std::shared_ptr<arrow::Field> OutputField(const catalog::ColumnRecord& column) {
  return arrow::field(column.name, ArrowTypeFor(column.type),
                      /*nullable=*/column.type != ColumnType::kTime);
}

std::string TableName(const QueryRequest& request) {
  return "'" + request.table_name + "' of namespace '" + request.namespace_name + "'";
}

arrow::Status CheckPredicate(const QueryRequest& request, const ResolvedTable& table) {
  for (const auto& tag : request.predicate.tags) {
    auto it = std::find_if(table.columns.begin(), table.columns.end(),
                           [&](const auto& c) { return c.name == tag.tag; });
    if (it == table.columns.end()) {
      return InvalidInput("tag predicate on column '" + tag.tag +
                          "', which is not a column of table " + TableName(request));
    }
    if (it->type != ColumnType::kTag) {
      return InvalidInput("tag predicate on column '" + tag.tag + "' of table " +
                          TableName(request) + ", which is a " +
                          std::string(ColumnTypeName(it->type)) + " column, not a tag");
    }
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::Schema>> OutputSchema(const QueryRequest& request,
                                                           const ResolvedTable& table) {
  arrow::FieldVector fields;
  if (request.columns.empty()) {
    for (ColumnType group : {ColumnType::kTag, ColumnType::kI64, ColumnType::kTime}) {
      for (const auto& column : table.columns) {
        const bool is_field =
            column.type != ColumnType::kTag && column.type != ColumnType::kTime;
        const bool in_group = group == ColumnType::kI64 ? is_field : column.type == group;
        if (in_group) fields.push_back(OutputField(column));
      }
    }
    return arrow::schema(std::move(fields));
  }
  std::set<std::string_view> seen;
  for (const auto& name : request.columns) {
    if (!seen.insert(name).second) {
      return InvalidInput("column '" + name + "' is requested twice");
    }
    auto it = std::find_if(table.columns.begin(), table.columns.end(),
                           [&](const auto& c) { return c.name == name; });
    if (it == table.columns.end()) {
      return InvalidInput("column '" + name + "' is not a column of table " +
                          TableName(request));
    }
    fields.push_back(OutputField(*it));
  }
  return arrow::schema(std::move(fields));
}

arrow::Status BufferTreeQueryExecOptions::Validate() const {
  if (buffer == nullptr) return arrow::Status::Invalid("query exec: no buffer tree");
  if (resolver == nullptr) return arrow::Status::Invalid("query exec: no table resolver");
  if (pool == nullptr) return arrow::Status::Invalid("query exec: no memory pool");
  if (max_batch_rows < 1) return arrow::Status::Invalid("query exec: max_batch_rows < 1");
  return arrow::Status::OK();
}

BufferTreeQueryExec::BufferTreeQueryExec(BufferTreeQueryExecOptions options)
    : options_(std::move(options)) {}

arrow::Result<std::unique_ptr<BufferTreeQueryExec>> BufferTreeQueryExec::Make(
    BufferTreeQueryExecOptions options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  // The comparison and set-lookup kernels live in libarrow_compute since Arrow 21 and
  // are registered by this call (idempotent).
  ARROW_RETURN_NOT_OK(arrow::compute::Initialize());
  return std::unique_ptr<BufferTreeQueryExec>(
      new BufferTreeQueryExec(std::move(options)));
}

arrow::Result<std::unique_ptr<QueryResponse>> BufferTreeQueryExec::Query(
    const QueryRequest& request) {
  ARROW_ASSIGN_OR_RAISE(
      ResolvedTable table,
      options_.resolver->Resolve(request.namespace_name, request.table_name));
  ARROW_ASSIGN_OR_RAISE(auto schema, OutputSchema(request, table));
  ARROW_RETURN_NOT_OK(CheckPredicate(request, table));

  // The partition set of this query, fixed now.
  std::vector<std::shared_ptr<PartitionData>> partitions;
  if (auto ns = options_.buffer->Namespace(table.namespace_id)) {
    if (auto table_data = ns->Table(table.table_id))
      partitions = table_data->Partitions();
  }
  std::erase_if(partitions, [&](const std::shared_ptr<PartitionData>& p) {
    return !partition::PartitionKeyMayMatch(table.partition_template, p->partition_key(),
                                            request.predicate.time, request.predicate.tags);
  });
  return std::make_unique<BufferQueryResponse>(
      std::move(schema), request.predicate, std::move(partitions),
      ExecContext{options_.pool, options_.max_batch_rows});
}

}  // namespace ingester::query
