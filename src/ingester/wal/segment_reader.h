// Reads the entries of one segment file (format.h) and classifies damage precisely.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/wal/file_system.h"
#include "ingester/wal/format.h"

namespace ingester::wal {

enum class SegmentDamage {
  kNone,
  // Damage (a partial entry, a bad length, a checksum mismatch) after which no valid
  // entry follows: what a crash leaves when the last write was not fully persisted.
  kTornTail,
  // Damage followed by at least one valid entry: the file was corrupted, not torn.
  kCorrupt,
};

// "none", "torn tail", "corrupt".
std::string_view SegmentDamageName(SegmentDamage damage);

// Iterates over entries. Never allocates more than the file holds, whatever a length
// field says. Not thread-safe.
class SegmentReader {
 public:
  struct Entry {
    uint64_t offset = 0;       // of the entry's framing in the file
    std::string_view payload;  // valid until the next call to Next()
  };

  // Opens `path` and checks its header: a DataLoss error naming the file when it is
  // shorter than a header (but not empty), has bad magic or checksum, an unknown
  // version, or an id other than `expected_id`. An empty file is a segment without
  // entries (id() then returns `expected_id`, or 0).
  static arrow::Result<std::unique_ptr<SegmentReader>> Open(
      FileSystem* fs, const std::string& path,
      std::optional<SegmentId> expected_id = std::nullopt);

  // The next entry; nullopt at the end of the entries or at damage (see damage()).
  // Errors are I/O errors only.
  arrow::Result<std::optional<Entry>> Next();

  SegmentId id() const { return id_; }
  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_->size(); }
  bool empty() const { return file_->size() == 0; }

  // Valid once Next() returned nullopt.
  SegmentDamage damage() const { return damage_; }
  // Offset of the damaged entry: where the valid prefix of the segment ends.
  uint64_t damage_offset() const { return damage_offset_; }
  // What is wrong, e.g. "checksum mismatch in entry of 120 bytes".
  const std::string& damage_reason() const { return damage_reason_; }
  // The end of the last good entry read so far.
  uint64_t valid_end() const { return pos_; }

 private:
  SegmentReader(std::string path, std::unique_ptr<RandomAccessFile> file, SegmentId id);

  // `n` bytes at `offset` (within the file), valid until the next Fetch.
  arrow::Result<const uint8_t*> Fetch(uint64_t offset, size_t n);
  // Whether a whole entry with a matching checksum starts anywhere after `offset`.
  arrow::Result<std::optional<uint64_t>> FindValidEntryAfter(uint64_t offset);
  arrow::Status SetDamage(uint64_t offset, std::string reason);

  const std::string path_;
  const std::unique_ptr<RandomAccessFile> file_;
  const SegmentId id_;
  uint64_t pos_;
  bool done_ = false;
  SegmentDamage damage_ = SegmentDamage::kNone;
  uint64_t damage_offset_ = 0;
  std::string damage_reason_;
  // A read-ahead window over the file, and a buffer for entries larger than it.
  std::vector<uint8_t> window_;
  uint64_t window_offset_ = 0;
  std::vector<uint8_t> large_;
};

}  // namespace ingester::wal
