#include "ingester/catalog/open.h"

#include <string>

#include "ingester/catalog/names.h"
#include "ingester/catalog/pg_internal.h"
#include "ingester/catalog/postgres_catalog.h"
#include "ingester/catalog/sqlite_catalog.h"
#include "ingester/common/error.h"

namespace ingester::catalog {

arrow::Result<std::unique_ptr<Catalog>> OpenCatalog(std::string_view url) {
  constexpr std::string_view kSqlite = "sqlite://";
  constexpr std::string_view kMemory = "sqlite::memory:";
  SqliteCatalogOptions options;
  if (url == kMemory) {
    options.path = ":memory:";
  } else if (url.starts_with(kSqlite)) {
    options.path = std::string(url.substr(kSqlite.size()));
    if (options.path.empty()) {
      return InvalidInput(
          "catalog URL " + QuoteForMessage(url) +
          " has no file path (expected sqlite:///path/to/catalog.sqlite)");
    }
    if (options.path == ":memory:") {
      return InvalidInput("catalog URL " + QuoteForMessage(url) +
                          ": use sqlite::memory: for an in-memory catalog");
    }
  } else if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    PostgresCatalogOptions pg_options;
    pg_options.url = std::string(url);
    ARROW_ASSIGN_OR_RAISE(auto catalog, PostgresCatalog::Make(pg_options));
    return std::unique_ptr<Catalog>(std::move(catalog));
  } else {
    return InvalidInput("catalog URL " + QuoteForMessage(url) +
                        " is not supported: expected sqlite://<path>, sqlite::memory: "
                        "or postgres://user:password@host:port/database");
  }
  ARROW_ASSIGN_OR_RAISE(auto catalog, SqliteCatalog::Make(options));
  return std::unique_ptr<Catalog>(std::move(catalog));
}

std::string DescribeCatalogUrl(const std::string& url) {
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    return pg::RedactUrl(url);
  }
  return url;
}

}  // namespace ingester::catalog
