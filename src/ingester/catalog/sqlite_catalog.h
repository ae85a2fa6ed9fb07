// The SQLite catalog backend: one database file, shareable by several SqliteCatalog
// instances and processes on one machine.
//
// Concurrency: each instance owns one connection guarded by mu_, so calls on one
// instance run one at a time. Across instances and processes SQLite's file locks
// serialise writers: every write runs in a BEGIN IMMEDIATE transaction (the write
// lock is taken up front, so two writers never both read and then both try to
// upgrade), inserts use ON CONFLICT DO NOTHING against the UNIQUE constraints followed
// by a SELECT of the row, and a busy database is waited for (busy_timeout) and then
// retried with jittered exponential back-off. Reads run in deferred transactions and,
// in WAL mode, do not wait for writers.
//
// Durability: WAL journal with synchronous=FULL: a call that returned OK survives a
// power failure. Foreign keys are enforced.
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <memory>
#include <string>
#include <type_traits>

#include "ingester/catalog/catalog.h"
#include "ingester/common/clock.h"
#include "ingester/common/thread_annotations.h"

namespace ingester::catalog {

namespace sqlite {
class Connection;
}

struct SqliteCatalogOptions {
  // A file path (its parent directory is created if missing), or ":memory:" for a
  // private in-memory catalog (tests; nothing is shared or kept).
  std::string path;
  // How long one statement waits for another connection's lock before giving up.
  std::chrono::milliseconds busy_timeout{5000};
  // How many times a transaction that still found the database busy is retried, with
  // exponential back-off (2 ms doubling up to 250 ms, full jitter) between attempts.
  int max_busy_retries = 20;
  // Source of created_at / updated_at. Not owned; must outlive the catalog.
  const Clock* clock = SystemClock::Get();

  arrow::Status Validate() const;
};

class SqliteCatalog final : public Catalog {
 public:
  // Opens or creates the catalog and brings its schema up to SqliteSchemaVersion().
  // Fails when the file was written by a newer binary (higher schema version).
  static arrow::Result<std::unique_ptr<SqliteCatalog>> Make(
      const SqliteCatalogOptions& options);
  ~SqliteCatalog() override;

  arrow::Result<NamespaceRecord> GetOrCreateNamespace(
      const std::string& name, const NamespaceLimits& limits = {},
      const partition::PartitionTemplate& partition_template = {}) override;
  arrow::Result<std::optional<NamespaceRecord>> GetNamespaceByName(
      const std::string& name) override;
  arrow::Result<NamespaceRecord> GetNamespace(NamespaceId id) override;
  arrow::Result<std::vector<NamespaceRecord>> ListNamespaces() override;

  arrow::Result<TableRecord> GetOrCreateTable(
      NamespaceId namespace_id, const std::string& name,
      const std::optional<partition::PartitionTemplate>& partition_template =
          std::nullopt) override;
  arrow::Result<std::optional<TableRecord>> GetTableByName(
      NamespaceId namespace_id, const std::string& name) override;
  arrow::Result<TableSchema> GetTableSchema(TableId table_id) override;
  arrow::Result<std::vector<TableRecord>> ListTables(NamespaceId namespace_id) override;
  arrow::Result<TableSchema> GetOrCreateColumns(
      TableId table_id, const std::vector<ColumnSpec>& wanted) override;

  arrow::Result<PartitionRecord> GetOrCreatePartition(TableId table_id,
                                                      const std::string& key) override;
  arrow::Result<PartitionRecord> GetPartition(PartitionId id) override;
  arrow::Result<std::vector<PartitionRecord>> ListPartitions(TableId table_id) override;
  arrow::Result<std::vector<PartitionRecord>> ListRecentPartitions(
      int64_t limit) override;
  arrow::Result<PartitionRecord> CasSortKey(
      PartitionId partition_id, const std::vector<std::string>& expected,
      const std::vector<std::string>& new_key) override;

  arrow::Result<ParquetFileId> CreateParquetFile(
      const ParquetFileRecord& record) override;
  arrow::Result<std::vector<ParquetFileRecord>> ListParquetFiles(
      PartitionId partition_id) override;
  arrow::Result<std::vector<ParquetFileRecord>> ListParquetFilesForTable(
      TableId table_id) override;

  // DataLoss when the file at path() is gone or is another file than the one opened.
  arrow::Status CheckStorage() override;

  const std::string& path() const { return options_.path; }

 private:
  enum class TxnKind { kRead, kWrite };

  // Guards conn_. Declared before InTransaction: clang reads a template's attributes
  // where they are written.
  Mutex mu_;

  SqliteCatalog(const SqliteCatalogOptions& options,
                std::unique_ptr<sqlite::Connection> conn);

  // Runs `fn(connection)` in a transaction of `kind`, committing when it succeeds and
  // rolling back when it fails; repeats the whole transaction (after a back-off, with
  // mu_ released) while the database is busy. `fn` may run several times, so it must
  // not have effects outside the transaction.
  template <typename Fn>
  std::invoke_result_t<Fn&, sqlite::Connection&> InTransaction(TxnKind kind, Fn&& fn)
      EXCLUDES(mu_);

  // Sets the connection's pragmas and applies pending migrations.
  arrow::Status Initialize() EXCLUDES(mu_);

  const SqliteCatalogOptions options_;
  // Device and inode of the file opened (0, 0 for ":memory:"); set once by Make().
  uint64_t opened_device_ = 0;
  uint64_t opened_inode_ = 0;
  // The one connection of this instance; every use holds mu_ (declared above, before
  // the template that names it in EXCLUDES).
  const std::unique_ptr<sqlite::Connection> conn_ PT_GUARDED_BY(mu_);
};

}  // namespace ingester::catalog
