// Which persist failures are worth retrying.
//
// A persist fails for one of two kinds of reasons:
//   transient  the same job may succeed later without anyone acting: network errors,
//              5xx and throttling answers, timeouts, EIO, a full disk or quota (space
//              can be freed, and is by the persists that do succeed), memory pressure,
//              a busy or briefly unavailable catalog. Retried with capped exponential
//              back-off and jitter, for ever (until shutdown).
//   permanent  the job cannot succeed until an operator changes something: permission
//              denied (local EACCES/EPERM, S3 AccessDenied, bad credentials), a
//              read-only file system, a missing bucket, a regular file where the object
//              store expects a directory, or data that cannot be encoded (an Invalid,
//              TypeError, ... status from compaction or the Parquet writer). Not
//              retried: logged once at ERROR, counted, reported by /health; the data
//              stays buffered and in the WAL, so a restart after the fix persists it.
//   cancelled  a stop request ended the job (shutdown); neither of the above.
//
// The classification looks, in order, at: a Cancelled code; the ErrorKind detail
// (common/error.h: kRetryable is transient, kInvalidInput permanent); the errno an
// arrow::fs or ObjectStore error carries (arrow::internal::ErrnoDetail); the text of
// the message for what only comes as text (the AWS error names Arrow's S3 filesystem
// writes as "AWS Error NO_SUCH_BUCKET during ...", strerror strings); then the status
// code. Anything unrecognised is transient: a wrong "transient" costs log lines and
// retries, a wrong "permanent" leaves data buffered until a restart.
#pragma once

#include <arrow/status.h>

#include <string_view>

namespace ingester::persist {

enum class PersistErrorKind { kTransient, kPermanent, kCancelled };

struct PersistErrorClass {
  PersistErrorKind kind = PersistErrorKind::kTransient;
  // A short, stable token for logs and metric labels: "permission", "read_only",
  // "not_a_directory", "no_bucket", "invalid_data", "no_space", "io", "network",
  // "memory", "catalog", "cancelled", "other".
  std::string_view reason = "other";
  // For permanent errors: what the operator can do (one sentence); empty otherwise.
  std::string_view remedy;
};

PersistErrorClass ClassifyPersistError(const arrow::Status& status);

inline bool IsPermanentPersistError(const arrow::Status& status) {
  return ClassifyPersistError(status).kind == PersistErrorKind::kPermanent;
}

std::string_view PersistErrorKindName(PersistErrorKind kind);

}  // namespace ingester::persist
