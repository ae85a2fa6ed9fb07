// Appends framed entries to one segment file (format.h).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <memory>
#include <string>
#include <string_view>

#include "ingester/wal/file_system.h"
#include "ingester/wal/format.h"

namespace ingester::wal {

// Not thread-safe: the WAL gives it to one flush leader at a time.
class SegmentWriter {
 public:
  // Creates `<dir>/<id>.dat.tmp`, writes the header and syncs it. The segment is not
  // part of the WAL until Publish(). `fs` must outlive the writer.
  static arrow::Result<std::unique_ptr<SegmentWriter>> Create(FileSystem* fs,
                                                              std::string dir,
                                                              SegmentId id);
  ~SegmentWriter();

  // Renames the file to `<id>.dat` and syncs the directory, so that the segment and
  // every entry synced into it survive a crash.
  arrow::Status Publish();

  // Appends bytes that are already framed entries (FrameEntry).
  arrow::Status Append(std::string_view framed);
  // Frames `payload` and appends it; for tests and tools (the WAL frames in place).
  arrow::Status AppendEntry(std::string_view payload);
  // Syncs if anything was appended since the last sync.
  arrow::Status Sync();
  // Closes without syncing. Idempotent.
  arrow::Status Close();

  SegmentId id() const { return id_; }
  // The path the file has now (the `.tmp` name until Publish()).
  const std::string& path() const { return path_; }
  uint64_t size() const { return file_->size(); }
  bool has_unsynced_data() const { return file_->size() != synced_size_; }

 private:
  SegmentWriter(FileSystem* fs, std::string dir, SegmentId id, std::string path,
                std::unique_ptr<WritableFile> file);

  FileSystem* const fs_;
  const std::string dir_;
  const SegmentId id_;
  std::string path_;
  std::unique_ptr<WritableFile> file_;
  uint64_t synced_size_ = 0;
};

// Fills the first kEntryHeaderSize bytes of `entry` (the headroom EncodeWriteOp left)
// with the framing for segment `id`; `payload_crc` is CRC32C of the rest.
void FrameEntry(SegmentId id, uint32_t payload_crc, std::string* entry);

}  // namespace ingester::wal
