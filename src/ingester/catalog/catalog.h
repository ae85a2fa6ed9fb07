// The catalog: the durable record of namespaces, tables, columns, partitions and
// persisted Parquet files. One interface, several backends (SQLite now, PostgreSQL when
// several ingesters share a catalog); catalog_test.cc is the conformance suite every
// backend must pass.
//
// Contracts common to every method:
//  - Thread safety: every method may be called from many threads at once, and several
//    Catalog instances (in one process or many) may share one store. Get-or-create
//    calls racing on the same name all succeed and return the same id.
//  - Errors are arrow::Status with an ErrorKind (common/error.h): InvalidInput for bad
//    names or arguments, NotFound for unknown ids, Conflict for a column type clash,
//    LimitExceeded for namespace limits, Retryable when the store stayed busy or
//    unreachable after the backend's own retries, DataLoss for a corrupt store.
//  - Lookups by name return std::nullopt when nothing has that name; lookups by id
//    fail with NotFound, since ids come from the catalog and a missing one is a bug or
//    a deleted record.
//  - Nothing is ever renamed or retyped: a column's type, once stored, is final, so a
//    cached TableSchema only ever lacks columns, never disagrees with the catalog.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ingester/catalog/types.h"
#include "ingester/common/error.h"

namespace ingester::catalog {

class Catalog {
 public:
  virtual ~Catalog() = default;

  // Whether the storage the catalog was opened on is still there: a SQLite file deleted
  // or replaced while the ingester runs keeps answering from the unlinked file, and
  // everything recorded from then on would be lost at the next start. DataLoss naming
  // the catalog when it is gone; OK for catalogs that cannot tell.
  virtual arrow::Status CheckStorage() { return arrow::Status::OK(); }

  // --- namespaces ---------------------------------------------------------------

  // Returns the namespace called `name`, creating it with `limits` and
  // `partition_template` if it does not exist (an existing namespace keeps the limits
  // and template it was created with: compare the returned record's to tell).
  virtual arrow::Result<NamespaceRecord> GetOrCreateNamespace(
      const std::string& name, const NamespaceLimits& limits = {},
      const partition::PartitionTemplate& partition_template = {}) = 0;
  virtual arrow::Result<std::optional<NamespaceRecord>> GetNamespaceByName(
      const std::string& name) = 0;
  virtual arrow::Result<NamespaceRecord> GetNamespace(NamespaceId id) = 0;
  // Ordered by name.
  virtual arrow::Result<std::vector<NamespaceRecord>> ListNamespaces() = 0;

  // --- tables and columns -------------------------------------------------------

  // Returns the table, creating it when the namespace has fewer than max_tables
  // tables; otherwise fails with LimitExceeded naming namespace, table and limit. A new
  // table gets `partition_template`, or without one its namespace's template; an
  // existing table keeps the template it was created with.
  virtual arrow::Result<TableRecord> GetOrCreateTable(
      NamespaceId namespace_id, const std::string& name,
      const std::optional<partition::PartitionTemplate>& partition_template =
          std::nullopt) = 0;
  virtual arrow::Result<std::optional<TableRecord>> GetTableByName(
      NamespaceId namespace_id, const std::string& name) = 0;
  virtual arrow::Result<TableSchema> GetTableSchema(TableId table_id) = 0;
  // Ordered by name.
  virtual arrow::Result<std::vector<TableRecord>> ListTables(
      NamespaceId namespace_id) = 0;

  // Makes sure the table has every column of `wanted` (duplicates with equal types are
  // allowed) and returns its whole schema. All or nothing, in one transaction:
  //  - a column that exists with another type (or is offered twice with two types)
  //    fails the call with Conflict naming the column, the existing and offered type;
  //  - if the table would end up with more than max_columns_per_table columns, the
  //    call fails with LimitExceeded naming the table, the count and the limit.
  virtual arrow::Result<TableSchema> GetOrCreateColumns(
      TableId table_id, const std::vector<ColumnSpec>& wanted) = 0;

  // --- partitions ---------------------------------------------------------------

  virtual arrow::Result<PartitionRecord> GetOrCreatePartition(TableId table_id,
                                                              const std::string& key) = 0;
  virtual arrow::Result<PartitionRecord> GetPartition(PartitionId id) = 0;
  // Ordered by key.
  virtual arrow::Result<std::vector<PartitionRecord>> ListPartitions(
      TableId table_id) = 0;
  // At most `limit` partitions of any table, most recently created or updated first
  // (ties: higher id first). Used to pre-warm the partition cache at startup.
  virtual arrow::Result<std::vector<PartitionRecord>> ListRecentPartitions(
      int64_t limit) = 0;

  // Compare-and-swap of a partition's sort key: if the stored key equals `expected`,
  // stores `new_key` and returns the updated record. Otherwise fails with a status
  // carrying a SortKeyConflictDetail (see SortKeyConflictOf) holding the key it
  // observed, so the caller can rebuild its key on top of it and try again. Every
  // name of `new_key` must be a column of the partition's table, at most once.
  virtual arrow::Result<PartitionRecord> CasSortKey(
      PartitionId partition_id, const std::vector<std::string>& expected,
      const std::vector<std::string>& new_key) = 0;

  // --- parquet files ------------------------------------------------------------

  // Records a persisted file and returns its id. The ids must agree with each other
  // (the partition belongs to the table, the table to the namespace). Idempotent per
  // object_store_id: recording an identical file again returns the first id, a
  // different file with a used object_store_id fails with Conflict.
  virtual arrow::Result<ParquetFileId> CreateParquetFile(
      const ParquetFileRecord& record) = 0;
  // Ordered by id (creation order).
  virtual arrow::Result<std::vector<ParquetFileRecord>> ListParquetFiles(
      PartitionId partition_id) = 0;
  virtual arrow::Result<std::vector<ParquetFileRecord>> ListParquetFilesForTable(
      TableId table_id) = 0;
};

// The detail of the status CasSortKey returns when the stored sort key is not the
// expected one. Its ErrorKind is kConflict (so ErrorKindOf still works); use
// SortKeyConflictOf to tell it apart from a column type conflict.
class SortKeyConflictDetail final : public IngesterErrorDetail {
 public:
  explicit SortKeyConflictDetail(std::vector<std::string> observed)
      : IngesterErrorDetail(ErrorKind::kConflict), observed_(std::move(observed)) {}
  std::string ToString() const override;
  // The sort key the catalog held when the swap was refused.
  const std::vector<std::string>& observed() const { return observed_; }

 private:
  std::vector<std::string> observed_;
};

// A Conflict status carrying `observed`.
arrow::Status SortKeyConflict(PartitionId partition_id,
                              std::vector<std::string> observed);

// The detail when `status` is a sort key CAS conflict, otherwise nullptr. The pointer
// lives as long as `status` (or a copy of it).
const SortKeyConflictDetail* SortKeyConflictOf(const arrow::Status& status);

// "[a, b, time]", for messages and logs.
std::string SortKeyToString(const std::vector<std::string>& key);

}  // namespace ingester::catalog
