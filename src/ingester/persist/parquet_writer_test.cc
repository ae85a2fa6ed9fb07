#include "ingester/persist/parquet_writer.h"

#include <arrow/api.h>
#include <arrow/util/key_value_metadata.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "ingester/buffer/buffer_test_util.h"
#include "ingester/persist/compaction.h"
#include "ingester/persist/persist_core_test_util.h"

namespace ingester::persist {
namespace {

using buffer_test::BatchMaker;
using ::testing::ElementsAre;
using testing::ReadParquet;

ParquetFileMetadata SampleMetadata() {
  ParquetFileMetadata m;
  m.namespace_id = NamespaceId(3);
  m.namespace_name = "db";
  m.table_id = TableId(5);
  m.table_name = "cpu, \"quoted\"";
  m.partition_id = PartitionId(8);
  m.partition_key = "2024-01-01|eu";
  m.object_store_id = "0d1c2b3a-4f5e-4a6b-8c7d-9e0f1a2b3c4d";
  m.sort_key = {"region", "host,with comma", "time"};
  m.min_time = -5;
  m.max_time = 1'700'000'000'000'000'000;
  m.row_count = 42;
  m.created_at = 1'700'000'000'123'456'789;
  return m;
}

std::vector<std::string> TableRows(const arrow::Table& table) {
  arrow::TableBatchReader reader(table);
  auto batches = reader.ToRecordBatches();
  EXPECT_TRUE(batches.ok());
  return buffer_test::RowStrings(*batches);
}

TEST(ParquetMetadataTest, RoundTripsThroughKeyValues) {
  const auto m = SampleMetadata();
  auto kv = m.ToKeyValue();
  EXPECT_EQ(kv->Get("ingester.table_id").ValueOrDie(), "5");
  EXPECT_EQ(kv->Get("ingester.sort_key").ValueOrDie(),
            R"(["region","host,with comma","time"])");
  PERSIST_ASSIGN_OR_FAIL(auto back, ParquetFileMetadata::FromKeyValue(*kv));
  EXPECT_EQ(back, m);
  EXPECT_FALSE(kv->Contains("ingester.ingester_id"));  // none set: no key
}

TEST(ParquetMetadataTest, TheIngesterIdIsOptional) {
  auto m = SampleMetadata();
  m.ingester_id = "node-1";
  auto kv = m.ToKeyValue();
  EXPECT_EQ(kv->Get("ingester.ingester_id").ValueOrDie(), "node-1");
  PERSIST_ASSIGN_OR_FAIL(auto back, ParquetFileMetadata::FromKeyValue(*kv));
  EXPECT_EQ(back, m);
}

TEST(ParquetMetadataTest, RejectsMissingOrMalformedValues) {
  auto kv = SampleMetadata().ToKeyValue()->Copy();
  PERSIST_ASSERT_OK(kv->Set("ingester.row_count", "12x"));
  auto bad = ParquetFileMetadata::FromKeyValue(*kv);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ingester.row_count"), std::string::npos);
  PERSIST_ASSERT_OK(kv->Set("ingester.row_count", "12"));
  PERSIST_ASSERT_OK(kv->Set("ingester.sort_key", "{}"));
  EXPECT_FALSE(ParquetFileMetadata::FromKeyValue(*kv).ok());
  PERSIST_ASSERT_OK(kv->Delete("ingester.sort_key"));
  EXPECT_FALSE(ParquetFileMetadata::FromKeyValue(*kv).ok());
  PERSIST_ASSERT_OK(kv->Set("ingester.format_version", "2"));
  EXPECT_FALSE(ParquetFileMetadata::FromKeyValue(*kv).ok());
}

TEST(ParquetWriterTest, WritesSortedDedupedRowsWithMetadataAndSortingColumns) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  // 250 rows, 50 of them duplicates of earlier keys.
  for (int b = 0; b < 3; ++b) {
    std::vector<std::optional<std::string>> hosts, regions;
    buffer_test::Opt<int64_t> values;
    std::vector<int64_t> times;
    const int rows = b == 2 ? 50 : 100;
    for (int i = 0; i < rows; ++i) {
      hosts.push_back("h" + std::to_string(i % 10));
      regions.push_back(i % 2 == 0 ? "eu" : "us");
      values.push_back(b * 1000 + i);
      times.push_back(i);
    }
    batches.push_back(BatchMaker()
                          .Tag("host", hosts)
                          .Tag("region", regions)
                          .I64("v", values)
                          .Time(times)
                          .Build());
  }
  // Batches 1 and 2 repeat batch 0's keys for i < 100 and i < 50: 100 distinct rows.
  PERSIST_ASSIGN_OR_FAIL(auto compacted,
                         CompactBatches(batches, {"region", "host", "time"}));
  ASSERT_EQ(compacted.output_rows, 100);
  auto meta = SampleMetadata();
  meta.sort_key = compacted.sort_key;
  meta.row_count = compacted.output_rows;
  ParquetWriterOptions options;
  options.max_row_group_rows = 40;
  PERSIST_ASSIGN_OR_FAIL(auto encoded, EncodeParquet(*compacted.table, meta, options,
                                                     arrow::default_memory_pool()));
  EXPECT_EQ(encoded.row_groups, 3);

