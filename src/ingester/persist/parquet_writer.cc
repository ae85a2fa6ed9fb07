#include "ingester/persist/parquet_writer.h"

#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <arrow/util/compression.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/writer.h>
#include <parquet/file_writer.h>
#include <parquet/properties.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "ingester/common/column_type.h"

namespace ingester::persist {

namespace {

std::string Key(std::string_view name) {
  std::string key(kMetadataPrefix);
  key += name;
  return key;
}

arrow::Result<std::string> Get(const arrow::KeyValueMetadata& kv, std::string_view name) {
  const std::string key = Key(name);
  const int index = kv.FindKey(key);
  if (index < 0) return arrow::Status::Invalid("parquet metadata lacks '", key, "'");
  return kv.value(index);
}

template <typename Int>
arrow::Result<Int> GetInt(const arrow::KeyValueMetadata& kv, std::string_view name) {
  ARROW_ASSIGN_OR_RAISE(std::string text, Get(kv, name));
  Int value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return arrow::Status::Invalid("parquet metadata '", Key(name),
                                  "' is not an integer: '", text, "'");
  }
  return value;
}

// Per-column encoding, compression and statistics by the column's role (see the header:
// "Encodings"). Columns outside the data model keep Arrow's defaults.
void SetColumnProperties(const arrow::Schema& schema,
                         parquet::WriterProperties::Builder* builder) {
  for (const auto& field : schema.fields()) {
    const auto type = ColumnTypeFromArrow(field->name(), *field->type());
    if (!type.has_value()) continue;
    const std::string& path = field->name();
    switch (*type) {
      case ColumnType::kTag:
        builder->compression(path, arrow::Compression::UNCOMPRESSED);
        break;
      case ColumnType::kTime:
        builder->disable_dictionary(path);
        builder->encoding(path, parquet::Encoding::DELTA_BINARY_PACKED);
        break;
      case ColumnType::kI64:
      case ColumnType::kU64:
        builder->compression(path, arrow::Compression::UNCOMPRESSED);
        builder->disable_statistics(path);
        builder->disable_dictionary(path);
        builder->encoding(path, parquet::Encoding::DELTA_BINARY_PACKED);
        break;
      case ColumnType::kF64:
        builder->disable_statistics(path);
        builder->disable_dictionary(path);
        builder->encoding(path, parquet::Encoding::BYTE_STREAM_SPLIT);
        break;
      case ColumnType::kBool:
      case ColumnType::kString:
        builder->disable_statistics(path);
        break;
    }
  }
}

// `table` with the columns that hold no null declared non-nullable: the writer makes
// them REQUIRED, with no definition levels to build, encode and histogram (-21 % of
// the encoding CPU of a TSBS partition, docs/benchmarks.md "Persist CPU per row").
// Zero-copy.
std::shared_ptr<arrow::Table> WithRequiredColumns(const arrow::Table& table) {
  arrow::FieldVector fields = table.schema()->fields();
  bool changed = false;
  for (int c = 0; c < table.num_columns(); ++c) {
    if (fields[c]->nullable() && table.column(c)->null_count() == 0) {
      fields[c] = fields[c]->WithNullable(false);
      changed = true;
    }
  }
  if (!changed) return nullptr;
  return arrow::Table::Make(arrow::schema(std::move(fields), table.schema()->metadata()),
                            table.columns(), table.num_rows());
}

}  // namespace

std::shared_ptr<const arrow::KeyValueMetadata> ParquetFileMetadata::ToKeyValue() const {
  std::vector<std::string> keys;
  std::vector<std::string> values;
  auto add = [&](std::string_view name, std::string value) {
    keys.push_back(Key(name));
    values.push_back(std::move(value));
  };
  add("format_version", std::string(kMetadataFormatVersion));
  add("namespace_id", std::to_string(namespace_id.value()));
  add("namespace_name", namespace_name);
  add("table_id", std::to_string(table_id.value()));
  add("table_name", table_name);
  add("partition_id", std::to_string(partition_id.value()));
  add("partition_key", partition_key);
  add("object_store_id", object_store_id);
  add("sort_key", nlohmann::json(sort_key).dump());
  add("min_time", std::to_string(min_time));
  add("max_time", std::to_string(max_time));
  add("row_count", std::to_string(row_count));
  add("compaction_level", std::to_string(compaction_level));
  add("created_at", std::to_string(created_at));
  if (!ingester_id.empty()) add("ingester_id", ingester_id);
  return arrow::key_value_metadata(std::move(keys), std::move(values));
}

