// A QueryExec decorator that counts queries in a MetricsRegistry (Prometheus text at
// GET /metrics):
//
//   ingester_query_requests_total               queries started
//   ingester_query_failures_total               queries that failed (at start or
//   mid-stream) ingester_query_cancelled_total              responses dropped before
//   their end ingester_query_partitions_total             partition responses returned
//   ingester_query_rows_total                   rows returned
//   ingester_query_bytes_total                  Arrow bytes returned (referenced buffers)
//   ingester_query_duration_microseconds_total  from Query() to the end of the stream
//   ingester_query_active                       queries started and not yet finished
#pragma once

#include <memory>

#include "ingester/common/metrics.h"
#include "ingester/query/query_exec.h"

namespace ingester::query {

struct QueryMetrics {
  // Registers the metrics above; call once per registry. Pointers live as long as it.
  explicit QueryMetrics(MetricsRegistry* registry);
  Counter* requests;
  Counter* failures;
  Counter* cancelled;
  Counter* partitions;
  Counter* rows;
  Counter* bytes;
  Counter* duration_us;
  Gauge* active;
  // Seconds from query start to the end of its stream (ingester_query_duration_seconds).
  Histogram* duration_seconds;
};

// Thread-safe when `inner` is (the counters are atomics).
class MetricsQueryExec final : public QueryExec {
 public:
  // `registry` must outlive this object and every response it returns.
  MetricsQueryExec(std::shared_ptr<QueryExec> inner, MetricsRegistry* registry);

  arrow::Result<std::unique_ptr<QueryResponse>> Query(
      const QueryRequest& request) override;

  const QueryMetrics& metrics() const { return metrics_; }

 private:
  const std::shared_ptr<QueryExec> inner_;
  QueryMetrics metrics_;
};

}  // namespace ingester::query
