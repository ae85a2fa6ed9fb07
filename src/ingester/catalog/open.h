// Opening a catalog from the URL given on the command line (--catalog).
#pragma once

#include <arrow/result.h>

#include <memory>
#include <string>
#include <string_view>

#include "ingester/catalog/catalog.h"

namespace ingester::catalog {

// Accepted URLs:
//   sqlite://<path>    a SQLite file: sqlite:///abs/catalog.sqlite or
//                      sqlite://./data/catalog.sqlite (relative to the working dir);
//                      the parent directory is created if missing
//   sqlite::memory:    a private in-memory SQLite catalog (tests)
//   postgres://user:password@host:port/database
//   postgresql://...   a PostgreSQL database (PostgresCatalog), shared by any number of
//                      ingesters; anything libpq accepts in a URI (?sslmode=... and
//                      other parameters). Messages name it without the password.
// Anything else is refused with InvalidInput naming the URL.
arrow::Result<std::unique_ptr<Catalog>> OpenCatalog(std::string_view url);

// `url` as logs and messages may show it: a PostgreSQL URL without its password and
// query string (postgres://user@host:port/database), any other URL as given.
std::string DescribeCatalogUrl(const std::string& url);

}  // namespace ingester::catalog
