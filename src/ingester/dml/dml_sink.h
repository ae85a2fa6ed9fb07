// The write path is a chain of sinks: WalSink (wal/) makes an op durable, then passes it
// to the next sink, the BufferTree (buffer/). WAL replay feeds the chain without the
// WalSink. Decorators may sit anywhere in the chain (in front of the WalSink too): each
// passes the op and its ApplyOptions on unchanged unless its contract says otherwise.
#pragma once

#include <vector>

#include <arrow/status.h>

#include "ingester/common/ids.h"
#include "ingester/dml/write_op.h"

namespace ingester {

// The per-write options that travel down the chain with each op.
struct ApplyOptions {
  // The `no_sync` write option: the WalSink acknowledges once the entry is written to
  // the OS, without waiting for its fsync. A machine crash may lose such a write.
  bool no_sync = false;
  // Optional out-parameter: a sink that will never hold some of the op's PartitionWrites
  // (they failed, or have no rows) appends their sequence numbers here, so that the WAL
  // side can release their references at once. Sinks that hold every write leave it
  // alone. Owned by the caller; written only during the Apply call.
  std::vector<SequenceNumber>* not_applied = nullptr;
};

class DmlSink {
 public:
  virtual ~DmlSink() = default;
  // Applies `op`. Thread-safe: called concurrently by many writers. On OK the op is
  // applied as far as this sink's contract says (durable for WalSink, buffered for the
  // BufferTree). A decorator passes `options` to its inner sink.
  virtual arrow::Status Apply(const WriteOp& op, const ApplyOptions& options) = 0;
  // Apply(op, {}): a synced write, nobody asking what was not applied.
  arrow::Status Apply(const WriteOp& op) { return Apply(op, ApplyOptions{}); }
};

}  // namespace ingester
