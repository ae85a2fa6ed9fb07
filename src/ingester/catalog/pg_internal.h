// Thin RAII wrappers over libpq for the PostgreSQL catalog. Internal to the catalog
// module. A Connection is not thread-safe: one user at a time (the pool, pg_pool.h,
// leases it to one transaction at a time).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

// libpq's types, so this header does not pull in libpq-fe.h.
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace ingester::catalog::pg {

// The text parameters of one statement ($1, $2, ...), always sent as bound values,
// never spliced into the SQL text.
class Params {
 public:
  Params& Add(int64_t value) {
    values_.push_back(std::to_string(value));
    return *this;
  }
  Params& Add(std::string_view value) {
    values_.emplace_back(value);
    return *this;
  }
  const std::vector<std::string>& values() const { return values_; }

 private:
  std::vector<std::string> values_;
};

// The rows of one statement, in libpq's text format.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result) {}
  ~Rows();
  Rows(Rows&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;
  Rows& operator=(Rows&&) = delete;

  int size() const;
  int64_t Int(int row, int column) const;
  std::string Text(int row, int column) const;
  // Rows an INSERT / UPDATE changed.
  int64_t affected() const;

 private:
  PGresult* result_;
};

// What a failed statement means for the transaction that ran it.
enum class FailureKind {
  kNone,
  // The connection is gone (server restarted, network cut): drop it; the transaction's
  // outcome is unknown if it was the COMMIT that failed.
  kBroken,
  // Serialization failure or deadlock (SQLSTATE 40001, 40P01): retry the transaction.
  kRetry,
  // Anything else: report it.
  kOther,
};

class Connection {
 public:
  // Connects to `url` (a postgres:// or postgresql:// URI, or a libpq key=value
  // string). `server` names the server in messages (the URL without its password).
  // Fails with a Retryable IOError naming `server` when the server cannot be reached.
  static arrow::Result<std::unique_ptr<Connection>> Open(const std::string& url,
                                                         const std::string& server,
                                                         int connect_timeout_seconds);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs SQL text without parameters (may hold several statements).
  arrow::Status Exec(const char* sql);
  // Runs one statement with bound parameters and returns its rows (none for a
  // statement that returns none). `sql` must have static storage: it is prepared once
  // per connection (a named server-side prepared statement, keyed by the pointer) and
  // executed by name afterwards, which saves the server parsing and planning it again.
  arrow::Result<Rows> Query(const char* sql, const Params& params = Params());

  // Rolls back an open transaction, if any; errors are ignored.
  void RollbackIfOpen();
  // Whether the connection is usable: connected and not inside a transaction.
  bool Idle() const;
  // The kind of the last failure of Exec or Query (kNone after a success).
  FailureKind last_failure() const { return last_failure_; }

 private:
  Connection(PGconn* conn, std::string server)
      : conn_(conn), server_(std::move(server)) {}
  // Status of a failed `result` (which may be null) of `sql`; sets last_failure_.
  arrow::Status Failure(PGresult* result, const char* sql);
  // OK when `result` is a success (a command or rows); otherwise Failure(), with
  // `result` cleared.
  arrow::Status CheckResult(PGresult* result, const char* sql);

  PGconn* conn_;
  const std::string server_;
  FailureKind last_failure_ = FailureKind::kNone;
  // SQL text -> name of its prepared statement on this connection.
  std::unordered_map<const char*, std::string> prepared_;
};

// `url` with its password removed (postgres://user@host:port/db), for messages and
// logs; the URL as given when it does not parse.
std::string RedactUrl(const std::string& url);

}  // namespace ingester::catalog::pg
