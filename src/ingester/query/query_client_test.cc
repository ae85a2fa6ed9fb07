#include "ingester/query/query_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <CLI/CLI.hpp>

#include <sstream>

#include "ingester/common/error.h"
#include "ingester/query/query_test_util.h"
#include "ingester/query/time_format.h"

namespace ingester::query {
namespace {

using namespace ingester::query::testing;  // NOLINT
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kT = 1'700'000'000'000'000'000LL;  // 2023-11-14T22:13:20Z

TEST(TimeFormatTest, ParsesIntegersAndRfc3339) {
  EXPECT_EQ(ParseTimestamp("1700000000000000000").ValueOrDie(), kT);
  EXPECT_EQ(ParseTimestamp("-5").ValueOrDie(), -5);
  EXPECT_EQ(ParseTimestamp("2023-11-14T22:13:20Z").ValueOrDie(), kT);
  EXPECT_EQ(ParseTimestamp("2023-11-14t22:13:20z").ValueOrDie(), kT);
  EXPECT_EQ(ParseTimestamp("2023-11-14 22:13:20").ValueOrDie(), kT);
  EXPECT_EQ(ParseTimestamp("2023-11-14T22:13:20.5Z").ValueOrDie(), kT + 500'000'000);
  EXPECT_EQ(ParseTimestamp("2023-11-14T22:13:20.000000001Z").ValueOrDie(), kT + 1);
  EXPECT_EQ(ParseTimestamp("2023-11-14T23:13:20+01:00").ValueOrDie(), kT);
  EXPECT_EQ(ParseTimestamp("2023-11-14T21:43:20-00:30").ValueOrDie(), kT);
  EXPECT_EQ(ParseTimestamp("2023-11-14").ValueOrDie(), kDay1);
  EXPECT_EQ(ParseTimestamp("1969-12-31T23:59:59.999999999Z").ValueOrDie(), -1);
}

TEST(TimeFormatTest, RefusesWhatIsNotATime) {
  for (const char* bad :
       {"", "yesterday", "2023-02-30", "2023-11-14T25:00:00Z", "2023-11-14T22:13",
        "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20+0100", "2300-01-01T00:00:00Z",
        "99999999999999999999", "12abc"}) {
    auto parsed = ParseTimestamp(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(ErrorKindOf(parsed.status()), ErrorKind::kInvalidInput) << bad;
  }
}

TEST(TimeFormatTest, FormatsRfc3339NanoAndRoundTrips) {
  EXPECT_EQ(FormatTimestamp(kT), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatTimestamp(kT + 500'000'000), "2023-11-14T22:13:20.5Z");
  EXPECT_EQ(FormatTimestamp(kT + 1), "2023-11-14T22:13:20.000000001Z");
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimestamp(-1), "1969-12-31T23:59:59.999999999Z");
  for (int64_t t :
       {kT, kT + 123, int64_t{-86'400'000'000'001}, int64_t{951'782'400'000'000'000}}) {
    EXPECT_EQ(ParseTimestamp(FormatTimestamp(t)).ValueOrDie(), t) << t;
  }
  int64_t y, m, d;
  CivilFromDays(DaysFromCivil(2024, 2, 29), &y, &m, &d);
  EXPECT_EQ(std::vector<int64_t>({y, m, d}), std::vector<int64_t>({2024, 2, 29}));
}

TEST(QueryClientTest, BuildsTheRequestFromFlags) {
  QueryCommand command;
  command.namespace_name = "db";
  command.table = "cpu";
  command.columns = {"host, usage", "time"};
  command.where_time = "2023-11-14..1700000000000000000";
  command.tags = {"region=eu", "host=a", "host=b", "empty="};
  auto request = BuildQueryRequest(command).ValueOrDie();
  EXPECT_THAT(request.columns, ElementsAre("host", "usage", "time"));
  EXPECT_EQ(request.predicate.time, (TimeRange{kDay1, kT}));
  EXPECT_THAT(request.predicate.tags,
              ElementsAre(TagPredicate{"empty", {""}}, TagPredicate{"host", {"a", "b"}},
                          TagPredicate{"region", {"eu"}}));

  command.where_time = "..2023-11-15";
  EXPECT_EQ(BuildQueryRequest(command).ValueOrDie().predicate.time,
            (TimeRange{std::nullopt, kDay2}));
  command.where_time = "2023-11-15";
  EXPECT_THAT(BuildQueryRequest(command).status().message(), HasSubstr("START..END"));
  command.where_time = "";
  command.tags = {"=x"};
  EXPECT_THAT(BuildQueryRequest(command).status().message(), HasSubstr("KEY=VALUE"));
  command.tags = {};
  command.format = "xml";
  EXPECT_THAT(BuildQueryRequest(command).status().message(), HasSubstr("--format"));
}

TEST(QueryClientTest, CommandLineFlags) {
  CLI::App app;
  QueryCommand command;
  auto* sub = AddQuerySubcommand(&app, &command);
  std::vector<std::string> args = {
      "ingester",      "query",        "--namespace", "db",    "--table",
      "cpu",           "--columns",    "host,usage",  "--tag", "host=a",
      "--tag",         "host=b",       "--format",    "csv",   "--host",
      "10.0.0.1:9000", "--where-time", "0..5"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  app.parse(static_cast<int>(argv.size()), argv.data());
  EXPECT_TRUE(sub->parsed());
  EXPECT_EQ(command.namespace_name, "db");
  EXPECT_EQ(command.table, "cpu");
  EXPECT_THAT(command.columns, ElementsAre("host,usage"));
  EXPECT_THAT(command.tags, ElementsAre("host=a", "host=b"));
  EXPECT_EQ(command.format, "csv");
  EXPECT_EQ(command.host, "10.0.0.1:9000");
  EXPECT_EQ(command.where_time, "0..5");
}

std::shared_ptr<arrow::RecordBatch> Sample() {
  return buffer_test::BatchMaker()
      .Tag("host", {"a", "b, \"c\""})
      .F64("usage", {0.5, std::nullopt})
      .I64("count", {12345, -1})
      .Bool("up", {true, false})
      .Time({kT, kT + 1})
      .Build();
}

std::string Print(std::string_view format,
                  const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
  std::ostringstream out;
  EXPECT_TRUE(PrintResult(*Sample()->schema(), batches, format, out).ok());
  return out.str();
}

TEST(QueryClientTest, PrintsAnAlignedTableWithARowCount) {
  EXPECT_EQ(Print("table", {Sample()}),
            "+--------+-------+-------+-------+--------------------------------+\n"
            "| host   | usage | count | up    | time                           |\n"
            "+--------+-------+-------+-------+--------------------------------+\n"
            "| a      |   0.5 | 12345 | true  | 2023-11-14T22:13:20Z           |\n"
            "| b, \"c\" |       |    -1 | false | 2023-11-14T22:13:20.000000001Z |\n"
            "+--------+-------+-------+-------+--------------------------------+\n"
            "2 rows\n");
  EXPECT_THAT(Print("table", {}), HasSubstr("\n0 rows\n"));
  EXPECT_THAT(Print("table", {Sample()->Slice(0, 1)}), HasSubstr("\n1 row\n"));
}

TEST(QueryClientTest, PrintsCsvAndJson) {
  EXPECT_EQ(Print("csv", {Sample()}),
            "host,usage,count,up,time\r\n"
            "a,0.5,12345,true,2023-11-14T22:13:20Z\r\n"
            "\"b, \"\"c\"\"\",,-1,false,2023-11-14T22:13:20.000000001Z\r\n");
  EXPECT_EQ(Print("json", {Sample()}),
            "[\n"
            "{\"host\":\"a\",\"usage\":0.5,\"count\":12345,\"up\":true,"
            "\"time\":\"2023-11-14T22:13:20Z\"},\n"
            "{\"host\":\"b, \\\"c\\\"\",\"usage\":null,\"count\":-1,\"up\":false,"
            "\"time\":\"2023-11-14T22:13:20.000000001Z\"}\n"
            "]\n");
  EXPECT_EQ(Print("json", {}), "[]\n");
}

TEST(QueryClientTest, DisplayWidthCountsTerminalColumns) {
  EXPECT_EQ(DisplayWidth("abc"), 3u);
  EXPECT_EQ(DisplayWidth("caf\xC3\xA9"), 4u);               // é: 2 bytes, 1 column
  EXPECT_EQ(DisplayWidth("cafe\xCC\x81"), 4u);              // e + combining acute
  EXPECT_EQ(DisplayWidth("\xE6\x9D\xB1\xE4\xBA\xAC"), 4u);  // 東京: wide
  EXPECT_EQ(DisplayWidth("\xF0\x9F\x94\xA5"), 2u);          // an emoji
  EXPECT_EQ(DisplayWidth("\xFF"), 1u);                      // not UTF-8: one per byte
}

TEST(QueryClientTest, AlignsTheTableByDisplayWidth) {
  auto batch = buffer_test::BatchMaker()
                   .Tag("city", {"\xE6\x9D\xB1\xE4\xBA\xAC", "caf\xC3\xA9"})
                   .Time({kT, kT})
                   .Build();
  std::ostringstream out;
  ASSERT_TRUE(PrintResult(*batch->schema(), {batch}, "table", out).ok());
  EXPECT_THAT(out.str(), HasSubstr("| \xE6\x9D\xB1\xE4\xBA\xAC | 2023-11-14T22:13:20Z |\n"
                                   "| caf\xC3\xA9 | 2023-11-14T22:13:20Z |\n"));
}

TEST(QueryClientTest, RowsInTimeOrderWithALimit) {
  // Two partitions' batches as the server sends them: by partition, then by tags.
  auto first =
      buffer_test::BatchMaker().Tag("host", {"a", "b"}).Time({kT + 5, kT + 1}).Build();
  auto second =
      buffer_test::BatchMaker().Tag("host", {"a", "c"}).Time({kT + 3, kT + 1}).Build();
  auto sorted = InTimeOrder(first->schema(), {first, second}, 0).ValueOrDie();
  std::ostringstream out;
  ASSERT_TRUE(PrintResult(*first->schema(), sorted, "csv", out).ok());
  // Stable: b before c at the same time, as the server sent them.
  EXPECT_EQ(out.str(),
            "host,time\r\nb,2023-11-14T22:13:20.000000001Z\r\n"
            "c,2023-11-14T22:13:20.000000001Z\r\na,2023-11-14T22:13:20.000000003Z\r\n"
            "a,2023-11-14T22:13:20.000000005Z\r\n");
  auto limited = InTimeOrder(first->schema(), {first, second}, 2).ValueOrDie();
  int64_t rows = 0;
  for (const auto& b : limited) rows += b->num_rows();
  EXPECT_EQ(rows, 2);
  EXPECT_TRUE(InTimeOrder(first->schema(), {}, 3).ValueOrDie().empty());
  QueryCommand command;
  command.namespace_name = "db";
  command.table = "cpu";
  command.limit = -1;
  EXPECT_THAT(BuildQueryRequest(command).status().message(), HasSubstr("--limit"));
}

TEST(QueryClientTest, ErrorsWithoutGrpcDebugContext) {
  EXPECT_EQ(CommandErrorMessage(
                arrow::Status::IOError(
                    "Flight returned not found error, with message: namespace 'x' not "
                    "found. gRPC client debug context: UNKNOWN:... Detail: NotFound"),
                "h:1"),
            "namespace 'x' not found");
}

TEST(QueryClientTest, QueriesARunningServer) {
  QueryFixture f;
  f.Write("cpu,host=a,region=eu usage=0.5 " + std::to_string(kT) + "\n" +
          "cpu,host=b,region=us usage=1.5 " + std::to_string(kT + kDay) + "\n" +
          "cpu,host=c,region=eu usage=2.5 " + std::to_string(kT + kDay + 1) + "\n");
  FlightServiceOptions options;
  options.port = 0;
  options.token = "tok";
  auto service = FlightService::Start(options, f.exec(), nullptr, {}).ValueOrDie();

  QueryCommand command;
  command.host = "127.0.0.1:" + std::to_string(service->port());
  command.token = "tok";
  command.namespace_name = "db";
  command.table = "cpu";
  command.columns = {"host,usage"};
  command.tags = {"region=eu"};
  command.format = "csv";
  std::ostringstream out, err;
  EXPECT_EQ(RunQueryCommand(command, out, err), 0) << err.str();
  EXPECT_EQ(out.str(), "host,usage\r\na,0.5\r\nc,2.5\r\n");

  command.where_time = "2023-11-15..";
  command.format = "table";
  std::ostringstream out2;
  EXPECT_EQ(RunQueryCommand(command, out2, err), 0) << err.str();
  EXPECT_THAT(out2.str(), HasSubstr("| c    |   2.5 |\n"));
  EXPECT_THAT(out2.str(), HasSubstr("\n1 row\n"));

  // Errors: the server's (unknown table), authentication, flags.
  command.table = "nope";
  std::ostringstream err2;
  EXPECT_EQ(RunQueryCommand(command, out, err2), 1);
  EXPECT_THAT(err2.str(), HasSubstr("error: "));
  EXPECT_THAT(err2.str(), HasSubstr("'nope'"));
  command.table = "cpu";
  command.token = "";
  std::ostringstream err3;
  EXPECT_EQ(RunQueryCommand(command, out, err3), 1);
  EXPECT_THAT(err3.str(), HasSubstr("token"));
  command.host = "localhost";
  std::ostringstream err4;
  EXPECT_EQ(RunQueryCommand(command, out, err4), 1);
  EXPECT_THAT(err4.str(), HasSubstr("HOST:PORT"));
  ASSERT_TRUE(service->Shutdown().ok());
}

}  // namespace
}  // namespace ingester::query
