// The Flight service in process, spoken to with the Arrow C++ Flight client (the client
// pyarrow wraps), over the real write path and BufferTreeQueryExec.
#include "ingester/query/flight_service.h"

#include <arrow/flight/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ingester/query/flight_stream.h"
#include "ingester/query/limited_query_exec.h"
#include "ingester/query/metrics_query_exec.h"
#include "ingester/query/query_test_util.h"
#include "ingester/query/ticket.h"
#include "ingester/wal/replay.h"

namespace ingester::query {
namespace {

namespace flight = arrow::flight;
using namespace ingester::query::testing;  // NOLINT
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string T(int64_t t) { return std::to_string(t); }

struct Chunk {
  std::shared_ptr<arrow::RecordBatch> batch;
  std::string metadata;
};

class FlightServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // gRPC hands the client unaligned buffers; reading values from them is undefined
    // behaviour (UBSan says so), so have the reader realign them.
    call_.read_options.ensure_alignment =
        arrow::ipc::Alignment::kDataTypeSpecificAlignment;
  }

  void Start(FlightServiceOptions options = {}, QueryFixtureOptions fixture = {},
             int query_limit = 20) {
    f_ = std::make_unique<QueryFixture>(fixture);
    Serve(options, f_->exec(), query_limit);
  }
  // Serves `exec` (over the fixture's data) behind decorators as the server stacks them:
  // the concurrent query limit around metrics.
  void Serve(FlightServiceOptions options, QueryExec* exec, int query_limit) {
    metered_ = std::make_shared<MetricsQueryExec>(
        std::shared_ptr<QueryExec>(exec, [](QueryExec*) {}), &registry_);
    LimitedQueryExecOptions limit;
    limit.concurrent_query_limit = query_limit;
    limited_ = LimitedQueryExec::Make(metered_, limit).ValueOrDie();
    options.port = 0;
    if (options.ingester_id.empty()) options.ingester_id = "test-ingester";
    service_ = FlightService::Start(options, limited_.get(), f_->writer(), f_->Lister())
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

  arrow::Result<std::unique_ptr<flight::FlightStreamReader>> Get(
      const std::string& ticket) {
    return client_->DoGet(call_, flight::Ticket{ticket});
  }
  static std::string Ticket(const QueryRequest& request) { return TicketJson(request); }

  // Every message of a DoGet, or the error that ended it.
  arrow::Result<std::vector<Chunk>> ReadAll(const std::string& ticket) {
    ARROW_ASSIGN_OR_RAISE(auto reader, Get(ticket));
    std::vector<Chunk> chunks;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto chunk, reader->Next());
      if (chunk.data == nullptr && chunk.app_metadata == nullptr) return chunks;
      chunks.push_back(
          {chunk.data, chunk.app_metadata ? chunk.app_metadata->ToString() : ""});
    }
  }

  std::unique_ptr<QueryFixture> f_;
  MetricsRegistry registry_;
  std::shared_ptr<MetricsQueryExec> metered_;
  std::unique_ptr<LimitedQueryExec> limited_;  // outlives the service
  std::unique_ptr<FlightService> service_;
  std::unique_ptr<flight::FlightClient> client_;
  flight::FlightCallOptions call_;
};

std::vector<std::string> DataRows(const std::vector<Chunk>& chunks) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (const auto& c : chunks) {
    if (c.metadata.empty()) batches.push_back(c.batch);
  }
  return buffer_test::RowStrings(batches);
}

