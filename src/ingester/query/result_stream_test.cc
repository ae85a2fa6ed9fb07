// The encodings of POST /api/v3/query, over the real BufferTreeQueryExec, read back with
// Arrow's own IPC and Parquet readers.
#include "ingester/query/result_stream.h"

#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>

#include "ingester/common/error.h"
#include "ingester/query/limited_query_exec.h"
#include "ingester/query/query_test_util.h"

namespace ingester::query {
namespace {

using namespace ingester::query::testing;  // NOLINT
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kT = 1'700'000'000'000'000'000LL;  // 2023-11-14T22:13:20Z
std::string T(int64_t t) { return std::to_string(t); }

// Every type a column can have, nulls, a value needing CSV quoting, two partitions.
void WriteSample(QueryFixture* f) {
  f->Write(
      "cpu,host=a,region=eu usage=1,count=3i,bytes=7u,up=true,note=\"x, \\\"y\\\"\" " +
      T(kT) + "\n" + "cpu,host=b usage=0.25 " + T(kT + 1) + "\n" +
      "cpu,host=c,region=us count=-4i " + T(kT + kDay) + "\n");
}

struct Encoded {
  std::vector<std::string> chunks;
  std::string bytes() const {
    std::string all;
    for (const auto& c : chunks) all += c;
    return all;
  }
};

arrow::Result<Encoded> Encode(QueryExec* exec, const QueryRequest& request,
                              ResultFormat format, int64_t row_group_rows = 64 * 1024) {
  ARROW_ASSIGN_OR_RAISE(auto response, exec->Query(request));
  ResultStreamOptions options;
  options.format = format;
  options.parquet_row_group_rows = row_group_rows;
  ARROW_ASSIGN_OR_RAISE(auto stream, ResultStream::Make(std::move(response), options));
  Encoded encoded;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, stream->Next());
    if (!chunk) return encoded;
    EXPECT_FALSE(chunk->empty());
    encoded.chunks.push_back(std::move(*chunk));
  }
}

TEST(ResultStreamTest, JsonLinesLeaveNullsOutAndKeepTheDecimalPointOfFloats) {
  QueryFixture f;
  WriteSample(&f);
  ASSERT_OK_AND_ASSIGN(encoded, Encode(f.exec(), Request(), ResultFormat::kJsonl));
  EXPECT_EQ(encoded.bytes(),
            R"({"host":"a","region":"eu","usage":1.0,"count":3,"bytes":7,"up":true,)"
            R"("note":"x, \"y\"","time":"2023-11-14T22:13:20Z"})"
            "\n"
            R"({"host":"b","usage":0.25,"time":"2023-11-14T22:13:20.000000001Z"})"
            "\n"
            R"({"host":"c","region":"us","count":-4,"time":"2023-11-15T22:13:20Z"})"
            "\n");
  // Pulled batch by batch: one chunk per partition's batch, not one for the result.
  EXPECT_EQ(encoded.chunks.size(), 2u);
}

TEST(ResultStreamTest, CsvHasAHeaderQuotesAndEmptyNulls) {
  QueryFixture f;
  WriteSample(&f);
  ASSERT_OK_AND_ASSIGN(encoded, Encode(f.exec(), Request(), ResultFormat::kCsv));
  EXPECT_EQ(encoded.bytes(),
            "host,region,usage,count,bytes,up,note,time\r\n"
            "a,eu,1.0,3,7,true,\"x, \"\"y\"\"\",2023-11-14T22:13:20Z\r\n"
            "b,,0.25,,,,,2023-11-14T22:13:20.000000001Z\r\n"
            "c,us,,-4,,,,2023-11-15T22:13:20Z\r\n");
  ASSERT_OK_AND_ASSIGN(usage, Encode(f.exec(), Request({"usage"}), ResultFormat::kCsv));
  // The header comes first, on its own: a client sees it before any row is read.
  ASSERT_EQ(usage.chunks.size(), 3u);
  EXPECT_EQ(usage.chunks[0], "usage\r\n");
  EXPECT_EQ(usage.chunks[1], "1.0\r\n0.25\r\n");
}

const std::vector<std::string> kSampleRows = {
    "host=a region=eu usage=1 count=3 bytes=7 up=true note=x, \"y\" time=" + T(kT),
    "host=b region=null usage=0.25 count=null bytes=null up=null note=null time=" +
        T(kT + 1),
    "host=c region=us usage=null count=-4 bytes=null up=null note=null time=" +
        T(kT + kDay)};

TEST(ResultStreamTest, ArrowIsAnIpcStreamWithTheQuerySchema) {
  QueryFixtureOptions fixture;
  fixture.buffer.small_batch_rows = 1;  // one batch (and tag dictionary) per write
  QueryFixture f(fixture);
  WriteSample(&f);
  f.Write("cpu,host=d usage=2 " + T(kT + 2) + "\n");
  ASSERT_OK_AND_ASSIGN(encoded, Encode(f.exec(), Request(), ResultFormat::kArrow));
  auto input = std::make_shared<arrow::io::BufferReader>(
      arrow::Buffer::FromString(encoded.bytes()));
  ASSERT_OK_AND_ASSIGN(reader, arrow::ipc::RecordBatchStreamReader::Open(input));
  ASSERT_OK_AND_ASSIGN(response, f.exec()->Query(Request()));
  EXPECT_TRUE(reader->schema()->Equals(*response->schema()));
  ASSERT_OK_AND_ASSIGN(batches, reader->ToRecordBatches());
  std::vector<std::string> expected = kSampleRows;
  expected.insert(expected.begin() + 2,
                  "host=d region=null usage=2 count=null bytes=null up=null note=null "
                  "time=" +
                      T(kT + 2));
  EXPECT_EQ(buffer_test::RowStrings(batches), expected);

  // No rows: still a readable stream, with the schema.
  Predicate none;
  none.tags.push_back({"host", {"nobody"}});
  ASSERT_OK_AND_ASSIGN(
      empty, Encode(f.exec(), Request({"host", "time"}, none), ResultFormat::kArrow));
  ASSERT_OK_AND_ASSIGN(empty_reader, arrow::ipc::RecordBatchStreamReader::Open(
                                         std::make_shared<arrow::io::BufferReader>(
                                             arrow::Buffer::FromString(empty.bytes()))));
  EXPECT_THAT(buffer_test::FieldNames(*empty_reader->schema()),
              ElementsAre("host", "time"));
  ASSERT_OK_AND_ASSIGN(no_batches, empty_reader->ToRecordBatches());
  EXPECT_TRUE(no_batches.empty());
}

