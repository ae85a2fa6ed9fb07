#include "ingester/query/limited_query_exec.h"

#include <string>

#include "ingester/common/error.h"
#include "ingester/common/thread_annotations.h"
#include "ingester/query/response_observer.h"

namespace ingester::query {

class LimitedQueryExec::Slots {
 public:
  explicit Slots(int limit) : limit_(limit) {}

  bool TryAcquire() {
    MutexLock lock(&mu_);
    if (active_ >= limit_) return false;
    ++active_;
    return true;
  }
  void Release() {
    MutexLock lock(&mu_);
    --active_;
    released_.NotifyAll();
  }
  int active() {
    MutexLock lock(&mu_);
    return active_;
  }
  void WaitUntilAtMost(int n) {
    MutexLock lock(&mu_);
    released_.Wait(&mu_, [&]() REQUIRES(mu_) { return active_ <= n; });
  }
  int limit() const { return limit_; }

 private:
  const int limit_;
  Mutex mu_;
  CondVar released_;  // signalled by every Release()
  int active_ GUARDED_BY(mu_) = 0;
};

namespace {

// Gives the slot back when destroyed: ObserveResponse keeps an observer alive as long as
// the response or any of its partition responses lives, which is exactly how long the
// query pins data.
template <typename Slots>
class SlotHolder final : public ResponseObserver {
 public:
  explicit SlotHolder(std::shared_ptr<Slots> slots) : slots_(std::move(slots)) {}
  ~SlotHolder() override { slots_->Release(); }
  void OnFinish(const arrow::Status&) override {}

 private:
  const std::shared_ptr<Slots> slots_;
};

}  // namespace

arrow::Status LimitedQueryExecOptions::Validate() const {
  if (concurrent_query_limit < 1) {
    return arrow::Status::Invalid("concurrent query limit must be at least 1, got ",
                                  concurrent_query_limit);
  }
  return arrow::Status::OK();
}

arrow::Result<std::unique_ptr<LimitedQueryExec>> LimitedQueryExec::Make(
    std::shared_ptr<QueryExec> inner, const LimitedQueryExecOptions& options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  if (inner == nullptr)
    return arrow::Status::Invalid("limited query exec: no inner exec");
  Counter* refused = nullptr;
  if (options.metrics != nullptr) {
    refused = options.metrics->AddCounter(
        "ingester_query_refused_total",
        "Queries refused over the concurrent query limit (--concurrent-query-limit)");
  }
  return std::unique_ptr<LimitedQueryExec>(new LimitedQueryExec(
      std::move(inner), std::make_shared<Slots>(options.concurrent_query_limit),
      refused));
}

LimitedQueryExec::LimitedQueryExec(std::shared_ptr<QueryExec> inner,
                                   std::shared_ptr<Slots> slots, Counter* refused)
    : inner_(std::move(inner)), slots_(std::move(slots)), refused_(refused) {}

LimitedQueryExec::~LimitedQueryExec() = default;

arrow::Result<std::unique_ptr<QueryResponse>> LimitedQueryExec::Query(
    const QueryRequest& request) {
  if (!slots_->TryAcquire()) {
    if (refused_ != nullptr) refused_->Add();
    return Backpressure("RESOURCE_EXHAUSTED: " + std::to_string(slots_->limit()) +
                        " queries are running (--concurrent-query-limit); try again "
                        "later");
  }
  auto response = inner_->Query(request);
  if (!response.ok()) {
    slots_->Release();
    return response.status();
  }
  return ObserveResponse(std::move(*response),
                         std::make_shared<SlotHolder<Slots>>(slots_));
}

int LimitedQueryExec::limit() const { return slots_->limit(); }

int LimitedQueryExec::active() const { return slots_->active(); }

void LimitedQueryExec::TEST_WaitForActive(int at_most) const {
  slots_->WaitUntilAtMost(at_most);
}

}  // namespace ingester::query
