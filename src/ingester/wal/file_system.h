// The few filesystem operations the WAL needs, behind an interface so that tests can
// inject faults (fault_injection_fs.h): lost unsynced data, failed writes and syncs.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ingester::wal {

// A file open for appending. Not thread-safe: one user at a time (the WAL's flush
// leader). Errors carry the errno (arrow::internal::ErrnoFromStatus).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends all of `data` (retrying short writes); on error some prefix may be written.
  virtual arrow::Status Append(std::string_view data) = 0;
  // Makes everything appended so far durable (fdatasync).
  virtual arrow::Status Sync() = 0;
  // Closes without syncing. Idempotent; the destructor closes too.
  virtual arrow::Status Close() = 0;
  // Bytes in the file: appended so far (a failed Append may leave more on disk).
  virtual uint64_t size() const = 0;
  // Tells the file it was renamed to `path`, the name its later errors give.
  virtual void Renamed(std::string path) = 0;
};

// A file open for reading at offsets. Thread-compatible.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to `n` bytes at `offset` into `out`; fewer only at the end of the file.
  virtual arrow::Result<size_t> ReadAt(uint64_t offset, size_t n, uint8_t* out) const = 0;
  // The size when the file was opened.
  virtual uint64_t size() const = 0;
};

struct DiskSpace {
  uint64_t capacity = 0;
  uint64_t available = 0;  // to an unprivileged user
  // Bytes in use: capacity less the free blocks (the blocks reserved for root count as
  // neither used nor available, as in df).
  uint64_t used = 0;
};

// Implementations are thread-safe.
class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Creates `path`, which must not exist. The directory entry is durable only after
  // SyncDir of its parent.
  virtual arrow::Result<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;
  virtual arrow::Result<std::unique_ptr<RandomAccessFile>> OpenRandomAccess(
      const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, without "." and "..", in no order.
  virtual arrow::Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // Creates `dir` and missing parents; syncs the parent of each directory it creates.
  virtual arrow::Status CreateDirIfMissing(const std::string& dir) = 0;
  virtual arrow::Status Delete(const std::string& path) = 0;
  // Atomically replaces `to`; durable after SyncDir.
  virtual arrow::Status Rename(const std::string& from, const std::string& to) = 0;
  // Cuts `path` to `size` bytes and syncs it.
  virtual arrow::Status Truncate(const std::string& path, uint64_t size) = 0;
  // Makes creations, renames and deletions in `dir` durable (fsync of the directory).
  virtual arrow::Status SyncDir(const std::string& dir) = 0;
  virtual arrow::Result<uint64_t> FileSize(const std::string& path) = 0;
  virtual arrow::Result<DiskSpace> GetDiskSpace(const std::string& dir) = 0;
};

// The real filesystem (open/pwrite/fdatasync). A process-wide instance.
std::shared_ptr<FileSystem> PosixFileSystem();

// Writes `data` to `path` through a synced "<path>.tmp" (replacing one an earlier crash
// left) and a rename, so a reader sees the old file or the whole new one. The caller
// syncs the directory to make the rename durable.
arrow::Status WriteFileAtomically(FileSystem& fs, const std::string& path,
                                  std::string_view data);

// The whole content of `path`.
arrow::Result<std::string> ReadWholeFile(FileSystem& fs, const std::string& path);

}  // namespace ingester::wal
