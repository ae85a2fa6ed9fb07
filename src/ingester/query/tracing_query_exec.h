// A QueryExec decorator that records a named span per query: one log line when the
// query ends, with its namespace, table, duration, partitions and rows, and the error
// when it failed.
//
//   query span=flight_do_get id=7 namespace=db table=cpu duration_ms=1.84 partitions=2
//     rows=1200 status=ok
//
// The span runs from Query() until the response's stream ends, fails, or is dropped
// (status=cancelled: the consumer went away before the end).
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <memory>
#include <string>

#include "ingester/query/query_exec.h"

namespace ingester::query {

struct TracingQueryExecOptions {
  // The span's name.
  std::string name = "query";
  // Where spans go; null means spdlog's default logger (resolved at each query).
  std::shared_ptr<spdlog::logger> logger;
  // Level of successful and cancelled spans; failed ones are logged at warn.
  spdlog::level::level_enum level = spdlog::level::info;
};

// Thread-safe when `inner` is.
class TracingQueryExec final : public QueryExec {
 public:
  TracingQueryExec(std::shared_ptr<QueryExec> inner, TracingQueryExecOptions options);

  arrow::Result<std::unique_ptr<QueryResponse>> Query(
      const QueryRequest& request) override;

 private:
  const std::shared_ptr<QueryExec> inner_;
  const TracingQueryExecOptions options_;
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace ingester::query
