#include "ingester/catalog/catalog_listing.h"

#include "ingester/common/column_type.h"
#include "ingester/common/json.h"

namespace ingester::catalog {

namespace {

std::string FileJson(const ParquetFileRecord& file) {
  return "{\"path\":" + json::Quote(file.path) +
         ",\"rows\":" + std::to_string(file.row_count) +
         ",\"bytes\":" + std::to_string(file.file_size_bytes) +
         ",\"min_time\":" + std::to_string(file.min_time) +
         ",\"max_time\":" + std::to_string(file.max_time) + "}";
}

arrow::Result<std::string> PartitionJson(
    Catalog& catalog, const PartitionRecord& partition,
    const std::unordered_map<PartitionId, BufferedPartition>& buffered, bool with_files) {
  BufferedPartition stats;
  if (auto it = buffered.find(partition.id); it != buffered.end()) stats = it->second;
  ARROW_ASSIGN_OR_RAISE(auto files, catalog.ListParquetFiles(partition.id));
  int64_t persisted_rows = 0;
  for (const auto& f : files) persisted_rows += f.row_count;
  std::string out =
      "{\"id\":" + std::to_string(partition.id.value()) +
      ",\"key\":" + json::Quote(partition.key) +
      ",\"buffered_rows\":" + std::to_string(stats.rows) +
      ",\"buffered_bytes\":" + std::to_string(stats.bytes) +
      ",\"completed_persists\":" + std::to_string(stats.completed_persists) +
      ",\"parquet_files\":" + std::to_string(files.size()) +
      ",\"persisted_rows\":" + std::to_string(persisted_rows);
  if (with_files) {
    out += ",\"files\":[";
    for (size_t f = 0; f < files.size(); ++f) out += (f ? "," : "") + FileJson(files[f]);
    out += "]";
  }
  return out + "}";
}

arrow::Result<std::string> TableJson(
    Catalog& catalog, TableId table,
    const std::unordered_map<PartitionId, BufferedPartition>& buffered, bool with_files) {
  ARROW_ASSIGN_OR_RAISE(auto schema, catalog.GetTableSchema(table));
  std::string out =
      "{\"id\":" + std::to_string(schema.table.id.value()) +
      ",\"name\":" + json::Quote(schema.table.name) +
      ",\"partition_template\":" + schema.table.partition_template.ToJson() +
      ",\"columns\":[";
  for (size_t c = 0; c < schema.columns.size(); ++c) {
    out += c ? "," : "";
    out += "{\"name\":" + json::Quote(schema.columns[c].name) +
           ",\"type\":" + json::Quote(ColumnTypeName(schema.columns[c].type)) + "}";
  }
  out += "],\"partitions\":[";
  ARROW_ASSIGN_OR_RAISE(auto partitions, catalog.ListPartitions(schema.table.id));
  for (size_t p = 0; p < partitions.size(); ++p) {
    ARROW_ASSIGN_OR_RAISE(auto partition,
                          PartitionJson(catalog, partitions[p], buffered, with_files));
    out += (p ? "," : "") + partition;
  }
  return out + "]}";
}

}  // namespace

arrow::Result<std::string> CatalogListingJson(
    Catalog& catalog, const std::unordered_map<PartitionId, BufferedPartition>& buffered,
    bool with_files) {
  std::string out = "{\"namespaces\":[";
  ARROW_ASSIGN_OR_RAISE(auto namespaces, catalog.ListNamespaces());
  for (size_t n = 0; n < namespaces.size(); ++n) {
    const auto& ns = namespaces[n];
    out += n ? "," : "";
    out +=
        "{\"id\":" + std::to_string(ns.id.value()) + ",\"name\":" + json::Quote(ns.name);
    out += ",\"max_tables\":" + std::to_string(ns.max_tables);
    out += ",\"max_columns_per_table\":" + std::to_string(ns.max_columns_per_table);
    out += ",\"partition_template\":" + ns.partition_template.ToJson();
    out += ",\"tables\":[";
    ARROW_ASSIGN_OR_RAISE(auto tables, catalog.ListTables(ns.id));
    for (size_t t = 0; t < tables.size(); ++t) {
      ARROW_ASSIGN_OR_RAISE(auto table,
                            TableJson(catalog, tables[t].id, buffered, with_files));
      out += (t ? "," : "") + table;
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

arrow::Result<std::string> DatabasesJson(Catalog& catalog) {
  ARROW_ASSIGN_OR_RAISE(auto namespaces, catalog.ListNamespaces());
  std::string out = "{\"databases\":[";
  for (size_t i = 0; i < namespaces.size(); ++i) {
    out += i ? "," : "";
    out += "{\"name\":" + json::Quote(namespaces[i].name) +
           ",\"partition_template\":" + namespaces[i].partition_template.ToJson() +
           ",\"max_tables\":" + std::to_string(namespaces[i].max_tables) +
           ",\"max_columns_per_table\":" +
           std::to_string(namespaces[i].max_columns_per_table) + "}";
  }
  out += "]}";
  return out;
}

}  // namespace ingester::catalog
