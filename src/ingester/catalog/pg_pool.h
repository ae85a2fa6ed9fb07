// A small pool of libpq connections to one PostgreSQL server, shared by the threads of
// one PostgresCatalog. Internal to the catalog module.
//
// Acquire() hands out an idle connection, or opens a new one while fewer than
// max_connections exist, or waits (bounded) for one to be returned. A Lease returns its
// connection when destroyed if it is still healthy and outside a transaction, and
// closes it otherwise. After a connection broke (the server restarted), DropIdle()
// closes the idle ones too: they were opened to the same server and are most likely
// broken as well, so the caller's retry gets a fresh connection.
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ingester/catalog/pg_internal.h"
#include "ingester/common/thread_annotations.h"

namespace ingester::catalog::pg {

struct PoolOptions {
  // A postgres:// URI or libpq connection string.
  std::string url;
  // The server as messages name it (RedactUrl(url)).
  std::string server;
  int max_connections = 4;
  // How long Acquire waits for a connection when max_connections are in use.
  std::chrono::milliseconds acquire_timeout{30'000};
  int connect_timeout_seconds = 5;

  arrow::Status Validate() const;
};

class Pool {
 public:
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    ~Lease();
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), conn_(std::move(other.conn_)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;

    Connection& operator*() const { return *conn_; }
    Connection* operator->() const { return conn_.get(); }
    // Closes the connection now instead of returning it.
    void Discard();

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  // Opens no connection yet: the first Acquire does.
  static arrow::Result<std::unique_ptr<Pool>> Make(PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A connection for one transaction. Retryable IOError naming the server when it
  // cannot be reached, or when no connection came free within acquire_timeout.
  arrow::Result<Lease> Acquire() EXCLUDES(mu_);

  // Closes every idle connection.
  void DropIdle() EXCLUDES(mu_);

  const PoolOptions& options() const { return options_; }

 private:
  explicit Pool(PoolOptions options) : options_(std::move(options)) {}
  // Takes back `conn` (nullptr: it was closed) from a Lease.
  void Return(std::unique_ptr<Connection> conn) EXCLUDES(mu_);

  const PoolOptions options_;
  Mutex mu_;
  // Signalled when a connection is returned or closed.
  CondVar returned_;
  std::vector<std::unique_ptr<Connection>> idle_ GUARDED_BY(mu_);
  // Connections that exist or are being opened: idle, leased or connecting.
  int open_ GUARDED_BY(mu_) = 0;
};

}  // namespace ingester::catalog::pg
