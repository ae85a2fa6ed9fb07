// The DmlSink decorator that makes a write durable before anything else sees it.
#pragma once

#include <arrow/status.h>

#include <memory>

#include "ingester/dml/dml_sink.h"
#include "ingester/wal/wal.h"

namespace ingester::wal {

struct WalWriteOptions {
  // The `no_sync` write option: acknowledge once the entry is written to the OS, without
  // waiting for fsync. A machine crash may lose such a write.
  bool no_sync = false;
};

// Appends each op to the WAL and, only once the append succeeded (durably, unless
// no_sync), passes it to `inner` (the BufferTree). If the append fails, `inner` never
// sees the op. If `inner` fails, the op stays in the WAL and will be replayed at the
// next start (the error is returned to the caller unchanged). Thread-safe when both
// parts are, which WalAppender and DmlSink require.
class WalSink final : public DmlSink {
 public:
  WalSink(std::shared_ptr<WalAppender> wal, std::shared_ptr<DmlSink> inner);

  // Durable append (sync), then the inner sink.
  arrow::Status Apply(const WriteOp& op) override;
  arrow::Status ApplyWithOptions(const WriteOp& op, const WalWriteOptions& options);

 private:
  const std::shared_ptr<WalAppender> wal_;
  const std::shared_ptr<DmlSink> inner_;
};

}  // namespace ingester::wal
