// The DmlSink decorator that makes a write durable before anything else sees it.
#pragma once

#include <arrow/status.h>

#include <memory>

#include "ingester/dml/dml_sink.h"
#include "ingester/wal/wal.h"

namespace ingester::wal {

class ReferenceTracker;

// Appends each op to the WAL and, only once the append succeeded (durably, unless
// `options.no_sync`), passes it to `inner` (the BufferTree) with the same options. If
// the append fails, `inner` never sees the op. If `inner` fails, the op stays in the WAL
// and will be replayed at the next start (the error is returned to the caller
// unchanged).
//
// The writes `inner` reports as never held (ApplyOptions::not_applied: failed or
// empty) will never be persisted, so nothing else would release their WAL references:
// with a `tracker`, WalSink releases them at once (and still reports them to its own
// caller when asked). Thread-safe when every part is, which WalAppender and DmlSink
// require.
class WalSink final : public DmlSink {
 public:
  // `tracker` may be null (nothing to release).
  WalSink(std::shared_ptr<WalAppender> wal, std::shared_ptr<DmlSink> inner,
          std::shared_ptr<ReferenceTracker> tracker = nullptr);

  using DmlSink::Apply;
  arrow::Status Apply(const WriteOp& op, const ApplyOptions& options) override;

 private:
  const std::shared_ptr<WalAppender> wal_;
  const std::shared_ptr<DmlSink> inner_;
  const std::shared_ptr<ReferenceTracker> tracker_;
};

}  // namespace ingester::wal
