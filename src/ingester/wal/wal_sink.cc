#include "ingester/wal/wal_sink.h"

#include <arrow/util/logging.h>

namespace ingester::wal {

WalSink::WalSink(std::shared_ptr<WalAppender> wal, std::shared_ptr<DmlSink> inner)
    : wal_(std::move(wal)), inner_(std::move(inner)) {
  ARROW_DCHECK(wal_ != nullptr);
  ARROW_DCHECK(inner_ != nullptr);
}

arrow::Status WalSink::Apply(const WriteOp& op) { return ApplyWithOptions(op, {}); }

arrow::Status WalSink::ApplyWithOptions(const WriteOp& op,
                                        const WalWriteOptions& options) {
  ARROW_RETURN_NOT_OK(wal_->Append(op, /*sync=*/!options.no_sync));
  return inner_->Apply(op);
}

}  // namespace ingester::wal
