#include "ingester/lp/format.h"

#include <charconv>

namespace ingester::lp {

namespace {

template <typename IsSpecial>
void AppendEscaped(std::string_view text, IsSpecial is_special, std::string* out) {
  for (char c : text) {
    if (is_special(c)) *out += '\\';
    *out += c;
  }
}

bool IsKeySpecial(char c) { return c == ',' || c == '=' || c == ' ' || c == '\\'; }

template <typename T>
void AppendNumber(T value, std::string* out) {
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, result.ptr);
}

}  // namespace

void AppendMeasurement(std::string_view measurement, std::string* out) {
  AppendEscaped(
      measurement, [](char c) { return c == ',' || c == ' ' || c == '\\'; }, out);
}

void AppendTagKey(std::string_view key, std::string* out) {
  AppendEscaped(key, IsKeySpecial, out);
}

void AppendTagValue(std::string_view value, std::string* out) {
  AppendEscaped(value, IsKeySpecial, out);
}

void AppendFieldKey(std::string_view key, std::string* out) {
  AppendEscaped(key, IsKeySpecial, out);
}

void AppendFieldValue(const Field& field, std::string* out) {
  switch (field.type) {
    case FieldType::kFloat:
      AppendNumber(field.f64, out);
      return;
    case FieldType::kInteger:
      AppendNumber(field.i64, out);
      *out += 'i';
      return;
    case FieldType::kUnsigned:
      AppendNumber(field.u64, out);
      *out += 'u';
      return;
    case FieldType::kBoolean:
      *out += field.boolean ? "true" : "false";
      return;
    case FieldType::kString:
      *out += '"';
      AppendEscaped(
          field.str, [](char c) { return c == '"' || c == '\\'; }, out);
      *out += '"';
      return;
  }
}

void AppendLine(const ParsedLine& line, std::string* out) {
  AppendMeasurement(line.measurement, out);
  for (const Tag& tag : line.tags) {
    *out += ',';
    AppendTagKey(tag.key, out);
    *out += '=';
    AppendTagValue(tag.value, out);
  }
  char separator = ' ';
  for (const Field& field : line.fields) {
    *out += separator;
    separator = ',';
    AppendFieldKey(field.key, out);
    *out += '=';
    AppendFieldValue(field, out);
  }
  *out += ' ';
  AppendNumber(line.timestamp_ns, out);
}

std::string FormatLine(const ParsedLine& line) {
  std::string out;
  AppendLine(line, &out);
  return out;
}

}  // namespace ingester::lp
