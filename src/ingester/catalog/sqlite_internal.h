// Thin RAII wrappers over the SQLite C API for the SQLite catalog. Internal to the
// catalog module. Not thread-safe: the owner serialises access (SqliteCatalog::mu_).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ingester::catalog::sqlite {

class Connection;

// A prepared statement borrowed from the connection's cache. Parameters are bound in
// order (?1, ?2, ...), always as bound values, never spliced into the SQL text. The
// destructor resets the statement and clears its bindings so the cache can reuse it;
// a Statement must not outlive its Connection, and one SQL text must not be in use
// twice at the same time.
class Statement {
 public:
  Statement(Connection* conn, sqlite3_stmt* stmt) : conn_(conn), stmt_(stmt) {}
  ~Statement();
  Statement(Statement&& other) noexcept
      : conn_(other.conn_),
        stmt_(other.stmt_),
        next_param_(other.next_param_),
        bind_status_(std::move(other.bind_status_)) {
    other.stmt_ = nullptr;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;

  Statement& Bind(int64_t value);
  Statement& Bind(std::string_view value);

  // Advances: true when a row is available, false when the statement is done.
  arrow::Result<bool> Step();
  // Runs a statement that returns no rows (or whose rows are not wanted) to the end.
  arrow::Status Run();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  bool IsNull(int column) const;

 private:
  Connection* conn_;
  sqlite3_stmt* stmt_;
  int next_param_ = 1;
  arrow::Status bind_status_;
};

// One open database connection with a cache of prepared statements.
class Connection {
 public:
  // Opens (creating if needed) the database at `path` (":memory:" for a private
  // in-memory database) with the given busy timeout.
  static arrow::Result<std::unique_ptr<Connection>> Open(const std::string& path,
                                                         int busy_timeout_ms);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs SQL text without parameters (may hold several statements).
  arrow::Status Exec(const char* sql);
  // A cached prepared statement for `sql`, which must be a string with static storage.
  arrow::Result<Statement> Prepare(const char* sql);
  // Rolls back an open transaction, if any; errors are ignored (SQLite may already
  // have rolled back on its own after an I/O or busy error).
  void RollbackIfOpen();

  // `rc` as a Status naming `context` and SQLite's own message: SQLITE_BUSY and
  // SQLITE_LOCKED carry ErrorKind::kRetryable, SQLITE_CORRUPT and SQLITE_NOTADB
  // kDataLoss, anything else is an IOError.
  arrow::Status Error(int rc, std::string_view context) const;

  const std::string& path() const { return path_; }
  sqlite3* db() const { return db_; }

 private:
  Connection(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}

  std::string path_;
  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

// True when `status` is a busy/locked failure worth retrying.
bool IsBusy(const arrow::Status& status);

// A list of strings as a JSON array of strings (["a","b"]): readable with SQLite's
// json functions and by anyone inspecting the file.
std::string EncodeStringList(const std::vector<std::string>& values);
arrow::Result<std::vector<std::string>> DecodeStringList(std::string_view text);

}  // namespace ingester::catalog::sqlite
