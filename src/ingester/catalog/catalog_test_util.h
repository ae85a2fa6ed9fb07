// Test support for the catalog conformance suite: a backend abstraction (one store,
// any number of Catalog instances on it), a deterministic clock and temp dirs.
#pragma once

#include <arrow/result.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ingester/catalog/catalog.h"
#include "ingester/common/clock.h"
#include "ingester/common/error.h"
#include "ingester/common/temp_dir.h"

namespace ingester::catalog::testing {

class PostgresTestServer;

// A clock that moves forward by one microsecond at every reading, so timestamps are
// distinct and ordered by call order.
class SteppingClock final : public Clock {
 public:
  explicit SteppingClock(int64_t start = 1'700'000'000'000'000'000) : now_(start) {}
  int64_t NowNanos() const override { return now_.fetch_add(1000) + 1000; }

 private:
  mutable std::atomic<int64_t> now_;
};

// One catalog store (a SQLite file, a PostgreSQL database) that lives as long as the
// backend object.
class CatalogBackend {
 public:
  virtual ~CatalogBackend() = default;
  // A new, independent Catalog instance (own connection) on this backend's store.
  virtual arrow::Result<std::unique_ptr<Catalog>> Open(const Clock* clock) = 0;
};

struct BackendFactory {
  std::string name;
  // OK when the backend can run on this machine (PostgreSQL: its binaries exist).
  std::function<arrow::Status()> available;
  // A new, empty store (PostgreSQL: a new database on a server shared by the process).
  std::function<arrow::Result<std::unique_ptr<CatalogBackend>>()> make;
};

// Every backend the conformance suite runs against: SQLite and PostgreSQL.
std::vector<BackendFactory> AllBackends();

// True when the CI environment variable is "true": a backend that cannot run is then
// a failure, not a skip.
bool UnderCi();

// The PostgreSQL server of this test process, started on first use and stopped at
// exit (postgres_test_server.h).
arrow::Result<class PostgresTestServer*> SharedPostgresServer();

// In SetUp: `out` = a new store of `factory`. When the backend cannot run here the test
// is skipped with the reason, or fails under CI; a backend that fails otherwise fails
// the test.
#define INGESTER_MAKE_BACKEND(out, factory)                                     \
  do {                                                                          \
    const ::arrow::Status _available = (factory).available();                   \
    if (!_available.ok()) {                                                     \
      if (::ingester::catalog::testing::UnderCi()) {                            \
        FAIL() << (factory).name                                                \
               << " backend required under CI=true: " << _available.ToString(); \
      }                                                                         \
      GTEST_SKIP() << (factory).name                                            \
                   << " backend unavailable: " << _available.ToString();        \
    }                                                                           \
    auto _backend = (factory).make();                                           \
    ASSERT_TRUE(_backend.ok()) << (factory).name << ": "                        \
                               << _backend.status().ToString();                 \
    out = std::move(*_backend);                                                 \
  } while (false)

inline void PrintTo(const BackendFactory& backend, std::ostream* os) {
  *os << backend.name;
}

inline std::string BackendName(const ::testing::TestParamInfo<BackendFactory>& info) {
  return info.param.name;
}

// gtest helpers.
#define ASSERT_OK(expr)                                       \
  do {                                                        \
    const ::arrow::Status _st = (expr);                       \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (false)

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL(ARROW_ASSIGN_OR_RAISE_NAME(_res, __COUNTER__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL(res, lhs, rexpr)                    \
  auto res = (rexpr);                                                 \
  ASSERT_TRUE(res.ok()) << #rexpr << ": " << res.status().ToString(); \
  lhs = std::move(res).ValueUnsafe()

// The status of a Status or a Result.
inline arrow::Status StatusOf(const arrow::Status& s) { return s; }
template <typename T>
arrow::Status StatusOf(const arrow::Result<T>& r) {
  return r.status();
}

// Asserts that `expr` failed with `kind` and a message containing every one of
// `parts`.
#define EXPECT_ERROR_KIND(kind, expr, ...)                                              \
  do {                                                                                  \
    const ::arrow::Status _st = ::ingester::catalog::testing::StatusOf(expr);           \
    EXPECT_FALSE(_st.ok()) << #expr << " unexpectedly succeeded";                       \
    EXPECT_EQ(::ingester::ErrorKindOf(_st), std::optional<::ingester::ErrorKind>(kind)) \
        << _st.ToString();                                                              \
    for (const std::string& _part : std::vector<std::string>{__VA_ARGS__}) {            \
      EXPECT_NE(_st.message().find(_part), std::string::npos)                           \
          << "message lacks '" << _part << "': " << _st.message();                      \
    }                                                                                   \
  } while (false)

}  // namespace ingester::catalog::testing
