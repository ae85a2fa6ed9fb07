// Proves the Arrow C++ build the project links against (system or pyarrow wheel) works
// end to end: a Parquet file written and read back, and a record batch round-tripped
// through an in-process Arrow Flight server and client on loopback.
#include <filesystem>
#include <memory>

#include <arrow/api.h>
#include <arrow/flight/api.h>
#include <arrow/io/api.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>

namespace ingester {
namespace {

std::shared_ptr<arrow::RecordBatch> MakeBatch() {
  arrow::StringBuilder hosts;
  arrow::DoubleBuilder usage;
  arrow::TimestampBuilder times(arrow::timestamp(arrow::TimeUnit::NANO),
                                arrow::default_memory_pool());
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(hosts.Append("host_" + std::to_string(i % 7)).ok());
    EXPECT_TRUE(usage.Append(i * 0.5).ok());
    EXPECT_TRUE(times.Append(1'700'000'000'000'000'000LL + i).ok());
  }
  auto schema = arrow::schema(
      {arrow::field("host", arrow::utf8()), arrow::field("usage", arrow::float64()),
       arrow::field("time", arrow::timestamp(arrow::TimeUnit::NANO))});
  return arrow::RecordBatch::Make(
      schema, 100,
      {hosts.Finish().ValueOrDie(), usage.Finish().ValueOrDie(),
       times.Finish().ValueOrDie()});
}

TEST(ArrowFoundation, ParquetRoundTrip) {
  auto batch = MakeBatch();
  auto path = std::filesystem::temp_directory_path() /
              ("foundation-" + std::to_string(::getpid()) + ".parquet");
  {
    auto sink = arrow::io::FileOutputStream::Open(path.string()).ValueOrDie();
    auto table = arrow::Table::FromRecordBatches({batch}).ValueOrDie();
    auto props = parquet::WriterProperties::Builder()
                     .compression(arrow::Compression::ZSTD)
                     ->build();
    ASSERT_TRUE(
        parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink, 64, props)
            .ok());
    ASSERT_TRUE(sink->Close().ok());
  }
  auto input = arrow::io::ReadableFile::Open(path.string()).ValueOrDie();
  auto reader =
      parquet::arrow::OpenFile(input, arrow::default_memory_pool()).ValueOrDie();
  auto read = reader->ReadTable().ValueOrDie();
  EXPECT_EQ(reader->parquet_reader()->metadata()->num_row_groups(), 2);  // 100 rows / 64
  auto combined = read->CombineChunksToBatch().ValueOrDie();
  EXPECT_TRUE(combined->Equals(*batch)) << combined->ToString();
  std::filesystem::remove(path);
}

class OneBatchServer : public arrow::flight::FlightServerBase {
 public:
  explicit OneBatchServer(std::shared_ptr<arrow::RecordBatch> batch)
      : batch_(std::move(batch)) {}
  arrow::Status DoGet(const arrow::flight::ServerCallContext&,
                      const arrow::flight::Ticket& ticket,
                      std::unique_ptr<arrow::flight::FlightDataStream>* stream) override {
    if (ticket.ticket != "the-batch") return arrow::Status::KeyError("no such ticket");
    ARROW_ASSIGN_OR_RAISE(auto reader, arrow::RecordBatchReader::Make({batch_}));
    *stream = std::make_unique<arrow::flight::RecordBatchStream>(reader);
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::RecordBatch> batch_;
};

TEST(ArrowFoundation, FlightRoundTrip) {
  auto batch = MakeBatch();
  OneBatchServer server(batch);
  auto location = arrow::flight::Location::ForGrpcTcp("127.0.0.1", 0).ValueOrDie();
  arrow::flight::FlightServerOptions options(location);
  ASSERT_TRUE(server.Init(options).ok());
  ASSERT_GT(server.port(), 0);

  auto client_location =
      arrow::flight::Location::ForGrpcTcp("127.0.0.1", server.port()).ValueOrDie();
  auto client = arrow::flight::FlightClient::Connect(client_location).ValueOrDie();
  auto stream = client->DoGet(arrow::flight::Ticket{"the-batch"}).ValueOrDie();
  auto table = stream->ToTable().ValueOrDie();
  EXPECT_TRUE(table->CombineChunksToBatch().ValueOrDie()->Equals(*batch));

  auto missing = client->DoGet(arrow::flight::Ticket{"nothing"});
  EXPECT_FALSE(missing.ok());
  ASSERT_TRUE(client->Close().ok());
  ASSERT_TRUE(server.Shutdown().ok());
}

}  // namespace
}  // namespace ingester
