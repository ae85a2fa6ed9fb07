#include "ingester/catalog/pg_pool.h"

#include "ingester/common/error.h"

namespace ingester::catalog::pg {

arrow::Status PoolOptions::Validate() const {
  if (url.empty()) return arrow::Status::Invalid("postgres catalog: url is empty");
  if (max_connections < 1 || max_connections > 1000) {
    return arrow::Status::Invalid(
        "postgres catalog: max_connections must be in [1, 1000]");
  }
  if (acquire_timeout.count() < 0) {
    return arrow::Status::Invalid("postgres catalog: acquire_timeout must be >= 0");
  }
  if (connect_timeout_seconds < 1) {
    return arrow::Status::Invalid("postgres catalog: connect_timeout must be >= 1 s");
  }
  return arrow::Status::OK();
}

Pool::Lease::~Lease() {
  if (pool_ == nullptr) return;  // moved from
  if (conn_ != nullptr && !conn_->Idle()) conn_.reset();
  pool_->Return(std::move(conn_));
}

void Pool::Lease::Discard() { conn_.reset(); }

arrow::Result<std::unique_ptr<Pool>> Pool::Make(PoolOptions options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  return std::unique_ptr<Pool>(new Pool(std::move(options)));
}

Pool::~Pool() {
  MutexLock lock(&mu_);
  idle_.clear();
}

arrow::Result<Pool::Lease> Pool::Acquire() {
  {
    MutexLock lock(&mu_);
    const bool available =
        returned_.WaitFor(&mu_, options_.acquire_timeout, [this]() REQUIRES(mu_) {
          return !idle_.empty() || open_ < options_.max_connections;
        });
    if (!available) {
      return MakeError(ErrorKind::kRetryable, arrow::StatusCode::IOError,
                       "catalog " + options_.server + ": all " +
                           std::to_string(options_.max_connections) +
                           " connections stayed busy for " +
                           std::to_string(options_.acquire_timeout.count()) + " ms");
    }
    if (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    ++open_;  // reserve the slot; connect without holding mu_
  }
  auto conn =
      Connection::Open(options_.url, options_.server, options_.connect_timeout_seconds);
  if (!conn.ok()) {
    Return(nullptr);
    return conn.status();
  }
  return Lease(this, std::move(*conn));
}

void Pool::Return(std::unique_ptr<Connection> conn) {
  {
    MutexLock lock(&mu_);
    if (conn != nullptr) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  returned_.NotifyOne();
}

void Pool::DropIdle() {
  std::vector<std::unique_ptr<Connection>> closing;
  {
    MutexLock lock(&mu_);
    closing.swap(idle_);
    open_ -= static_cast<int>(closing.size());
  }
  returned_.NotifyAll();
  // `closing` is closed here, outside mu_ (PQfinish may send a terminate message).
}

}  // namespace ingester::catalog::pg
