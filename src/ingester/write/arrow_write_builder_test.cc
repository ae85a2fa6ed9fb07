#include "ingester/write/arrow_write_builder.h"

#include <arrow/api.h>
#include <arrow/util/key_value_metadata.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>

#include "ingester/catalog/open.h"
#include "ingester/common/column_type.h"
#include "ingester/common/error.h"

namespace ingester {
namespace {

#define ASSERT_OK_AND_ASSIGN(lhs, expr)                               \
  auto lhs##_result = (expr);                                         \
  ASSERT_TRUE(lhs##_result.ok()) << lhs##_result.status().ToString(); \
  auto lhs = std::move(lhs##_result).ValueOrDie()

constexpr int64_t kDay = 86'400'000'000'000LL;
constexpr int64_t kT0 = 1'700'000'000'000'000'000LL;  // 2023-11-14T22:13:20Z

template <typename T>
std::shared_ptr<arrow::Array> Make(const std::vector<std::optional<T>>& values) {
  typename arrow::CTypeTraits<T>::BuilderType builder;
  for (const auto& v : values) {
    EXPECT_TRUE((v ? builder.Append(*v) : builder.AppendNull()).ok());
  }
  return builder.Finish().ValueOrDie();
}

std::shared_ptr<arrow::Array> Strings(const std::vector<std::optional<std::string>>& v) {
  arrow::StringBuilder builder;
  for (const auto& s : v)
    EXPECT_TRUE((s ? builder.Append(*s) : builder.AppendNull()).ok());
  return builder.Finish().ValueOrDie();
}

std::shared_ptr<arrow::Array> Times(arrow::TimeUnit::type unit,
                                    const std::vector<int64_t>& values,
                                    const std::string& tz = "") {
  arrow::TimestampBuilder builder(arrow::timestamp(unit, tz),
                                  arrow::default_memory_pool());
  EXPECT_TRUE(builder.AppendValues(values).ok());
  return builder.Finish().ValueOrDie();
}

// Decoded value of row `row` of column `name`, or "<null>"; "<missing>" without it.
std::string Cell(const arrow::RecordBatch& batch, const std::string& name, int64_t row) {
  auto array = batch.GetColumnByName(name);
  if (array == nullptr) return "<missing>";
  if (array->IsNull(row)) return "<null>";
  if (array->type_id() == arrow::Type::DICTIONARY) {
    const auto& dict = static_cast<const arrow::DictionaryArray&>(*array);
    return static_cast<const arrow::StringArray&>(*dict.dictionary())
        .GetString(dict.GetValueIndex(row));
  }
  if (array->type_id() == arrow::Type::TIMESTAMP) {
    return std::to_string(static_cast<const arrow::TimestampArray&>(*array).Value(row));
  }
  return array->GetScalar(row).ValueOrDie()->ToString();
}

class ArrowWriteBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("arrow-write-builder-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter++));
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

  static std::shared_ptr<arrow::RecordBatch> Batch(
      std::vector<std::shared_ptr<arrow::Field>> fields,
      std::vector<std::shared_ptr<arrow::Array>> columns) {
    const int64_t rows = columns.empty() ? 0 : columns[0]->length();
    return arrow::RecordBatch::Make(arrow::schema(std::move(fields)), rows,
                                    std::move(columns));
  }

  arrow::Result<WriteOp> Build(std::vector<std::shared_ptr<arrow::RecordBatch>> batches,
                               const std::string& table = "cpu") {
    return BuildArrowWrite(ns_, table, batches, cache_.get());
  }

  std::optional<ColumnType> CatalogType(const std::string& column,
                                        const std::string& table = "cpu") {
    auto t = catalog_->GetTableByName(ns_.id, table).ValueOrDie();
    if (!t) return std::nullopt;
    return catalog_->GetTableSchema(t->id).ValueOrDie().TypeOf(column);
  }

  std::filesystem::path dir_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<SchemaCache> cache_;
  catalog::NamespaceRecord ns_;
};

std::shared_ptr<arrow::Field> TagField(const std::string& name) {
  return arrow::field(name, arrow::utf8())
      ->WithMetadata(
          arrow::key_value_metadata({std::string(kColumnTypeMetadataKey)}, {"tag"}));
}

TEST_F(ArrowWriteBuilderTest, MapsRolesAndBuildsTheDataModel) {
  // The adaptive dictionary builder starts with int8 indices.
  arrow::StringDictionaryBuilder region;
  ASSERT_TRUE(region.Append("eu").ok());
  ASSERT_TRUE(region.AppendNull().ok());
  // The host column is a tag through its metadata; note stays a string field.
  auto regions = region.Finish().ValueOrDie();
  ASSERT_EQ(
      static_cast<const arrow::DictionaryType&>(*regions->type()).index_type()->id(),
      arrow::Type::INT8);
  auto batch = Batch(
      {TagField("host"), arrow::field("region", regions->type()),
       arrow::field("usage", arrow::float64()), arrow::field("count", arrow::int64()),
       arrow::field("bytes", arrow::uint64()), arrow::field("up", arrow::boolean()),
       arrow::field("note", arrow::utf8()),
       arrow::field("time", arrow::timestamp(arrow::TimeUnit::MILLI))},
      {Strings({"a", std::nullopt}), regions, Make<double>({0.5, std::nullopt}),
       Make<int64_t>({3, 4}), Make<uint64_t>({7, 8}), Make<bool>({true, false}),
       Strings({"x", "y"}),
       Times(arrow::TimeUnit::MILLI, {kT0 / 1'000'000, kT0 / 1'000'000 + 1})});
  ASSERT_OK_AND_ASSIGN(op, Build({batch}));
  EXPECT_EQ(op.namespace_id, ns_.id);
  EXPECT_EQ(op.namespace_name, "db");
  ASSERT_EQ(op.writes.size(), 1u);
  const auto& w = op.writes[0];
  EXPECT_EQ(w.table_name, "cpu");
  EXPECT_EQ(w.partition_key, "2023-11-14");
  EXPECT_EQ(w.sequence_number, 0u);
  const auto& out = *w.batch;
  ASSERT_EQ(out.num_rows(), 2);
  const auto tag = ArrowTypeFor(ColumnType::kTag);
  EXPECT_TRUE(out.GetColumnByName("host")->type()->Equals(*tag));
  EXPECT_TRUE(out.GetColumnByName("region")->type()->Equals(*tag));
  EXPECT_TRUE(
      out.GetColumnByName("time")->type()->Equals(*ArrowTypeFor(ColumnType::kTime)));
  EXPECT_FALSE(out.schema()->GetFieldByName("time")->nullable());
  EXPECT_EQ(Cell(out, "host", 0), "a");
  EXPECT_EQ(Cell(out, "host", 1), "<null>");
  EXPECT_EQ(Cell(out, "region", 0), "eu");
  EXPECT_EQ(Cell(out, "region", 1), "<null>");
  EXPECT_EQ(Cell(out, "usage", 0), "0.5");
  EXPECT_EQ(Cell(out, "usage", 1), "<null>");
  EXPECT_EQ(Cell(out, "note", 1), "y");
  EXPECT_EQ(Cell(out, "time", 0), std::to_string(kT0));
  EXPECT_EQ(Cell(out, "time", 1), std::to_string(kT0 + 1'000'000));
  EXPECT_EQ(CatalogType("host"), ColumnType::kTag);
  EXPECT_EQ(CatalogType("region"), ColumnType::kTag);
  EXPECT_EQ(CatalogType("usage"), ColumnType::kF64);
  EXPECT_EQ(CatalogType("count"), ColumnType::kI64);
  EXPECT_EQ(CatalogType("bytes"), ColumnType::kU64);
  EXPECT_EQ(CatalogType("up"), ColumnType::kBool);
  EXPECT_EQ(CatalogType("note"), ColumnType::kString);
  EXPECT_EQ(CatalogType("time"), ColumnType::kTime);
}

TEST_F(ArrowWriteBuilderTest, TimeUnitsAndInt64Nanoseconds) {
  const int64_t secs = kT0 / 1'000'000'000;
  for (auto [unit, value] : std::vector<std::pair<arrow::TimeUnit::type, int64_t>>{
           {arrow::TimeUnit::SECOND, secs},
           {arrow::TimeUnit::MILLI, secs * 1000},
           {arrow::TimeUnit::MICRO, secs * 1'000'000},
           {arrow::TimeUnit::NANO, kT0}}) {
    auto batch = Batch({arrow::field("v", arrow::int64()),
                        arrow::field("time", arrow::timestamp(unit, "UTC"))},
                       {Make<int64_t>({1}), Times(unit, {value}, "UTC")});
    ASSERT_OK_AND_ASSIGN(op, Build({batch}));
    EXPECT_EQ(Cell(*op.writes[0].batch, "time", 0), std::to_string(kT0)) << unit;
  }
  auto ints =
      Batch({arrow::field("v", arrow::int64()), arrow::field("time", arrow::int64())},
            {Make<int64_t>({1}), Make<int64_t>({kT0 + 5})});
  ASSERT_OK_AND_ASSIGN(op, Build({ints}));
  EXPECT_EQ(Cell(*op.writes[0].batch, "time", 0), std::to_string(kT0 + 5));
}

TEST_F(ArrowWriteBuilderTest, OnePartitionWritePerDayInRowOrder) {
  // Rows alternate between two days; each day keeps its rows in order.
  auto batch =
      Batch({arrow::field("v", arrow::int64()), arrow::field("time", arrow::int64())},
            {Make<int64_t>({1, 2, 3, 4}),
             Make<int64_t>({kT0, kT0 + kDay, kT0 + 1, kT0 + kDay + 1})});
  auto second =
      Batch({arrow::field("w", arrow::float64()), arrow::field("time", arrow::int64())},
            {Make<double>({9.5}), Make<int64_t>({kT0 + 2})});
  ASSERT_OK_AND_ASSIGN(op, Build({batch, second}));
  ASSERT_EQ(op.writes.size(), 2u);
  EXPECT_EQ(op.writes[0].partition_key, "2023-11-14");
  EXPECT_EQ(op.writes[1].partition_key, "2023-11-15");
  const auto& day1 = *op.writes[0].batch;
  ASSERT_EQ(day1.num_rows(), 3);
  EXPECT_EQ(Cell(day1, "v", 0), "1");
  EXPECT_EQ(Cell(day1, "v", 1), "3");
  EXPECT_EQ(Cell(day1, "v", 2), "<null>");  // from the second batch, which lacks v
  EXPECT_EQ(Cell(day1, "w", 0), "<null>");
  EXPECT_EQ(Cell(day1, "w", 2), "9.5");
  const auto& day2 = *op.writes[1].batch;
  ASSERT_EQ(day2.num_rows(), 2);
  EXPECT_EQ(Cell(day2, "v", 0), "2");
  EXPECT_EQ(Cell(day2, "v", 1), "4");
  EXPECT_EQ(op.RowCount(), 5);
}

TEST_F(ArrowWriteBuilderTest, ConflictsNameColumnAndTypes) {
  auto ints =
      Batch({arrow::field("usage", arrow::int64()), arrow::field("time", arrow::int64())},
            {Make<int64_t>({1}), Make<int64_t>({kT0})});
  ASSERT_TRUE(Build({ints}).ok());
  auto floats = Batch(
      {arrow::field("usage", arrow::float64()), arrow::field("time", arrow::int64())},
      {Make<double>({1.5}), Make<int64_t>({kT0})});
  auto result = Build({floats});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(ErrorKindOf(result.status()), ErrorKind::kConflict);
  EXPECT_NE(result.status().message().find("'usage'"), std::string::npos);
  EXPECT_NE(result.status().message().find("i64"), std::string::npos);
  EXPECT_NE(result.status().message().find("f64"), std::string::npos);
  EXPECT_EQ(CatalogType("usage"), ColumnType::kI64);

  // A string column where a tag exists (and the reverse) is a conflict too.
  auto tag = Batch({TagField("host"), arrow::field("time", arrow::int64())},
                   {Strings({"a"}), Make<int64_t>({kT0})});
  ASSERT_TRUE(Build({tag}).ok());
  auto str =
      Batch({arrow::field("host", arrow::utf8()), arrow::field("time", arrow::int64())},
            {Strings({"a"}), Make<int64_t>({kT0})});
  auto clash = Build({str});
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(ErrorKindOf(clash.status()), ErrorKind::kConflict);
  EXPECT_NE(clash.status().message().find("tag"), std::string::npos);
}

TEST_F(ArrowWriteBuilderTest, RejectsUnsupportedColumnsBeforeTouchingTheCatalog) {
  auto bad =
      Batch({arrow::field("ok", arrow::int64()), arrow::field("small", arrow::int32()),
             arrow::field("time", arrow::int64())},
            {Make<int64_t>({1}), Make<int32_t>({1}), Make<int64_t>({kT0})});
  auto result = Build({bad}, "fresh");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(ErrorKindOf(result.status()), ErrorKind::kInvalidInput);
  EXPECT_NE(result.status().message().find("'small'"), std::string::npos);
  EXPECT_NE(result.status().message().find("int32"), std::string::npos);
  // All or nothing: the table was not even created.
  EXPECT_FALSE(catalog_->GetTableByName(ns_.id, "fresh").ValueOrDie().has_value());
}

TEST_F(ArrowWriteBuilderTest, RejectsBadTimeColumns) {
  auto no_time = Batch({arrow::field("v", arrow::int64())}, {Make<int64_t>({1})});
  auto r1 = Build({no_time});
  ASSERT_FALSE(r1.ok());
  EXPECT_NE(r1.status().message().find("'time'"), std::string::npos);

  auto float_time =
      Batch({arrow::field("time", arrow::float64())}, {Make<double>({1.0})});
  auto r2 = Build({float_time});
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("double"), std::string::npos);

  auto null_time =
      Batch({arrow::field("v", arrow::int64()), arrow::field("time", arrow::int64())},
            {Make<int64_t>({1, 2}), Make<int64_t>({kT0, std::nullopt})});
  auto r3 = Build({null_time});
  ASSERT_FALSE(r3.ok());
  EXPECT_NE(r3.status().message().find("row 1"), std::string::npos);

  // Seconds beyond 2262 overflow nanoseconds.
  auto far = Batch({arrow::field("time", arrow::timestamp(arrow::TimeUnit::SECOND))},
                   {Times(arrow::TimeUnit::SECOND, {10'000'000'000LL})});
  auto r4 = Build({far});
  ASSERT_FALSE(r4.ok());
  EXPECT_EQ(ErrorKindOf(r4.status()), ErrorKind::kInvalidInput);

  // A tag declared on a non-string column, and a dictionary of non-strings.
  auto bad_tag = Batch({arrow::field("n", arrow::int64())
                            ->WithMetadata(arrow::key_value_metadata(
                                {std::string(kColumnTypeMetadataKey)}, {"tag"})),
                        arrow::field("time", arrow::int64())},
                       {Make<int64_t>({1}), Make<int64_t>({kT0})});
  EXPECT_EQ(ErrorKindOf(Build({bad_tag}).status()), ErrorKind::kInvalidInput);
}

TEST_F(ArrowWriteBuilderTest, ColumnLimitIsReported) {
  // The namespace allows 8 columns per table; time plus 8 fields is 9.
  std::vector<std::shared_ptr<arrow::Field>> fields;
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (int i = 0; i < 8; ++i) {
    fields.push_back(arrow::field("f" + std::to_string(i), arrow::int64()));
    columns.push_back(Make<int64_t>({i}));
  }
  fields.push_back(arrow::field("time", arrow::int64()));
  columns.push_back(Make<int64_t>({kT0}));
  auto result = Build({Batch(fields, columns)});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(ErrorKindOf(result.status()), ErrorKind::kLimit);
}

TEST_F(ArrowWriteBuilderTest, EmptyBatchesAddNoWrites) {
  auto empty =
      Batch({arrow::field("v", arrow::int64()), arrow::field("time", arrow::int64())},
            {Make<int64_t>({}), Make<int64_t>({})});
  ASSERT_OK_AND_ASSIGN(op, Build({empty}));
  EXPECT_TRUE(op.writes.empty());
  EXPECT_EQ(CatalogType("v"), ColumnType::kI64);
}

// --- malformed and invalid batches: each is refused before the catalog is touched ---

template <typename T>
std::shared_ptr<arrow::Buffer> BufferOf(const std::vector<T>& values) {
  return arrow::Buffer::FromString(std::string(
      reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)));
}

// A utf8 array from raw offsets and bytes, as a client may send it (unchecked).
std::shared_ptr<arrow::Array> RawStrings(const std::vector<int32_t>& offsets,
                                         const std::string& bytes) {
  return arrow::MakeArray(arrow::ArrayData::Make(
      arrow::utf8(), static_cast<int64_t>(offsets.size()) - 1,
      {nullptr, BufferOf(offsets), arrow::Buffer::FromString(bytes)}, 0));
}

// dictionary<Index, utf8> from raw indices (unchecked), as
// pa.DictionaryArray.from_arrays(..., safe=False) makes it.
template <typename Index>
std::shared_ptr<arrow::Array> RawDictionary(const std::shared_ptr<arrow::DataType>& index,
                                            const std::vector<Index>& indices,
                                            const std::shared_ptr<arrow::Array>& dict) {
  auto data = arrow::ArrayData::Make(arrow::dictionary(index, arrow::utf8()),
                                     static_cast<int64_t>(indices.size()),
                                     {nullptr, BufferOf(indices)}, 0);
  data->dictionary = dict->data();
  return arrow::MakeArray(data);
}

class ArrowWriteBuilderRejectsTest : public ArrowWriteBuilderTest {
 protected:
  // `column` (named `name`) plus a valid time column, written to a fresh table: the
  // error must be InvalidInput with every one of `parts`, and the table must not exist.
  void ExpectRefused(const std::shared_ptr<arrow::Field>& field,
                     const std::shared_ptr<arrow::Array>& column,
                     const std::vector<std::string>& parts,
                     const std::string& table = "fresh") {
    std::vector<int64_t> times(static_cast<size_t>(column->length()), kT0);
    auto batch = Batch({field, arrow::field("time", arrow::int64())},
                       {column, Make<int64_t>({times.begin(), times.end()})});
    auto result = Build({batch}, table);
    ASSERT_FALSE(result.ok()) << field->ToString();
    EXPECT_EQ(ErrorKindOf(result.status()), ErrorKind::kInvalidInput) << result.status();
    for (const auto& part : parts) {
      EXPECT_NE(result.status().message().find(part), std::string::npos)
          << "'" << part << "' not in: " << result.status().message();
    }
    EXPECT_FALSE(catalog_->GetTableByName(ns_.id, table).ValueOrDie().has_value());
  }
};

TEST_F(ArrowWriteBuilderRejectsTest, DictionaryIndexOutOfRange) {
  auto dict = Strings({"a"});
  auto host = arrow::field("host", arrow::dictionary(arrow::int32(), arrow::utf8()));
  // The reported batch: would have segfaulted in the buffer.
  ExpectRefused(host, RawDictionary<int32_t>(arrow::int32(), {2147483647}, dict),
                {"column 'host' row 0", "dictionary index 2147483647 is out of range"});
  // A small one: would have been acknowledged, with garbage persisted.
  ExpectRefused(host, RawDictionary<int32_t>(arrow::int32(), {0, 1}, dict),
                {"column 'host' row 1", "dictionary index 1 is out of range"});
  // int8 indices are widened: out of range before that too.
  ExpectRefused(arrow::field("host", arrow::dictionary(arrow::int8(), arrow::utf8())),
                RawDictionary<int8_t>(arrow::int8(), {0, 0, 5}, dict),
                {"column 'host' row 2", "dictionary index 5"});
}

TEST_F(ArrowWriteBuilderRejectsTest, BadStringOffsets) {
  ExpectRefused(arrow::field("note", arrow::utf8()), RawStrings({0, 5, 2, 6}, "abcdef"),
                {"column 'note' row 1", "string offsets 5..2"});
  ExpectRefused(arrow::field("note", arrow::utf8()), RawStrings({0, 1 << 20}, "abcdef"),
                {"column 'note' row 0", "string offsets 0..1048576"});
  // In a tag declared by metadata, which the builder dictionary-encodes.
  ExpectRefused(TagField("region"), RawStrings({0, 3, 1}, "abc"),
                {"column 'region' row 1", "string offsets 3..1"});
}

TEST_F(ArrowWriteBuilderRejectsTest, InvalidUtf8InATagAndInAStringField) {
  ExpectRefused(arrow::field("note", arrow::utf8()), RawStrings({0, 1, 3}, "a\xff\xfe"),
                {"column 'note' row 1", "not valid UTF-8"});
  ExpectRefused(TagField("region"), RawStrings({0, 2}, "\xc3\x28"),
                {"column 'region' row 0", "not valid UTF-8"});
  ExpectRefused(arrow::field("host", arrow::dictionary(arrow::int32(), arrow::utf8())),
                RawDictionary<int32_t>(arrow::int32(), {0}, RawStrings({0, 1}, "\x80")),
                {"column 'host' dictionary value 0", "not valid UTF-8"});
}

TEST_F(ArrowWriteBuilderRejectsTest, NanAndInfiniteFloats) {
  const double inf = std::numeric_limits<double>::infinity();
  ExpectRefused(arrow::field("usage", arrow::float64()),
                Make<double>({1.0, std::nan("")}), {"column 'usage' row 1", "NaN"});
  ExpectRefused(arrow::field("usage", arrow::float64()), Make<double>({inf}),
                {"column 'usage' row 0", "+Inf"});
  ExpectRefused(arrow::field("usage", arrow::float64()), Make<double>({-inf}),
                {"column 'usage' row 0", "-Inf"});
  // A null float is no value: accepted.
  auto ok = Batch(
      {arrow::field("usage", arrow::float64()), arrow::field("time", arrow::int64())},
      {Make<double>({std::nullopt}), Make<int64_t>({kT0})});
  EXPECT_TRUE(Build({ok}).ok());
}

TEST_F(ArrowWriteBuilderRejectsTest, InvalidNamesAndEmptyTagValues) {
  ExpectRefused(arrow::field("bad\x01name", arrow::int64()), Make<int64_t>({1}),
                {"invalid column name", "control character"});
  ExpectRefused(arrow::field(std::string("\xff"), arrow::int64()), Make<int64_t>({1}),
                {"invalid column name", "not valid UTF-8"});
  ExpectRefused(arrow::field("", arrow::int64()), Make<int64_t>({1}),
                {"must not be empty"});
  ExpectRefused(arrow::field("n", arrow::int64()), Make<int64_t>({1}),
                {"invalid table name", "'/'"}, "a/b");
  ExpectRefused(TagField("region"), Strings({"eu", ""}),
                {"column 'region' row 1", "tag value must not be empty"});
}

TEST_F(ArrowWriteBuilderRejectsTest, SeveralBatchesNameTheBadOne) {
  auto good =
      Batch({arrow::field("v", arrow::float64()), arrow::field("time", arrow::int64())},
            {Make<double>({1.0}), Make<int64_t>({kT0})});
  auto bad =
      Batch({arrow::field("v", arrow::float64()), arrow::field("time", arrow::int64())},
            {Make<double>({std::nan("")}), Make<int64_t>({kT0})});
  auto result = Build({good, bad}, "fresh");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("batch 1: column 'v' row 0"),
            std::string::npos)
      << result.status();
  EXPECT_FALSE(catalog_->GetTableByName(ns_.id, "fresh").ValueOrDie().has_value());
}

}  // namespace
}  // namespace ingester

namespace ingester {
namespace {

TEST_F(ArrowWriteBuilderTest, TemplateSplitsRowsByRegionSlicedOrGathered) {
  auto by_region = partition::PartitionTemplate::FromJson(
                       R"({"parts":[{"tag_value":"region"},{"time_format":"%Y-%m-%d"}]})")
                       .ValueOrDie();
  auto ns = cache_->GetOrCreateNamespace("regional", by_region).ValueOrDie();
  ASSERT_EQ(ns.partition_template, by_region);
  // 40 rows alternating eu / us (20 runs each: gathered), then 5 rows without a
  // region and 1 on the next day (single runs: sliced). An empty tag value cannot be
  // written (validation refuses it), so no key has the `^` part here.
  std::vector<std::optional<std::string>> regions;
  std::vector<std::optional<int64_t>> values;
  std::vector<std::optional<int64_t>> times;
  for (int i = 0; i < 40; ++i) {
    regions.push_back(i % 2 ? "us" : "eu");
    values.push_back(i);
    times.push_back(kT0 + i);
  }
  for (int i = 40; i < 46; ++i) {
    regions.push_back(std::nullopt);
    values.push_back(i);
    times.push_back(i == 45 ? kT0 + kDay : kT0 + i);
  }
  regions[45] = "eu";
  auto batch = Batch({TagField("region"), arrow::field("v", arrow::int64()),
                      arrow::field("time", arrow::int64())},
                     {Strings(regions), Make<int64_t>(values), Make<int64_t>(times)});
  ASSERT_OK_AND_ASSIGN(op, BuildArrowWrite(ns, "cpu", {batch}, cache_.get()));
  std::vector<std::string> keys;
  for (const auto& w : op.writes) keys.push_back(w.partition_key);
  EXPECT_EQ(keys, (std::vector<std::string>{"!|2023-11-14", "eu|2023-11-14",
                                            "eu|2023-11-15", "us|2023-11-14"}));
  EXPECT_EQ(op.RowCount(), 46);
  const auto& eu = *op.writes[1].batch;
  ASSERT_EQ(eu.num_rows(), 20);
  for (int64_t r = 0; r < 20; ++r) {
    EXPECT_EQ(Cell(eu, "v", r), std::to_string(2 * r));  // row order kept
    EXPECT_EQ(Cell(eu, "region", r), "eu");
    EXPECT_EQ(Cell(eu, "time", r), std::to_string(kT0 + 2 * r));
  }
  EXPECT_EQ(eu.schema()->GetFieldByName("region")->type()->ToString(),
            ArrowTypeFor(ColumnType::kTag)->ToString());
  const auto& us = *op.writes[3].batch;
  ASSERT_EQ(us.num_rows(), 20);
  EXPECT_EQ(Cell(us, "v", 19), "39");
  ASSERT_EQ(op.writes[0].batch->num_rows(), 5);
  EXPECT_EQ(Cell(*op.writes[0].batch, "region", 0), "<null>");
  EXPECT_EQ(Cell(*op.writes[0].batch, "v", 4), "44");
  ASSERT_EQ(op.writes[2].batch->num_rows(), 1);
  EXPECT_EQ(Cell(*op.writes[2].batch, "v", 0), "45");
}

TEST_F(ArrowWriteBuilderTest, TemplateTagsAreCreatedWithTheTable) {
  auto by_host = partition::PartitionTemplate::FromJson(
                     R"({"parts":[{"time_format":"%Y"},{"tag_value":"host"}]})")
                     .ValueOrDie();
  auto ns = cache_->GetOrCreateNamespace("hosts", by_host).ValueOrDie();
  auto batch =
      Batch({arrow::field("v", arrow::int64()), arrow::field("time", arrow::int64())},
            {Make<int64_t>({1}), Make<int64_t>({kT0})});
  ASSERT_OK_AND_ASSIGN(op, BuildArrowWrite(ns, "cpu", {batch}, cache_.get()));
  ASSERT_EQ(op.writes.size(), 1u);
  EXPECT_EQ(op.writes[0].partition_key, "2023|!");
  auto table = catalog_->GetTableByName(ns.id, "cpu").ValueOrDie();
  ASSERT_TRUE(table.has_value());
  EXPECT_EQ(table->partition_template, by_host);
  EXPECT_EQ(catalog_->GetTableSchema(table->id).ValueOrDie().TypeOf("host"),
            ColumnType::kTag);
}

}  // namespace
}  // namespace ingester