TEST_F(FlightServiceTest, StreamsPartitionFramesThenBatches) {
  Start();
  f_->Write("cpu,host=a,region=eu usage=1.5 " + T(kDay1 + 1) + "\n" +
            "cpu,host=b,region=us usage=2.5 " + T(kDay2 + 2) + "\n");
  ASSERT_OK_AND_ASSIGN(reader, Get(Ticket(Request({"host", "usage", "time"}))));
  ASSERT_OK_AND_ASSIGN(schema, reader->GetSchema());
  EXPECT_THAT(buffer_test::FieldNames(*schema), ElementsAre("host", "usage", "time"));
  std::vector<Chunk> chunks;
  while (true) {
    ASSERT_OK_AND_ASSIGN(chunk, reader->Next());
    if (chunk.data == nullptr) break;
    chunks.push_back(
        {chunk.data, chunk.app_metadata ? chunk.app_metadata->ToString() : ""});
  }
  // frame(day 1), batch, frame(day 2), batch.
  ASSERT_EQ(chunks.size(), 4u);
  const std::vector<std::string> keys = {"2023-11-14", "2023-11-15"};
  for (int p = 0; p < 2; ++p) {
    const Chunk& frame = chunks[2 * p];
    EXPECT_EQ(frame.batch->num_rows(), 0);
    ASSERT_OK_AND_ASSIGN(parsed, PartitionFrame::Parse(frame.metadata));
    EXPECT_EQ(parsed.partition_key, keys[p]);
    EXPECT_EQ(parsed.partition_id, f_->Partition("cpu", keys[p])->partition_id().value());
    EXPECT_EQ(parsed.completed_persist_count, 0u);
    EXPECT_EQ(parsed.ingester_id, "test-ingester");
    EXPECT_TRUE(chunks[2 * p + 1].metadata.empty());
    EXPECT_TRUE(chunks[2 * p + 1].batch->schema()->Equals(*schema));
  }
  EXPECT_THAT(DataRows(chunks), ElementsAre("host=a usage=1.5 time=" + T(kDay1 + 1),
                                            "host=b usage=2.5 time=" + T(kDay2 + 2)));
}

TEST_F(FlightServiceTest, ReadAllSeesEveryRowDespiteTheFrames) {
  Start();
  f_->Write("cpu,host=a v=1i " + T(kDay1) + "\ncpu,host=b v=2i " + T(kDay2) + "\n" +
            "cpu,host=c v=3i " + T(kDay3) + "\n");
  ASSERT_OK_AND_ASSIGN(reader, Get(Ticket(Request({"host", "v"}))));
  ASSERT_OK_AND_ASSIGN(table, reader->ToTable());
  ASSERT_OK_AND_ASSIGN(combined, table->CombineChunksToBatch());
  EXPECT_THAT(buffer_test::RowStrings({combined}),
              ElementsAre("host=a v=1", "host=b v=2", "host=c v=3"));
}

TEST_F(FlightServiceTest, TagDictionariesMayChangeFromBatchToBatch) {
  QueryFixtureOptions fixture;
  fixture.buffer.small_batch_rows = 1;  // every write is kept as its own batch
  Start({}, fixture);
  for (int i = 0; i < 4; ++i) {
    f_->Write("cpu,host=h" + T(i) + ",dc=d" + T(i % 2) + " v=" + T(i) + "i " +
              T(kDay1 + i) + "\ncpu,host=x v=9i " + T(kDay1 + 100 + i) + "\n");
  }
  Predicate p;
  p.tags.push_back({"host", {"h1", "h2", "h3", "x"}});
  ASSERT_OK_AND_ASSIGN(chunks, ReadAll(Ticket(Request({"host", "dc", "v"}, p))));
  EXPECT_THAT(DataRows(chunks),
              ElementsAre("host=x dc=null v=9", "host=h1 dc=d1 v=1", "host=x dc=null v=9",
                          "host=h2 dc=d0 v=2", "host=x dc=null v=9", "host=h3 dc=d1 v=3",
                          "host=x dc=null v=9"));
}

TEST_F(FlightServiceTest, ErrorsCarryFlightCodesAndSayWhatIsWrong) {
  Start();
  f_->Write("cpu,host=a v=1i " + T(kDay1) + "\n");

  auto malformed = ReadAll("{\"namespace\": \"db\"");
  ASSERT_FALSE(malformed.ok());
  EXPECT_TRUE(malformed.status().IsInvalid()) << malformed.status().ToString();
  EXPECT_THAT(malformed.status().message(), HasSubstr("not valid JSON"));

  auto missing_table = ReadAll(R"({"namespace": "db"})");
  EXPECT_TRUE(missing_table.status().IsInvalid());
  EXPECT_THAT(missing_table.status().message(), HasSubstr("'table' is required"));

  auto unknown = ReadAll(Ticket(Request({}, {}, "memory")));
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(unknown.status().IsKeyError()) << unknown.status().ToString();  // NOT_FOUND
  EXPECT_THAT(unknown.status().message(), HasSubstr("'memory'"));
  // Our error detail stays on the server (the client adds its own context).
  EXPECT_THAT(unknown.status().message(), ::testing::Not(HasSubstr("Detail: not found")));

  auto no_ns = ReadAll(Ticket(Request({}, {}, "cpu", "elsewhere")));
  EXPECT_TRUE(no_ns.status().IsKeyError());
  EXPECT_THAT(no_ns.status().message(), HasSubstr("'elsewhere'"));

  auto bad_column = ReadAll(Ticket(Request({"nope"})));
  EXPECT_TRUE(bad_column.status().IsInvalid());
  EXPECT_THAT(bad_column.status().message(), HasSubstr("'nope'"));
  EXPECT_EQ(limited_->active(), 0);
}

