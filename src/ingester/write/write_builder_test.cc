#include "ingester/write/write_builder.h"

#include <atomic>
#include <filesystem>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "ingester/catalog/open.h"
#include "ingester/common/error.h"
#include "ingester/lp/parser.h"

namespace ingester {
namespace {

// A SQLite catalog in a fresh temporary file, and a cache over it.
class WriteBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ =
        std::filesystem::temp_directory_path() /
        ("write-builder-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
    catalog_ = catalog::OpenCatalog("sqlite://" + (dir_ / "catalog.sqlite").string())
                   .ValueOrDie();
    catalog::NamespaceLimits limits;
    limits.max_columns_per_table = 8;
    cache_ = std::make_unique<SchemaCache>(catalog_.get(), limits);
    ns_ = cache_->GetOrCreateNamespace("db").ValueOrDie();
  }
  void TearDown() override {
    cache_.reset();
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }

  BuiltWrite Build(const std::string& body) {
    body_ = body;
    lp::Parser parser;
    parsed_ = parser.Parse(body_, lp::ParseOptions{lp::Precision::kNanosecond, 42});
    return BuildWrite(ns_, body_, parsed_, cache_.get()).ValueOrDie();
  }

  std::filesystem::path dir_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<SchemaCache> cache_;
  catalog::NamespaceRecord ns_;
  std::string body_;
  lp::ParsedBody parsed_;
};

std::string TagAt(const arrow::RecordBatch& batch, const std::string& column,
                  int64_t row) {
  auto array = batch.GetColumnByName(column);
  if (array == nullptr || array->IsNull(row)) return "<null>";
  const auto& dict = static_cast<const arrow::DictionaryArray&>(*array);
  auto index = dict.GetValueIndex(row);
  return static_cast<const arrow::StringArray&>(*dict.dictionary()).GetString(index);
}

TEST_F(WriteBuilderTest, BuildsOneBatchPerTableAndDay) {
  auto built = Build(
      "cpu,host=a usage=0.5,count=3i 1700000000000000000\n"
      "mem,host=a free=10u\n"
      "cpu,host=b,region=eu usage=1.5,ok=true,note=\"hi\" 1700000001000000000\n"
      "cpu,host=c usage=2 1700086400000000000\n");
  ASSERT_TRUE(built.rejected.empty());
  EXPECT_EQ(built.lines_accepted, 4);
  ASSERT_EQ(built.op.writes.size(), 3u);
  EXPECT_EQ(built.op.namespace_id, ns_.id);

  const auto& cpu_day1 = built.op.writes[0];
  EXPECT_EQ(cpu_day1.table_name, "cpu");
  EXPECT_EQ(cpu_day1.partition_key, "2023-11-14");
  const auto& b = *cpu_day1.batch;
  ASSERT_EQ(b.num_rows(), 2);
  // Tags first, then fields in creation order, time last.
  std::vector<std::string> names;
  for (const auto& f : b.schema()->fields()) names.push_back(f->name());
  EXPECT_EQ(names, (std::vector<std::string>{"host", "region", "usage", "count", "ok",
                                             "note", "time"}));
  EXPECT_EQ(TagAt(b, "host", 0), "a");
  EXPECT_EQ(TagAt(b, "host", 1), "b");
  EXPECT_EQ(TagAt(b, "region", 0), "<null>");
  EXPECT_EQ(TagAt(b, "region", 1), "eu");
  auto count = std::static_pointer_cast<arrow::Int64Array>(b.GetColumnByName("count"));
  EXPECT_EQ(count->Value(0), 3);
  EXPECT_TRUE(count->IsNull(1));
  auto usage = std::static_pointer_cast<arrow::DoubleArray>(b.GetColumnByName("usage"));
  EXPECT_EQ(usage->Value(1), 1.5);
  auto note = std::static_pointer_cast<arrow::StringArray>(b.GetColumnByName("note"));
  EXPECT_EQ(note->GetString(1), "hi");
  auto time = std::static_pointer_cast<arrow::TimestampArray>(b.GetColumnByName("time"));
  EXPECT_EQ(time->Value(1), 1700000001000000000);
  EXPECT_FALSE(b.schema()->GetFieldByName("time")->nullable());

  EXPECT_EQ(built.op.writes[1].table_name, "cpu");
  EXPECT_EQ(built.op.writes[1].partition_key, "2023-11-15");
  EXPECT_EQ(built.op.writes[2].table_name, "mem");
  EXPECT_EQ(built.op.writes[2].partition_key, "1970-01-01");  // default time 42 ns
  auto free = std::static_pointer_cast<arrow::UInt64Array>(
      built.op.writes[2].batch->GetColumnByName("free"));
  EXPECT_EQ(free->Value(0), 10u);

  auto schema = catalog_->GetTableSchema(cpu_day1.table_id).ValueOrDie();
  EXPECT_EQ(schema.TypeOf("ok"), ColumnType::kBool);
  EXPECT_EQ(schema.TypeOf("time"), ColumnType::kTime);
}

TEST_F(WriteBuilderTest, TypeConflictWithCatalogRejectsOnlyThatLine) {
  Build("cpu usage=1i 1\n");
  auto built = Build("cpu usage=2i 2\ncpu usage=2.5 3\ncpu usage=3i 4\n");
  ASSERT_EQ(built.rejected.size(), 1u);
  const auto& r = built.rejected[0];
  EXPECT_EQ(r.line_number, 2u);
  EXPECT_EQ(r.column, 5u);  // where `usage` starts on that line
  EXPECT_NE(r.message.find("'usage'"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("i64"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("f64"), std::string::npos) << r.message;
  EXPECT_EQ(built.lines_accepted, 2);
  EXPECT_EQ(built.op.RowCount(), 2);
}

TEST_F(WriteBuilderTest, FirstLineDecidesANewColumnsType) {
  auto built = Build("cpu x=1i 1\ncpu x=1.5 2\ncpu x=\"s\" 3\n");
  ASSERT_EQ(built.rejected.size(), 2u);
  EXPECT_EQ(built.rejected[0].line_number, 2u);
  EXPECT_EQ(built.rejected[1].line_number, 3u);
  EXPECT_NE(built.rejected[1].message.find("string"), std::string::npos);
  EXPECT_EQ(built.op.RowCount(), 1);
}

// Lines of one shape are checked once: a line of another shape (other keys, another
// order, another field type) in between must be checked on its own, and the lines after
// it still build from the first shape.
TEST_F(WriteBuilderTest, ALineOfAnotherShapeIsCheckedOnItsOwn) {
  Build("cpu,host=a v=1i 1\n");
  auto built = Build(
      "cpu,host=a v=2i 2\n"
      "cpu,host=b v=2.5 3\n"           // same keys, another type: conflicts
      "cpu,host=c v=3i 4\n"            // back to the first shape
      "cpu,region=eu,host=d v=4i 5\n"  // new key, another order
      "cpu,host=e v=5i,w=true 6\n"     // one more field
      "cpu,host=f w=1i 7\n");          // w was created a bool by the line before
  ASSERT_EQ(built.rejected.size(), 2u);
  EXPECT_EQ(built.rejected[0].line_number, 2u);
  EXPECT_EQ(built.rejected[0].column, 12u);  // where `v` starts on that line
  EXPECT_NE(built.rejected[0].message.find("f64"), std::string::npos);
  EXPECT_EQ(built.rejected[1].line_number, 6u);
  EXPECT_EQ(built.rejected[1].column, 12u);
  EXPECT_NE(built.rejected[1].message.find("'w'"), std::string::npos)
      << built.rejected[1].message;
  EXPECT_EQ(built.lines_accepted, 4);
  ASSERT_EQ(built.op.writes.size(), 1u);
  const auto& b = *built.op.writes[0].batch;
  ASSERT_EQ(b.num_rows(), 4);
  EXPECT_EQ(TagAt(b, "host", 0), "a");
  EXPECT_EQ(TagAt(b, "host", 1), "c");
  EXPECT_EQ(TagAt(b, "host", 2), "d");
  EXPECT_EQ(TagAt(b, "region", 2), "eu");
  EXPECT_EQ(TagAt(b, "region", 3), "<null>");
  auto v = std::static_pointer_cast<arrow::Int64Array>(b.GetColumnByName("v"));
  EXPECT_EQ(v->Value(0), 2);
  EXPECT_EQ(v->Value(3), 5);
  auto w = std::static_pointer_cast<arrow::BooleanArray>(b.GetColumnByName("w"));
  EXPECT_EQ(w->null_count(), 3);
  EXPECT_TRUE(w->Value(3));
  ASSERT_TRUE(b.ValidateFull().ok());
}

// A series seen earlier in the batch reuses its tag indices; lines whose tag text
// differs only by escaping, or which escape, are still told apart by value.
TEST_F(WriteBuilderTest, RepeatedSeriesKeepTheirTagValues) {
  auto built = Build(
      "cpu,host=a,dc=x v=1i 1\n"
      "cpu,host=b,dc=x v=2i 2\n"
      "cpu,host=a,dc=x v=3i 3\n"
      "cpu,host=a\\ b,dc=x v=4i 4\n"
      "cpu,host=a\\ b,dc=x v=5i 5\n"
      "cpu,host=b,dc=y v=6i 6\n");
  ASSERT_TRUE(built.rejected.empty()) << built.rejected[0].message;
  ASSERT_EQ(built.op.writes.size(), 1u);
  const auto& b = *built.op.writes[0].batch;
  ASSERT_TRUE(b.ValidateFull().ok());
  const std::vector<std::string> hosts = {"a", "b", "a", "a b", "a b", "b"};
  const std::vector<std::string> dcs = {"x", "x", "x", "x", "x", "y"};
  for (int64_t row = 0; row < 6; ++row) {
    EXPECT_EQ(TagAt(b, "host", row), hosts[row]) << row;
    EXPECT_EQ(TagAt(b, "dc", row), dcs[row]) << row;
  }
  // One dictionary entry per distinct value, in order of first appearance.
  const auto& host =
      static_cast<const arrow::DictionaryArray&>(*b.GetColumnByName("host"));
  EXPECT_EQ(host.dictionary()->length(), 3);
  EXPECT_EQ(host.null_count(), 0);
}

// The parser marks a line whose keys repeat the previous line's; that line's shape is
// reused only when the previous line belongs to the same table.
TEST_F(WriteBuilderTest, KeysRepeatedFromAnotherTablesLine) {
  Build("b,host=x v=0.5 1\n");  // b.v is a float
  auto built = Build(
      "a,host=x v=1i 1\n"
      "b,host=x v=1i 2\n"  // same keys as line 1, but b.v is a float: rejected
      "a,host=y v=2i 3\n"  // same keys as line 2, of another table
      "b,host=y w=3i 4\n"
      "a,host=z w=4i 5\n"  // same keys as line 4; a's previous line had v, not w
      "a,host=q w=5i 6\n");
  ASSERT_EQ(parsed_.lines().size(), 6u);
  EXPECT_TRUE(parsed_.lines()[1].same_keys_as_previous);
  EXPECT_TRUE(parsed_.lines()[2].same_keys_as_previous);
  EXPECT_TRUE(parsed_.lines()[4].same_keys_as_previous);
  EXPECT_TRUE(parsed_.lines()[5].same_keys_as_previous);
  ASSERT_EQ(built.rejected.size(), 1u);
  EXPECT_EQ(built.rejected[0].line_number, 2u);
  EXPECT_EQ(built.lines_accepted, 5);
  ASSERT_EQ(built.op.writes.size(), 2u);
  const auto& a = *built.op.writes[0].batch;
  ASSERT_EQ(built.op.writes[0].table_name, "a");
  ASSERT_TRUE(a.ValidateFull().ok());
  ASSERT_EQ(a.num_rows(), 4);
  auto v = std::static_pointer_cast<arrow::Int64Array>(a.GetColumnByName("v"));
  auto w = std::static_pointer_cast<arrow::Int64Array>(a.GetColumnByName("w"));
  ASSERT_NE(v, nullptr);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(v->Value(0), 1);
  EXPECT_EQ(v->Value(1), 2);
  EXPECT_TRUE(v->IsNull(2));
  EXPECT_TRUE(v->IsNull(3));
  EXPECT_TRUE(w->IsNull(0));
  EXPECT_EQ(w->Value(2), 4);
  EXPECT_EQ(w->Value(3), 5);
  EXPECT_EQ(TagAt(a, "host", 2), "z");
  const auto& b = *built.op.writes[1].batch;
  ASSERT_EQ(b.num_rows(), 1);
  EXPECT_EQ(TagAt(b, "host", 0), "y");
}

// Many distinct tag values of every length up to 100 bytes, each differing from the
// others in a single byte, each series written twice: every row keeps its values and
// each dictionary holds each value once (the tables grow and hash every byte).
TEST_F(WriteBuilderTest, ManyTagValuesDifferingInOneByte) {
  std::vector<std::string> values;
  for (size_t length = 1; length <= 100; length += (length < 40 ? 1 : 7)) {
    values.push_back(std::string(length, 'a'));
    for (size_t at = 0; at < length; ++at) {
      std::string v(length, 'a');
      v[at] = 'b';
      values.push_back(v);
    }
  }
  std::string body;
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < values.size(); ++i) {
      body += "cpu,host=" + values[i] + ",dc=" + values[values.size() - 1 - i] +
              " v=" + std::to_string(i) + "i " + std::to_string(i) + "\n";
    }
  }
  auto built = Build(body);
  ASSERT_TRUE(built.rejected.empty()) << built.rejected[0].message;
  ASSERT_EQ(built.op.writes.size(), 1u);
  const auto& b = *built.op.writes[0].batch;
  ASSERT_TRUE(b.ValidateFull().ok());
  ASSERT_EQ(b.num_rows(), static_cast<int64_t>(2 * values.size()));
  for (int64_t row = 0; row < b.num_rows(); ++row) {
    const size_t i = static_cast<size_t>(row) % values.size();
    ASSERT_EQ(TagAt(b, "host", row), values[i]) << row;
    ASSERT_EQ(TagAt(b, "dc", row), values[values.size() - 1 - i]) << row;
  }
  for (const char* column : {"host", "dc"}) {
    const auto& dict =
        static_cast<const arrow::DictionaryArray&>(*b.GetColumnByName(column));
    EXPECT_EQ(dict.dictionary()->length(), static_cast<int64_t>(values.size()));
  }
}

// A column's rows with values, then gaps in the middle and at the end: the validity
// bitmap marks exactly the gaps, and null slots hold zeros.
TEST_F(WriteBuilderTest, NullsAfterARunOfValues) {
  std::string body;
  std::vector<bool> has_w;
  for (int i = 0; i < 150; ++i) {
    const bool w = i < 70 || (i >= 75 && i < 140 && i % 3 != 0);
    has_w.push_back(w);
    body += "cpu,host=h" + std::to_string(i % 4) + " v=" + std::to_string(i) + "i" +
            (w ? ",w=" + std::to_string(i * 2) + "i" : "") + " " + std::to_string(i) +
            "\n";
  }
  auto built = Build(body);
  ASSERT_TRUE(built.rejected.empty()) << built.rejected[0].message;
  ASSERT_EQ(built.op.writes.size(), 1u);
  const auto& b = *built.op.writes[0].batch;
  ASSERT_TRUE(b.ValidateFull().ok());
  auto v = std::static_pointer_cast<arrow::Int64Array>(b.GetColumnByName("v"));
  auto w = std::static_pointer_cast<arrow::Int64Array>(b.GetColumnByName("w"));
  EXPECT_EQ(v->null_count(), 0);
  int64_t nulls = 0;
  for (int64_t row = 0; row < 150; ++row) {
    EXPECT_EQ(v->Value(row), row);
    ASSERT_EQ(w->IsValid(row), has_w[static_cast<size_t>(row)]) << row;
    if (has_w[static_cast<size_t>(row)]) {
      EXPECT_EQ(w->Value(row), 2 * row);
    } else {
      EXPECT_EQ(w->Value(row), 0);  // null slots hold zeros
      ++nulls;
    }
  }
  EXPECT_EQ(w->null_count(), nulls);
}

TEST_F(WriteBuilderTest, TagAndFieldOfTheSameNameConflict) {
  auto built = Build("cpu,host=a v=1 1\ncpu host=\"a\",v=2 2\n");
  ASSERT_EQ(built.rejected.size(), 1u);
  EXPECT_EQ(built.rejected[0].line_number, 2u);
  EXPECT_NE(built.rejected[0].message.find("tag"), std::string::npos)
      << built.rejected[0].message;
}

TEST_F(WriteBuilderTest, ColumnLimitRejectsLinesNeedingNewColumns) {
  // Limit 8 columns per table: time + a..e is 6, f, g and h would make 9.
  Build("cpu a=1,b=2,c=3,d=4,e=5 1\n");
  auto built = Build("cpu a=1 2\ncpu f=1,g=2,h=3 3\n");
  ASSERT_EQ(built.rejected.size(), 1u);
  EXPECT_EQ(built.rejected[0].line_number, 2u);
  // The catalog's message names the table and the limit.
  EXPECT_NE(built.rejected[0].message.find("cpu"), std::string::npos)
      << built.rejected[0].message;
  EXPECT_NE(built.rejected[0].message.find('8'), std::string::npos)
      << built.rejected[0].message;
  EXPECT_EQ(built.op.RowCount(), 1);
}

// A line with far more distinct keys than the table may hold is refused after the
// first key past the limit, not after comparing every key with every other one (100,000
// keys took minutes when the catalog de-duplicated them pairwise).
TEST_F(WriteBuilderTest, ALineWithAHugeNumberOfNewKeysIsRefusedAtTheLimit) {
  Build("wide v=0 0\n");
  std::string line = "wide";
  for (int i = 0; i < 100'000; ++i) line += ",t" + std::to_string(i) + "=v";
  line += " v=1 1\nwide v=2 2\n";
  auto built = Build(line);
  ASSERT_EQ(built.rejected.size(), 1u);
  EXPECT_EQ(built.rejected[0].line_number, 1u);
  EXPECT_NE(built.rejected[0].message.find("max_columns_per_table=8"), std::string::npos)
      << built.rejected[0].message;
  EXPECT_EQ(built.op.RowCount(), 1);  // the second line is written
  EXPECT_EQ(catalog_->GetTableSchema(TableId(1)).ValueOrDie().columns.size(),
            2u);  // v, time
}

TEST_F(WriteBuilderTest, ParseErrorsAreMergedInLineOrder) {
  auto built = Build("cpu v=1 1\ncpu v=oops 2\ncpu v=1i 3\ncpu\n");
  ASSERT_EQ(built.rejected.size(), 3u);
  EXPECT_EQ(built.rejected[0].line_number, 2u);
  EXPECT_EQ(built.rejected[1].line_number, 3u);  // type conflict with line 1
  EXPECT_EQ(built.rejected[2].line_number, 4u);
  EXPECT_EQ(built.lines_accepted, 1);
}

TEST_F(WriteBuilderTest, InvalidTableNameRejectsItsLines) {
  auto built = Build("ok v=1 1\nbad\\ \x01name v=1 2\n");
  ASSERT_EQ(built.rejected.size(), 1u);
  EXPECT_EQ(built.rejected[0].line_number, 2u);
  EXPECT_EQ(built.lines_accepted, 1);
}

}  // namespace
}  // namespace ingester

