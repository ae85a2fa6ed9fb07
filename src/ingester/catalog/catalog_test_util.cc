#include "ingester/catalog/catalog_test_util.h"

#include <unistd.h>

#include "ingester/catalog/sqlite_catalog.h"

namespace ingester::catalog::testing {

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          ("ingester-catalog-test-" + std::to_string(::getpid()) + "-" +
           std::to_string(counter.fetch_add(1)));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

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

}  // namespace

std::vector<BackendFactory> AllBackends() {
  return {BackendFactory{"Sqlite", [] { return std::make_unique<SqliteBackend>(); }}};
}

}  // namespace ingester::catalog::testing
