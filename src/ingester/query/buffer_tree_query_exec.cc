#include "ingester/query/buffer_tree_query_exec.h"

#include <arrow/compute/initialize.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "ingester/buffer/buffer_tree.h"
#include "ingester/buffer/column_set.h"
#include "ingester/catalog/catalog.h"
#include "ingester/common/column_type.h"
#include "ingester/common/error.h"
#include "ingester/partition/partition_key.h"
#include "ingester/query/partition_read.h"
#include "ingester/query/row_filter.h"

namespace ingester::query {

namespace {

// A partition of the query: in the buffer, in the catalog, or both.
struct QueriedPartition {
  PartitionId id;
  std::string key;
  std::shared_ptr<PartitionData> buffered;  // null when not in the buffer
};

class TableQueryResponse final : public QueryResponse {
 public:
  TableQueryResponse(std::shared_ptr<arrow::Schema> schema, Predicate predicate,
                     std::vector<catalog::ColumnRecord> table_columns,
                     std::vector<QueriedPartition> partitions, catalog::Catalog* catalog,
                     PartitionReadContext context,
                     std::shared_ptr<BatchKeyFactsCache> key_facts)
      : schema_(std::move(schema)),
        predicate_(std::move(predicate)),
        table_columns_(std::move(table_columns)),
        partitions_(std::move(partitions)),
        catalog_(catalog),
        context_(std::move(context)),
        key_facts_(std::move(key_facts)) {
    context_.key_facts = key_facts_.get();
  }

  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }

  arrow::Result<std::unique_ptr<PartitionResponse>> NextPartition() override {
    while (index_ < partitions_.size()) {
      QueriedPartition partition = std::move(partitions_[index_++]);
      // Its turn: read it now, so writes buffered up to this moment are seen.
      ARROW_ASSIGN_OR_RAISE(PartitionSources sources, TakeSources(partition));
      PartitionInfo info{partition.id, partition.key,
                         sources.buffer.completed_persist_count};
      ARROW_ASSIGN_OR_RAISE(auto response,
                            ReadPartition(std::move(sources), std::move(info), schema_,
                                          table_columns_, predicate_, context_));
      if (response != nullptr) return response;
    }
    return nullptr;
  }

 private:
  // The consistency protocol (docs/reading.md): the buffered view first, under the
  // partition lock; then the catalog's files, minus those of snapshots still in the
  // view; then the sort key, which covers every file listed before it.
  arrow::Result<PartitionSources> TakeSources(const QueriedPartition& partition) {
    PartitionSources sources;
    if (partition.buffered != nullptr) {
      ARROW_ASSIGN_OR_RAISE(sources.buffer, partition.buffered->QueryData());
    }
    if (catalog_ == nullptr) return sources;
    ARROW_ASSIGN_OR_RAISE(auto files, catalog_->ListParquetFiles(partition.id));
    const auto& still_buffered = sources.buffer.persisting_object_store_ids;
    for (auto& file : files) {
      const bool in_view = std::find(still_buffered.begin(), still_buffered.end(),
                                     file.object_store_id) != still_buffered.end();
      if (in_view) continue;
      if (!predicate_.time.Overlaps(file.min_time, file.max_time)) {
        if (context_.metrics != nullptr) context_.metrics->files_pruned->Add(1);
        continue;
      }
      sources.files.push_back(std::move(file));
    }
    if (!sources.files.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto record, catalog_->GetPartition(partition.id));
      sources.sort_key = std::move(record.sort_key);
    }
    return sources;
  }

  const std::shared_ptr<arrow::Schema> schema_;
  const Predicate predicate_;
  const std::vector<catalog::ColumnRecord> table_columns_;
  std::vector<QueriedPartition> partitions_;
  catalog::Catalog* const catalog_;
  PartitionReadContext context_;
  const std::shared_ptr<BatchKeyFactsCache> key_facts_;
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
  if ((catalog == nullptr) != (files == nullptr)) {
    return arrow::Status::Invalid(
        "query exec: a catalog and an object store go together");
  }
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

  // The partition set of this query, fixed now: the buffer's and the catalog's.
  std::map<PartitionId, QueriedPartition> partitions;
  if (auto ns = options_.buffer->Namespace(table.namespace_id)) {
    if (auto table_data = ns->Table(table.table_id)) {
      for (auto& p : table_data->Partitions()) {
        const PartitionId id = p->partition_id();
        partitions[id] = QueriedPartition{id, p->partition_key(), std::move(p)};
      }
    }
  }
  // A buffer-only query (a peer's) reads neither the catalog's partitions nor its files.
  catalog::Catalog* const catalog =
      request.scope == QueryScope::kBuffer ? nullptr : options_.catalog;
  if (catalog != nullptr) {
    ARROW_ASSIGN_OR_RAISE(auto records, catalog->ListPartitions(table.table_id));
    for (auto& record : records) {
      if (partitions.count(record.id) == 0) {
        partitions[record.id] =
            QueriedPartition{record.id, std::move(record.key), nullptr};
      }
    }
  }
  std::vector<QueriedPartition> ordered;
  ordered.reserve(partitions.size());
  for (auto& [id, p] : partitions) {
    if (!partition::PartitionKeyMayMatch(table.partition_template, p.key,
                                         request.predicate.time,
                                         request.predicate.tags)) {
      continue;
    }
    ordered.push_back(std::move(p));
  }
  std::stable_sort(
      ordered.begin(), ordered.end(),
      [](const QueriedPartition& a, const QueriedPartition& b) { return a.key < b.key; });

  PartitionReadContext context;
  context.pool = options_.pool;
  context.max_batch_rows = options_.max_batch_rows;
  context.files = options_.files;
  context.metrics = options_.metrics;
  context.use_threads = options_.use_threads;
  return std::make_unique<TableQueryResponse>(
      std::move(schema), request.predicate, std::move(table.columns), std::move(ordered),
      catalog, std::move(context), key_facts_);
}

}  // namespace ingester::query
