// `ingester wal inspect DIR [--json]`: a read-only report on a WAL directory.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ingester/wal/file_system.h"
#include "ingester/wal/format.h"
#include "ingester/wal/segment_reader.h"
#include "ingester/wal/sequence_number_set.h"

namespace ingester::wal {

struct SegmentInspection {
  SegmentId id = 0;
  std::string file;
  uint64_t size = 0;
  // Counted over the valid entries (up to any damage).
  int64_t entries = 0;
  int64_t rows = 0;
  SequenceNumberSet sequence_numbers;
  // Damage found by the checksums (segment_reader.h), or an entry whose checksum
  // matched but whose content does not decode (reported as corrupt).
  SegmentDamage damage = SegmentDamage::kNone;
  uint64_t damage_offset = 0;
  std::string damage_reason;
  // Set when the header is unreadable; nothing else is then known.
  std::string header_error;

  // "ok", "torn tail at offset X", "corrupt at offset Y" or "bad header".
  std::string Status() const;
};

struct WalInspection {
  std::string dir;
  std::vector<SegmentInspection> segments;  // in id order
  int64_t entries = 0;
  int64_t rows = 0;
  uint64_t bytes = 0;
  // Whether every segment is readable without damage.
  bool ok() const;
};

// Reads every segment of `dir` without changing anything. Errors are I/O errors only;
// damage is reported in the result. A missing directory is an error.
arrow::Result<WalInspection> InspectWal(FileSystem& fs, const std::string& dir);
arrow::Result<WalInspection> InspectWal(const std::string& dir);

// A table for people:
//
//   WAL directory: data/wal
//   segment  file                      bytes  entries  rows  sequence numbers  status
//         1  00000000000000000001.dat  12345       10  1000  1-10              ok
//   total: 1 segment(s), 10 entries, 1000 rows, 12345 bytes
std::string FormatInspectionText(const WalInspection& inspection);

// {"dir": ..., "segments": [{"id", "file", "bytes", "entries", "rows",
//   "min_sequence_number", "max_sequence_number", "sequence_numbers", "status",
//   "damage", "damage_offset", "damage_reason"}...], "entries": N, "rows": N,
//   "bytes": N, "ok": bool}; min/max are null for a segment without entries.
std::string FormatInspectionJson(const WalInspection& inspection);

}  // namespace ingester::wal
