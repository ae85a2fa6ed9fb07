#include "ingester/server/ingester_id.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ingester/common/uuid.h"

namespace ingester {

namespace {

bool IdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}

arrow::Status Errno(std::string_view what, const std::string& path) {
  return arrow::Status::IOError(what, " ", path, ": ", std::strerror(errno));
}

// Writes `content` to `path` so that a crash leaves either no file or the whole one.
arrow::Status WriteDurably(const std::string& dir, const std::string& path,
                           const std::string& content) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  const bool written =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  const bool synced = written && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!synced) {
    errno = saved;
    return Errno("cannot write", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("cannot rename to", path);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Errno("cannot open", dir);
  const bool dir_synced = ::fsync(dir_fd) == 0;
  ::close(dir_fd);
  if (!dir_synced) return Errno("cannot sync", dir);
  return arrow::Status::OK();
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
  std::ifstream in(path);
  if (in) {
    std::stringstream content;
    content << in.rdbuf();
    if (in.bad()) return Errno("cannot read", path);
    std::string stored = content.str();
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
  } else if (errno != ENOENT && std::filesystem::exists(path)) {
    return Errno("cannot read", path);
  }
  const std::string id = requested.empty() ? GenerateIngesterId() : requested;
  ARROW_RETURN_NOT_OK(WriteDurably(data_dir, path, id + "\n"));
  return id;
}

}  // namespace ingester
