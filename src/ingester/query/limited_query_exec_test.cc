// The concurrent query limit, over the real BufferTreeQueryExec.
#include "ingester/query/limited_query_exec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "ingester/common/error.h"
#include "ingester/query/query_test_util.h"

namespace ingester::query {
namespace {

using namespace ingester::query::testing;  // NOLINT
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Counts the queries that reached it and the responses it handed out that are alive.
class CountingExec final : public QueryExec {
 public:
  explicit CountingExec(QueryExec* inner) : inner_(inner) {}

  arrow::Result<std::unique_ptr<QueryResponse>> Query(
      const QueryRequest& request) override {
    calls_.fetch_add(1);
    ARROW_ASSIGN_OR_RAISE(auto inner, inner_->Query(request));
    const int now = alive_.fetch_add(1) + 1;
    int seen = max_alive_.load();
    while (now > seen && !max_alive_.compare_exchange_weak(seen, now)) {
    }
    return std::make_unique<Response>(std::move(inner), &alive_);
  }
  int calls() const { return calls_.load(); }
  int alive() const { return alive_.load(); }
  int max_alive() const { return max_alive_.load(); }

 private:
  class Response final : public QueryResponse {
   public:
    Response(std::unique_ptr<QueryResponse> inner, std::atomic<int>* alive)
        : inner_(std::move(inner)), alive_(alive) {}
    ~Response() override { alive_->fetch_sub(1); }
    const std::shared_ptr<arrow::Schema>& schema() const override {
      return inner_->schema();
    }
    arrow::Result<std::unique_ptr<PartitionResponse>> NextPartition() override {
      return inner_->NextPartition();
    }

   private:
    std::unique_ptr<QueryResponse> inner_;
    std::atomic<int>* alive_;
  };

  QueryExec* const inner_;
  std::atomic<int> calls_{0};
  std::atomic<int> alive_{0};
  std::atomic<int> max_alive_{0};
};

std::unique_ptr<LimitedQueryExec> Limit(std::shared_ptr<QueryExec> inner, int limit,
                                        MetricsRegistry* metrics = nullptr) {
  LimitedQueryExecOptions options;
  options.concurrent_query_limit = limit;
  options.metrics = metrics;
  return LimitedQueryExec::Make(std::move(inner), options).ValueOrDie();
}

TEST(LimitedQueryExecTest, AQueryHoldsItsSlotUntilItsResponseIsDropped) {
  QueryFixture f;
  f.Write("cpu,host=a v=1i " + std::to_string(kDay1) + "\ncpu,host=b v=2i " +
          std::to_string(kDay2) + "\n");
  CountingExec counting(f.exec());
  MetricsRegistry registry;
  auto limited = Limit(Borrow(&counting), 1, &registry);
  EXPECT_EQ(limited->limit(), 1);

  ASSERT_OK_AND_ASSIGN(first, limited->Query(Request()));
  EXPECT_EQ(limited->active(), 1);
  auto refused = limited->Query(Request());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(ErrorKindOf(refused.status()), ErrorKind::kBackpressure);
  EXPECT_THAT(refused.status().message(), StartsWith("RESOURCE_EXHAUSTED: "));
  EXPECT_THAT(refused.status().message(), HasSubstr("--concurrent-query-limit"));
  EXPECT_EQ(counting.calls(), 1);  // a refused query never reaches the executor
  EXPECT_THAT(registry.RenderText(), HasSubstr("ingester_query_refused_total 1"));

  // Read to the end, the response still holds its slot: it is released when dropped.
  ASSERT_OK_AND_ASSIGN(partitions, CollectAll(first.get()));
  EXPECT_EQ(Rows(partitions).size(), 2u);
  EXPECT_EQ(limited->active(), 1);
  EXPECT_FALSE(limited->Query(Request()).ok());
  first.reset();
  EXPECT_EQ(limited->active(), 0);
  EXPECT_EQ(counting.alive(), 0);

  ASSERT_OK_AND_ASSIGN(again, limited->Query(Request({"v"})));
  ASSERT_OK_AND_ASSIGN(rows, CollectAll(again.get()));
  EXPECT_THAT(Rows(rows), ::testing::ElementsAre("v=1", "v=2"));
}

TEST(LimitedQueryExecTest, APartitionResponseKeepsTheSlotAfterItsQueryResponseIsGone) {
  QueryFixture f;
  f.Write("cpu,host=a v=1i " + std::to_string(kDay1) + "\n");
  auto limited = Limit(Borrow(f.exec()), 1);
  ASSERT_OK_AND_ASSIGN(response, limited->Query(Request({"v"})));
  ASSERT_OK_AND_ASSIGN(partition, response->NextPartition());
  ASSERT_NE(partition, nullptr);
  response.reset();
  EXPECT_EQ(limited->active(), 1);  // the partition still pins its data
  ASSERT_OK_AND_ASSIGN(batch, partition->Next());
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(batch->num_rows(), 1);
  partition.reset();
  EXPECT_EQ(limited->active(), 0);
}

TEST(LimitedQueryExecTest, AFailedQueryGivesItsSlotBack) {
  QueryFixture f;
  f.Write("cpu,host=a v=1i " + std::to_string(kDay1) + "\n");
  auto limited = Limit(Borrow(f.exec()), 1);

  auto unknown = limited->Query(Request({}, {}, "nope"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(ErrorKindOf(unknown.status()), ErrorKind::kNotFound);  // passed through
  EXPECT_EQ(limited->active(), 0);
  auto bad_column = limited->Query(Request({"nope"}));
  EXPECT_EQ(ErrorKindOf(bad_column.status()), ErrorKind::kInvalidInput);
  EXPECT_EQ(limited->active(), 0);

  // A response failing mid-stream holds its slot until it is dropped, like any other.
  auto failing = Limit(std::make_shared<FailingExec>(), 1);
  ASSERT_OK_AND_ASSIGN(broken, failing->Query(Request()));
  EXPECT_TRUE(broken->NextPartition().status().IsIOError());
  EXPECT_EQ(failing->active(), 1);
  broken.reset();
  EXPECT_EQ(failing->active(), 0);
}

TEST(LimitedQueryExecTest, NeverMoreThanTheLimitAtOnceUnderContention) {
  QueryFixture f;
  f.Write("cpu,host=a v=1i " + std::to_string(kDay1) + "\n");
  CountingExec counting(f.exec());
  auto limited = Limit(Borrow(&counting), 3);
  std::atomic<int> served{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto response = limited->Query(Request({"v"}));
        if (!response.ok()) {
          ASSERT_EQ(ErrorKindOf(response.status()), ErrorKind::kBackpressure);
          refused.fetch_add(1);
          continue;
        }
        auto rows = CollectAll(response->get());
        ASSERT_TRUE(rows.ok());
        served.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(served.load() + refused.load(), 8 * 200);
  EXPECT_GT(served.load(), 0);
  EXPECT_LE(counting.max_alive(), 3);
  EXPECT_EQ(counting.calls(), served.load());
  EXPECT_EQ(limited->active(), 0);
}

TEST(LimitedQueryExecTest, OptionsAreValidated) {
  QueryFixture f;
  LimitedQueryExecOptions options;
  options.concurrent_query_limit = 0;
  auto made = LimitedQueryExec::Make(Borrow(f.exec()), options);
  ASSERT_FALSE(made.ok());
  EXPECT_THAT(made.status().message(), HasSubstr("at least 1"));
  EXPECT_FALSE(LimitedQueryExec::Make(nullptr, {}).ok());
}

}  // namespace
}  // namespace ingester::query
