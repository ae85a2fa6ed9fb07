#include "ingester/catalog/catalog_test_util.h"

#include <unistd.h>

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

}  // namespace

std::vector<BackendFactory> AllBackends() {
  return {BackendFactory{"Sqlite", [] { return std::make_unique<SqliteBackend>(); }}};
}

}  // namespace ingester::catalog::testing
