#include "ingester/catalog/names.h"

#include <cstdint>
#include <string>

#include "ingester/common/error.h"
#include "ingester/common/utf8.h"

namespace ingester::catalog {

namespace {

bool IsControl(char c) {
  const auto b = static_cast<uint8_t>(c);
  return b < 0x20 || b == 0x7F;
}

std::string HexByte(char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const auto b = static_cast<uint8_t>(c);
  return std::string("0x") + kHex[b >> 4] + kHex[b & 0xF];
}

arrow::Status Invalid(std::string_view what, std::string_view name,
                      std::string_view why) {
  return InvalidInput(std::string("invalid ") + std::string(what) + " name " +
                      QuoteForMessage(name) + ": " + std::string(why));
}

// The rules shared by table and column names.
arrow::Status ValidateTextName(std::string_view what, std::string_view name,
                               size_t max_bytes, bool allow_slash) {
  if (name.empty()) return Invalid(what, name, "must not be empty");
  if (name.size() > max_bytes) {
    return Invalid(what, name,
                   std::to_string(name.size()) + " bytes is longer than the maximum of " +
                       std::to_string(max_bytes) + " bytes");
  }
  if (name == "." || name == "..")
    return Invalid(what, name, "must not be \".\" or \"..\"");
  for (size_t i = 0; i < name.size(); ++i) {
    if (IsControl(name[i])) {
      return Invalid(what, name,
                     "contains the control character " + HexByte(name[i]) + " at byte " +
                         std::to_string(i));
    }
    if (!allow_slash && name[i] == '/') {
      return Invalid(what, name, "contains '/' at byte " + std::to_string(i));
    }
  }
  if (!IsValidUtf8(name)) return Invalid(what, name, "is not valid UTF-8");
  return arrow::Status::OK();
}

}  // namespace

bool IsValidUtf8(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    const size_t len = Utf8SequenceLength(bytes, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string QuoteForMessage(std::string_view name, size_t max_bytes) {
  std::string out = "\"";
  size_t i = 0;
  while (i < name.size() && i < max_bytes) {
    const char c = name[i];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
      ++i;
      continue;
    }
    const size_t len = IsControl(c) ? 0 : Utf8SequenceLength(name, i);
    if (len == 0) {
      out += "\\x" + HexByte(c).substr(2);
      ++i;
    } else {
      out.append(name.substr(i, len));
      i += len;
    }
  }
  out += '"';
  if (i < name.size()) out += "... (" + std::to_string(name.size()) + " bytes)";
  return out;
}

arrow::Status ValidateNamespaceName(std::string_view name) {
  if (name.empty()) return Invalid("namespace", name, "must not be empty");
  if (name.size() > kMaxNamespaceNameLength) {
    return Invalid("namespace", name,
                   std::to_string(name.size()) +
                       " characters is longer than the maximum of " +
                       std::to_string(kMaxNamespaceNameLength));
  }
  if (name[0] == '.') return Invalid("namespace", name, "must not start with '.'");
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!ok) {
      return Invalid(
          "namespace", name,
          "byte " + std::to_string(i) + " is not one of A-Z, a-z, 0-9, '_', '-' and '.'");
    }
  }
  return arrow::Status::OK();
}

arrow::Status ValidateTableName(std::string_view name) {
  return ValidateTextName("table", name, kMaxTableNameBytes, /*allow_slash=*/false);
}

arrow::Status ValidateColumnName(std::string_view name) {
  return ValidateTextName("column", name, kMaxColumnNameBytes, /*allow_slash=*/true);
}

arrow::Status ValidateColumnSpec(const ColumnSpec& spec) {
  ARROW_RETURN_NOT_OK(ValidateColumnName(spec.name));
  const bool named_time = spec.name == kTimeColumnName;
  const bool typed_time = spec.type == ColumnType::kTime;
  if (named_time && !typed_time) {
    return InvalidInput("column \"time\" must have type time, not " +
                        std::string(ColumnTypeName(spec.type)));
  }
  if (typed_time && !named_time) {
    return InvalidInput(
        "column " + QuoteForMessage(spec.name) +
        " cannot have type time: the time column is always named \"time\"");
  }
  return arrow::Status::OK();
}

arrow::Status ValidatePartitionKey(std::string_view key) {
  if (key.empty()) return InvalidInput("invalid partition key \"\": must not be empty");
  if (key.size() > kMaxPartitionKeyBytes) {
    return InvalidInput("invalid partition key " + QuoteForMessage(key) + ": " +
                        std::to_string(key.size()) +
                        " bytes is longer than the maximum of " +
                        std::to_string(kMaxPartitionKeyBytes) + " bytes");
  }
  if (!IsValidUtf8(key)) {
    return InvalidInput("invalid partition key " + QuoteForMessage(key) +
                        ": is not valid UTF-8");
  }
  return arrow::Status::OK();
}

}  // namespace ingester::catalog
