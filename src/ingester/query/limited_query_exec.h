// A QueryExec decorator that bounds the queries running at once
// (--concurrent-query-limit), for every reader of the process: Flight DoGet,
// GetFlightInfo / GetSchema / ListFlights, and POST /api/v3/query share one instance.
//
//   Query(request)  slot free   -> the inner response, wrapped; the slot is held until
//                                  the response and every partition response it handed
//                                  out are destroyed (read to the end, failed, or dropped
//                                  because the client went away)
//                   inner fails -> its error; the slot is given back at once
//                   over limit  -> Backpressure (common/error.h), message
//                                  "RESOURCE_EXHAUSTED: N queries are running ...";
//                                  the inner executor is not called
//
// The Flight service maps the refusal to UNAVAILABLE (its message keeps the
// RESOURCE_EXHAUSTED prefix), the HTTP server to 503 with Retry-After.
#pragma once

#include <memory>

#include "ingester/common/metrics.h"
#include "ingester/query/query_exec.h"

namespace ingester::query {

struct LimitedQueryExecOptions {
  // Queries holding a slot at once; more are refused.
  int concurrent_query_limit = 20;
  // Optional: refusals are counted as ingester_query_refused_total. Must outlive the
  // executor.
  MetricsRegistry* metrics = nullptr;

  arrow::Status Validate() const;
};

// Thread-safe when `inner` is.
class LimitedQueryExec final : public QueryExec {
 public:
  static arrow::Result<std::unique_ptr<LimitedQueryExec>> Make(
      std::shared_ptr<QueryExec> inner, const LimitedQueryExecOptions& options);
  ~LimitedQueryExec() override;

  arrow::Result<std::unique_ptr<QueryResponse>> Query(
      const QueryRequest& request) override;

  int limit() const;
  // Queries holding a slot now.
  int active() const;
  // Waits until at most `at_most` queries hold a slot (tests: a Flight stream whose
  // client went away is destroyed on a gRPC thread, asynchronously).
  void TEST_WaitForActive(int at_most) const;

 private:
  class Slots;
  LimitedQueryExec(std::shared_ptr<QueryExec> inner, std::shared_ptr<Slots> slots,
                   Counter* refused);

  const std::shared_ptr<QueryExec> inner_;
  // Shared with the responses holding a slot, which may outlive this object.
  const std::shared_ptr<Slots> slots_;
  Counter* const refused_;  // null without a registry
};

}  // namespace ingester::query