TEST(ResultStreamTest, ParquetIsAFileWithRowGroupsAsTheyFill) {
  QueryFixture f;
  WriteSample(&f);
  std::string many;
  for (int i = 0; i < 10; ++i)
    many += "cpu,host=e count=" + T(i) + "i " + T(kT + 10 + i) + "\n";
  f.Write(many);
  ASSERT_OK_AND_ASSIGN(encoded,
                       Encode(f.exec(), Request(), ResultFormat::kParquet, /*rows=*/4));
  // A row group is written out as soon as it is full, before the footer.
  EXPECT_GT(encoded.chunks.size(), 2u);
  ASSERT_OK_AND_ASSIGN(
      reader, parquet::arrow::OpenFile(std::make_shared<arrow::io::BufferReader>(
                                           arrow::Buffer::FromString(encoded.bytes())),
                                       arrow::default_memory_pool()));
  EXPECT_EQ(reader->num_row_groups(), 4);  // 13 rows by 4
  ASSERT_OK_AND_ASSIGN(table, reader->ReadTable());
  ASSERT_OK_AND_ASSIGN(combined, table->CombineChunksToBatch());
  auto rows = buffer_test::RowStrings({combined});
  ASSERT_EQ(rows.size(), 13u);
  EXPECT_EQ(rows[0], kSampleRows[0]);
  EXPECT_EQ(rows[1], kSampleRows[1]);
  EXPECT_EQ(rows[11],
            "host=e region=null usage=null count=9 bytes=null up=null note=null time=" +
                T(kT + 19));
  EXPECT_EQ(rows[12], kSampleRows[2]);
  // The stored Arrow schema gives the tags back as dictionaries.
  EXPECT_EQ(table->schema()->field(0)->type()->id(), arrow::Type::DICTIONARY);
}

TEST(ResultStreamTest, TheQueryIsReleasedAtTheEndAndOnError) {
  QueryFixture f;
  WriteSample(&f);
  LimitedQueryExecOptions options;
  options.concurrent_query_limit = 1;
  auto limited = LimitedQueryExec::Make(
                     std::shared_ptr<QueryExec>(f.exec(), [](QueryExec*) {}), options)
                     .ValueOrDie();
  ASSERT_OK_AND_ASSIGN(response, limited->Query(Request()));
  ASSERT_OK_AND_ASSIGN(stream, ResultStream::Make(std::move(response), {}));
  int chunks = 0;
  while (true) {
    ASSERT_OK_AND_ASSIGN(chunk, stream->Next());
    if (!chunk) break;
    ++chunks;
    EXPECT_EQ(limited->active(), 1);
  }
  EXPECT_EQ(chunks, 2);
  EXPECT_EQ(limited->active(), 0);  // with the stream itself still alive

  auto failing = LimitedQueryExec::Make(std::make_shared<FailingExec>(arrow::schema(
                                            {arrow::field("v", arrow::int64())})),
                                        options)
                     .ValueOrDie();
  ResultStreamOptions csv;
  csv.format = ResultFormat::kCsv;
  ASSERT_OK_AND_ASSIGN(broken_response, failing->Query(Request()));
  ASSERT_OK_AND_ASSIGN(broken, ResultStream::Make(std::move(broken_response), csv));
  ASSERT_OK_AND_ASSIGN(header, broken->Next());
  EXPECT_EQ(header, std::optional<std::string>("v\r\n"));
  auto failed = broken->Next();
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("disk on fire"));
  EXPECT_EQ(failing->active(), 0);
  EXPECT_FALSE(broken->Next().ok());  // and it stays failed
}

TEST(ResultStreamTest, FormatsByName) {
  EXPECT_EQ(ParseResultFormat("jsonl").ValueOrDie(), ResultFormat::kJsonl);
  EXPECT_EQ(ParseResultFormat("csv").ValueOrDie(), ResultFormat::kCsv);
  EXPECT_EQ(ParseResultFormat("arrow").ValueOrDie(), ResultFormat::kArrow);
  EXPECT_EQ(ParseResultFormat("parquet").ValueOrDie(), ResultFormat::kParquet);
  auto bad = ParseResultFormat("xml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(ErrorKindOf(bad.status()), ErrorKind::kInvalidInput);
  EXPECT_THAT(bad.status().message(), HasSubstr("'xml'"));
  EXPECT_THAT(bad.status().message(), HasSubstr("jsonl, csv, arrow, parquet"));
  EXPECT_EQ(ContentTypeOf(ResultFormat::kArrow), "application/vnd.apache.arrow.stream");
  EXPECT_TRUE(IsBinaryFormat(ResultFormat::kParquet));
  EXPECT_FALSE(IsBinaryFormat(ResultFormat::kCsv));
}

}  // namespace
}  // namespace ingester::query
