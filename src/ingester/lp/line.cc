#include "ingester/lp/line.h"

#include "ingester/common/text_bytes.h"
#include "ingester/lp/format.h"

namespace ingester::lp {

std::string_view FieldTypeName(FieldType type) {
  switch (type) {
    case FieldType::kFloat:
      return "float";
    case FieldType::kInteger:
      return "integer";
    case FieldType::kUnsigned:
      return "unsigned";
    case FieldType::kBoolean:
      return "boolean";
    case FieldType::kString:
      return "string";
  }
  return "?";
}

bool SameKeys(const ParsedLine& a, const ParsedLine& b) {
  if (a.tags.size() != b.tags.size() || a.fields.size() != b.fields.size()) return false;
  for (size_t i = 0; i < a.tags.size(); ++i) {
    if (!SameText(a.tags[i].key, b.tags[i].key)) return false;
  }
  for (size_t i = 0; i < a.fields.size(); ++i) {
    if (a.fields[i].type != b.fields[i].type ||
        !SameText(a.fields[i].key, b.fields[i].key)) {
      return false;
    }
  }
  return true;
}

bool Field::operator==(const Field& other) const {
  if (key != other.key || type != other.type) return false;
  switch (type) {
    case FieldType::kFloat:
      return f64 == other.f64;
    case FieldType::kInteger:
      return i64 == other.i64;
    case FieldType::kUnsigned:
      return u64 == other.u64;
    case FieldType::kBoolean:
      return boolean == other.boolean;
    case FieldType::kString:
      return str == other.str;
  }
  return false;
}

std::string Field::ToString() const {
  std::string out;
  AppendFieldKey(key, &out);
  out += '=';
  AppendFieldValue(*this, &out);
  return out;
}

std::string LineError::ToString() const {
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " +
         message;
}

}  // namespace ingester::lp
