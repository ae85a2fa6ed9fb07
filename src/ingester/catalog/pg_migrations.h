// The PostgreSQL catalog schema as an ordered list of migrations, with the same rules
// as the SQLite ones (migrations.h): migration i (0-based) takes a database from schema
// version i to i + 1, a released migration is never edited, only followed by a new
// one, and a binary refuses a database whose version is above the number it knows.
//
// PostgresCatalog applies them when it opens the catalog, in one transaction holding
// the advisory lock kMigrationLockKey, so ingesters starting at once apply each
// migration exactly once; the others wait for the lock and find the schema current.
// The versions applied are recorded in
//
//   schema_version(version INTEGER PRIMARY KEY, applied_at BIGINT ns since epoch)
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace ingester::catalog {

// pg_advisory_xact_lock key of the migration transaction ("ingestr" in ASCII).
inline constexpr int64_t kMigrationLockKey = 0x696e6765737472;

// Each entry is SQL text run as one unit inside the migration transaction.
std::span<const std::string_view> PostgresMigrations();

// The schema version this binary writes: PostgresMigrations().size().
int PostgresSchemaVersion();

}  // namespace ingester::catalog
