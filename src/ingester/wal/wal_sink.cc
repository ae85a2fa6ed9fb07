#include "ingester/wal/wal_sink.h"

#include <arrow/util/logging.h>

#include "ingester/wal/reference_tracker.h"

namespace ingester::wal {

WalSink::WalSink(std::shared_ptr<WalAppender> wal, std::shared_ptr<DmlSink> inner,
                 std::shared_ptr<ReferenceTracker> tracker)
    : wal_(std::move(wal)), inner_(std::move(inner)), tracker_(std::move(tracker)) {
  ARROW_DCHECK(wal_ != nullptr);
  ARROW_DCHECK(inner_ != nullptr);
}

arrow::Status WalSink::Apply(const WriteOp& op, const ApplyOptions& options) {
  ARROW_RETURN_NOT_OK(wal_->Append(op, /*sync=*/!options.no_sync));
  std::vector<SequenceNumber> not_applied;
  ApplyOptions inner_options = options;
  inner_options.not_applied = &not_applied;
  arrow::Status st = inner_->Apply(op, inner_options);
  if (!not_applied.empty()) {
    if (tracker_ != nullptr) tracker_->Release(not_applied);
    if (options.not_applied != nullptr) {
      options.not_applied->insert(options.not_applied->end(), not_applied.begin(),
                                  not_applied.end());
    }
  }
  return st;
}

}  // namespace ingester::wal
