#include "ingester/catalog/names.h"

#include <cstdint>
#include <string>

#include "ingester/common/error.h"

namespace ingester::catalog {

namespace {

// Length of the well-formed UTF-8 sequence starting at bytes[i], or 0 if the bytes
// there are not one (RFC 3629: shortest form, no surrogates, at most U+10FFFF).
size_t Utf8SequenceLength(std::string_view bytes, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(bytes[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t len;
  uint8_t lo = 0x80;
  uint8_t hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // UTF-16 surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > bytes.size()) return 0;
  const uint8_t b1 = byte(i + 1);
  if (b1 < lo || b1 > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    const uint8_t b = byte(i + k);
    if (b < 0x80 || b > 0xBF) return 0;
  }
  return len;
}

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