namespace ingester {
namespace {

TEST_F(WriteBuilderTest, TemplateSplitsLinesByRegionInKeyOrder) {
  auto by_region = partition::PartitionTemplate::FromJson(
                       R"({"parts":[{"tag_value":"region"},{"time_format":"%Y-%m-%d"}]})")
                       .ValueOrDie();
  ns_ = cache_->GetOrCreateNamespace("regional", by_region).ValueOrDie();
  auto built = Build(
      "cpu,host=a,region=eu v=1 1700000000000000000\n"
      "cpu,region=us,host=b v=2 1700000000000000000\n"
      "cpu,host=c v=3 1700000000000000000\n"
      "cpu,host=d,region=eu v=4 1700086400000000000\n"
      "cpu,host=e,region=a|b v=5 1700000000000000000\n"
      "cpu,host=f,region=eu v=6 1700000001000000000\n"
      "mem,host=a free=1i 1700000000000000000\n");
  ASSERT_TRUE(built.rejected.empty());
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& w : built.op.writes) keys.emplace_back(w.table_name, w.partition_key);
  EXPECT_EQ(keys,
            (std::vector<std::pair<std::string, std::string>>{{"cpu", "!|2023-11-14"},
                                                              {"cpu", "a%7Cb|2023-11-14"},
                                                              {"cpu", "eu|2023-11-14"},
                                                              {"cpu", "eu|2023-11-15"},
                                                              {"cpu", "us|2023-11-14"},
                                                              {"mem", "!|2023-11-14"}}));
  const auto& eu = *built.op.writes[2].batch;
  ASSERT_EQ(eu.num_rows(), 2);
  EXPECT_EQ(TagAt(eu, "host", 0), "a");
  EXPECT_EQ(TagAt(eu, "host", 1), "f");
  EXPECT_EQ(TagAt(*built.op.writes[4].batch, "host", 0), "b");
  EXPECT_EQ(TagAt(*built.op.writes[0].batch, "host", 0), "c");
  // The template's tag is a tag column of every table of the namespace, even one
  // whose lines never had it.
  auto mem = catalog_->GetTableByName(ns_.id, "mem").ValueOrDie();
  ASSERT_TRUE(mem.has_value());
  EXPECT_EQ(mem->partition_template, by_region);
  EXPECT_EQ(catalog_->GetTableSchema(mem->id).ValueOrDie().TypeOf("region"),
            ColumnType::kTag);
}

TEST_F(WriteBuilderTest, ValuesCutInTheKeyShareAPartition) {
  auto by_host = partition::PartitionTemplate::FromJson(
                     R"({"parts":[{"tag_value":"host"},{"time_format":"%Y"}]})")
                     .ValueOrDie();
  ns_ = cache_->GetOrCreateNamespace("long", by_host).ValueOrDie();
  const std::string prefix(250, 'h');
  auto built = Build("cpu,host=" + prefix + "1 v=1 1700000000000000000\n" +
                     "cpu,host=x v=2 1700000000000000000\n" + "cpu,host=" + prefix +
                     "2 v=3 1700000000000000000\n");
  ASSERT_TRUE(built.rejected.empty());
  ASSERT_EQ(built.op.writes.size(), 2u);
  EXPECT_EQ(built.op.writes[0].partition_key, std::string(199, 'h') + "#|2023");
  const auto& cut = *built.op.writes[0].batch;
  ASSERT_EQ(cut.num_rows(), 2);  // both long hosts, in line order
  EXPECT_EQ(TagAt(cut, "host", 0), prefix + "1");
  EXPECT_EQ(TagAt(cut, "host", 1), prefix + "2");
  EXPECT_EQ(built.op.writes[1].partition_key, "x|2023");
}

}  // namespace
}  // namespace ingester
