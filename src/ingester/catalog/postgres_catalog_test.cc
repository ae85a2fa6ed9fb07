// PostgreSQL-specific behaviour of PostgresCatalog (the conformance and race suites,
// catalog_test.cc and catalog_race_test.cc, run against it too): opening by URL,
// migrations, reconnecting after a server restart, and races between processes.
#include "ingester/catalog/postgres_catalog.h"

#include <gtest/gtest.h>

#include "ingester/catalog/catalog_test_util.h"
#include "ingester/catalog/open.h"
#include "ingester/catalog/postgres_test_server.h"

namespace ingester::catalog::testing {
namespace {

TEST(OpenCatalogTest, PostgresUnreachableNamesServerWithoutPassword) {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  for (const char* url : {"postgres://user:secret@127.0.0.1:1/db",
                          "postgresql://user:secret@127.0.0.1:1/db"}) {
    auto catalog = OpenCatalog(url);
    ASSERT_FALSE(catalog.ok());
    EXPECT_EQ(ErrorKindOf(catalog.status()), ErrorKind::kRetryable)
        << catalog.status().ToString();
    EXPECT_TRUE(catalog.status().IsIOError()) << catalog.status().ToString();
    EXPECT_NE(catalog.status().message().find("user@127.0.0.1:1/db"), std::string::npos)
        << catalog.status().message();
    EXPECT_EQ(catalog.status().message().find("secret"), std::string::npos)
        << "credentials leak into the message: " << catalog.status().message();
  }
}

}  // namespace
}  // namespace ingester::catalog::testing
