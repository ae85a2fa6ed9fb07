// The PostgreSQL catalog backend: one database shared by any number of ingesters (and
// PostgresCatalog instances) on any number of machines.
//
// Concurrency: each instance keeps a small pool of connections (pg_pool.h), so calls
// from several threads run in parallel, each in its own READ COMMITTED transaction.
// Across instances and processes the database decides:
//  - get-or-create inserts use ON CONFLICT DO NOTHING against the UNIQUE constraints
//    and then read the row, so racing creators all get the one row that won;
//  - decisions that depend on other rows take a row lock first: a table is created
//    holding the namespace row (FOR NO KEY UPDATE), so max_tables holds under races;
//    columns are created holding the table row, so a racing type conflict and
//    max_columns_per_table are decided on the committed columns; the sort key
//    compare-and-swap holds the partition row;
//  - serialization failures and deadlocks (SQLSTATE 40001, 40P01) are retried with
//    jittered back-off.
//
// Failures of the server: a connection found broken (the server restarted, the
// network cut it) is closed with every idle one, and the call is retried once on a
// fresh connection. Every operation is idempotent, so a retry after a COMMIT whose
// reply was lost gives the same answer. When the server is still unreachable the call
// fails with a Retryable IOError naming the server (its URL without the password).
//
// Schema: versioned migrations (pg_migrations.h) applied at Make() under an advisory
// lock. Durability is the server's (a committed transaction is on its WAL).
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <memory>
#include <string>
#include <type_traits>

#include "ingester/catalog/catalog.h"
#include "ingester/common/clock.h"

namespace ingester::catalog {

namespace pg {
class Connection;
class Pool;
}  // namespace pg

struct PostgresCatalogOptions {
  // postgres://user:password@host:port/database (or postgresql://...); anything libpq
  // accepts, including ?sslmode=... and other parameters.
  std::string url;
  // Connections of this instance's pool.
  int max_connections = 4;
  // How long a call waits for a free connection of the pool.
  std::chrono::milliseconds acquire_timeout{30'000};
  // How long opening one connection may take.
  std::chrono::seconds connect_timeout{5};
  // How many times a transaction aborted by a serialization failure or deadlock is
  // retried, with exponential back-off (2 ms doubling up to 250 ms, full jitter).
  int max_conflict_retries = 20;
  // Source of created_at / updated_at. Not owned; must outlive the catalog.
  const Clock* clock = SystemClock::Get();

  arrow::Status Validate() const;
};

class PostgresCatalog final : public Catalog {
 public:
  // Connects, and brings the schema up to PostgresSchemaVersion(). Fails when the
  // server cannot be reached (Retryable IOError naming it) or the database was
  // written by a newer binary (higher schema version).
  static arrow::Result<std::unique_ptr<PostgresCatalog>> Make(
      const PostgresCatalogOptions& options);
  ~PostgresCatalog() override;

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

  // The server as messages name it: the URL without its password.
  const std::string& server() const { return server_; }

 private:
  PostgresCatalog(const PostgresCatalogOptions& options, std::string server,
                  std::unique_ptr<pg::Pool> pool);

  enum class TxnKind { kRead, kWrite };

  // Runs `fn(connection, retried)`: a kRead without a transaction (each statement on
  // its own), a kWrite in a transaction on a pooled connection, committing
  // when it succeeds and rolling back when it fails. Repeats the whole transaction after
  // a serialization failure or deadlock, and once on a fresh connection when the
  // connection broke (`retried` is then true: an earlier attempt may have committed).
  // `fn` may run several times, so it must not have effects outside the transaction.
  template <typename Fn>
  std::invoke_result_t<Fn&, pg::Connection&, bool> InTransaction(TxnKind kind, Fn&& fn);

  // Applies pending migrations.
  arrow::Status Migrate();

  const PostgresCatalogOptions options_;
  const std::string server_;
  const std::unique_ptr<pg::Pool> pool_;
};

}  // namespace ingester::catalog
