// Partition keys under a template (partition_template.h for the format): encoding a
// row's key, parsing a key back, and deciding whether a partition can hold rows a
// query asks for.
#pragma once

#include <arrow/result.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/common/predicate.h"

namespace ingester::partition {

class PartitionTemplate;

inline constexpr char kKeyDelimiter = '|';
inline constexpr char kMissingValue = '!';     // the row lacks the tag
inline constexpr char kEmptyValue = '^';       // the tag's value is ""
inline constexpr char kTruncatedMarker = '#';  // ends a value cut at kMaxKeyValueBytes
// An encoded tag value longer than this is cut to at most this many bytes, the marker
// included.
inline constexpr size_t kMaxKeyValueBytes = 200;

// Appends the key text of one tag value: nullopt (the row lacks the tag) is "!", ""
// is "^", anything else percent-encoded and cut as partition_template.h describes.
void AppendKeyValue(std::optional<std::string_view> value, std::string* out);
std::string EncodeKeyValue(std::optional<std::string_view> value);

// The key of a row at `time_ns` whose values of the template's tags are `tag_values`
// (in PartitionTemplate::tag_names() order; nullopt where the row lacks the tag).
// For one row; the write path groups rows with RowPartitioner (row_partitioner.h).
std::string FormatPartitionKey(
    const PartitionTemplate& partition_template, int64_t time_ns,
    std::span<const std::optional<std::string_view>> tag_values);

// One tag part of a parsed key.
struct KeyTagValue {
  std::string tag;
  // Decoded. nullopt: the partition's rows lack the tag. When `truncated`, the rows'
  // values start with this prefix (and are longer than fits in a key).
  std::optional<std::string> value;
  bool truncated = false;
  bool operator==(const KeyTagValue&) const = default;
};

struct ParsedPartitionKey {
  // The times the time part covers: [start of its period, start of the next).
  TimeRange time;
  std::vector<KeyTagValue> tags;  // in template order
  bool operator==(const ParsedPartitionKey&) const = default;
};

// InvalidInput naming the key when it is not a key of `partition_template` (wrong
// number of parts, a time part not in the format, a bad %XX escape).
arrow::Result<ParsedPartitionKey> ParsePartitionKey(
    const PartitionTemplate& partition_template, std::string_view key);

// False only when the partition with key `key` cannot hold a row whose time is in
// `time` and whose tags match every one of `tags` (tag IN values; a row lacking the
// tag never matches). Predicates on tags the template does not name, and keys that do
// not parse under the template, never prune. Exact for truncated values: a value
// matches the key part it would be written under.
bool PartitionKeyMayMatch(const PartitionTemplate& partition_template,
                          std::string_view key, const TimeRange& time,
                          const std::vector<TagPredicate>& tags);

}  // namespace ingester::partition
