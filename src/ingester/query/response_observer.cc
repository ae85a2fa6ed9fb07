#include "ingester/query/response_observer.h"

namespace ingester::query {

namespace {

// Shared by the response and its partitions: whoever sees the end first reports it.
// Not thread-safe, like the responses themselves (one consumer).
struct Watch {
  std::shared_ptr<ResponseObserver> observer;
  bool finished = false;

  void Finish(const arrow::Status& status) {
    if (finished) return;
    finished = true;
    observer->OnFinish(status);
  }
};

class ObservedPartition final : public PartitionResponse {
 public:
  ObservedPartition(std::unique_ptr<PartitionResponse> inner,
                    std::shared_ptr<Watch> watch)
      : watch_(std::move(watch)), inner_(std::move(inner)) {}

  const PartitionInfo& info() const override { return inner_->info(); }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    auto batch = inner_->Next();
    if (!batch.ok()) {
      watch_->Finish(batch.status());
    } else if (*batch != nullptr) {
      watch_->observer->OnBatch(**batch);
    }
    return batch;
  }

 private:
  // Declared first, destroyed last: the observer outlives the inner response.
  std::shared_ptr<Watch> watch_;
  std::unique_ptr<PartitionResponse> inner_;
};

class ObservedResponse final : public QueryResponse {
 public:
  ObservedResponse(std::unique_ptr<QueryResponse> inner, std::shared_ptr<Watch> watch)
      : watch_(std::move(watch)), inner_(std::move(inner)) {}

  ~ObservedResponse() override {
    watch_->Finish(arrow::Status::Cancelled("the response was dropped before its end"));
  }

  const std::shared_ptr<arrow::Schema>& schema() const override {
    return inner_->schema();
  }

  arrow::Result<std::unique_ptr<PartitionResponse>> NextPartition() override {
    auto partition = inner_->NextPartition();
    if (!partition.ok()) {
      watch_->Finish(partition.status());
      return partition.status();
    }
    if (*partition == nullptr) {
      watch_->Finish(arrow::Status::OK());
      return nullptr;
    }
    watch_->observer->OnPartition((*partition)->info());
    return std::make_unique<ObservedPartition>(std::move(*partition), watch_);
  }

 private:
  // Declared first, destroyed last: the observer outlives the inner response.
  std::shared_ptr<Watch> watch_;
  std::unique_ptr<QueryResponse> inner_;
};

}  // namespace

std::unique_ptr<QueryResponse> ObserveResponse(
    std::unique_ptr<QueryResponse> inner, std::shared_ptr<ResponseObserver> observer) {
  auto watch = std::make_shared<Watch>();
  watch->observer = std::move(observer);
  return std::make_unique<ObservedResponse>(std::move(inner), std::move(watch));
}

}  // namespace ingester::query
