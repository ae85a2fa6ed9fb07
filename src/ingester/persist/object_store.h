// Where Parquet files go: an arrow::fs::FileSystem rooted at a prefix, chosen by URL.
//
//   file://DIR            a local directory (created if missing); relative DIRs are
//                         resolved against the working directory
//   s3://BUCKET[/PREFIX]  an S3-compatible store (AWS, MinIO, SeaweedFS, ...); endpoint,
//                         region and credentials come from the options
//
// Paths are relative to the root, '/'-separated, without '.', '..' or empty parts; the
// persist job uses "<namespace id>/<table id>/<partition id>/<uuid>.parquet".
//
// Put is atomic: a reader sees no object or the whole new one, never a torn file.
//  - local: the bytes go to a hidden temp file ".tmp-<uuid>" in the target directory,
//    which is fsynced, renamed over the target, and the directory fsynced, so the object
//    survives a power cut once Put returns (the WAL is deleted after a persist, so the
//    file must be durable before the catalog points at it);
//  - S3: one output stream, opened lazily (S3Options::allow_delayed_open) and closed at
//    the end: an object smaller than the stream's part size (10 MiB) goes in a single
//    PutObject, a larger one in a multipart upload that S3 only exposes when it
//    completes (and that Put aborts on failure).
//
// Failures are retried with exponential back-off and jitter by the *WithRetry calls
// (RetryPolicy below), each failure logged at WARN. Thread-safe: an ObjectStore may be
// used from any number of threads.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>
#include <arrow/type_fwd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace arrow::fs {
class FileSystem;
}

namespace ingester::persist {

// --- retries -------------------------------------------------------------------------

// Exponential back-off with jitter: before retry n (n = 1, 2, ...), wait
//   d_n = min(max_delay, initial_delay * multiplier^(n-1)),  jittered to U[(1-jitter)
//   d_n, d_n].
// The jitter keeps many workers that failed together from retrying together.
struct RetryPolicy {
  std::chrono::milliseconds initial_delay{100};
  std::chrono::milliseconds max_delay{10'000};
  double multiplier = 2.0;
  // Fraction of each delay that is random, in [0, 1].
  double jitter = 0.5;
  // Attempts in all, the first included; 0 retries until success or a stop request
  // (IOx's choice for persist: data stays buffered and the WAL kept until it succeeds).
  int max_attempts = 0;
  // Test hook, called after each failed attempt (1-based) with its error, before the
  // decision to retry.
  std::function<void(int attempt, const arrow::Status& error)> TEST_on_failure = nullptr;

  arrow::Status Validate() const;
};

struct RetryStats {
  int attempts = 0;
  std::chrono::nanoseconds backoff{0};
  arrow::Status last_error;
};

// The delay before retry `retry` (1-based) with `uniform01` a draw from U[0, 1).
std::chrono::nanoseconds BackoffDelay(const RetryPolicy& policy, int retry,
                                      double uniform01);

// Whether an error is worth retrying: transient I/O (IOError, UnknownError) and errors
// marked ErrorKind::kRetryable. Permanent errors (persist_error.h: permission, read-only
// file system, not a directory, missing bucket), input errors, conflicts, NotFound,
// OutOfMemory and Cancelled are not.
bool IsTransientError(const arrow::Status& status);

using RetryablePredicate = std::function<bool(const arrow::Status&)>;

// Runs `op` until it succeeds, fails with an error `retryable` rejects, the policy's
// attempts run out, or `stop` is requested (then the last error is returned, its
// message saying so). Each failure is logged at WARN naming `what`, the attempt and the
// delay. `stats` may be null.
arrow::Status RetryWithBackoff(const RetryPolicy& policy, std::string_view what,
                               const std::function<arrow::Status()>& op,
                               std::stop_token stop = {}, RetryStats* stats = nullptr,
                               const RetryablePredicate& retryable = IsTransientError);

// --- object store ----------------------------------------------------------------------

struct ObjectStoreOptions {
  std::string url = "file://./data/objects";
  // S3 only. Endpoint of an S3-compatible server, "http://127.0.0.1:8333" or
  // "host:port"; empty means AWS. Without a scheme, loopback hosts use http and others
  // https.
  std::string s3_endpoint;
  std::string s3_region;  // empty: the SDK's default
  // Both empty: the AWS default credential chain (environment, profile, instance role).
  std::string s3_access_key_id;
  std::string s3_secret_access_key;
  // Seconds; negative means the SDK's default.
  double s3_connect_timeout = -1;
  double s3_request_timeout = -1;
  // Create the bucket at Make if it does not exist (tests, local setups).
  bool s3_create_bucket = false;
  // Attempts the AWS SDK makes per request before reporting a failure. 1 by default:
  // RetryPolicy is the one retry layer, so every failure is logged and backs off.
  int s3_sdk_max_attempts = 1;
  // The policy of the *WithRetry calls.
  RetryPolicy retry;