// Holds every response's second partition until opened, so a stream stays open for as
// long as a test needs, whatever gRPC buffers.
class GatedExec final : public QueryExec {
 public:
  explicit GatedExec(QueryExec* inner) : inner_(inner) {}

  arrow::Result<std::unique_ptr<QueryResponse>> Query(
      const QueryRequest& request) override {
    ARROW_ASSIGN_OR_RAISE(auto inner, inner_->Query(request));
    return std::make_unique<Response>(std::move(inner), this);
  }
  void Open() {
    MutexLock lock(&mu_);
    open_ = true;
    cv_.NotifyAll();
  }

 private:
  class Response final : public QueryResponse {
   public:
    Response(std::unique_ptr<QueryResponse> inner, GatedExec* gate)
        : inner_(std::move(inner)), gate_(gate) {}
    const std::shared_ptr<arrow::Schema>& schema() const override {
      return inner_->schema();
    }
    arrow::Result<std::unique_ptr<PartitionResponse>> NextPartition() override {
      if (calls_++ == 1) {
        MutexLock lock(&gate_->mu_);
        gate_->cv_.Wait(&gate_->mu_, [&]() REQUIRES(gate_->mu_) { return gate_->open_; });
      }
      return inner_->NextPartition();
    }

   private:
    std::unique_ptr<QueryResponse> inner_;
    GatedExec* gate_;
    int calls_ = 0;
  };

  QueryExec* const inner_;
  Mutex mu_;
  CondVar cv_;
  bool open_ GUARDED_BY(mu_) = false;
};

