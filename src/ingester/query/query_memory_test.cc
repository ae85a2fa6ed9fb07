// Nothing collects a whole result: a slow reader pins at most about one batch per open
// partition response beyond the buffered data, while writes go on.
//
// The query side allocates (filtered and projected batches) from its own tracking pool,
// so what a query pins is measured exactly; the default pool, which the buffer, the WAL
// and both ends of Flight use, is checked against the buffer's own byte count.
#include <arrow/api.h>
#include <arrow/flight/api.h>
#include <arrow/util/byte_size.h>
#include <gtest/gtest.h>

#include <random>

#include "ingester/query/flight_service.h"
#include "ingester/query/flight_stream.h"
#include "ingester/query/query_test_util.h"
#include "ingester/query/ticket.h"

namespace ingester::query {
namespace {

namespace flight = arrow::flight;
using namespace ingester::query::testing;  // NOLINT

constexpr int64_t kRowsPerBatch = 16 * 1024;
constexpr int kHosts = 100;

// TSBS-like rows: a host tag (dictionary of 100 values), two fields, time.
std::shared_ptr<arrow::RecordBatch> MakeBatch(int64_t start, std::mt19937_64* rng) {
  arrow::StringDictionary32Builder host;
  arrow::Int64Builder usage;
  arrow::DoubleBuilder load;
  arrow::TimestampBuilder time(arrow::timestamp(arrow::TimeUnit::NANO),
                               arrow::default_memory_pool());
  for (int64_t i = 0; i < kRowsPerBatch; ++i) {
    EXPECT_TRUE(host.Append("host_" + std::to_string((*rng)() % kHosts)).ok());
    EXPECT_TRUE(usage.Append(static_cast<int64_t>((*rng)() % 100)).ok());
    EXPECT_TRUE(load.Append(static_cast<double>((*rng)() % 1000) / 10).ok());
    EXPECT_TRUE(time.Append(start + i).ok());
  }
  auto schema = arrow::schema(
      {arrow::field("host", arrow::dictionary(arrow::int32(), arrow::utf8())),
       arrow::field("usage", arrow::int64()), arrow::field("load", arrow::float64()),
       arrow::field("time", arrow::timestamp(arrow::TimeUnit::NANO), false)});
  return arrow::RecordBatch::Make(
      schema, kRowsPerBatch,
      {host.Finish().ValueOrDie(), usage.Finish().ValueOrDie(),
       load.Finish().ValueOrDie(), time.Finish().ValueOrDie()});
}

class QueryMemoryTest : public ::testing::Test {
 protected:
  QueryMemoryTest() : pool_(arrow::default_memory_pool()) {
    QueryFixtureOptions options;
    options.query_pool = &pool_;
    options.max_batch_rows = kRowsPerBatch;
    f_ = std::make_unique<QueryFixture>(options);
  }

  // Writes `batches` batches of the day starting at `day`, through the whole write path.
  void Write(int64_t day, int batches) {
    for (int b = 0; b < batches; ++b) {
      auto batch = MakeBatch(day + next_row_, &rng_);
      next_row_ += kRowsPerBatch;
      auto written = f_->writer()->WriteBatches("db", "cpu", {batch});
      ASSERT_TRUE(written.ok()) << written.status().ToString();
    }
  }

  // Half the hosts: every batch needs a filtered copy, about half its size.
  static Predicate HalfTheHosts() {
    Predicate p;
    TagPredicate hosts{"host", {}};
    for (int h = 0; h < kHosts; h += 2)
      hosts.values.push_back("host_" + std::to_string(h));
    p.tags.push_back(std::move(hosts));
    return p;
  }

  // Default-pool bytes not held by the buffer tree.
  int64_t Overhead() {
    return arrow::default_memory_pool()->bytes_allocated() -
           f_->buffer()->BufferedBytes();
  }

