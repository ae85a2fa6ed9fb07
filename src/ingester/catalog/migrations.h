// The SQLite catalog schema as an ordered list of migrations. Migration i (0-based)
// takes a file from schema version i to version i + 1; the schema_version table
// records every version applied:
//
//   schema_version(version INTEGER PRIMARY KEY, applied_at INTEGER ns since epoch)
//
// Rules: a released migration is never edited, only followed by a new one; a binary
// refuses a file whose version is above the number of migrations it knows, since an
// older binary cannot know what a newer schema means.
#pragma once

#include <span>
#include <string_view>

namespace ingester::catalog {

// Each entry is SQL text run as one unit inside the migration transaction.
std::span<const std::string_view> SqliteMigrations();

// The schema version this binary writes: SqliteMigrations().size().
int SqliteSchemaVersion();

}  // namespace ingester::catalog