TEST_F(FlightServiceTest, ConcurrentQueryLimitRefusesAndReleases) {
  f_ = std::make_unique<QueryFixture>();
  GatedExec gated(f_->exec());
  Serve({}, &gated, /*query_limit=*/1);
  f_->Write("cpu,host=a v=1i " + T(kDay1) + "\ncpu,host=b v=2i " + T(kDay2) + "\n");
  const std::string ticket = Ticket(Request());

  ASSERT_OK_AND_ASSIGN(first, Get(ticket));
  ASSERT_OK_AND_ASSIGN(frame, first->Next());  // streaming, held at its second partition
  ASSERT_NE(frame.app_metadata, nullptr);
  EXPECT_EQ(limited_->active(), 1);

  auto refused = ReadAll(ticket);
  ASSERT_FALSE(refused.ok());
  auto detail = flight::FlightStatusDetail::UnwrapStatus(refused.status());
  ASSERT_NE(detail, nullptr) << refused.status().ToString();
  EXPECT_EQ(detail->code(), flight::FlightStatusCode::Unavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_EQ(limited_->active(), 1);

  // Once the first stream ends its slot is free again.
  gated.Open();
  while (true) {
    ASSERT_OK_AND_ASSIGN(chunk, first->Next());
    if (chunk.data == nullptr) break;
  }
  EXPECT_EQ(limited_->active(), 0);
  ASSERT_OK_AND_ASSIGN(again, ReadAll(ticket));
  EXPECT_EQ(DataRows(again).size(), 2u);
  ASSERT_OK(service_->Shutdown());  // before `gated` goes
}

TEST_F(FlightServiceTest, AClientGoingAwayReleasesItsSlot) {
  Start({}, {}, /*query_limit=*/1);
  // 2M rows (32 MB): far more than gRPC and the sockets buffer, so the server is still
  // streaming when the client gives up.
  arrow::Int64Builder v;
  arrow::TimestampBuilder time(arrow::timestamp(arrow::TimeUnit::NANO),
                               arrow::default_memory_pool());
  for (int64_t i = 0; i < 2'000'000; ++i) {
    ASSERT_OK(v.Append(i));
    ASSERT_OK(time.Append(kDay1 + i));
  }
  auto batch = arrow::RecordBatch::Make(
      arrow::schema(
          {arrow::field("v", arrow::int64()),
           arrow::field("time", arrow::timestamp(arrow::TimeUnit::NANO), false)}),
      2'000'000, {v.Finish().ValueOrDie(), time.Finish().ValueOrDie()});
  ASSERT_OK(f_->writer()->WriteBatches("db", "big", {batch}).status());
  const std::string ticket = Ticket(Request({}, {}, "big"));

  ASSERT_OK_AND_ASSIGN(abandoned, Get(ticket));
  ASSERT_OK_AND_ASSIGN(frame, abandoned->Next());
  ASSERT_OK_AND_ASSIGN(rows, abandoned->Next());
  EXPECT_GT(rows.data->num_rows(), 0);
  EXPECT_EQ(limited_->active(), 1);
  EXPECT_FALSE(ReadAll(ticket).ok());
  abandoned->Cancel();
  abandoned.reset();
  // The server notices on a gRPC thread, destroys the stream, and frees the slot.
  limited_->TEST_WaitForActive(0);
  Predicate one;
  one.time = {kDay1 + 5, kDay1 + 6};
  ASSERT_OK_AND_ASSIGN(after, ReadAll(Ticket(Request({"v"}, one, "big"))));
  EXPECT_THAT(DataRows(after), ElementsAre("v=5"));
}

TEST_F(FlightServiceTest, BearerTokenIsRequiredWhenSet) {
  FlightServiceOptions options;
  options.token = "s3cret";
  Start(options);
  f_->Write("cpu,host=a v=1i " + T(kDay1) + "\n");
  const std::string ticket = Ticket(Request());

  auto anonymous = ReadAll(ticket);
  ASSERT_FALSE(anonymous.ok());
  auto detail = flight::FlightStatusDetail::UnwrapStatus(anonymous.status());
  ASSERT_NE(detail, nullptr);
  EXPECT_EQ(detail->code(), flight::FlightStatusCode::Unauthenticated);

  call_.headers.push_back({"authorization", "Bearer wrong"});
  EXPECT_FALSE(ReadAll(ticket).ok());
  call_.headers.back().second = "Bearer s3cret";
  ASSERT_OK_AND_ASSIGN(chunks, ReadAll(ticket));
  EXPECT_EQ(DataRows(chunks).size(), 1u);
}

arrow::Result<std::vector<std::string>> Put(flight::FlightClient* client,
                                            const flight::FlightCallOptions& call,
                                            const flight::FlightDescriptor& descriptor,
                                            const arrow::RecordBatchVector& batches) {
  ARROW_ASSIGN_OR_RAISE(auto put, client->DoPut(call, descriptor, batches[0]->schema()));
  std::vector<std::string> acks;
  for (const auto& batch : batches) {
    ARROW_RETURN_NOT_OK(put.writer->WriteRecordBatch(*batch));
    // The ack of this batch: it comes once the write is durable.
    std::shared_ptr<arrow::Buffer> ack;
    ARROW_RETURN_NOT_OK(put.reader->ReadMetadata(&ack));
    if (ack == nullptr) break;  // the server ended the call: Close() says why
    acks.push_back(ack->ToString());
  }
  ARROW_RETURN_NOT_OK(put.writer->DoneWriting());
  ARROW_RETURN_NOT_OK(put.writer->Close());
  return acks;
}

TEST_F(FlightServiceTest, DoPutWritesDurablyAndIsReadBack) {
  Start();
  auto first = buffer_test::BatchMaker()
                   .Tag("host", {"a", "b"})
                   .F64("usage", {0.5, 1.5})
                   .Time({kDay1 + 1, kDay2 + 2})
                   .Build();
  auto second = buffer_test::BatchMaker()
                    .Tag("host", {"c"})
                    .F64("usage", {2.5})
                    .Time({kDay1 + 3})
                    .Build();
  ASSERT_OK_AND_ASSIGN(
      acks, Put(client_.get(), call_, flight::FlightDescriptor::Path({"db", "put"}),
                {first, second}));
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(acks[0]),
            (nlohmann::json{{"rows", 2}, {"total_rows", 2}}));
  EXPECT_EQ(nlohmann::json::parse(acks[1]),
            (nlohmann::json{{"rows", 1}, {"total_rows", 3}}));
  // One WAL append per batch, each before its ack.
  EXPECT_EQ(f_->wal()->stats().appends, 2);

  ASSERT_OK_AND_ASSIGN(chunks,
                       ReadAll(Ticket(Request({"host", "usage", "time"}, {}, "put"))));
  EXPECT_THAT(DataRows(chunks), ElementsAre("host=a usage=0.5 time=" + T(kDay1 + 1),
                                            "host=c usage=2.5 time=" + T(kDay1 + 3),
                                            "host=b usage=1.5 time=" + T(kDay2 + 2)));

  // What was acknowledged is in the WAL: a replay into an empty tree finds every row.
  ASSERT_OK(f_->wal()->Close());
  BufferTreeOptions tree_options;
  tree_options.partition_provider =
      std::make_shared<CatalogPartitionProvider>(f_->catalog());
  ASSERT_OK_AND_ASSIGN(fresh, BufferTree::Make(std::move(tree_options)));
  auto fs = wal::PosixFileSystem();
  ASSERT_OK_AND_ASSIGN(replayed,
                       wal::ReplayWal(*fs, (f_->dir() / "wal").string(), *fresh));
  EXPECT_EQ(fresh->BufferedRows(), 3);
}

