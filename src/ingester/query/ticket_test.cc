#include "ingester/query/ticket.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ingester/common/error.h"

namespace ingester::query {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TicketTest, ParsesTheDesignDocumentExample) {
  auto request = ParseTicket(R"({"namespace": "db", "table": "cpu",
      "columns": ["host", "usage", "time"],
      "predicate": {"time": {"start": 0, "end": 1700000000000000000},
                    "tags": {"host": ["a", "b"], "region": "eu"}}})");
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(request->namespace_name, "db");
  EXPECT_EQ(request->table_name, "cpu");
  EXPECT_THAT(request->columns, ElementsAre("host", "usage", "time"));
  EXPECT_EQ(request->predicate.time.start, 0);
  EXPECT_EQ(request->predicate.time.end, 1700000000000000000);
  ASSERT_EQ(request->predicate.tags.size(), 2u);
  EXPECT_EQ(request->predicate.tags[0], (TagPredicate{"host", {"a", "b"}}));
  EXPECT_EQ(request->predicate.tags[1], (TagPredicate{"region", {"eu"}}));
}

TEST(TicketTest, OptionalPartsMayBeAbsentOrNull) {
  auto minimal = ParseTicket(R"({"namespace": "db", "table": "cpu"})").ValueOrDie();
  EXPECT_TRUE(minimal.columns.empty());
  EXPECT_TRUE(minimal.predicate.empty());
  auto nulls = ParseTicket(R"({"namespace": "db", "table": "cpu", "columns": null,
      "predicate": {"time": {"start": null, "end": 5}, "tags": null}})")
                   .ValueOrDie();
  EXPECT_FALSE(nulls.predicate.time.start.has_value());
  EXPECT_EQ(nulls.predicate.time.end, 5);
  auto empty_columns = ParseTicket(R"({"namespace":"db","table":"t","columns":[]})");
  ASSERT_TRUE(empty_columns.ok());
  EXPECT_TRUE(empty_columns->columns.empty());
}

TEST(TicketTest, RoundTrips) {
  QueryRequest request;
  request.namespace_name = "db \"quoted\"";
  request.table_name = "cpu";
  request.columns = {"a", "time"};
  request.predicate.time = {-5, std::nullopt};
  request.predicate.tags = {{"dc", {"x", "y"}}, {"host", {"h1"}}};
  auto parsed = ParseTicket(TicketJson(request));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, request);
}

TEST(TicketTest, ScopeAndPartial) {
  auto plain = ParseTicket(R"({"namespace": "db", "table": "cpu"})").ValueOrDie();
  EXPECT_EQ(plain.scope, QueryScope::kAll);
  EXPECT_FALSE(plain.partial);
  auto buffer = ParseTicket(R"({"namespace": "db", "table": "cpu", "scope": "buffer"})");
  ASSERT_TRUE(buffer.ok()) << buffer.status().ToString();
  EXPECT_EQ(buffer->scope, QueryScope::kBuffer);
  auto all = ParseTicket(
      R"({"namespace": "db", "table": "cpu", "scope": "all", "partial": true})");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->scope, QueryScope::kAll);
  EXPECT_TRUE(all->partial);
  auto nulls = ParseTicket(
      R"({"namespace": "db", "table": "cpu", "scope": null, "partial": null})");
  ASSERT_TRUE(nulls.ok());
  EXPECT_EQ(nulls->scope, QueryScope::kAll);
  EXPECT_FALSE(nulls->partial);

  // Written only when they differ from the defaults, and read back.
  EXPECT_EQ(TicketJson(plain).find("scope"), std::string::npos);
  EXPECT_EQ(TicketJson(plain).find("partial"), std::string::npos);
  QueryRequest peer = plain;
  peer.scope = QueryScope::kBuffer;
  peer.partial = true;
  EXPECT_THAT(TicketJson(peer), HasSubstr(R"("scope":"buffer")"));
  EXPECT_EQ(ParseTicket(TicketJson(peer)).ValueOrDie(), peer);
}

