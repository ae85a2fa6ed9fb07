// The parsed form of InfluxDB line protocol: one ParsedLine per good input line, one
// LineError per bad one. These are views: every std::string_view points either into the
// body the caller parsed or into the arena of the ParsedBody (lp/parser.h) that holds
// the line, so a line lives no longer than both of them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ingester::lp {

// The type of a field value as written on the wire: `1.5` and `1` are floats, `1i` an
// integer, `1u` an unsigned integer, `t`/`true`/... a boolean and `"..."` a string.
enum class FieldType : uint8_t { kFloat, kInteger, kUnsigned, kBoolean, kString };

// "float", "integer", "unsigned", "boolean", "string".
std::string_view FieldTypeName(FieldType type);

struct Tag {
  std::string_view key;
  std::string_view value;  // never empty

  bool operator==(const Tag&) const = default;
};

// A field: its key, its type and the one value member that type selects. Build it with
// the factories so the type and the value always agree.
struct Field {
  std::string_view key;
  FieldType type = FieldType::kFloat;
  union {
    double f64 = 0;  // kFloat: finite (NaN and infinities are rejected)
    int64_t i64;     // kInteger
    uint64_t u64;    // kUnsigned
    bool boolean;    // kBoolean
  };
  std::string_view str;  // kString: unescaped, valid UTF-8

  static Field Float(std::string_view key, double v) {
    Field f;
    f.key = key;
    f.type = FieldType::kFloat;
    f.f64 = v;
    return f;
  }
  static Field Integer(std::string_view key, int64_t v) {
    Field f;
    f.key = key;
    f.type = FieldType::kInteger;
    f.i64 = v;
    return f;
  }
  static Field Unsigned(std::string_view key, uint64_t v) {
    Field f;
    f.key = key;
    f.type = FieldType::kUnsigned;
    f.u64 = v;
    return f;
  }
  static Field Boolean(std::string_view key, bool v) {
    Field f;
    f.key = key;
    f.type = FieldType::kBoolean;
    f.boolean = v;
    return f;
  }
  static Field String(std::string_view key, std::string_view v) {
    Field f;
    f.key = key;
    f.type = FieldType::kString;
    f.str = v;
    return f;
  }

  // Same key, type and value (floats compare with ==, so 0.0 equals -0.0).
  bool operator==(const Field& other) const;
  // For test failure messages: `key=1.5`, `key=3i`, `key="x"`.
  std::string ToString() const;
};

// One good line. Tags and fields keep their input order; keys are unique across both
// (a line never has a tag and a field of the same name), never empty and never `time`.
struct ParsedLine {
  uint32_t line_number = 0;  // 1-based physical line on which the line starts
  std::string_view measurement;
  std::span<const Tag> tags;
  std::span<const Field> fields;  // at least one
  int64_t timestamp_ns = 0;       // since the epoch, UTC; the default time when absent
  // True when the line before this one in ParsedBody::lines() has the same tag keys and
  // field keys in the same order, and fields of the same types (the measurements may
  // differ): a consumer may reuse what it derived from that line's keys. False says
  // nothing (the parser sets it only when it recognised the keys cheaply).
  bool same_keys_as_previous = false;
};

// The relation same_keys_as_previous promises: the same tag keys and field keys in the
// same order, and fields of the same types (measurements and values may differ).
bool SameKeys(const ParsedLine& a, const ParsedLine& b);

// One bad line: where the problem is and what it is. A bad line contributes nothing to
// the ParsedBody's lines.
struct LineError {
  uint32_t line = 0;    // 1-based physical line of the problem
  uint32_t column = 0;  // 1-based byte offset of the problem within that line
  std::string message;  // e.g. `invalid integer value "12xi"`

  // "line 3, column 17: invalid integer value \"12xi\"".
  std::string ToString() const;
  bool operator==(const LineError&) const = default;
};

}  // namespace ingester::lp
