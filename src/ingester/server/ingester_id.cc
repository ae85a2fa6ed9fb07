#include "ingester/server/ingester_id.h"

#include <arrow/util/io_util.h>

#include <cerrno>
#include <filesystem>

#include "ingester/common/uuid.h"
#include "ingester/wal/file_system.h"

namespace ingester {

namespace {

bool IdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}

std::string GenerateIngesterId() {
  std::string hex;
  for (char c : GenerateUuidV4()) {
    if (c != '-') hex += c;
  }
  return "ingester-" + hex.substr(0, 12);
}

}  // namespace

arrow::Status ValidateIngesterId(std::string_view id, std::string_view what) {
  if (id.empty()) return arrow::Status::Invalid(what, ": the ingester id is empty");
  if (id.size() > kMaxIngesterIdLength) {
    return arrow::Status::Invalid(what, ": the ingester id '", id, "' is longer than ",
                                  kMaxIngesterIdLength, " characters");
  }
  for (char c : id) {
    if (!IdChar(c)) {
      return arrow::Status::Invalid(
          what, ": the ingester id '", id, "' contains '", std::string(1, c),
          "'; an ingester id is made of letters, digits, '_' and '-' only");
    }
  }
  return arrow::Status::OK();
}

arrow::Result<std::string> LoadOrCreateIngesterId(const std::string& data_dir,
                                                  const std::string& requested) {
  if (!requested.empty())
    ARROW_RETURN_NOT_OK(ValidateIngesterId(requested, "--ingester-id"));
  const std::string path =
      (std::filesystem::path(data_dir) / std::string(kIngesterIdFileName)).string();
  auto& fs = *wal::PosixFileSystem();
  auto content = wal::ReadWholeFile(fs, path);
  if (content.ok()) {
    std::string stored = std::move(*content);
    while (!stored.empty() && (stored.back() == '\n' || stored.back() == '\r')) {
      stored.pop_back();
    }
    if (stored.empty()) {
      return arrow::Status::Invalid(path,
                                    " is empty; it should hold this data dir's "
                                    "ingester id (write the id it had back into it)");
    }
    ARROW_RETURN_NOT_OK(ValidateIngesterId(stored, path));
    if (!requested.empty() && requested != stored) {
      return arrow::Status::Invalid(
          "--ingester-id ", requested, " differs from the id '", stored,
          "' this data dir belongs to (", path,
          "): its WAL and the objects it persisted are that ingester's. Start with "
          "--ingester-id ",
          stored, " (or without the flag), or use another --data-dir");
    }
    return stored;
  }
  if (arrow::internal::ErrnoFromStatus(content.status()) != ENOENT) {
    return content.status();
  }
  const std::string id = requested.empty() ? GenerateIngesterId() : requested;
  // A crash leaves either no file or the whole one.
  ARROW_RETURN_NOT_OK(wal::WriteFileAtomically(fs, path, id + "\n"));
  ARROW_RETURN_NOT_OK(fs.SyncDir(data_dir));
  return id;
}

}  // namespace ingester
