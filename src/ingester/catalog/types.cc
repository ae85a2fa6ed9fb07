#include "ingester/catalog/types.h"

#include <string>

namespace ingester::catalog {

const ColumnRecord* TableSchema::FindColumn(std::string_view name) const {
  for (const ColumnRecord& column : columns) {
    if (column.name == name) return &column;
  }
  return nullptr;
}

const ColumnRecord* TableSchema::FindColumnById(ColumnId id) const {
  for (const ColumnRecord& column : columns) {
    if (column.id == id) return &column;
  }
  return nullptr;
}

std::optional<ColumnType> TableSchema::TypeOf(std::string_view name) const {
  const ColumnRecord* column = FindColumn(name);
  if (column == nullptr) return std::nullopt;
  return column->type;
}

std::string ParquetFilePath(NamespaceId namespace_id, TableId table_id,
                            PartitionId partition_id, std::string_view object_store_id) {
  return std::to_string(namespace_id.value()) + "/" + std::to_string(table_id.value()) +
         "/" + std::to_string(partition_id.value()) + "/" + std::string(object_store_id) +
         ".parquet";
}

bool IsUuidText(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace ingester::catalog