TEST_F(FlightServiceTest, DoPutAcceptsACommandDescriptorAndReportsBadBatches) {
  Start();
  auto batch = buffer_test::BatchMaker().I64("n", {1}).Time({kDay1}).Build();
  auto cmd = flight::FlightDescriptor::Command(R"({"namespace": "db", "table": "t"})");
  ASSERT_OK_AND_ASSIGN(acks, Put(client_.get(), call_, cmd, {batch}));
  EXPECT_EQ(acks.size(), 1u);

  // Same column, another type: the write is refused naming column and types.
  auto clash = buffer_test::BatchMaker().F64("n", {1.5}).Time({kDay1}).Build();
  auto refused = Put(client_.get(), call_, cmd, {clash});
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsInvalid()) << refused.status().ToString();
  EXPECT_THAT(refused.status().message(), HasSubstr("'n'"));
  EXPECT_THAT(refused.status().message(), HasSubstr("f64"));

  auto bad_path =
      Put(client_.get(), call_, flight::FlightDescriptor::Path({"db"}), {batch});
  ASSERT_FALSE(bad_path.ok());
  EXPECT_THAT(bad_path.status().message(), HasSubstr("[namespace, table]"));
  EXPECT_EQ(f_->wal()->stats().appends, 1);
}

TEST_F(FlightServiceTest, ListsNamespacesAndTables) {
  Start();
  f_->Write("cpu,host=a v=1i " + T(kDay1) + "\nmem,host=a free=1i " + T(kDay1) + "\n");
  f_->Write("disk,host=a used=1i " + T(kDay1) + "\n", "other");

  ASSERT_OK_AND_ASSIGN(results, client_->DoAction(call_, {"list_tables", nullptr}));
  ASSERT_OK_AND_ASSIGN(result, results->Next());
  ASSERT_NE(result, nullptr);
  auto doc = nlohmann::json::parse(result->body->ToString());
  EXPECT_EQ(doc, nlohmann::json::parse(
                     R"({"namespaces": [{"name": "db", "tables": ["cpu", "mem"]},
                                        {"name": "other", "tables": ["disk"]}]})"));

  ASSERT_OK_AND_ASSIGN(listing, client_->ListFlights());
  std::vector<std::string> paths;
  std::string mem_ticket;
  while (true) {
    ASSERT_OK_AND_ASSIGN(info, listing->Next());
    if (info == nullptr) break;
    paths.push_back(info->descriptor().path[0] + "." + info->descriptor().path[1]);
    if (paths.back() == "db.mem") mem_ticket = info->endpoints()[0].ticket.ticket;
  }
  EXPECT_THAT(paths, ElementsAre("db.cpu", "db.mem", "other.disk"));
  // Each listed flight is the one GetFlightInfo answers for its path: schema and ticket.
  ASSERT_OK_AND_ASSIGN(again, client_->ListFlights());
  while (true) {
    ASSERT_OK_AND_ASSIGN(info, again->Next());
    if (info == nullptr) break;
    ASSERT_OK_AND_ASSIGN(direct, client_->GetFlightInfo(call_, info->descriptor()));
    ASSERT_OK_AND_ASSIGN(listed_bytes, info->SerializeToString());
    ASSERT_OK_AND_ASSIGN(direct_bytes, direct->SerializeToString());
    EXPECT_EQ(listed_bytes, direct_bytes) << info->descriptor().ToString();
  }
  // An endpoint's ticket is a query of the whole table.
  ASSERT_OK_AND_ASSIGN(chunks, ReadAll(mem_ticket));
  EXPECT_THAT(DataRows(chunks), ElementsAre("host=a free=1 time=" + T(kDay1)));

  auto unknown = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto stream,
                          client_->DoAction(call_, {"drop_everything", nullptr}));
    return stream->Next().status();
  }();
  EXPECT_TRUE(unknown.IsNotImplemented()) << unknown.ToString();
  EXPECT_THAT(unknown.message(), HasSubstr("list_tables"));
}