  arrow::Status Validate() const;
};

struct ObjectInfo {
  std::string path;  // relative to the store's root
  int64_t size = 0;

  bool operator==(const ObjectInfo&) const = default;
};

class ObjectStore {
 public:
  // Parses the URL and builds the filesystem. For S3 the SDK is initialised on first
  // use (arrow::fs::EnsureS3Initialized); no request is made unless s3_create_bucket.
  // InvalidInput for a malformed URL or options.
  static arrow::Result<std::unique_ptr<ObjectStore>> Make(
      const ObjectStoreOptions& options);
  ~ObjectStore();
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  // Writes `data` as the object `path`, atomically (see the top of the file), replacing
  // any object there.
  arrow::Status Put(std::string_view path, const std::shared_ptr<arrow::Buffer>& data);
  // The whole object; NotFound (common/error.h) when there is none.
  arrow::Result<std::shared_ptr<arrow::Buffer>> Get(std::string_view path);
  // Removes the object; removing a missing object succeeds.
  arrow::Status Delete(std::string_view path);
  // Every object whose path starts with the directory `prefix` ("" for all, "1/2" for
  // everything under 1/2/), recursively, sorted by path. Temp files of unfinished
  // local Puts are not listed.
  arrow::Result<std::vector<ObjectInfo>> List(std::string_view prefix = "");

  // Put / Delete retried per options().retry on transient errors.
  arrow::Status PutWithRetry(std::string_view path,
                             const std::shared_ptr<arrow::Buffer>& data,
                             std::stop_token stop = {}, RetryStats* stats = nullptr);
  arrow::Status DeleteWithRetry(std::string_view path, std::stop_token stop = {},
                                RetryStats* stats = nullptr);

  // The filesystem rooted at the store's prefix (for readers and tools).
  const std::shared_ptr<arrow::fs::FileSystem>& filesystem() const { return fs_; }
  // The URL without credentials, for logs.
  const std::string& url() const { return options_.url; }
  bool is_local() const { return !local_root_.empty(); }
  const ObjectStoreOptions& options() const { return options_; }

 private:
  ObjectStore(ObjectStoreOptions options, std::shared_ptr<arrow::fs::FileSystem> fs,
              std::string local_root);
  arrow::Status PutLocal(const std::string& path, const arrow::Buffer& data);

  const ObjectStoreOptions options_;
  std::shared_ptr<arrow::fs::FileSystem> fs_;
  // The absolute root directory for file:// stores; empty for S3.
  const std::string local_root_;
};

// Finalises the S3 SDK if an ObjectStore initialised it. Call once at process exit after
// every S3 ObjectStore (and every filesystem() handed out) is destroyed; a no-op
// otherwise. Arrow requires it: the SDK may crash at exit if left initialised.
arrow::Status FinalizeObjectStores();

}  // namespace ingester::persist
