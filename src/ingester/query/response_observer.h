// Watching a query response being consumed, for the decorators (tracing, metrics): a
// wrapper that reports each partition and batch as the consumer pulls it, and the end.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/status.h>

#include <memory>

#include "ingester/query/query_exec.h"

namespace ingester::query {

// Called on the consumer's thread, in stream order. Must be quick.
class ResponseObserver {
 public:
  virtual ~ResponseObserver() = default;
  virtual void OnPartition(const PartitionInfo& info) {}
  virtual void OnBatch(const arrow::RecordBatch& batch) {}
  // Exactly once per observed response: OK at the end of the stream, the error when a
  // pull failed, or Cancelled when the response was dropped before its end (a client
  // that went away).
  virtual void OnFinish(const arrow::Status& status) = 0;
};

// `inner`, reporting to `observer`. The observer is kept alive by the wrapper and the
// partition responses it hands out, and is destroyed after the last of the inner
// responses they wrap (an observer's destructor may release what the query held).
std::unique_ptr<QueryResponse> ObserveResponse(
    std::unique_ptr<QueryResponse> inner, std::shared_ptr<ResponseObserver> observer);

}  // namespace ingester::query
