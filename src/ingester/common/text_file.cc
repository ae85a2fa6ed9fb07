#include "ingester/common/text_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace ingester {

arrow::Result<std::string> ReadFlagFile(std::string_view flag, const std::string& path,
                                        int64_t max_bytes) {
  auto fail = [&](int error) {
    return arrow::Status::IOError(flag, ": cannot read ", path, ": ",
                                  std::strerror(error));
  };
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"),
                                             &std::fclose);
  if (file == nullptr) return fail(errno);
  std::string content;
  char chunk[4096];
  while (true) {
    const size_t n = std::fread(chunk, 1, sizeof(chunk), file.get());
    content.append(chunk, n);
    if (static_cast<int64_t>(content.size()) > max_bytes) {
      return arrow::Status::Invalid(flag, ": ", path, " is larger than ", max_bytes,
                                    " bytes");
    }
    if (n < sizeof(chunk)) break;
  }
  // fopen succeeds on a directory; reading it fails with EISDIR.
  if (std::ferror(file.get())) return fail(errno != 0 ? errno : EIO);
  if (content.empty()) return arrow::Status::Invalid(flag, ": ", path, " is empty");
  return content;
}

}  // namespace ingester
