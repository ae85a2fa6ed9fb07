#include "ingester/query/tracing_query_exec.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "ingester/query/response_observer.h"

namespace ingester::query {

namespace {

using Clock = std::chrono::steady_clock;

class Span final : public ResponseObserver {
 public:
  Span(std::shared_ptr<spdlog::logger> logger, const TracingQueryExecOptions& options,
       uint64_t id, const QueryRequest& request)
      : logger_(std::move(logger)),
        name_(options.name),
        level_(options.level),
        id_(id),
        namespace_(request.namespace_name),
        table_(request.table_name),
        start_(Clock::now()) {}

  void OnPartition(const PartitionInfo&) override { ++partitions_; }
  void OnBatch(const arrow::RecordBatch& batch) override { rows_ += batch.num_rows(); }

  void OnFinish(const arrow::Status& status) override {
    const double ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
    if (status.ok()) {
      Log(level_, ms, "ok", "");
    } else if (status.IsCancelled()) {
      Log(level_, ms, "cancelled", "");
    } else {
      Log(spdlog::level::warn, ms, "error", status.ToString());
    }
  }

 private:
  void Log(spdlog::level::level_enum level, double ms, std::string_view outcome,
           const std::string& error) {
    if (error.empty()) {
      logger_->log(level,
                   "query span={} id={} namespace={} table={} duration_ms={:.3f} "
                   "partitions={} rows={} status={}",
                   name_, id_, namespace_, table_, ms, partitions_, rows_, outcome);
    } else {
      logger_->log(level,
                   "query span={} id={} namespace={} table={} duration_ms={:.3f} "
                   "partitions={} rows={} status={} error=\"{}\"",
                   name_, id_, namespace_, table_, ms, partitions_, rows_, outcome,
                   error);
    }
  }

  const std::shared_ptr<spdlog::logger> logger_;
  const std::string name_;
  const spdlog::level::level_enum level_;
  const uint64_t id_;
  const std::string namespace_;
  const std::string table_;
  const Clock::time_point start_;
  int64_t partitions_ = 0;
  int64_t rows_ = 0;
};

}  // namespace

TracingQueryExec::TracingQueryExec(std::shared_ptr<QueryExec> inner,
                                   TracingQueryExecOptions options)
    : inner_(std::move(inner)), options_(std::move(options)) {}

arrow::Result<std::unique_ptr<QueryResponse>> TracingQueryExec::Query(
    const QueryRequest& request) {
  auto logger = options_.logger ? options_.logger : spdlog::default_logger();
  auto span =
      std::make_shared<Span>(std::move(logger), options_, next_id_.fetch_add(1), request);
  auto response = inner_->Query(request);
  if (!response.ok()) {
    span->OnFinish(response.status());
    return response.status();
  }
  return ObserveResponse(std::move(*response), std::move(span));
}

}  // namespace ingester::query
