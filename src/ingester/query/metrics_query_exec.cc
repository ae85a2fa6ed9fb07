#include "ingester/query/metrics_query_exec.h"

#include <arrow/util/byte_size.h>

#include <chrono>

#include "ingester/query/response_observer.h"

namespace ingester::query {

namespace {

using Clock = std::chrono::steady_clock;

class Meter final : public ResponseObserver {
 public:
  explicit Meter(const QueryMetrics* metrics) : m_(metrics), start_(Clock::now()) {
    m_->active->Add(1);
  }

  void OnPartition(const PartitionInfo&) override { m_->partitions->Add(); }
  void OnBatch(const arrow::RecordBatch& batch) override {
    m_->rows->Add(batch.num_rows());
    // Slices count for what they reference, not for their parents' whole buffers.
    auto bytes = arrow::util::ReferencedBufferSize(batch);
    if (bytes.ok()) m_->bytes->Add(*bytes);
  }
  void OnFinish(const arrow::Status& status) override {
    m_->active->Add(-1);
    const auto elapsed = Clock::now() - start_;
    m_->duration_us->Add(
        std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
    m_->duration_seconds->Observe(elapsed);
    if (status.IsCancelled()) {
      m_->cancelled->Add();
    } else if (!status.ok()) {
      m_->failures->Add();
    }
  }

 private:
  const QueryMetrics* const m_;
  const Clock::time_point start_;
};

}  // namespace

QueryMetrics::QueryMetrics(MetricsRegistry* r)
    : requests(r->AddCounter("ingester_query_requests_total", "Queries started.")),
      failures(r->AddCounter("ingester_query_failures_total",
                             "Queries that failed, at start or mid-stream.")),
      cancelled(r->AddCounter("ingester_query_cancelled_total",
                              "Query responses dropped before their end.")),
      partitions(r->AddCounter("ingester_query_partitions_total",
                               "Partition responses returned by queries.")),
      rows(r->AddCounter("ingester_query_rows_total", "Rows returned by queries.")),
      bytes(r->AddCounter("ingester_query_bytes_total",
                          "Arrow buffer bytes returned by queries.")),
      duration_us(r->AddCounter("ingester_query_duration_microseconds_total",
                                "Time from query start to the end of its stream.")),
      active(r->AddGauge("ingester_query_active", "Queries started and not finished.")),
      duration_seconds(r->AddHistogram(
          "ingester_query_duration_seconds",
          "Seconds from query start to the end of its stream.", LatencyBuckets())) {}

MetricsQueryExec::MetricsQueryExec(std::shared_ptr<QueryExec> inner,
                                   MetricsRegistry* registry)
    : inner_(std::move(inner)), metrics_(registry) {}

arrow::Result<std::unique_ptr<QueryResponse>> MetricsQueryExec::Query(
    const QueryRequest& request) {
  metrics_.requests->Add();
  auto meter = std::make_shared<Meter>(&metrics_);
  auto response = inner_->Query(request);
  if (!response.ok()) {
    meter->OnFinish(response.status());
    return response.status();
  }
  return ObserveResponse(std::move(*response), std::move(meter));
}

}  // namespace ingester::query