  PERSIST_ASSIGN_OR_FAIL(auto file, ReadParquet(encoded.data));
  // Same rows, same order, same Arrow types (dictionary tags, timestamp[ns]); no column
  // holds a null, so every one is non-nullable in the file.
  arrow::FieldVector required;
  for (const auto& field : compacted.table->schema()->fields()) {
    required.push_back(field->WithNullable(false));
  }
  EXPECT_TRUE(file.table->schema()->Equals(*arrow::schema(required), false))
      << file.table->schema()->ToString();
  EXPECT_EQ(TableRows(*file.table), TableRows(*compacted.table));
  const auto rows = TableRows(*file.table);
  EXPECT_EQ(rows.front(), "host=h0 region=eu v=2000 time=0");
  EXPECT_EQ(rows.back(), "host=h9 region=us v=1099 time=99");

  ASSERT_NE(file.metadata->key_value_metadata(), nullptr);
  PERSIST_ASSIGN_OR_FAIL(
      auto back, ParquetFileMetadata::FromKeyValue(*file.metadata->key_value_metadata()));
  EXPECT_EQ(back, meta);
  EXPECT_EQ(file.metadata->num_row_groups(), 3);
  for (int rg = 0; rg < file.metadata->num_row_groups(); ++rg) {
    auto group = file.metadata->RowGroup(rg);
    EXPECT_LE(group->num_rows(), 40);
    // region (1), host (0), time (3), ascending, nulls last.
    EXPECT_THAT(group->sorting_columns(),
                ElementsAre(parquet::SortingColumn{1, false, false},
                            parquet::SortingColumn{0, false, false},
                            parquet::SortingColumn{3, false, false}));
  }
}

bool HasEncoding(const parquet::ColumnChunkMetaData& chunk, parquet::Encoding::type e) {
  const auto& encodings = chunk.encodings();
  return std::find(encodings.begin(), encodings.end(), e) != encodings.end();
}

// The table of "Encodings" in parquet_writer.h, column by column, and the values survive.
TEST(ParquetWriterTest, EncodesEachColumnByItsRole) {
  std::vector<std::optional<std::string>> hosts, texts;
  buffer_test::Opt<int64_t> ints;
  buffer_test::Opt<uint64_t> uints;
  buffer_test::Opt<double> floats;
  buffer_test::Opt<bool> flags;
  std::vector<int64_t> times;
  for (int i = 0; i < 1000; ++i) {
    hosts.push_back("h" + std::to_string(i / 100));
    texts.push_back(i % 7 == 0 ? std::nullopt : std::optional("t" + std::to_string(i)));
    ints.push_back(i % 5 == 0 ? std::nullopt : std::optional<int64_t>(i * 3 - 700));
    uints.push_back(uint64_t{1} << 63 | static_cast<uint64_t>(i));
    floats.push_back(i % 3 == 0 ? std::nullopt : std::optional(i * 0.37));
    flags.push_back(i % 2 == 0);
    times.push_back(1'700'000'000'000'000'000 + (i % 100) * 10'000'000'000);
  }
  PERSIST_ASSIGN_OR_FAIL(auto compacted, CompactBatches({BatchMaker()
                                                             .Tag("host", hosts)
                                                             .I64("i", ints)
                                                             .U64("u", uints)
                                                             .F64("f", floats)
                                                             .Bool("b", flags)
                                                             .Str("s", texts)
                                                             .Time(times)
                                                             .Build()},
                                                        {"host", "time"}));
  auto meta = SampleMetadata();
  meta.sort_key = compacted.sort_key;
  meta.row_count = compacted.output_rows;
  ParquetWriterOptions options;
  options.max_rows_per_page = 128;
  PERSIST_ASSIGN_OR_FAIL(auto encoded, EncodeParquet(*compacted.table, meta, options,
                                                     arrow::default_memory_pool()));
  PERSIST_ASSIGN_OR_FAIL(auto file, ReadParquet(encoded.data));
  EXPECT_EQ(TableRows(*file.table), TableRows(*compacted.table));

  auto group = file.metadata->RowGroup(0);
  const auto& schema = *file.metadata->schema();
  auto chunk = [&](const std::string& name) {
    return group->ColumnChunk(schema.ColumnIndex(name));
  };
  using parquet::Encoding;
  for (const char* name : {"host", "i", "u"}) {
    EXPECT_EQ(chunk(name)->compression(), arrow::Compression::UNCOMPRESSED) << name;
  }
  EXPECT_TRUE(HasEncoding(*chunk("host"), Encoding::RLE_DICTIONARY));
  EXPECT_TRUE(chunk("host")->is_stats_set());
  EXPECT_TRUE(HasEncoding(*chunk("time"), Encoding::DELTA_BINARY_PACKED));
  EXPECT_FALSE(HasEncoding(*chunk("time"), Encoding::RLE_DICTIONARY));
  EXPECT_TRUE(chunk("time")->is_stats_set());
  for (const char* name : {"i", "u"}) {
    EXPECT_TRUE(HasEncoding(*chunk(name), Encoding::DELTA_BINARY_PACKED)) << name;
    EXPECT_FALSE(HasEncoding(*chunk(name), Encoding::RLE_DICTIONARY)) << name;
  }
  EXPECT_TRUE(HasEncoding(*chunk("f"), Encoding::BYTE_STREAM_SPLIT));
  EXPECT_FALSE(HasEncoding(*chunk("f"), Encoding::RLE_DICTIONARY));
  for (const char* name : {"i", "u", "f", "b", "s"}) {
    EXPECT_FALSE(chunk(name)->is_stats_set()) << name;
  }
  for (const char* name : {"time", "f", "b", "s"}) {
    EXPECT_EQ(chunk(name)->compression(), arrow::Compression::ZSTD) << name;
  }
  // Columns with a null are OPTIONAL, the others REQUIRED (no definition levels).
  for (const char* name : {"i", "f", "s"}) {
    EXPECT_EQ(schema.Column(schema.ColumnIndex(name))->max_definition_level(), 1) << name;
    EXPECT_TRUE(file.table->schema()->GetFieldByName(name)->nullable()) << name;
  }
  for (const char* name : {"host", "u", "b", "time"}) {
    EXPECT_EQ(schema.Column(schema.ColumnIndex(name))->max_definition_level(), 0) << name;
    EXPECT_FALSE(file.table->schema()->GetFieldByName(name)->nullable()) << name;
  }
}

TEST(ParquetWriterTest, HonoursTheCodecOptionAndRejectsUnknownOnes) {
  auto table = arrow::Table::FromRecordBatches(
                   {BatchMaker().I64("v", {1, 2}).Time({1, 2}).Build()})
                   .ValueOrDie();
  ParquetWriterOptions options;
  options.compression = "snappy";
  PERSIST_ASSIGN_OR_FAIL(auto encoded, EncodeParquet(*table, SampleMetadata(), options,
                                                     arrow::default_memory_pool()));
  PERSIST_ASSIGN_OR_FAIL(auto file, ReadParquet(encoded.data));
  // `time` (column 1) is under the codec; integer fields are stored uncompressed.
  EXPECT_EQ(file.metadata->RowGroup(0)->ColumnChunk(1)->compression(),
            arrow::Compression::SNAPPY);
  options.compression = "nope";
  EXPECT_FALSE(options.Validate().ok());
  options.compression = "zstd";
  options.max_row_group_rows = 0;
  EXPECT_FALSE(options.Validate().ok());
}

TEST(ParquetWriterTest, FailsCleanlyUnderAMemoryLimit) {
  std::vector<std::optional<std::string>> hosts;
  buffer_test::Opt<int64_t> values;
  std::vector<int64_t> times;
  for (int i = 0; i < 100'000; ++i) {
    hosts.push_back("h" + std::to_string(i));
    values.push_back(i * 7919);
    times.push_back(i);
  }
  auto table = arrow::Table::FromRecordBatches(
                   {BatchMaker().Tag("host", hosts).I64("v", values).Time(times).Build()})
                   .ValueOrDie();
  auto pool = LimitedMemoryPool::Make({.limit_bytes = 256 << 10}).ValueOrDie();
  {
    JobMemoryPool job(pool.get());
    auto encoded = EncodeParquet(*table, SampleMetadata(), {}, &job);
    ASSERT_FALSE(encoded.ok());
    EXPECT_TRUE(encoded.status().IsOutOfMemory()) << encoded.status().ToString();
  }
  EXPECT_EQ(pool->bytes_allocated(), 0);
}

}  // namespace
}  // namespace ingester::persist
