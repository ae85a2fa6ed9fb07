// Partition templates: how a table's rows are split into partitions, as in InfluxDB
// IOx. A template is an ordered list of parts; a row's partition key is the text of
// each part, joined by '|':
//
//   part                      text in the key
//   ------------------------  ---------------------------------------------------------
//   {"time_format": "%Y-%m"}  the row's time in that format (UTC; see time_format.h)
//   {"tag_value": "region"}   the row's value of tag `region`, percent-encoded:
//                               '|' '!' '^' '#' '%' and control bytes become %XX;
//                               a row without the tag: "!"; an empty value: "^";
//                               an encoded value over 200 bytes is cut (never inside
//                               a %XX or a UTF-8 character) and ends in '#'
//
// e.g. parts [region, %Y-%m-%d] give "eu-west|2024-01-31", "!|2024-01-31",
// "^|2024-01-31". A template has exactly one time part and at most 8 parts in all, each
// tag at most once. The default template is one time part, "%Y-%m-%d": the daily key
// "2024-01-31".
//
// JSON form (catalog column, HTTP API, --partition-template):
//
//   {"parts": [{"tag_value": "region"}, {"time_format": "%Y-%m-%d"}]}
//
// A template is an immutable value; copies share their state (copying is cheap).
#pragma once

#include <arrow/result.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/partition/time_format.h"

namespace ingester::partition {

inline constexpr size_t kMaxTemplateParts = 8;
inline constexpr std::string_view kDefaultTimeFormat = "%Y-%m-%d";

struct TemplatePart {
  enum class Kind { kTagValue, kTimeFormat };
  Kind kind = Kind::kTimeFormat;
  // The tag's name (kTagValue) or the time format (kTimeFormat).
  std::string value;

  static TemplatePart Tag(std::string name) { return {Kind::kTagValue, std::move(name)}; }
  static TemplatePart Time(std::string format) {
    return {Kind::kTimeFormat, std::move(format)};
  }
  bool operator==(const TemplatePart&) const = default;
};

class PartitionTemplate {
 public:
  // The default template: {"parts": [{"time_format": "%Y-%m-%d"}]}.
  PartitionTemplate();

  // InvalidInput (common/error.h) naming what is wrong: no parts, more than 8, not
  // exactly one time part, a bad time format, an empty, repeated or reserved ("time")
  // tag name, a tag name with control characters or over 200 bytes.
  static arrow::Result<PartitionTemplate> Make(std::vector<TemplatePart> parts);
  // Parses and validates the JSON form: InvalidInput naming the problem (bad JSON,
  // unknown keys, a part that is not exactly one of tag_value / time_format, ...).
  static arrow::Result<PartitionTemplate> FromJson(std::string_view json);
  // The canonical JSON form (compact, parts in order); FromJson(ToJson()) == *this.
  std::string ToJson() const;

  const std::vector<TemplatePart>& parts() const;
  // The tag names of the tag parts, in template order.
  const std::vector<std::string>& tag_names() const;
  // The time part, compiled.
  const TimeFormat& time_format() const;
  // Position of the time part in parts().
  size_t time_part_index() const;
  bool is_default() const;

  bool operator==(const PartitionTemplate& other) const;

 private:
  struct State;
  static const std::shared_ptr<const State>& DefaultState();
  explicit PartitionTemplate(std::shared_ptr<const State> state);
  std::shared_ptr<const State> state_;
};

}  // namespace ingester::partition
