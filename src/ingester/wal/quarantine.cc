#include "ingester/wal/quarantine.h"

#include <arrow/util/io_util.h>

#include <cerrno>
#include <cstdio>

namespace ingester::wal {

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