arrow::Result<std::shared_ptr<arrow::Schema>> SchemaOf(const flight::FlightInfo& info) {
  arrow::ipc::DictionaryMemo memo;
  return info.GetSchema(&memo);
}

TEST_F(FlightServiceTest, GetFlightInfoAndGetSchemaAnswerWithoutReadingData) {
  Start();
  f_->Write("cpu,host=a,region=eu usage=1.5 " + T(kDay1 + 1) + "\n" +
            "cpu,host=b usage=2.5 " + T(kDay2 + 2) + "\n");
  Predicate p;
  p.time.start = kDay1;
  const QueryRequest request = Request({"usage", "host"}, p);
  const auto command = flight::FlightDescriptor::Command(Ticket(request));
  ASSERT_OK_AND_ASSIGN(info, client_->GetFlightInfo(call_, command));
  ASSERT_OK_AND_ASSIGN(schema, SchemaOf(*info));
  EXPECT_THAT(buffer_test::FieldNames(*schema), ElementsAre("usage", "host"));
  EXPECT_TRUE(info->descriptor().Equals(command));
  EXPECT_EQ(info->total_records(), -1);
  EXPECT_EQ(info->total_bytes(), -1);
  ASSERT_EQ(info->endpoints().size(), 1u);
  const flight::FlightEndpoint& endpoint = info->endpoints()[0];
  EXPECT_TRUE(endpoint.locations.empty());  // this server
  ASSERT_OK_AND_ASSIGN(parsed, ParseTicket(endpoint.ticket.ticket));
  EXPECT_EQ(parsed, request);
  // The schema was had without reading a partition, and the query is gone.
  EXPECT_EQ(metered_->metrics().requests->value(), 1);
  EXPECT_EQ(metered_->metrics().partitions->value(), 0);
  EXPECT_EQ(metered_->metrics().rows->value(), 0);
  EXPECT_EQ(limited_->active(), 0);

  // The endpoint's ticket streams the rows under that schema.
  ASSERT_OK_AND_ASSIGN(reader, client_->DoGet(call_, endpoint.ticket));
  ASSERT_OK_AND_ASSIGN(table, reader->ToTable());
  EXPECT_TRUE(table->schema()->Equals(*schema));
  ASSERT_OK_AND_ASSIGN(combined, table->CombineChunksToBatch());
  EXPECT_THAT(buffer_test::RowStrings({combined}),
              ElementsAre("usage=1.5 host=a", "usage=2.5 host=b"));

  // A path [namespace, table] is the whole table; GetSchema answers the same schema.
  const auto path = flight::FlightDescriptor::Path({"db", "cpu"});
  ASSERT_OK_AND_ASSIGN(table_info, client_->GetFlightInfo(call_, path));
  ASSERT_OK_AND_ASSIGN(table_schema, SchemaOf(*table_info));
  EXPECT_THAT(buffer_test::FieldNames(*table_schema),
              ElementsAre("host", "region", "usage", "time"));
  EXPECT_EQ(table_schema->field(0)->type()->id(), arrow::Type::DICTIONARY);
  ASSERT_EQ(table_info->endpoints().size(), 1u);
  EXPECT_EQ(table_info->endpoints()[0].ticket.ticket, Ticket(Request()));
  ASSERT_OK_AND_ASSIGN(result, client_->GetSchema(call_, path));
  arrow::ipc::DictionaryMemo memo;
  ASSERT_OK_AND_ASSIGN(alone, result->GetSchema(&memo));
  EXPECT_TRUE(alone->Equals(*table_schema));
  ASSERT_OK_AND_ASSIGN(by_command, client_->GetSchema(call_, command));
  arrow::ipc::DictionaryMemo memo2;
  ASSERT_OK_AND_ASSIGN(command_schema, by_command->GetSchema(&memo2));
  EXPECT_TRUE(command_schema->Equals(*schema));
}

