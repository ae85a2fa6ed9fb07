// The ingester's stable id (DESIGN.md, "Scale-out"): it names the ingester in query
// responses and to its peers, and it is part of every object path the ingester writes
// (persist/object_path.h), so ingesters sharing one bucket and one catalog never
// write the same object.
//
//   <data-dir>/ingester_id     one line: the id, then '\n'
//
// The id is chosen once per data dir: --ingester-id on the first start, or generated
// ("ingester-" and 12 random hex digits) when the flag is not given, and written to the
// file (temporary file, fsync, rename, fsync of the directory). Later starts read it; a
// start with an explicit --ingester-id that differs from the stored one is refused,
// since the data dir's WAL and the objects it persisted belong to the stored id.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <string>
#include <string_view>

namespace ingester {

// The name of the file, inside the data dir.
inline constexpr std::string_view kIngesterIdFileName = "ingester_id";
inline constexpr size_t kMaxIngesterIdLength = 64;

// OK for 1 to kMaxIngesterIdLength characters of [A-Za-z0-9_-]; otherwise Invalid
// naming `what` (e.g. "--ingester-id") and the offending character.
arrow::Status ValidateIngesterId(std::string_view id, std::string_view what);

// The id of `data_dir` (which must exist), created as described above when the file is
// missing. `requested` is the --ingester-id flag, empty when not given. Errors: Invalid
// for a bad `requested` or a stored id that differs from it (both named), IOError when
// the file cannot be read or written, Invalid naming the file when it holds no valid id
// (the file is never written in place, so a crash cannot leave it empty or cut short).
arrow::Result<std::string> LoadOrCreateIngesterId(const std::string& data_dir,
                                                  const std::string& requested);

}  // namespace ingester
