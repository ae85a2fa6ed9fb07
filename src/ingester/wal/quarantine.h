// Where WAL replay sets aside an entry it must not apply: one whose checksum matches and
// that decodes, but whose write fails validation (dml/write_validation.h), e.g. a batch
// with an out-of-range dictionary index that an earlier version accepted over Flight.
// Applying it would crash the process at every start; dropping it silently would lose
// bytes someone may want to examine. So its payload is kept, and replay goes on.
//
// Layout (docs/wal.md), under the WAL directory:
//
//   wal/quarantine/<segment id, 20 digits>-<entry offset, 20 digits>.entry
//       the entry's payload exactly as in the segment (compression byte, body length,
//       body; format.h), without the 8-byte framing: DecodeWriteOp reads it as is
//   wal/quarantine/<segment id>-<entry offset>.reason
//       one line of text: the segment file, the offset and why the write was refused
//
// The names are a function of the entry's place, so quarantining the same entry again
// (its segment is replayed once more after a crash) replaces the files with the same
// bytes. Both files are written under a `.tmp` name, synced, renamed and the directory
// synced before the call returns, so they are durable before the segment can be
// deleted. Nothing reads or deletes them: they are for the operator.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "ingester/wal/file_system.h"
#include "ingester/wal/format.h"

namespace ingester::wal {

inline constexpr std::string_view kQuarantineDirName = "quarantine";

// "00000000000000000003-00000000000000000032" for segment 3, offset 32 (no suffix).
std::string QuarantineBaseName(SegmentId segment, uint64_t offset);

// Writes `payload` and `reason` as described above; returns the path of the `.entry`
// file. Errors are I/O errors (the caller must not go on without the copy).
arrow::Result<std::string> QuarantineEntry(FileSystem& fs, const std::string& wal_dir,
                                           SegmentId segment, uint64_t offset,
                                           std::string_view payload,
                                           std::string_view reason);

}  // namespace ingester::wal
