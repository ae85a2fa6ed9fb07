// Flight DoPut against bad input, over the wire (Arrow IPC through gRPC) with the Arrow
// C++ Flight client: malformed batches and the per-call size limit are refused with
// INVALID_ARGUMENT before anything reaches the WAL, and the service goes on serving.
#include <arrow/flight/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "ingester/query/flight_service.h"
#include "ingester/query/query_test_util.h"

namespace ingester::query {
namespace {

namespace flight = arrow::flight;
using namespace ingester::query::testing;  // NOLINT
using ::testing::HasSubstr;

class FlightDoPutTest : public ::testing::Test {
 protected:
  void Start(FlightServiceOptions options = {}) {
    f_ = std::make_unique<QueryFixture>();
    options.port = 0;
    service_ = FlightService::Start(options, f_->exec(), f_->writer(), f_->Lister())
                   .ValueOrDie();
    auto location =
        flight::Location::ForGrpcTcp("127.0.0.1", service_->port()).ValueOrDie();
    client_ = flight::FlightClient::Connect(location).ValueOrDie();
  }
  void TearDown() override {
    if (service_) {
      EXPECT_TRUE(service_->Shutdown().ok());
    }
  }

  // Sends `batches` in one call; returns the acks received, or the call's error.
  arrow::Result<int> Put(const arrow::RecordBatchVector& batches,
                         const std::string& table = "t") {
    ARROW_ASSIGN_OR_RAISE(auto put,
                          client_->DoPut(flight::FlightCallOptions{},
                                         flight::FlightDescriptor::Path({"db", table}),
                                         batches[0]->schema()));
    int acks = 0;
    for (const auto& batch : batches) {
      ARROW_RETURN_NOT_OK(put.writer->WriteRecordBatch(*batch));
      std::shared_ptr<arrow::Buffer> ack;
      ARROW_RETURN_NOT_OK(put.reader->ReadMetadata(&ack));
      if (ack == nullptr) break;  // the server ended the call: Close() says why
      ++acks;
    }
    ARROW_RETURN_NOT_OK(put.writer->DoneWriting());
    ARROW_RETURN_NOT_OK(put.writer->Close());
    return acks;
  }

  std::unique_ptr<QueryFixture> f_;
  std::unique_ptr<FlightService> service_;
  std::unique_ptr<flight::FlightClient> client_;
};

// host = dictionary<int32, utf8> with the one value "a" and `index` in every row.
std::shared_ptr<arrow::RecordBatch> TagBatch(int32_t index) {
  auto indices = arrow::Buffer::FromString(
      std::string(reinterpret_cast<const char*>(&index), sizeof(index)));
  auto host = arrow::ArrayData::Make(arrow::dictionary(arrow::int32(), arrow::utf8()), 1,
                                     {nullptr, indices}, 0);
  arrow::StringBuilder values;
  EXPECT_TRUE(values.Append("a").ok());
  host->dictionary = values.Finish().ValueOrDie()->data();
  arrow::Int64Builder time;
  EXPECT_TRUE(time.Append(kDay1).ok());
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("host", host->type),
                                                 arrow::field("time", arrow::int64())}),
                                  1,
                                  {arrow::MakeArray(host), time.Finish().ValueOrDie()});
}

TEST_F(FlightDoPutTest, MalformedBatchIsRefusedBeforeTheWal) {
  Start();
  ASSERT_OK_AND_ASSIGN(ok, Put({TagBatch(0)}));
  EXPECT_EQ(ok, 1);
  for (int32_t index : {std::numeric_limits<int32_t>::max(), 1}) {
    auto refused = Put({TagBatch(index)});
    ASSERT_FALSE(refused.ok()) << index;
    EXPECT_TRUE(refused.status().IsInvalid()) << refused.status().ToString();
    EXPECT_THAT(refused.status().message(),
                HasSubstr("column 'host' row 0: dictionary index " +
                          std::to_string(index) + " is out of range"));
  }
  EXPECT_EQ(f_->wal()->stats().appends, 1);
  // Still serving, and the acknowledged row is there.
  ASSERT_OK_AND_ASSIGN(again, Put({TagBatch(0)}));
  EXPECT_EQ(again, 1);
  EXPECT_EQ(f_->wal()->stats().appends, 2);
}

TEST_F(FlightDoPutTest, CallOverTheSizeLimitIsRefusedAtTheBatchThatCrossesIt) {
  // Each batch: 1,000 int64 values and 1,000 times = 16,000 bytes of Arrow data.
  auto batch = [](int64_t first) {
    arrow::Int64Builder v, time;
    for (int64_t i = 0; i < 1000; ++i) {
      EXPECT_TRUE(v.Append(first + i).ok());
      EXPECT_TRUE(time.Append(kDay1 + first + i).ok());
    }
    return arrow::RecordBatch::Make(
        arrow::schema(
            {arrow::field("v", arrow::int64()), arrow::field("time", arrow::int64())}),
        1000, {v.Finish().ValueOrDie(), time.Finish().ValueOrDie()});
  };
  FlightServiceOptions options;
  options.max_put_bytes = 40'000;
  Start(options);
  // Two batches fit (32,000 bytes); the third crosses the limit and is not written.
  auto refused = Put({batch(0), batch(1000), batch(2000), batch(3000)});
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsInvalid()) << refused.status().ToString();
  EXPECT_THAT(refused.status().message(), HasSubstr("DoPut too large"));
  EXPECT_THAT(refused.status().message(), HasSubstr("--max-flight-put-size"));
  EXPECT_THAT(refused.status().message(), HasSubstr("2000 rows acknowledged"));
  EXPECT_EQ(f_->wal()->stats().appends, 2);
  // The limit is per call: a new call may send as much again.
  ASSERT_OK_AND_ASSIGN(acks, Put({batch(4000), batch(5000)}));
  EXPECT_EQ(acks, 2);
  // One batch alone over the limit.
  options.max_put_bytes = 1000;
  EXPECT_TRUE(service_->Shutdown().ok());
  Start(options);
  auto single = Put({batch(0)});
  ASSERT_FALSE(single.ok());
  EXPECT_THAT(single.status().message(), HasSubstr("16000 bytes"));
  EXPECT_EQ(f_->wal()->stats().appends, 0);
}

TEST(FlightServiceOptionsTest, MaxPutBytesMustBePositive) {
  FlightServiceOptions options;
  EXPECT_EQ(options.max_put_bytes, 64 << 20);
  options.max_put_bytes = 0;
  EXPECT_THAT(options.Validate().message(), HasSubstr("max_put_bytes"));
}

}  // namespace
}  // namespace ingester::query
