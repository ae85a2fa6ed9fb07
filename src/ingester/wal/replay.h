// Startup recovery: feeds every entry of the WAL directory to a DmlSink.
#pragma once

#include <arrow/result.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ingester/dml/dml_sink.h"
#include "ingester/wal/closed_segment.h"
#include "ingester/wal/file_system.h"

namespace ingester::wal {

// What replay does with damage (RocksDB calls these WAL recovery modes).
enum class RecoveryMode {
  // A torn tail in the LAST segment (a partial entry, or a bad entry that no valid entry
  // follows) is what a crash during a write leaves; it was never acknowledged as synced
  // and is cut off with a warning. Any other damage is refused.
  kTolerateTornTail,
  // Any damage is refused, a torn tail too.
  kAbsoluteConsistency,
};

struct ReplayOptions {
  RecoveryMode mode = RecoveryMode::kTolerateTornTail;
  // Progress is logged every this many entries, or this often, whichever comes first.
  int64_t progress_every_entries = 100'000;
  std::chrono::milliseconds progress_interval{5000};
  // Replay refuses (DataLoss) a directory whose ledger (segment_ledger.h) lists segments
  // that are neither on disk nor deleted by the ingester, unless this is set.
  bool allow_missing_segments = false;
};

struct TruncatedTail {
  std::string file;
  uint64_t offset = 0;         // the file's size after truncation
  uint64_t dropped_bytes = 0;  // what was cut off
  std::string reason;
};

// An entry replay set aside instead of applying (quarantine.h).
struct QuarantinedEntry {
  std::string file;     // the segment file
  uint64_t offset = 0;  // of the entry's framing in it
  std::string path;     // the `.entry` file holding its payload
  std::string reason;   // why its write was refused
  int64_t rows = 0;
};

struct ReplayStats {
  // The segments replayed, in id order, with their sequence numbers and counts: the
  // caller deletes them once everything replayed is persisted.
  std::vector<ClosedSegment> segments;
  // The highest sequence number seen; seed the TimestampOracle past it.
  std::optional<SequenceNumber> max_sequence_number;
  int64_t entries = 0;
  int64_t rows = 0;
  uint64_t bytes = 0;
  std::optional<TruncatedTail> truncated;
  // Entries whose write failed validation, in replay order; not counted in `entries`
  // and `rows`, and their sequence numbers are not in their segment's set (so the
  // segment is deleted once the rest of it is persisted).
  std::vector<QuarantinedEntry> quarantined;
  double seconds = 0;

  std::vector<SegmentId> segment_ids() const;
};

// Ids of the segment files in `dir`, ascending; empty if `dir` does not exist.
arrow::Result<std::vector<SegmentId>> ListSegments(FileSystem& fs,
                                                   const std::string& dir);

// Reads the segments of `dir` in id order and applies each op to `sink` (the write chain
// without the WalSink). Damage is handled per `options.mode`; refused damage is a
// DataLoss error naming the file and byte offset. Each decoded op is validated first
// (dml/write_validation.h: well-formed Arrow, the data model, the value rules); an op
// that fails is never given to `sink` but quarantined (quarantine.h), logged at ERROR
// with file and offset, and listed in ReplayStats::quarantined; its sequence numbers
// still count for max_sequence_number. The writes `sink` reports as not applied
// (ApplyOptions::not_applied: no rows) are left out of their segment's set, as
// quarantined ones are. An error from `sink` stops replay and is returned with the file
// and offset of the entry. Call before Wal::Make.
arrow::Result<ReplayStats> ReplayWal(FileSystem& fs, const std::string& dir,
                                     DmlSink& sink, const ReplayOptions& options = {});

}  // namespace ingester::wal
