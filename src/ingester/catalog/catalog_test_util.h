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
  std::function<std::unique_ptr<CatalogBackend>()> make;
};

// Every backend the conformance suite runs against (only SQLite for now; PostgreSQL
// joins when it exists).
std::vector<BackendFactory> AllBackends();

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
