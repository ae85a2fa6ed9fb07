#include "ingester/wal/fault_injection_fs.h"

#include <arrow/util/io_util.h>

#include <filesystem>

namespace ingester::wal {

namespace {
std::string ParentOf(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

// Paths are compared as given; normalise the trailing slash of directories.
std::string NormalDir(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}
}  // namespace

class FaultInjectionFileSystem::File final : public WritableFile {
 public:
  File(FaultInjectionFileSystem* fs, std::unique_ptr<WritableFile> base,
       std::shared_ptr<FileState> state, uint64_t generation)
      : fs_(fs),
        base_(std::move(base)),
        state_(std::move(state)),
        generation_(generation) {}

  arrow::Status Append(std::string_view data) override {
    return fs_->FileAppend(this, data);
  }
  arrow::Status Sync() override { return fs_->FileSync(this); }
  arrow::Status Close() override { return base_->Close(); }
  uint64_t size() const override { return base_->size(); }
  void Renamed(std::string path) override { base_->Renamed(std::move(path)); }

  WritableFile* base() { return base_.get(); }
  FileState* state() { return state_.get(); }
  uint64_t generation() const { return generation_; }

 private:
  FaultInjectionFileSystem* const fs_;
  const std::unique_ptr<WritableFile> base_;
  const std::shared_ptr<FileState> state_;
  const uint64_t generation_;
};

FaultInjectionFileSystem::FaultInjectionFileSystem(std::shared_ptr<FileSystem> base)
    : base_(std::move(base)) {}

FaultInjectionFileSystem::~FaultInjectionFileSystem() = default;

arrow::Result<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::NewWritableFile(
    const std::string& path) {
  MutexLock lock(&mu_);
  ARROW_ASSIGN_OR_RAISE(auto base, base_->NewWritableFile(path));
  auto state = std::make_shared<FileState>();
  files_[path] = state;
  unsynced_dir_ops_.push_back(
      {DirOp::Kind::kCreate, NormalDir(ParentOf(path)), path, ""});
  return std::make_unique<File>(this, std::move(base), std::move(state), generation_);
}

arrow::Status FaultInjectionFileSystem::FileAppend(File* file, std::string_view data) {
  MutexLock lock(&mu_);
  if (file->generation() != generation_) {
    return arrow::Status::IOError("file handle from before a simulated crash");
  }
  arrow::Status status;
  if (fail_next_append_ != 0) {
    int err = fail_next_append_;
    fail_next_append_ = 0;
    size_t keep = std::min(fail_append_keep_, data.size());
    if (keep > 0) ARROW_RETURN_NOT_OK(file->base()->Append(data.substr(0, keep)));
    status = arrow::internal::IOErrorFromErrno(err, "injected append failure");
  } else {
    status = file->base()->Append(data);
    if (status.ok()) ++appends_;
  }
  file->state()->size = file->base()->size();
  return status;
}

arrow::Status FaultInjectionFileSystem::FileSync(File* file) {
  std::function<void()> hook;
  {
    MutexLock lock(&mu_);
    hook = sync_hook_;
  }
  if (hook) hook();
  MutexLock lock(&mu_);
  if (file->generation() != generation_) {
    return arrow::Status::IOError("file handle from before a simulated crash");
  }
  if (fail_next_sync_ != 0) {
    int err = fail_next_sync_;
    fail_next_sync_ = 0;
    return arrow::internal::IOErrorFromErrno(err, "injected fdatasync failure");
  }
  ARROW_RETURN_NOT_OK(file->base()->Sync());
  file->state()->synced = file->base()->size();
  ++syncs_;
  return arrow::Status::OK();
}

arrow::Result<std::unique_ptr<RandomAccessFile>>
FaultInjectionFileSystem::OpenRandomAccess(const std::string& path) {
  return base_->OpenRandomAccess(path);
}

arrow::Result<std::vector<std::string>> FaultInjectionFileSystem::ListDir(
    const std::string& dir) {
  return base_->ListDir(dir);
}

arrow::Status FaultInjectionFileSystem::CreateDirIfMissing(const std::string& dir) {
  return base_->CreateDirIfMissing(dir);
}

arrow::Status FaultInjectionFileSystem::Delete(const std::string& path) {
  MutexLock lock(&mu_);
  ARROW_RETURN_NOT_OK(base_->Delete(path));
  files_.erase(path);
  return arrow::Status::OK();
}

arrow::Status FaultInjectionFileSystem::Rename(const std::string& from,
                                               const std::string& to) {
  MutexLock lock(&mu_);
  ARROW_RETURN_NOT_OK(base_->Rename(from, to));
  auto it = files_.find(from);
  if (it != files_.end()) {
    files_[to] = it->second;
    files_.erase(it);
  }
  unsynced_dir_ops_.push_back({DirOp::Kind::kRename, NormalDir(ParentOf(to)), to, from});
  return arrow::Status::OK();
}

arrow::Status FaultInjectionFileSystem::Truncate(const std::string& path, uint64_t size) {
  MutexLock lock(&mu_);
  ARROW_RETURN_NOT_OK(base_->Truncate(path, size));
  auto it = files_.find(path);
  if (it != files_.end()) *it->second = FileState{size, size};
  return arrow::Status::OK();
}

arrow::Status FaultInjectionFileSystem::SyncDir(const std::string& dir) {
  MutexLock lock(&mu_);
  ARROW_RETURN_NOT_OK(base_->SyncDir(dir));
  ++dir_syncs_;
  const std::string normal = NormalDir(dir);
  std::erase_if(unsynced_dir_ops_, [&](const DirOp& op) { return op.dir == normal; });
  return arrow::Status::OK();
}

arrow::Result<uint64_t> FaultInjectionFileSystem::FileSize(const std::string& path) {
  return base_->FileSize(path);
}

arrow::Result<DiskSpace> FaultInjectionFileSystem::GetDiskSpace(const std::string& dir) {
  return base_->GetDiskSpace(dir);
}

arrow::Status FaultInjectionFileSystem::SimulateCrash() {
  MutexLock lock(&mu_);
  ++generation_;
  fail_next_sync_ = 0;
  fail_next_append_ = 0;
  for (auto& [path, state] : files_) {
    auto size = base_->FileSize(path);
    if (!size.ok()) continue;  // deleted behind our back
    if (*size != state->synced) ARROW_RETURN_NOT_OK(base_->Truncate(path, state->synced));
    state->size = state->synced;
  }
  for (auto it = unsynced_dir_ops_.rbegin(); it != unsynced_dir_ops_.rend(); ++it) {
    if (it->kind == DirOp::Kind::kRename) {
      ARROW_RETURN_NOT_OK(base_->Rename(it->path, it->from));
      auto f = files_.find(it->path);
      if (f != files_.end()) {
        files_[it->from] = f->second;
        files_.erase(f);
      }
    } else {
      if (base_->FileSize(it->path).ok()) ARROW_RETURN_NOT_OK(base_->Delete(it->path));
      files_.erase(it->path);
    }
  }
  unsynced_dir_ops_.clear();
  return arrow::Status::OK();
}

void FaultInjectionFileSystem::FailNextSync(int err) {
  MutexLock lock(&mu_);
  fail_next_sync_ = err;
}

void FaultInjectionFileSystem::FailNextAppend(int err, size_t keep_bytes) {
  MutexLock lock(&mu_);
  fail_next_append_ = err;
  fail_append_keep_ = keep_bytes;
}

void FaultInjectionFileSystem::SetSyncHook(std::function<void()> hook) {
  MutexLock lock(&mu_);
  sync_hook_ = std::move(hook);
}

int64_t FaultInjectionFileSystem::syncs() const {
  MutexLock lock(&mu_);
  return syncs_;
}

int64_t FaultInjectionFileSystem::appends() const {
  MutexLock lock(&mu_);
  return appends_;
}

int64_t FaultInjectionFileSystem::dir_syncs() const {
  MutexLock lock(&mu_);
  return dir_syncs_;
}

}  // namespace ingester::wal