TEST(TicketTest, TagIndexType) {
  auto plain = ParseTicket(R"({"namespace": "db", "table": "cpu"})").ValueOrDie();
  EXPECT_EQ(plain.tag_index_type, TagIndexType::kInt32);
  EXPECT_EQ(TicketJson(plain).find("tag_index_type"), std::string::npos);
  auto narrow =
      ParseTicket(R"({"namespace": "db", "table": "cpu", "tag_index_type": "int16"})");
  ASSERT_TRUE(narrow.ok()) << narrow.status().ToString();
  EXPECT_EQ(narrow->tag_index_type, TagIndexType::kInt16);
  EXPECT_THAT(TicketJson(*narrow), HasSubstr(R"("tag_index_type":"int16")"));
  EXPECT_EQ(ParseTicket(TicketJson(*narrow)).ValueOrDie(), *narrow);
  auto wide =
      ParseTicket(R"({"namespace": "db", "table": "cpu", "tag_index_type": "int32"})");
  EXPECT_EQ(wide.ValueOrDie().tag_index_type, TagIndexType::kInt32);
}

void ExpectInvalid(const std::string& ticket, const std::string& says) {
  auto request = ParseTicket(ticket);
  ASSERT_FALSE(request.ok()) << ticket;
  EXPECT_EQ(ErrorKindOf(request.status()), ErrorKind::kInvalidInput) << ticket;
  EXPECT_THAT(request.status().message(), HasSubstr(says)) << ticket;
}

TEST(TicketTest, SaysWhatIsWrong) {
  ExpectInvalid("cpu", "not valid JSON");
  ExpectInvalid("[1]", "must be a JSON object");
  ExpectInvalid(R"({"table": "cpu"})", "'namespace' is required");
  ExpectInvalid(R"({"namespace": "", "table": "cpu"})", "'namespace' must not be empty");
  ExpectInvalid(R"({"namespace": 1, "table": "cpu"})", "'namespace' must be a string");
  ExpectInvalid(R"({"namespace": "db"})", "'table' is required");
  ExpectInvalid(R"({"namespace": "db", "table": "t", "colums": []})",
                "unknown key 'colums'");
  ExpectInvalid(R"({"namespace": "db", "table": "t", "columns": "a"})",
                "'columns' must be a list");
  ExpectInvalid(R"({"namespace": "db", "table": "t", "columns": ["a", 2]})",
                "non-empty strings");
  ExpectInvalid(R"({"namespace": "db", "table": "t", "predicate": []})",
                "'predicate' must be an object");
  ExpectInvalid(R"({"namespace": "db", "table": "t", "predicate": {"tme": {}}})",
                "unknown key 'tme'");
  ExpectInvalid(
      R"({"namespace": "db", "table": "t", "predicate": {"time": {"start": 1.5}}})",
      "predicate.time.start must be an integer");
  ExpectInvalid(
      R"({"namespace": "db", "table": "t", "predicate": {"time": {"end": "x"}}})",
      "predicate.time.end must be an integer");
  ExpectInvalid(
      R"({"namespace": "db", "table": "t", "predicate": {"time": {"end": 9223372036854775808}}})",
      "out of the int64 range");
  ExpectInvalid(
      R"({"namespace": "db", "table": "t", "predicate": {"time": {"from": 1}}})",
      "unknown key 'from'");
  ExpectInvalid(R"({"namespace": "db", "table": "t", "predicate": {"tags": {"h": 1}}})",
                "predicate.tags.h must be a string or a list");
  ExpectInvalid(
      R"({"namespace": "db", "table": "t", "predicate": {"tags": {"h": ["a", 1]}}})",
      "predicate.tags.h must list strings");
  ExpectInvalid(R"({"namespace": "db", "table": "t", "scope": "peers"})",
                "'scope' must be \"all\" or \"buffer\", not \"peers\"");
  ExpectInvalid(R"({"namespace": "db", "table": "t", "scope": 1})",
                "'scope' must be \"all\" or \"buffer\", not number");
  ExpectInvalid(R"({"namespace": "db", "table": "t", "tag_index_type": "int8"})",
                "'tag_index_type' must be \"int32\" or \"int16\", not \"int8\"");
  ExpectInvalid(R"({"namespace": "db", "table": "t", "partial": "yes"})",
                "'partial' must be true or false, not string");
  ExpectInvalid(R"({"namespace": "db", "table": "t", "partail": true})",
                "unknown key 'partail'");
}

TEST(TicketTest, TableRefs) {
  auto ref = ParseTableRef(R"({"namespace": "db", "table": "cpu"})").ValueOrDie();
  EXPECT_EQ(ref.namespace_name, "db");
  EXPECT_EQ(ref.table_name, "cpu");
  EXPECT_FALSE(ParseTableRef(R"({"namespace": "db"})").ok());
  EXPECT_FALSE(ParseTableRef(R"({"namespace": "db", "table": "t", "x": 1})").ok());
}

}  // namespace
}  // namespace ingester::query