  arrow::ProxyMemoryPool pool_;  // what queries allocate
  std::unique_ptr<QueryFixture> f_;
  std::mt19937_64 rng_{42};
  int64_t next_row_ = 0;
};

TEST_F(QueryMemoryTest, APausedConsumerPinsOneOutputBatch) {
  Write(kDay1, 48);
  Write(kDay2, 8);
  auto response =
      f_->exec()->Query(Request({"host", "usage"}, HalfTheHosts())).ValueOrDie();
  auto partition = response->NextPartition().ValueOrDie();
  auto held = partition->Next().ValueOrDie();
  const int64_t batch_bytes = pool_.bytes_allocated();
  ASSERT_GT(batch_bytes, 0);
  ASSERT_GT(held->num_rows(), kRowsPerBatch / 4);

  // Writes go on while the consumer sits on its batch.
  Write(kDay1, 8);
  Write(kDay2, 8);
  EXPECT_EQ(pool_.bytes_allocated(), batch_bytes);

  // Pulling on: each batch replaces the last; the peak stays one batch (plus the
  // kernels' temporaries), never the 48 batches of the partition.
  held.reset();
  int64_t batches = 0, rows = 0;
  while (auto b = partition->Next().ValueOrDie()) {
    ++batches;
    rows += b->num_rows();
  }
  EXPECT_EQ(batches, 47);  // the partition as it was when its turn came
  EXPECT_GT(rows, 0);
  EXPECT_LT(pool_.max_memory(), 3 * batch_bytes);
  std::cout << "one output batch: " << batch_bytes
            << " bytes; peak of the query pool: " << pool_.max_memory() << " bytes over "
            << batches + 1 << " batches\n";
}

TEST_F(QueryMemoryTest, ASlowFlightReaderHoldsALargeResultWhileWritesContinue) {
  FlightServiceOptions options;
  options.port = 0;
  auto service = FlightService::Start(options, f_->exec(), nullptr, {}).ValueOrDie();
  auto client =
      flight::FlightClient::Connect(
          flight::Location::ForGrpcTcp("127.0.0.1", service->port()).ValueOrDie())
          .ValueOrDie();
  Write(kDay1, 64);
  Write(kDay2, 16);
  const int64_t result_batches = 64 + 16 + 32;  // with the writes made during the read
  const int64_t overhead_before = Overhead();
  std::cout << "buffered: " << f_->buffer()->BufferedBytes() << " bytes\n";

  const std::string ticket =
      TicketJson(Request({"host", "usage", "time"}, HalfTheHosts()));
  auto reader = client->DoGet(flight::Ticket{ticket}).ValueOrDie();
  auto frame = reader->Next().ValueOrDie();
  ASSERT_NE(frame.app_metadata, nullptr);
  auto first = reader->Next().ValueOrDie();
  ASSERT_GT(first.data->num_rows(), 0);
  const int64_t batch_bytes = arrow::util::TotalBufferSize(*first.data);

  // The reader pauses; writes continue: to the partition whose turn is to come (seen)
  // and to a new day (not seen: created after the query started).
  Write(kDay2, 32);
  Write(kDay3, 8);
  const int64_t pinned = pool_.bytes_allocated();
  const int64_t overhead_during = Overhead();
  std::cout << "output batch ~" << batch_bytes << " bytes; while paused: query pool "
            << pinned << " bytes, default pool beyond the buffer +"
            << overhead_during - overhead_before << " bytes\n";
  // A handful of batches at most (the one being written to gRPC, the one the client
  // holds); materialising the result would hold about `result_batches` of them.
  EXPECT_LT(pinned, 4 * batch_bytes);
  EXPECT_LT(overhead_during - overhead_before, 6 * batch_bytes);

  // Reading on: every row of day 1 and 2 (including the writes made meanwhile), in two
  // partitions; day 3 never appears.
  int64_t rows = first.data->num_rows();
  std::vector<std::string> keys = {"2023-11-14"};
  while (true) {
    auto chunk = reader->Next().ValueOrDie();
    if (chunk.data == nullptr) break;
    if (chunk.app_metadata != nullptr) {
      keys.push_back(
          PartitionFrame::Parse(chunk.app_metadata->ToString())->partition_key);
    }
    rows += chunk.data->num_rows();
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"2023-11-14", "2023-11-15"}));
  EXPECT_GT(rows, result_batches * kRowsPerBatch / 3);
  EXPECT_LT(rows, result_batches * kRowsPerBatch * 2 / 3);
  EXPECT_LT(pool_.max_memory(), 4 * batch_bytes);
  std::cout << "peak of the query pool over " << rows << " rows: " << pool_.max_memory()
            << " bytes\n";
  ASSERT_TRUE(service->Shutdown().ok());
}

}  // namespace
}  // namespace ingester::query
