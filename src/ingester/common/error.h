// Extra meaning carried by an arrow::Status, so that a server can map an error to a
// protocol status (HTTP code, gRPC code) without parsing messages.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <arrow/status.h>

namespace ingester {

enum class ErrorKind {
  kInvalidInput,  // the client sent something malformed (HTTP 400)
  kNotFound,      // an unknown namespace or table (404 / NOT_FOUND)
  kConflict,      // a column type conflicts with the catalog (400)
  kLimit,         // a namespace limit (tables, columns) was reached (422)
  kTooLarge,      // a request body over the configured size (413)
  kBackpressure,  // try again later: persist saturated, disk full, shutting down (503)
  kRetryable,     // a transient failure of a dependency (object store, catalog)
  kDataLoss,      // on-disk data is corrupt
};

class IngesterErrorDetail : public arrow::StatusDetail {
 public:
  explicit IngesterErrorDetail(ErrorKind kind) : kind_(kind) {}
  static constexpr const char* kTypeId = "ingester::IngesterErrorDetail";
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override;
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// A status of `code` with `message` that carries `kind`.
arrow::Status MakeError(ErrorKind kind, arrow::StatusCode code, std::string message);
arrow::Status InvalidInput(std::string message);
arrow::Status NotFound(std::string message);
arrow::Status Conflict(std::string message);
arrow::Status LimitExceeded(std::string message);
arrow::Status Backpressure(std::string message);
arrow::Status DataLoss(std::string message);

// The kind a status carries, if any.
std::optional<ErrorKind> ErrorKindOf(const arrow::Status& status);

}  // namespace ingester
