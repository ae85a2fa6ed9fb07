// The tracing and metrics decorators, over the real BufferTreeQueryExec.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "ingester/common/error.h"
#include "ingester/query/metrics_query_exec.h"
#include "ingester/query/query_test_util.h"
#include "ingester/query/tracing_query_exec.h"

namespace ingester::query {
namespace {

using namespace ingester::query::testing;  // NOLINT
using ::testing::HasSubstr;

class TracingTest : public ::testing::Test {
 protected:
  TracingTest() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    logger_ = std::make_shared<spdlog::logger>("tracing-test", sink);
    logger_->set_level(spdlog::level::trace);
    logger_->set_pattern("%l %v");
  }
  TracingQueryExecOptions Options() {
    TracingQueryExecOptions options;
    options.name = "flight_do_get";
    options.logger = logger_;
    return options;
  }
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> logger_;
};

TEST_F(TracingTest, OneSpanPerQueryWithItsFigures) {
  QueryFixture f;
  f.Write("cpu,host=a v=1i " + std::to_string(kDay1) + "\ncpu,host=b v=2i " +
          std::to_string(kDay2) + "\n");
  TracingQueryExec tracing(Borrow(f.exec()), Options());
  auto response = tracing.Query(Request()).ValueOrDie();
  EXPECT_EQ(out_.str(), "");  // the span ends with the stream, not before
  ASSERT_EQ(CollectAll(response.get()).ValueOrDie().size(), 2u);
  const std::string log = out_.str();
  EXPECT_THAT(log,
              HasSubstr("info query span=flight_do_get id=1 namespace=db table=cpu"));
  EXPECT_THAT(log, HasSubstr("partitions=2 rows=2 status=ok"));
  EXPECT_THAT(log, HasSubstr("duration_ms="));
  response.reset();
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1);
  EXPECT_EQ(out_.str(), log);  // nothing more when the finished response goes away
}

TEST_F(TracingTest, FailuresAreLoggedWithTheError) {
  QueryFixture f;
  TracingQueryExec tracing(Borrow(f.exec()), Options());
  EXPECT_FALSE(tracing.Query(Request({}, {}, "cpu", "nowhere")).ok());
  EXPECT_THAT(out_.str(),
              HasSubstr("warning query span=flight_do_get id=1 namespace=nowhere"));
  EXPECT_THAT(out_.str(), HasSubstr("status=error error=\""));
  EXPECT_THAT(out_.str(), HasSubstr("'nowhere' not found"));

  TracingQueryExec failing(std::make_shared<FailingExec>(), Options());
  auto response = failing.Query(Request()).ValueOrDie();
  EXPECT_FALSE(response->NextPartition().ok());
  EXPECT_THAT(out_.str(), HasSubstr("disk on fire"));
}

TEST_F(TracingTest, DroppedResponsesAreCancelledSpans) {
  QueryFixture f;
  f.Write("cpu,host=a v=1i " + std::to_string(kDay1) + "\n");
  TracingQueryExec tracing(Borrow(f.exec()), Options());
  auto response = tracing.Query(Request()).ValueOrDie();
  ASSERT_NE(response->NextPartition().ValueOrDie(), nullptr);
  response.reset();
  EXPECT_THAT(out_.str(), HasSubstr("partitions=1 rows=0 status=cancelled"));
}

TEST(MetricsQueryExecTest, CountsQueriesRowsBytesAndFailures) {
  QueryFixture f;
  f.Write("cpu,host=a v=1i " + std::to_string(kDay1) + "\ncpu,host=b v=2i " +
          std::to_string(kDay1 + 1) + "\ncpu,host=c v=3i " + std::to_string(kDay2) +
          "\n");
  MetricsRegistry registry;
  MetricsQueryExec metered(Borrow(f.exec()), &registry);
  const QueryMetrics& m = metered.metrics();

  auto response = metered.Query(Request({"v"})).ValueOrDie();
  EXPECT_EQ(m.active->value(), 1);
  ASSERT_EQ(CollectAll(response.get()).ValueOrDie().size(), 2u);
  EXPECT_EQ(m.requests->value(), 1);
  EXPECT_EQ(m.partitions->value(), 2);
  EXPECT_EQ(m.rows->value(), 3);
  EXPECT_EQ(m.bytes->value(), 3 * 8);  // three int64 values, no nulls
  EXPECT_EQ(m.failures->value(), 0);
  EXPECT_EQ(m.active->value(), 0);
  EXPECT_GE(m.duration_us->value(), 0);

  EXPECT_FALSE(metered.Query(Request({"nope"})).ok());
  EXPECT_EQ(m.requests->value(), 2);
  EXPECT_EQ(m.failures->value(), 1);

  auto dropped = metered.Query(Request()).ValueOrDie();
  dropped.reset();
  EXPECT_EQ(m.cancelled->value(), 1);
  EXPECT_EQ(m.active->value(), 0);

  MetricsRegistry other;
  MetricsQueryExec failing(std::make_shared<FailingExec>(), &other);
  auto broken = failing.Query(Request()).ValueOrDie();
  EXPECT_FALSE(broken->NextPartition().ok());
  EXPECT_EQ(failing.metrics().failures->value(), 1);

  const std::string text = registry.RenderText();
  EXPECT_THAT(text, HasSubstr("ingester_query_requests_total 3"));
  EXPECT_THAT(text, HasSubstr("ingester_query_rows_total 3"));
  EXPECT_THAT(text, HasSubstr("ingester_query_failures_total 1"));
}

TEST(DecoratorsTest, StackAsTheServerStacksThem) {
  QueryFixture f;
  f.Write("cpu,host=a v=1i " + std::to_string(kDay1) + "\n");
  MetricsRegistry registry;
  auto metered = std::make_shared<MetricsQueryExec>(Borrow(f.exec()), &registry);
  TracingQueryExec traced(metered, {});
  auto response = traced.Query(Request()).ValueOrDie();
  EXPECT_EQ(Rows(CollectAll(response.get()).ValueOrDie()).size(), 1u);
  EXPECT_EQ(metered->metrics().rows->value(), 1);
}

}  // namespace
}  // namespace ingester::query
