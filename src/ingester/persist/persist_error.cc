#include "ingester/persist/persist_error.h"

#include <arrow/util/io_util.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <string>

#include "ingester/common/error.h"

namespace ingester::persist {

namespace {

constexpr std::string_view kPermissionRemedy =
    "give the ingester's user write access to the object store (directory permissions, "
    "or the S3 credentials and bucket policy)";
constexpr std::string_view kReadOnlyRemedy =
    "remount the object store's file system read-write or point --object-store "
    "elsewhere";
constexpr std::string_view kNotADirectoryRemedy =
    "remove or move the file that stands where the object store expects a directory";
constexpr std::string_view kNoBucketRemedy =
    "create the bucket named in --object-store (or fix the URL)";
constexpr std::string_view kInvalidDataRemedy =
    "the buffered data cannot be written as Parquet; report it with the log line (the "
    "WAL keeps the writes)";

constexpr PersistErrorClass Permanent(std::string_view reason, std::string_view remedy) {
  return {PersistErrorKind::kPermanent, reason, remedy};
}
constexpr PersistErrorClass Transient(std::string_view reason) {
  return {PersistErrorKind::kTransient, reason, {}};
}

std::optional<PersistErrorClass> FromErrno(int errnum) {
  switch (errnum) {
    case EACCES:
    case EPERM:
      return Permanent("permission", kPermissionRemedy);
    case EROFS:
      return Permanent("read_only", kReadOnlyRemedy);
    case ENOTDIR:
    case EISDIR:
      return Permanent("not_a_directory", kNotADirectoryRemedy);
    case ENOSPC:
    case EDQUOT:
      return Transient("no_space");
    case 0:
      return std::nullopt;
    default:
      return Transient("io");
  }
}

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// For errors that come only as text: S3 (Arrow writes "AWS Error <NAME> during <op>
// operation: <message>", or "AWS Error UNKNOWN (HTTP status 404) ..."), and strerror
// strings in messages built without an errno detail.
std::optional<PersistErrorClass> FromMessage(const std::string& message) {
  std::string lower(message);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (Contains(message, "NO_SUCH_BUCKET") || Contains(lower, "nosuchbucket") ||
      Contains(lower, "bucket does not exist")) {
    return Permanent("no_bucket", kNoBucketRemedy);
  }
  if (Contains(message, "ACCESS_DENIED") || Contains(message, "INVALID_ACCESS_KEY_ID") ||
      Contains(message, "SIGNATURE_DOES_NOT_MATCH") || Contains(lower, "accessdenied") ||
      Contains(lower, "http status 403") || Contains(lower, "permission denied") ||
      Contains(lower, "operation not permitted")) {
    return Permanent("permission", kPermissionRemedy);
  }
  if (Contains(lower, "read-only file system")) {
    return Permanent("read_only", kReadOnlyRemedy);
  }
  if (Contains(lower, "not a directory") || Contains(lower, "is a directory")) {
    return Permanent("not_a_directory", kNotADirectoryRemedy);
  }
  if (Contains(lower, "no space left") || Contains(lower, "quota exceeded")) {
    return Transient("no_space");
  }
  if (Contains(message, "AWS Error") || Contains(lower, "curl") ||
      Contains(lower, "connection")) {
    return Transient("network");
  }
  return std::nullopt;
}

}  // namespace

PersistErrorClass ClassifyPersistError(const arrow::Status& status) {
  if (status.ok()) return Transient("other");
  if (status.IsCancelled()) return {PersistErrorKind::kCancelled, "cancelled", {}};
  if (const auto kind = ErrorKindOf(status)) {
    switch (*kind) {
      case ErrorKind::kRetryable:
        return Transient("catalog");
      case ErrorKind::kInvalidInput:
        return Permanent("invalid_data", kInvalidDataRemedy);
      case ErrorKind::kBackpressure:
        return Transient("memory");
      default:
        // Conflicts and lookups the catalog may answer differently next time.
        return Transient("catalog");
    }
  }
  if (const auto from_errno = FromErrno(arrow::internal::ErrnoFromStatus(status))) {
    return *from_errno;
  }
  if (const auto from_text = FromMessage(status.message())) return *from_text;
  switch (status.code()) {
    case arrow::StatusCode::Invalid:
    case arrow::StatusCode::TypeError:
    case arrow::StatusCode::CapacityError:
    case arrow::StatusCode::IndexError:
    case arrow::StatusCode::KeyError:
    case arrow::StatusCode::NotImplemented:
    case arrow::StatusCode::SerializationError:
      return Permanent("invalid_data", kInvalidDataRemedy);
    case arrow::StatusCode::OutOfMemory:
      return Transient("memory");
    case arrow::StatusCode::IOError:
      return Transient("io");
    default:
      return Transient("other");
  }
}

std::string_view PersistErrorKindName(PersistErrorKind kind) {
  switch (kind) {
    case PersistErrorKind::kTransient:
      return "transient";
    case PersistErrorKind::kPermanent:
      return "permanent";
    case PersistErrorKind::kCancelled:
      return "cancelled";
  }
  return "transient";
}

}  // namespace ingester::persist