TEST_F(FlightServiceTest, GetFlightInfoErrorsAreDoGetErrors) {
  Start({}, {}, /*query_limit=*/1);
  f_->Write("cpu,host=a v=1i " + T(kDay1) + "\n");
  auto info = [&](const flight::FlightDescriptor& d) {
    return client_->GetFlightInfo(call_, d).status();
  };
  auto unknown = info(flight::FlightDescriptor::Path({"db", "mem"}));
  EXPECT_TRUE(unknown.IsKeyError()) << unknown.ToString();  // NOT_FOUND
  EXPECT_THAT(unknown.message(), HasSubstr("'mem'"));
  auto no_ns =
      info(flight::FlightDescriptor::Command(Ticket(Request({}, {}, "cpu", "x"))));
  EXPECT_TRUE(no_ns.IsKeyError()) << no_ns.ToString();
  auto schema_unknown =
      client_->GetSchema(call_, flight::FlightDescriptor::Path({"nowhere", "cpu"}));
  EXPECT_TRUE(schema_unknown.status().IsKeyError()) << schema_unknown.status().ToString();

  auto malformed = info(flight::FlightDescriptor::Command("{\"namespace\": "));
  EXPECT_TRUE(malformed.IsInvalid()) << malformed.ToString();  // INVALID_ARGUMENT
  EXPECT_THAT(malformed.message(), HasSubstr("not valid JSON"));
  auto short_path = info(flight::FlightDescriptor::Path({"db"}));
  EXPECT_TRUE(short_path.IsInvalid());
  EXPECT_THAT(short_path.message(), HasSubstr("[namespace, table]"));
  auto bad_column = info(flight::FlightDescriptor::Command(Ticket(Request({"nope"}))));
  EXPECT_TRUE(bad_column.IsInvalid());
  EXPECT_THAT(bad_column.message(), HasSubstr("'nope'"));
  EXPECT_EQ(limited_->active(), 0);

  // It is a query: over the limit it is refused like one.
  ASSERT_OK_AND_ASSIGN(held, limited_->Query(Request()));
  auto refused = info(flight::FlightDescriptor::Path({"db", "cpu"}));
  auto detail = flight::FlightStatusDetail::UnwrapStatus(refused);
  ASSERT_NE(detail, nullptr) << refused.ToString();
  EXPECT_EQ(detail->code(), flight::FlightStatusCode::Unavailable);
  EXPECT_THAT(refused.message(), HasSubstr("RESOURCE_EXHAUSTED"));
  held.reset();
  EXPECT_TRUE(info(flight::FlightDescriptor::Path({"db", "cpu"})).ok());
}

TEST_F(FlightServiceTest, ShutdownDoesNotWaitForeverForASlowReader) {
  FlightServiceOptions options;
  options.shutdown_grace = std::chrono::milliseconds(100);
  Start(options);
  std::string body;
  for (int i = 0; i < 20000; ++i)
    body += "cpu,host=h" + T(i % 50) + " v=1i " + T(kDay1 + i) + "\n";
  f_->Write(body);
  ASSERT_OK_AND_ASSIGN(reader, Get(Ticket(Request())));
  ASSERT_OK_AND_ASSIGN(chunk, reader->Next());
  ASSERT_OK(service_->Shutdown());
  ASSERT_OK(service_->Shutdown());  // idempotent
}

}  // namespace
}  // namespace ingester::query