arrow::Result<ParquetFileMetadata> ParquetFileMetadata::FromKeyValue(
    const arrow::KeyValueMetadata& kv) {
  ARROW_ASSIGN_OR_RAISE(std::string version, Get(kv, "format_version"));
  if (version != kMetadataFormatVersion) {
    return arrow::Status::Invalid("parquet metadata format version '", version,
                                  "' is not supported (expected ", kMetadataFormatVersion,
                                  ")");
  }
  ParquetFileMetadata m;
  ARROW_ASSIGN_OR_RAISE(auto ns, GetInt<int64_t>(kv, "namespace_id"));
  ARROW_ASSIGN_OR_RAISE(auto table, GetInt<int64_t>(kv, "table_id"));
  ARROW_ASSIGN_OR_RAISE(auto partition, GetInt<int64_t>(kv, "partition_id"));
  m.namespace_id = NamespaceId(ns);
  m.table_id = TableId(table);
  m.partition_id = PartitionId(partition);
  ARROW_ASSIGN_OR_RAISE(m.namespace_name, Get(kv, "namespace_name"));
  ARROW_ASSIGN_OR_RAISE(m.table_name, Get(kv, "table_name"));
  ARROW_ASSIGN_OR_RAISE(m.partition_key, Get(kv, "partition_key"));
  ARROW_ASSIGN_OR_RAISE(m.object_store_id, Get(kv, "object_store_id"));
  ARROW_ASSIGN_OR_RAISE(std::string sort_key, Get(kv, "sort_key"));
  const auto parsed =
      nlohmann::json::parse(sort_key, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) {
    return arrow::Status::Invalid("parquet metadata '", Key("sort_key"),
                                  "' is not a JSON array: ", sort_key);
  }
  for (const auto& name : parsed) {
    if (!name.is_string()) {
      return arrow::Status::Invalid("parquet metadata '", Key("sort_key"),
                                    "' holds a non-string: ", sort_key);
    }
    m.sort_key.push_back(name.get<std::string>());
  }
  ARROW_ASSIGN_OR_RAISE(m.min_time, GetInt<int64_t>(kv, "min_time"));
  ARROW_ASSIGN_OR_RAISE(m.max_time, GetInt<int64_t>(kv, "max_time"));
  ARROW_ASSIGN_OR_RAISE(m.row_count, GetInt<int64_t>(kv, "row_count"));
  ARROW_ASSIGN_OR_RAISE(m.compaction_level, GetInt<int32_t>(kv, "compaction_level"));
  ARROW_ASSIGN_OR_RAISE(m.created_at, GetInt<int64_t>(kv, "created_at"));
  if (const int index = kv.FindKey(Key("ingester_id")); index >= 0) {
    m.ingester_id = kv.value(index);
  }
  return m;
}

arrow::Status ParquetWriterOptions::Validate() const {
  ARROW_ASSIGN_OR_RAISE(auto codec, arrow::util::Codec::GetCompressionType(compression));
  if (!arrow::util::Codec::IsAvailable(codec)) {
    return arrow::Status::Invalid("parquet compression '", compression,
                                  "' is not available in this Arrow build");
  }
  if (max_row_group_rows < 1) {
    return arrow::Status::Invalid("parquet max_row_group_rows must be >= 1");
  }
  if (max_rows_per_page < 1) {
    return arrow::Status::Invalid("parquet max_rows_per_page must be >= 1");
  }
  return arrow::Status::OK();
}

arrow::Result<EncodedParquet> EncodeParquet(const arrow::Table& input,
                                            const ParquetFileMetadata& metadata,
                                            const ParquetWriterOptions& options,
                                            arrow::MemoryPool* pool) {
  ARROW_RETURN_NOT_OK(options.Validate());
  const std::shared_ptr<arrow::Table> required = WithRequiredColumns(input);
  const arrow::Table& table = required != nullptr ? *required : input;
  ARROW_ASSIGN_OR_RAISE(auto codec,
                        arrow::util::Codec::GetCompressionType(options.compression));
  // The schema is flat, so a column's leaf index is its field index.
  std::vector<parquet::SortingColumn> sorting;
  for (const auto& name : metadata.sort_key) {
    const int index = table.schema()->GetFieldIndex(name);
    if (index >= 0) {
      sorting.push_back({index, /*descending=*/false, /*nulls_first=*/false});
    }
  }
  parquet::WriterProperties::Builder builder;
  builder.memory_pool(pool)
      ->compression(codec)
      ->max_row_group_length(options.max_row_group_rows)
      ->max_rows_per_page(options.max_rows_per_page)
      // One write batch per page: the writer's per-batch work (statistics, the
      // referenced-values hash of a dictionary column, levels) runs once a page
      // instead of once per 1,024 rows (its default).
      ->write_batch_size(options.max_rows_per_page)
      ->set_sorting_columns(std::move(sorting))
      ->created_by("ingester (Apache Arrow parquet-cpp)");
  if (options.compression_level != 0)
    builder.compression_level(options.compression_level);
  SetColumnProperties(*table.schema(), &builder);
  // Arrow's default has changed between versions: say it.
  if (options.write_page_index) {
    builder.enable_write_page_index();
  } else {
    builder.disable_write_page_index();
  }
  auto properties = builder.build();
  // ARROW:schema keeps the exact Arrow types (dictionary tags, timestamp unit) for
  // Arrow readers; other engines read the Parquet logical types.
  parquet::ArrowWriterProperties::Builder arrow_builder;
  arrow_builder.store_schema()->set_use_threads(options.use_threads);
  auto arrow_properties = arrow_builder.build();

  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create(
                                       /*initial_capacity=*/1 << 20, pool));
  ARROW_ASSIGN_OR_RAISE(auto writer,
                        parquet::arrow::FileWriter::Open(*table.schema(), pool, sink,
                                                         properties, arrow_properties));
  if (!options.use_threads) {
    ARROW_RETURN_NOT_OK(writer->WriteTable(table, options.max_row_group_rows));
  } else {
    // Buffered row groups: Arrow encodes their columns in parallel, which WriteTable
    // does not (about 1.7x faster on 2 idle cores, for the encoded row group held in
    // memory until it is flushed). Each batch is one row group.
    arrow::TableBatchReader reader(table);
    reader.set_chunksize(options.max_row_group_rows);
    std::shared_ptr<arrow::RecordBatch> batch;
    while (true) {
      ARROW_RETURN_NOT_OK(reader.ReadNext(&batch));
      if (batch == nullptr) break;
      ARROW_RETURN_NOT_OK(writer->NewBufferedRowGroup());
      ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
    }
  }
  ARROW_RETURN_NOT_OK(writer->AddKeyValueMetadata(metadata.ToKeyValue()));
  ARROW_RETURN_NOT_OK(writer->Close());
  EncodedParquet encoded;
  encoded.row_groups = writer->metadata()->num_row_groups();
  ARROW_ASSIGN_OR_RAISE(encoded.data, sink->Finish());
  return encoded;
}

}  // namespace ingester::persist
