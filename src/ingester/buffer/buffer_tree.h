// The in-memory buffer of the ingester: namespace -> table -> partition.
//
//   BufferTree ── mu_: map NamespaceId -> NamespaceData
//     NamespaceData ── mu_: map TableId -> TableData          (name: DeferredLoad)
//       TableData ── mu_: map key -> PartitionData             (name: DeferredLoad)
//         PartitionData ── mu_: mutable buffer + persist queue (knows ids, names, key)
//
// Locking: each level's mutex guards only that level's map and is a SharedMutex: writes
// look nodes up under the shared side, in parallel; creating a node takes the exclusive
// side just for the insert. A lock is never held while taking a child's lock or doing
// I/O (the catalog lookup of a new partition's id runs with no lock held), so writers of
// different partitions only meet on shared locks, and writers of one partition serialise
// on that partition's mutex for an O(columns) append. Nodes are never removed.
//
// Ordering: sequence numbers identify writes, they do not order them. Two concurrent ops
// may be buffered in either order, whatever their numbers or WAL order; nothing here
// assumes monotonic sequence numbers.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ingester/buffer/deferred_load.h"
#include "ingester/buffer/mutable_buffer.h"
#include "ingester/buffer/namespace_data.h"
#include "ingester/buffer/partition_data.h"
#include "ingester/buffer/partition_provider.h"
#include "ingester/buffer/table_data.h"
#include "ingester/buffer/tree_context.h"
#include "ingester/common/thread_annotations.h"
#include "ingester/dml/dml_sink.h"

namespace ingester {

// Told about every successful partition write, after the partition's lock is released,
// on the writer's thread (IOx's PostWriteObserver). The hot-partition persist trigger
// compares `stats.buffer_bytes` with its limit here. Must be thread-safe and quick.
class PostWriteObserver {
 public:
  virtual ~PostWriteObserver() = default;
  virtual void ObserveWrite(const std::shared_ptr<PartitionData>& partition,
                            const PartitionStats& stats) = 0;
};

struct BufferTreeOptions {
  // Resolves partition ids; required. Wrap the catalog in a PartitionCache.
  std::shared_ptr<PartitionProvider> partition_provider;
  // Loads names for nodes created from ops without them (WAL replay); optional.
  std::shared_ptr<NameResolver> name_resolver;
  // Runs background loads of those names; null loads them on first use.
  DeferredLoad<std::string>::Executor name_prefetch;
  // Optional.
  std::shared_ptr<PostWriteObserver> post_write_observer;
  MutableBufferOptions buffer;

  arrow::Status Validate() const;
};

class BufferTree final : public DmlSink {
 public:
  static arrow::Result<std::unique_ptr<BufferTree>> Make(BufferTreeOptions options);

  // Buffers every PartitionWrite of `op` in its partition, creating nodes on first use.
  // The PartitionWrites are independent: each is applied or not as a whole, and a failed
  // one (a type conflict, a catalog error resolving its partition id) does not stop the
  // others. Returns the first failure, with its table and partition. Appends to
  // `options.not_applied` (when set) what Apply(op, not_buffered) appends below.
  // Thread-safe.
  using DmlSink::Apply;
  arrow::Status Apply(const WriteOp& op, const ApplyOptions& options) override;

  // As Apply(op); also appends to `not_buffered` the sequence numbers of the
  // PartitionWrites that will never reach a persist: those that failed and those with no
  // rows. Their WAL references can be released at once.
  arrow::Status Apply(const WriteOp& op, std::vector<SequenceNumber>* not_buffered);

  // The namespace, or null.
  std::shared_ptr<NamespaceData> Namespace(NamespaceId id) const;
  // The tree at call time, level by level, ordered by id (and partitions by key). Every
  // node created before the call is listed; one created concurrently may or may not be.
  // The nodes themselves stay live and keep changing; take PartitionData::QueryData() or
  // MarkPersisting() for an immutable view of one.
  std::vector<std::shared_ptr<NamespaceData>> Namespaces() const;
  std::vector<std::shared_ptr<PartitionData>> Partitions() const;

  // Across the tree, including persisting snapshots; O(1).
  int64_t BufferedBytes() const;
  int64_t BufferedRows() const;

 private:
  explicit BufferTree(BufferTreeOptions options);
  std::shared_ptr<NamespaceData> GetOrCreateNamespace(NamespaceId id,
                                                      const std::string& name);

  const std::shared_ptr<PostWriteObserver> observer_;
  const std::shared_ptr<const TreeContext> context_;

  mutable SharedMutex mu_;
  std::map<NamespaceId, std::shared_ptr<NamespaceData>> namespaces_ GUARDED_BY(mu_);
};

}  // namespace ingester
