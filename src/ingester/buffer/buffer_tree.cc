#include "ingester/buffer/buffer_tree.h"

#include <arrow/record_batch.h>

#include <utility>

namespace ingester {

arrow::Status BufferTreeOptions::Validate() const {
  if (partition_provider == nullptr) {
    return arrow::Status::Invalid("BufferTree needs a partition provider");
  }
  return buffer.Validate();
}

arrow::Result<std::unique_ptr<BufferTree>> BufferTree::Make(BufferTreeOptions options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  return std::unique_ptr<BufferTree>(new BufferTree(std::move(options)));
}

BufferTree::BufferTree(BufferTreeOptions options)
    : observer_(std::move(options.post_write_observer)),
      context_(std::make_shared<const TreeContext>(
          TreeContext{std::move(options.partition_provider),
                      std::move(options.name_resolver), std::move(options.name_prefetch),
                      options.buffer, std::make_shared<BufferTotals>()})) {}

std::shared_ptr<NamespaceData> BufferTree::GetOrCreateNamespace(NamespaceId id,
                                                                const std::string& name) {
  std::shared_ptr<NamespaceData> ns = Namespace(id);
  if (ns == nullptr) {
    DeferredLoad<std::string> deferred = MakeDeferredName(
        name, *context_, [id](NameResolver& r) { return r.NamespaceName(id); },
        "namespace " + std::to_string(id.value()));
    bool inserted = false;
    {
      WriterLock lock(&mu_);
      auto [it, fresh] = namespaces_.try_emplace(id);
      if (fresh) it->second = std::make_shared<NamespaceData>(id, deferred, context_);
      inserted = fresh;
      ns = it->second;
    }
    if (inserted) {
      MaybePrefetch(deferred, *context_);
      return ns;
    }
  }
  if (!name.empty() && !ns->namespace_name().IsLoaded()) ns->namespace_name().Seed(name);
  return ns;
}

arrow::Status BufferTree::Apply(const WriteOp& op, const ApplyOptions& options) {
  return Apply(op, options.not_applied);
}

arrow::Status BufferTree::Apply(const WriteOp& op,
                                std::vector<SequenceNumber>* not_buffered) {
  if (op.writes.empty()) return arrow::Status::OK();
  std::shared_ptr<NamespaceData> ns =
      GetOrCreateNamespace(op.namespace_id, op.namespace_name);
  arrow::Status first_error;
  auto fail = [&](const PartitionWrite& w, const arrow::Status& st) {
    if (not_buffered != nullptr) not_buffered->push_back(w.sequence_number);
    if (first_error.ok()) {
      first_error = st.WithMessage(
          "namespace ", op.namespace_id.value(), " table ", w.table_id.value(), " ('",
          w.table_name, "') partition '", w.partition_key, "': ", st.message());
    }
  };
  for (const PartitionWrite& w : op.writes) {
    if (w.batch == nullptr) {
      fail(w, arrow::Status::Invalid("no record batch"));
      continue;
    }
    if (w.batch->num_rows() == 0) {
      if (not_buffered != nullptr) not_buffered->push_back(w.sequence_number);
      continue;
    }
    std::shared_ptr<TableData> table = ns->GetOrCreateTable(w.table_id, w.table_name);
    arrow::Result<std::shared_ptr<PartitionData>> partition =
        table->GetOrCreatePartition(w.partition_key);
    if (!partition.ok()) {
      fail(w, partition.status());
      continue;
    }
    PartitionStats stats;
    arrow::Status st = (*partition)->BufferWrite(w.sequence_number, w.batch, &stats);
    if (!st.ok()) {
      fail(w, st);
      continue;
    }
    if (observer_ != nullptr) observer_->ObserveWrite(*partition, stats);
  }
  return first_error;
}

std::shared_ptr<NamespaceData> BufferTree::Namespace(NamespaceId id) const {
  ReaderLock lock(&mu_);
  auto it = namespaces_.find(id);
  return it == namespaces_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<NamespaceData>> BufferTree::Namespaces() const {
  ReaderLock lock(&mu_);
  std::vector<std::shared_ptr<NamespaceData>> out;
  out.reserve(namespaces_.size());
  for (const auto& [id, ns] : namespaces_) out.push_back(ns);
  return out;
}

std::vector<std::shared_ptr<PartitionData>> BufferTree::Partitions() const {
  std::vector<std::shared_ptr<PartitionData>> out;
  // One level at a time: no lock is held while the next level's is taken.
  for (const auto& ns : Namespaces()) {
    for (const auto& table : ns->Tables()) {
      std::vector<std::shared_ptr<PartitionData>> partitions = table->Partitions();
      out.insert(out.end(), partitions.begin(), partitions.end());
    }
  }
  return out;
}

int64_t BufferTree::BufferedBytes() const {
  return context_->totals->bytes.load(std::memory_order_relaxed);
}

int64_t BufferTree::BufferedRows() const {
  return context_->totals->rows.load(std::memory_order_relaxed);
}

}  // namespace ingester
