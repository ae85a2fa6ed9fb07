#include "ingester/persist/object_store.h"

#include <arrow/buffer.h>
#include <arrow/filesystem/api.h>
#include <arrow/filesystem/s3fs.h>
#include <arrow/io/interfaces.h>
#include <arrow/util/io_util.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "ingester/common/error.h"
#include "ingester/common/uuid.h"
#include "ingester/persist/persist_error.h"

namespace ingester::persist {

namespace {

constexpr std::string_view kFileScheme = "file://";
constexpr std::string_view kS3Scheme = "s3://";
constexpr std::string_view kTempPrefix = ".tmp-";

std::mt19937_64& ThreadRng() {
  thread_local std::mt19937_64 rng = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  return rng;
}

// With the errno as the status detail, so that ClassifyPersistError can tell a
// permission error from a transient one.
arrow::Status ErrnoError(const std::string& what, const std::string& path,
                         int errnum = errno) {
  return arrow::internal::IOErrorFromErrno(errnum, what, " '", path,
                                           "': ", std::strerror(errnum));
}

// Object paths: relative, '/'-separated, no empty, '.' or '..' parts.
arrow::Status ValidatePath(std::string_view path, bool allow_empty) {
  if (path.empty()) {
    return allow_empty ? arrow::Status::OK() : InvalidInput("empty object path");
  }
  size_t start = 0;
  while (true) {
    const size_t end = path.find('/', start);
    const std::string_view part = path.substr(
        start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (part.empty() || part == "." || part == ".." ||
        part.find('\0') != std::string_view::npos) {
      return InvalidInput("invalid object path '" + std::string(path) + "'");
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return arrow::Status::OK();
}

bool IsLoopbackHost(std::string_view host_port) {
  std::string_view host = host_port;
  if (host.starts_with("[")) {
    host = host.substr(1, host.find(']') - 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  return host == "localhost" || host.starts_with("127.") || host == "::1";
}

arrow::Status FsyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0) return ErrnoError("cannot fsync", path);
  return arrow::Status::OK();
}

}  // namespace

// --- retries -------------------------------------------------------------------------

arrow::Status RetryPolicy::Validate() const {
  if (initial_delay.count() < 0 || max_delay < initial_delay) {
    return arrow::Status::Invalid("retry: need 0 <= initial_delay <= max_delay");
  }
  if (!(multiplier >= 1.0))
    return arrow::Status::Invalid("retry: multiplier must be >= 1");
  if (!(jitter >= 0.0 && jitter <= 1.0)) {
    return arrow::Status::Invalid("retry: jitter must be in [0, 1]");
  }
  if (max_attempts < 0) return arrow::Status::Invalid("retry: max_attempts must be >= 0");
  return arrow::Status::OK();
}

std::chrono::nanoseconds BackoffDelay(const RetryPolicy& policy, int retry,
                                      double uniform01) {
  const double initial =
      std::chrono::duration<double, std::nano>(policy.initial_delay).count();
  const double cap = std::chrono::duration<double, std::nano>(policy.max_delay).count();
  // min() before pow() overflows: multiplier^(retry-1) may be inf, which min() caps.
  const double base = std::min(cap, initial * std::pow(policy.multiplier, retry - 1));
  const double jittered = base * (1.0 - policy.jitter * uniform01);
  return std::chrono::nanoseconds(static_cast<int64_t>(jittered));
}

bool IsTransientError(const arrow::Status& status) {
  if (status.ok()) return false;
  if (const auto kind = ErrorKindOf(status)) return *kind == ErrorKind::kRetryable;
  if (IsPermanentPersistError(status)) return false;
  return status.IsIOError() || status.IsUnknownError();
}

arrow::Status RetryWithBackoff(const RetryPolicy& policy, std::string_view what,
                               const std::function<arrow::Status()>& op,
                               std::stop_token stop, RetryStats* stats,
                               const RetryablePredicate& retryable) {
  ARROW_RETURN_NOT_OK(policy.Validate());
  RetryStats local;
  if (stats == nullptr) stats = &local;
  for (int attempt = 1;; ++attempt) {
    ++stats->attempts;
    arrow::Status st = op();
    if (st.ok()) return st;
    stats->last_error = st;
    if (policy.TEST_on_failure) policy.TEST_on_failure(attempt, st);
    if (!retryable(st)) return st;
    if (policy.max_attempts > 0 && attempt >= policy.max_attempts) {
      spdlog::warn("{} failed (attempt {} of {}), giving up: {}", what, attempt,
                   policy.max_attempts, st.ToString());
      return st.WithMessage(st.message(), " (gave up after ", attempt, " attempts)");
    }
    if (stop.stop_requested()) {
      return st.WithMessage(st.message(), " (stopped before retrying)");
    }
    const auto delay = BackoffDelay(policy, attempt,
                                    std::uniform_real_distribution<>(0, 1)(ThreadRng()));
    spdlog::warn("{} failed (attempt {}), retrying in {} ms: {}", what, attempt,
                 std::chrono::duration_cast<std::chrono::milliseconds>(delay).count(),
                 st.ToString());
    // Sleep, but wake at once for a stop request.
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock<std::mutex> lock(mu);
    const auto start = std::chrono::steady_clock::now();
    cv.wait_for(lock, stop, delay, [] { return false; });
    stats->backoff += std::chrono::steady_clock::now() - start;
    if (stop.stop_requested()) {
      return st.WithMessage(st.message(), " (stopped before retrying)");
    }
  }
}

// --- object store ----------------------------------------------------------------------

arrow::Status ObjectStoreOptions::Validate() const {
  if (!url.starts_with(kFileScheme) && !url.starts_with(kS3Scheme)) {
    return InvalidInput("object store URL '" + url +
                        "' is not file://DIR or s3://BUCKET[/PREFIX]");
  }
  if (s3_access_key_id.empty() != s3_secret_access_key.empty()) {
    return InvalidInput(
        "object store: give both the S3 access key id and secret, or neither");
  }
  if (s3_sdk_max_attempts < 1)
    return InvalidInput("object store: s3_sdk_max_attempts must be >= 1");
  const arrow::Status retry_ok = retry.Validate();
  if (!retry_ok.ok()) return InvalidInput("object store: " + retry_ok.message());
  return arrow::Status::OK();
}

arrow::Result<std::unique_ptr<ObjectStore>> ObjectStore::Make(
    const ObjectStoreOptions& options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  if (options.url.starts_with(kFileScheme)) {
    const std::string dir = options.url.substr(kFileScheme.size());
    if (dir.empty())
      return InvalidInput("object store URL '" + options.url + "' has no directory");
    std::error_code ec;
    const auto root = std::filesystem::absolute(dir, ec).lexically_normal();
    if (ec) return InvalidInput("object store directory '" + dir + "': " + ec.message());
    std::filesystem::create_directories(root, ec);
    if (ec) {
      return arrow::Status::IOError("cannot create object store directory '",
                                    root.string(), "': ", ec.message());
    }
    std::string root_text = root.string();
    while (root_text.size() > 1 && root_text.ends_with('/')) root_text.pop_back();
    auto fs = std::make_shared<arrow::fs::SubTreeFileSystem>(
        root_text, std::make_shared<arrow::fs::LocalFileSystem>());
    return std::unique_ptr<ObjectStore>(
        new ObjectStore(options, std::move(fs), root_text));
  }

  // s3://bucket[/prefix]
  std::string rest = options.url.substr(kS3Scheme.size());
  while (rest.ends_with('/')) rest.pop_back();
  const size_t slash = rest.find('/');
  const std::string bucket = rest.substr(0, slash);
  const std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (bucket.empty())
    return InvalidInput("object store URL '" + options.url + "' has no bucket");
  if (!prefix.empty()) {
    const arrow::Status st = ValidatePath(prefix, false);
    if (!st.ok())
      return InvalidInput("object store URL '" + options.url + "': bad prefix");
  }
  ARROW_RETURN_NOT_OK(arrow::fs::EnsureS3Initialized());
  arrow::fs::S3Options s3;
  if (!options.s3_access_key_id.empty()) {
    s3.ConfigureAccessKey(options.s3_access_key_id, options.s3_secret_access_key);
  } else {
    s3.ConfigureDefaultCredentials();
  }
  s3.region = options.s3_region;
  std::string endpoint = options.s3_endpoint;
  if (endpoint.starts_with("http://")) {
    s3.scheme = "http";
    endpoint = endpoint.substr(7);
  } else if (endpoint.starts_with("https://")) {
    s3.scheme = "https";
    endpoint = endpoint.substr(8);
  } else if (!endpoint.empty()) {
    s3.scheme = IsLoopbackHost(endpoint) ? "http" : "https";
  }
  while (endpoint.ends_with('/')) endpoint.pop_back();
  s3.endpoint_override = endpoint;
  s3.connect_timeout = options.s3_connect_timeout;
  s3.request_timeout = options.s3_request_timeout;
  s3.allow_bucket_creation = options.s3_create_bucket;
  // Small objects in one PutObject instead of a multipart upload started at open.
  s3.allow_delayed_open = true;
  s3.retry_strategy = arrow::fs::S3RetryStrategy::GetAwsStandardRetryStrategy(
      options.s3_sdk_max_attempts);
  ARROW_ASSIGN_OR_RAISE(auto s3fs, arrow::fs::S3FileSystem::Make(s3));
  if (options.s3_create_bucket) {
    // Retried: two stores creating one bucket at once can see the other's creation fail
    // or half-done (SeaweedFS answers 404 to a CreateBucket racing another).
    ARROW_RETURN_NOT_OK(RetryWithBackoff(
        options.retry, "creating bucket " + bucket, [&]() -> arrow::Status {
          ARROW_ASSIGN_OR_RAISE(auto info, s3fs->GetFileInfo(bucket));
          if (info.type() != arrow::fs::FileType::NotFound) return arrow::Status::OK();
          return s3fs->CreateDir(bucket);
        }));
  }
  const std::string base = prefix.empty() ? bucket : bucket + "/" + prefix;
  auto fs = std::make_shared<arrow::fs::SubTreeFileSystem>(base, std::move(s3fs));
  return std::unique_ptr<ObjectStore>(new ObjectStore(options, std::move(fs), ""));
}

ObjectStore::ObjectStore(ObjectStoreOptions options,
                         std::shared_ptr<arrow::fs::FileSystem> fs,
                         std::string local_root)
    : options_(std::move(options)),
      fs_(std::move(fs)),
      local_root_(std::move(local_root)) {}

ObjectStore::~ObjectStore() = default;

arrow::Status ObjectStore::PutLocal(const std::string& path, const arrow::Buffer& data) {
  const std::filesystem::path target = std::filesystem::path(local_root_) / path;
  const std::filesystem::path dir = target.parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoError("cannot create directory", dir.string(), ec.value());
  const std::string temp = (dir / (std::string(kTempPrefix) + GenerateUuidV4())).string();
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", temp);
  auto fail = [&](const std::string& what) {
    const arrow::Status st = ErrnoError(what, temp);
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    return st;
  };
  const uint8_t* p = data.data();
  int64_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, static_cast<size_t>(left));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    p += n;
    left -= n;
  }
  if (::fsync(fd) != 0) return fail("cannot fsync");
  if (::close(fd) != 0) {
    const arrow::Status st = ErrnoError("cannot close", temp);
    ::unlink(temp.c_str());
    return st;
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    const arrow::Status st = ErrnoError("cannot rename to " + target.string(), temp);
    ::unlink(temp.c_str());
    return st;
  }
  // The rename is durable once the directory is.
  return FsyncPath(dir.string(), O_RDONLY | O_DIRECTORY);
}

arrow::Status ObjectStore::Put(std::string_view path,
                               const std::shared_ptr<arrow::Buffer>& data) {
  ARROW_RETURN_NOT_OK(ValidatePath(path, false));
  const std::string p(path);
  if (is_local()) return PutLocal(p, *data);
  ARROW_ASSIGN_OR_RAISE(auto out, fs_->OpenOutputStream(p));
  arrow::Status st = out->Write(data);
  if (st.ok()) st = out->Close();
  if (!st.ok()) {
    // Nothing was published: a multipart upload is aborted, a single PUT never sent.
    (void)out->Abort();
    return st.WithMessage("cannot put '", p, "' to ", options_.url, ": ", st.message());
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::Buffer>> ObjectStore::Get(std::string_view path) {
  ARROW_RETURN_NOT_OK(ValidatePath(path, false));
  const std::string p(path);
  auto file = fs_->OpenInputFile(p);
  if (!file.ok()) {
    auto info = fs_->GetFileInfo(p);
    if (info.ok() && info->type() == arrow::fs::FileType::NotFound) {
      return NotFound("no object '" + p + "' in " + options_.url);
    }
    return file.status();
  }
  ARROW_ASSIGN_OR_RAISE(const int64_t size, (*file)->GetSize());
  ARROW_ASSIGN_OR_RAISE(auto data, (*file)->ReadAt(0, size));
  ARROW_RETURN_NOT_OK((*file)->Close());
  if (data->size() != size) {
    return arrow::Status::IOError("short read of '", p, "': ", data->size(), " of ", size,
                                  " bytes");
  }
  return data;
}

arrow::Status ObjectStore::Delete(std::string_view path) {
  ARROW_RETURN_NOT_OK(ValidatePath(path, false));
  const std::string p(path);
  const arrow::Status st = fs_->DeleteFile(p);
  if (st.ok()) return st;
  auto info = fs_->GetFileInfo(p);
  if (info.ok() && info->type() == arrow::fs::FileType::NotFound)
    return arrow::Status::OK();
  return st;
}

arrow::Result<std::vector<ObjectInfo>> ObjectStore::List(std::string_view prefix) {
  std::string base(prefix);
  while (base.ends_with('/')) base.pop_back();
  ARROW_RETURN_NOT_OK(ValidatePath(base, true));
  arrow::fs::FileSelector selector;
  selector.base_dir = base;
  selector.recursive = true;
  selector.allow_not_found = true;
  ARROW_ASSIGN_OR_RAISE(auto infos, fs_->GetFileInfo(selector));
  std::vector<ObjectInfo> objects;
  for (const auto& info : infos) {
    if (info.type() != arrow::fs::FileType::File) continue;
    if (info.base_name().starts_with(kTempPrefix)) continue;
    std::string path = info.path();
    while (path.starts_with('/')) path.erase(0, 1);
    objects.push_back({std::move(path), info.size()});
  }
  std::sort(objects.begin(), objects.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.path < b.path; });
  return objects;
}

arrow::Status ObjectStore::PutWithRetry(std::string_view path,
                                        const std::shared_ptr<arrow::Buffer>& data,
                                        std::stop_token stop, RetryStats* stats) {
  return RetryWithBackoff(
      options_.retry, "upload of " + std::string(path) + " to " + options_.url,
      [&] { return Put(path, data); }, stop, stats);
}

arrow::Status ObjectStore::DeleteWithRetry(std::string_view path, std::stop_token stop,
                                           RetryStats* stats) {
  return RetryWithBackoff(
      options_.retry, "delete of " + std::string(path) + " from " + options_.url,
      [&] { return Delete(path); }, stop, stats);
}

arrow::Status FinalizeObjectStores() {
  if (arrow::fs::IsS3Initialized() && !arrow::fs::IsS3Finalized()) {
    return arrow::fs::FinalizeS3();
  }
  return arrow::Status::OK();
}

}  // namespace ingester::persist
