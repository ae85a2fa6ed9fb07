#include "ingester/wal/quarantine.h"

#include <arrow/util/io_util.h>

#include <cerrno>
#include <cstdio>

namespace ingester::wal {

namespace {

// Writes `data` to `path` through a synced `.tmp` file and a rename; the caller syncs
// the directory.
arrow::Status WriteFileAtomically(FileSystem& fs, const std::string& path,
                                  std::string_view data) {
  const std::string tmp = path + std::string(kTempSuffix);
  arrow::Status deleted = fs.Delete(tmp);  // left by an earlier crash, if any
  if (!deleted.ok() && arrow::internal::ErrnoFromStatus(deleted) != ENOENT) {
    return deleted;
  }
  ARROW_ASSIGN_OR_RAISE(auto file, fs.NewWritableFile(tmp));
  ARROW_RETURN_NOT_OK(file->Append(data));
  ARROW_RETURN_NOT_OK(file->Sync());
  ARROW_RETURN_NOT_OK(file->Close());
  return fs.Rename(tmp, path);
}

}  // namespace

std::string QuarantineBaseName(SegmentId segment, uint64_t offset) {
  char name[64];
  std::snprintf(name, sizeof(name), "%020llu-%020llu",
                static_cast<unsigned long long>(segment),
                static_cast<unsigned long long>(offset));
  return name;
}

arrow::Result<std::string> QuarantineEntry(FileSystem& fs, const std::string& wal_dir,
                                           SegmentId segment, uint64_t offset,
                                           std::string_view payload,
                                           std::string_view reason) {
  const std::string dir = JoinPath(wal_dir, kQuarantineDirName);
  ARROW_RETURN_NOT_OK(fs.CreateDirIfMissing(dir));
  const std::string base = JoinPath(dir, QuarantineBaseName(segment, offset));
  const std::string entry_path = base + ".entry";
  ARROW_RETURN_NOT_OK(WriteFileAtomically(fs, entry_path, payload));
  ARROW_RETURN_NOT_OK(
      WriteFileAtomically(fs, base + ".reason", std::string(reason) + "\n"));
  ARROW_RETURN_NOT_OK(fs.SyncDir(dir));
  return entry_path;
}

}  // namespace ingester::wal
