#include "ingester/catalog/catalog_test_util.h"

#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include "ingester/catalog/postgres_catalog.h"
#include "ingester/catalog/postgres_test_server.h"
#include "ingester/catalog/sqlite_catalog.h"

namespace ingester::catalog::testing {

namespace {

class SqliteBackend final : public CatalogBackend {
 public:
  arrow::Result<std::unique_ptr<Catalog>> Open(const Clock* clock) override {
    SqliteCatalogOptions options;
    options.path = (dir_.path() / "catalog.sqlite").string();
    options.clock = clock;
    ARROW_ASSIGN_OR_RAISE(auto catalog, SqliteCatalog::Make(options));
    return std::unique_ptr<Catalog>(std::move(catalog));
  }

 private:
  TempDir dir_;
};

// A fresh database on the process's shared server.
class PostgresBackend final : public CatalogBackend {
 public:
  explicit PostgresBackend(std::string url) : url_(std::move(url)) {}

  static arrow::Result<std::unique_ptr<CatalogBackend>> Make() {
    static std::atomic<int> counter{0};
    ARROW_ASSIGN_OR_RAISE(PostgresTestServer * server, SharedPostgresServer());
    ARROW_ASSIGN_OR_RAISE(
        std::string url,
        server->CreateDatabase("catalog_" + std::to_string(counter.fetch_add(1))));
    return std::unique_ptr<CatalogBackend>(new PostgresBackend(std::move(url)));
  }

  arrow::Result<std::unique_ptr<Catalog>> Open(const Clock* clock) override {
    PostgresCatalogOptions options;
    options.url = url_;
    options.clock = clock;
    ARROW_ASSIGN_OR_RAISE(auto catalog, PostgresCatalog::Make(options));
    return std::unique_ptr<Catalog>(std::move(catalog));
  }

 private:
  const std::string url_;
};

}  // namespace

bool UnderCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

arrow::Result<PostgresTestServer*> SharedPostgresServer() {
  // Stopped by the static destructor at exit; forked children leave with _exit and
  // never run it.
  static std::mutex mu;
  static std::unique_ptr<PostgresTestServer> server;
  static arrow::Status failed;
  std::lock_guard<std::mutex> lock(mu);
  if (server == nullptr && failed.ok()) {
    auto started = PostgresTestServer::Start();
    if (started.ok()) {
      server = std::move(*started);
    } else {
      failed = started.status();
    }
  }
  if (!failed.ok()) return failed;
  return server.get();
}

std::vector<BackendFactory> AllBackends() {
  return {
      BackendFactory{"Sqlite", [] { return arrow::Status::OK(); },
                     []() -> arrow::Result<std::unique_ptr<CatalogBackend>> {
                       return std::make_unique<SqliteBackend>();
                     }},
      BackendFactory{"Postgres", [] { return PostgresTestServer::FindBinDir().status(); },
                     [] { return PostgresBackend::Make(); }},
  };
}

}  // namespace ingester::catalog::testing
