// The write path is a chain of sinks: WalSink (wal/) makes an op durable, then passes it
// to the next sink, the BufferTree (buffer/). WAL replay feeds the chain without the
// WalSink.
#pragma once

#include <arrow/status.h>

#include "ingester/dml/write_op.h"

namespace ingester {

class DmlSink {
 public:
  virtual ~DmlSink() = default;
  // Applies `op`. Thread-safe: called concurrently by many writers. On OK the op is
  // applied as far as this sink's contract says (durable for WalSink, buffered for the
  // BufferTree).
  virtual arrow::Status Apply(const WriteOp& op) = 0;
};

}  // namespace ingester
