// The DoGet stream on its own: what it pulls from a response while it sends, and what
// it lets go when dropped.
#include "ingester/query/flight_stream.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <atomic>

#include "ingester/query/query_test_util.h"

namespace ingester::query {
namespace {

std::shared_ptr<arrow::Schema> Schema() {
  return arrow::schema({arrow::field("v", arrow::int64())});
}

// One partition of `batches` one-row batches (v = 0, 1, ...), counting the batches
// pulled and whether the response still exists.
class CountingResponse final : public QueryResponse {
 public:
  CountingResponse(int batches, std::atomic<int>* pulled, std::atomic<bool>* alive)
      : schema_(Schema()), batches_(batches), pulled_(pulled), alive_(alive) {
    *alive_ = true;
  }
  ~CountingResponse() override { *alive_ = false; }
  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }
  arrow::Result<std::unique_ptr<PartitionResponse>> NextPartition() override {
    if (partitions_++ > 0) return nullptr;
    return std::make_unique<Partition>(this);
  }

 private:
  class Partition final : public PartitionResponse {
   public:
    explicit Partition(CountingResponse* response) : response_(response) {
      info_.partition_id = PartitionId(1);
      info_.partition_key = "2024-01-01";
    }
    const PartitionInfo& info() const override { return info_; }
    arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
      if (next_ >= response_->batches_) return nullptr;
      ++*response_->pulled_;
      arrow::Int64Builder v;
      ARROW_RETURN_NOT_OK(v.Append(next_++));
      ARROW_ASSIGN_OR_RAISE(auto column, v.Finish());
      return arrow::RecordBatch::Make(response_->schema_, 1, {column});
    }

   private:
    CountingResponse* const response_;
    PartitionInfo info_;
    int next_ = 0;
  };

  const std::shared_ptr<arrow::Schema> schema_;
  const int batches_;
  std::atomic<int>* const pulled_;
  std::atomic<bool>* const alive_;
  int partitions_ = 0;
};

// The stream computes the next messages while the current ones are sent, but never
// more than one batch ahead of what it has handed to gRPC: a client that stops reading
// holds back the query.
TEST(FlightStreamTest, PullsAtMostOneBatchAheadOfTheSend) {
  std::atomic<int> pulled{0};
  std::atomic<bool> alive{false};
  int done = 0;
  ASSERT_OK_AND_ASSIGN(stream, MakeQueryFlightStream(
                                   std::make_unique<CountingResponse>(8, &pulled, &alive),
                                   "i", [&] { ++done; }, nullptr));
  ASSERT_OK_AND_ASSIGN(schema, stream->GetSchemaPayload());
  EXPECT_NE(schema.ipc_message.metadata, nullptr);
  ASSERT_OK_AND_ASSIGN(frame, stream->Next());
  ASSERT_NE(frame.app_metadata, nullptr);  // the partition frame
  int sent = 0;
  std::vector<int64_t> values;
  while (true) {
    EXPECT_LE(pulled.load(), sent + 1);
    ASSERT_OK_AND_ASSIGN(payload, stream->Next());
    if (payload.ipc_message.metadata == nullptr) break;  // the end
    ++sent;
    EXPECT_LE(pulled.load(), sent + 1);
    // The batches keep their order: the body's last buffer is the values of `v`.
    const auto& body = payload.ipc_message.body_buffers;
    ASSERT_FALSE(body.empty());
    ASSERT_GE(body.back()->size(), 8);
    values.push_back(reinterpret_cast<const int64_t*>(body.back()->data())[0]);
  }
  EXPECT_EQ(values, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(sent, 8);
  EXPECT_EQ(pulled.load(), 8);
  EXPECT_EQ(done, 1);
  EXPECT_FALSE(alive.load());
}

// A client that goes away mid-stream: dropping the stream waits for the step being
// computed, then releases the response and runs on_done once.
TEST(FlightStreamTest, DroppingTheStreamMidwayReleasesTheResponseOnce) {
  for (int sent_before_drop = 0; sent_before_drop < 4; ++sent_before_drop) {
    std::atomic<int> pulled{0};
    std::atomic<bool> alive{false};
    int done = 0;
    ASSERT_OK_AND_ASSIGN(
        stream, MakeQueryFlightStream(
                    std::make_unique<CountingResponse>(100, &pulled, &alive), "i",
                    [&] { ++done; }, nullptr));
    ASSERT_OK_AND_ASSIGN(frame, stream->Next());
    for (int i = 0; i < sent_before_drop; ++i) {
      ASSERT_OK_AND_ASSIGN(payload, stream->Next());
      ASSERT_NE(payload.ipc_message.metadata, nullptr);
    }
    EXPECT_TRUE(alive.load());
    stream.reset();
    EXPECT_FALSE(alive.load());
    EXPECT_EQ(done, 1);
    EXPECT_LE(pulled.load(), sent_before_drop + 1);
  }
}

}  // namespace
}  // namespace ingester::query
