#include "ingester/wal/file_system.h"

#include <arrow/util/io_util.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace ingester::wal {

namespace {

arrow::Status Errno(const char* what, const std::string& path) {
  return arrow::internal::IOErrorFromErrno(errno, what, " '", path, "'");
}

std::string ParentOf(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

arrow::Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open for fsync", path);
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0) return arrow::internal::IOErrorFromErrno(saved, "fsync of '", path, "'");
  return arrow::Status::OK();
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override { (void)Close(); }

  arrow::Status Append(std::string_view data) override {
    if (fd_ < 0) return arrow::Status::IOError("append to closed file '", path_, "'");
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("write to", path_);
      }
      size_ += static_cast<uint64_t>(n);
      data.remove_prefix(static_cast<size_t>(n));
    }
    return arrow::Status::OK();
  }

  arrow::Status Sync() override {
    if (fd_ < 0) return arrow::Status::IOError("sync of closed file '", path_, "'");
    if (::fdatasync(fd_) != 0) return Errno("fdatasync of", path_);
    return arrow::Status::OK();
  }

  arrow::Status Close() override {
    if (fd_ < 0) return arrow::Status::OK();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return Errno("close of", path_);
    return arrow::Status::OK();
  }

  uint64_t size() const override { return size_; }
  void Renamed(std::string path) override { path_ = std::move(path); }

 private:
  std::string path_;
  int fd_;
  uint64_t size_ = 0;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  arrow::Result<size_t> ReadAt(uint64_t offset, size_t n, uint8_t* out) const override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, out + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Errno("read of", path_);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    return done;
  }

  uint64_t size() const override { return size_; }

 private:
  const std::string path_;
  const int fd_;
  const uint64_t size_;
};

class PosixFs final : public FileSystem {
 public:
  arrow::Result<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return Errno("cannot create", path);
    return std::make_unique<PosixWritableFile>(path, fd);
  }

  arrow::Result<std::unique_ptr<RandomAccessFile>> OpenRandomAccess(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("cannot open", path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      auto status = Errno("cannot stat", path);
      ::close(fd);
      return status;
    }
    return std::make_unique<PosixRandomAccessFile>(path, fd,
                                                   static_cast<uint64_t>(st.st_size));
  }

  arrow::Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return Errno("cannot list", dir);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name(e->d_name);
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(d);
    return names;
  }

  arrow::Status CreateDirIfMissing(const std::string& dir) override {
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return arrow::Status::OK();
      return arrow::Status::IOError("'", dir, "' exists and is not a directory");
    }
    std::string parent = ParentOf(dir);
    if (parent != dir) ARROW_RETURN_NOT_OK(CreateDirIfMissing(parent));
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Errno("cannot create directory", dir);
    }
    return SyncDir(parent);
  }

  arrow::Status Delete(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return Errno("cannot delete", path);
    return arrow::Status::OK();
  }

  arrow::Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return Errno("cannot rename", from);
    return arrow::Status::OK();
  }

  arrow::Status Truncate(const std::string& path, uint64_t size) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Errno("cannot open for truncation", path);
    arrow::Status status;
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
      status = Errno("cannot truncate", path);
    } else if (::fsync(fd) != 0) {
      status = Errno("fsync after truncating", path);
    }
    ::close(fd);
    return status;
  }

  arrow::Status SyncDir(const std::string& dir) override {
    return FsyncPath(dir, O_RDONLY | O_DIRECTORY);
  }

  arrow::Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return Errno("cannot stat", path);
    return static_cast<uint64_t>(st.st_size);
  }

  arrow::Result<DiskSpace> GetDiskSpace(const std::string& dir) override {
    struct statvfs st;
    if (::statvfs(dir.c_str(), &st) != 0) return Errno("cannot statvfs", dir);
    DiskSpace space;
    space.capacity = static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
    space.available = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
    space.used = static_cast<uint64_t>(st.f_blocks - st.f_bfree) * st.f_frsize;
    return space;
  }
};

}  // namespace

std::shared_ptr<FileSystem> PosixFileSystem() {
  static const std::shared_ptr<FileSystem> fs = std::make_shared<PosixFs>();
  return fs;
}

arrow::Status WriteFileAtomically(FileSystem& fs, const std::string& path,
                                  std::string_view data) {
  const std::string tmp = path + ".tmp";
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

arrow::Result<std::string> ReadWholeFile(FileSystem& fs, const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto file, fs.OpenRandomAccess(path));
  std::string data(file->size(), '\0');
  size_t done = 0;
  while (done < data.size()) {
    ARROW_ASSIGN_OR_RAISE(size_t n,
                          file->ReadAt(done, data.size() - done,
                                       reinterpret_cast<uint8_t*>(data.data() + done)));
    if (n == 0) return arrow::Status::IOError("unexpected end of ", path);
    done += n;
  }
  return data;
}

}  // namespace ingester::wal
