#include "ingester/common/error.h"

#include <optional>

namespace ingester {

std::string IngesterErrorDetail::ToString() const {
  switch (kind_) {
    case ErrorKind::kInvalidInput:
      return "invalid input";
    case ErrorKind::kNotFound:
      return "not found";
    case ErrorKind::kConflict:
      return "conflict";
    case ErrorKind::kLimit:
      return "limit exceeded";
    case ErrorKind::kTooLarge:
      return "too large";
    case ErrorKind::kBackpressure:
      return "backpressure";
    case ErrorKind::kRetryable:
      return "retryable";
    case ErrorKind::kDataLoss:
      return "data loss";
  }
  return "unknown";
}

arrow::Status MakeError(ErrorKind kind, arrow::StatusCode code, std::string message) {
  return arrow::Status(code, std::move(message),
                       std::make_shared<IngesterErrorDetail>(kind));
}

arrow::Status InvalidInput(std::string message) {
  return MakeError(ErrorKind::kInvalidInput, arrow::StatusCode::Invalid,
                   std::move(message));
}
arrow::Status NotFound(std::string message) {
  return MakeError(ErrorKind::kNotFound, arrow::StatusCode::KeyError, std::move(message));
}
arrow::Status Conflict(std::string message) {
  return MakeError(ErrorKind::kConflict, arrow::StatusCode::TypeError,
                   std::move(message));
}
arrow::Status LimitExceeded(std::string message) {
  return MakeError(ErrorKind::kLimit, arrow::StatusCode::CapacityError,
                   std::move(message));
}
arrow::Status Backpressure(std::string message) {
  return MakeError(ErrorKind::kBackpressure, arrow::StatusCode::Cancelled,
                   std::move(message));
}
arrow::Status DataLoss(std::string message) {
  return MakeError(ErrorKind::kDataLoss, arrow::StatusCode::IOError, std::move(message));
}

std::optional<ErrorKind> ErrorKindOf(const arrow::Status& status) {
  const auto& detail = status.detail();
  if (detail == nullptr ||
      detail->type_id() != std::string_view(IngesterErrorDetail::kTypeId)) {
    return std::nullopt;
  }
  return static_cast<const IngesterErrorDetail&>(*detail).kind();
}

}  // namespace ingester
