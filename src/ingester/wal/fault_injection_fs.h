// A FileSystem for tests that behaves like a machine that can lose power (after
// RocksDB's FaultInjectionTestFS). It passes everything through to a real filesystem
// and remembers, per file written through it, how much was synced, and which
// directory changes were not yet made durable by SyncDir. SimulateCrash() then throws
// away what a power cut would: unsynced bytes and unsynced creations and renames.
// It can also make the next Append or Sync fail with an errno.
//
// Test only (linked into wal_test, not into ingester_wal).
#pragma once

#include <cerrno>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ingester/common/thread_annotations.h"
#include "ingester/wal/file_system.h"

namespace ingester::wal {

class FaultInjectionFileSystem final : public FileSystem {
 public:
  explicit FaultInjectionFileSystem(std::shared_ptr<FileSystem> base = PosixFileSystem());
  ~FaultInjectionFileSystem() override;

  arrow::Result<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override;
  arrow::Result<std::unique_ptr<RandomAccessFile>> OpenRandomAccess(
      const std::string& path) override;
  arrow::Result<std::vector<std::string>> ListDir(const std::string& dir) override;
  arrow::Status CreateDirIfMissing(const std::string& dir) override;
  arrow::Status Delete(const std::string& path) override;
  arrow::Status Rename(const std::string& from, const std::string& to) override;
  arrow::Status Truncate(const std::string& path, uint64_t size) override;
  arrow::Status SyncDir(const std::string& dir) override;
  arrow::Result<uint64_t> FileSize(const std::string& path) override;
  arrow::Result<DiskSpace> GetDiskSpace(const std::string& dir) override;

  // Power cut: every file written through this filesystem is cut back to its last
  // synced size; creations and renames not followed by a SyncDir of their directory are
  // undone (newest first). Files open before the crash fail every later call. The
  // filesystem stays usable (as after a reboot); injected failures are cleared.
  arrow::Status SimulateCrash();

  // The next WritableFile::Sync fails with `err` and syncs nothing.
  void FailNextSync(int err = EIO);
  // The next WritableFile::Append writes the first `keep_bytes` of its data, then fails
  // with `err` (ENOSPC with a partial write is what a full disk does).
  void FailNextAppend(int err = ENOSPC, size_t keep_bytes = 0);
  // Called at the start of every WritableFile::Sync, outside this filesystem's lock
  // (a test can hold a sync there to force an interleaving). Empty to clear.
  void SetSyncHook(std::function<void()> hook);

  // Successful WritableFile::Sync / Append calls, and SyncDir calls.
  int64_t syncs() const;
  int64_t appends() const;
  int64_t dir_syncs() const;

 private:
  class File;
  struct FileState {
    uint64_t size = 0;
    uint64_t synced = 0;
  };
  struct DirOp {
    enum class Kind { kCreate, kRename } kind;
    std::string dir;
    std::string path;  // created path, or the rename target
    std::string from;  // rename source
  };

  // The operations of File, under mu_.
  arrow::Status FileAppend(File* file, std::string_view data);
  arrow::Status FileSync(File* file);

  const std::shared_ptr<FileSystem> base_;
  mutable Mutex mu_;
  // Files written through this filesystem, by current path. Shared with open handles so
  // a rename does not lose track of a file being written.
  std::map<std::string, std::shared_ptr<FileState>> files_ GUARDED_BY(mu_);
  std::vector<DirOp> unsynced_dir_ops_ GUARDED_BY(mu_);
  // Bumped by each crash; handles of an older generation are dead.
  uint64_t generation_ GUARDED_BY(mu_) = 0;
  int fail_next_sync_ GUARDED_BY(mu_) = 0;
  int fail_next_append_ GUARDED_BY(mu_) = 0;
  size_t fail_append_keep_ GUARDED_BY(mu_) = 0;
  std::function<void()> sync_hook_ GUARDED_BY(mu_);
  int64_t syncs_ GUARDED_BY(mu_) = 0;
  int64_t appends_ GUARDED_BY(mu_) = 0;
  int64_t dir_syncs_ GUARDED_BY(mu_) = 0;
};

}  // namespace ingester::wal
