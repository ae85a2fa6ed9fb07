// Which WAL segment ids the ingester handed out and which it deleted, so that a segment
// that disappeared any other way (removed by hand, a botched restore) is noticed at
// startup instead of its acknowledged rows vanishing silently.
//
// Segments are deleted out of order (a segment goes once everything in it is persisted),
// so a gap in the ids on disk is normal; only the ledger can tell a gap the ingester made
// from one it did not. The file, rewritten whole and atomically (temp file, fsync,
// rename, directory fsync) whenever it changes:
//
//   <wal-dir>/segments.ledger
//   ┌──────────────────────────────────┐
//   │ ingester-wal-ledger 1            │  format and version
//   │ next 42                          │  ids below 42 were handed out
//   │ floor 37                         │  every id up to 37 was deleted by the ingester
//   │ deleted 39 40                    │  ids above the floor deleted by the ingester
//   └──────────────────────────────────┘
//
// Write order makes every crash safe: a new segment file is published before the ledger
// says it was handed out (a segment above `next` found at startup is simply live), and
// a deletion is recorded before the file is removed (a segment on disk that the ledger
// calls deleted held only persisted writes: it is removed, not replayed).
//
// A WAL directory without a ledger (new, or written by an older version) has nothing to
// check against: its first open writes one.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "ingester/wal/closed_segment.h"
#include "ingester/wal/file_system.h"

namespace ingester::wal {

inline constexpr std::string_view kLedgerFileName = "segments.ledger";

class SegmentLedger {
 public:
  // The ledger of `dir`; an empty, unknown one (known() false) when there is none.
  // Corrupt content is an IOError naming the file.
  static arrow::Result<SegmentLedger> Load(FileSystem& fs, const std::string& dir);

  // Whether a ledger file was found.
  bool known() const { return known_; }
  // The first id never handed out.
  SegmentId next() const { return next_; }
  bool IsDeleted(SegmentId id) const { return id <= floor_ || deleted_.count(id) > 0; }
  // Ids handed out and not deleted by the ingester that are not in `on_disk`.
  std::vector<SegmentId> Missing(const std::vector<SegmentId>& on_disk) const;

  void NoteCreated(SegmentId id);
  void NoteDeleted(SegmentId id);

  // Writes the ledger into `dir` durably (see the top of the file).
  arrow::Status Save(FileSystem& fs, const std::string& dir) const;

  std::string ToString() const;

 private:
  bool known_ = false;
  SegmentId next_ = 1;
  SegmentId floor_ = 0;
  std::set<SegmentId> deleted_;  // all above floor_
};

// The message of a start refused because of `missing` segments of `dir`.
std::string MissingSegmentsMessage(const std::string& dir,
                                   const std::vector<SegmentId>& missing);

}  // namespace ingester::wal
