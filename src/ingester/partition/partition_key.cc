#include "ingester/partition/partition_key.h"

#include <array>
#include <limits>

#include "ingester/common/error.h"
#include "ingester/common/utf8.h"
#include "ingester/partition/partition_template.h"

namespace ingester::partition {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool NeedsEscape(unsigned char c) {
  return c < 0x20 || c == 0x7f || c == kKeyDelimiter || c == kMissingValue ||
         c == kEmptyValue || c == kTruncatedMarker || c == '%';
}

// The key text of the character at value[i]: `*copy` bytes copied as they are, or (when
// 0) one byte written %XX (a reserved byte, a control byte, or a byte that does not
// start well-formed UTF-8: keys are valid UTF-8, so any bytes round-trip).
size_t CopyLength(std::string_view value, size_t i) {
  const auto c = static_cast<unsigned char>(value[i]);
  if (c < 0x80) return NeedsEscape(c) ? 0 : 1;
  return Utf8SequenceLength(value, i);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Splits `key` at '|' into at most kMaxTemplateParts (+1 to detect too many) parts.
size_t SplitKey(std::string_view key, std::array<std::string_view, 9>* parts) {
  size_t n = 0;
  while (n < parts->size()) {
    const size_t bar = key.find(kKeyDelimiter);
    (*parts)[n++] = key.substr(0, bar);
    if (bar == std::string_view::npos) return n;
    key.remove_prefix(bar + 1);
  }
  return n;
}

arrow::Result<KeyTagValue> DecodeKeyValue(std::string tag, std::string_view text) {
  KeyTagValue out{std::move(tag), std::nullopt, false};
  if (text == std::string_view(&kMissingValue, 1)) return out;
  if (text == std::string_view(&kEmptyValue, 1)) {
    out.value.emplace();
    return out;
  }
  if (!text.empty() && text.back() == kTruncatedMarker) {
    out.truncated = true;
    text.remove_suffix(1);
  }
  if (text.empty()) return InvalidInput("an empty tag value part (\"\" is written '^')");
  std::string value;
  value.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      value.push_back(text[i]);
      continue;
    }
    const int hi = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return InvalidInput("bad %XX escape in tag value '" + std::string(text) + "'");
    }
    value.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  out.value = std::move(value);
  return out;
}

}  // namespace

void AppendKeyValue(std::optional<std::string_view> value, std::string* out) {
  if (!value.has_value()) {
    out->push_back(kMissingValue);
    return;
  }
  if (value->empty()) {
    out->push_back(kEmptyValue);
    return;
  }
  size_t encoded = 0;
  for (size_t i = 0; i < value->size();) {
    const size_t n = CopyLength(*value, i);
    encoded += n == 0 ? 3 : n;
    i += n == 0 ? 1 : n;
  }
  const bool cut = encoded > kMaxKeyValueBytes;
  const size_t budget = cut ? kMaxKeyValueBytes - 1 : encoded;  // room for the marker
  size_t used = 0;
  for (size_t i = 0; i < value->size();) {
    const size_t n = CopyLength(*value, i);
    if (used + (n == 0 ? 3 : n) > budget) break;
    if (n == 0) {
      const auto c = static_cast<unsigned char>((*value)[i]);
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xf]);
      used += 3;
      i += 1;
    } else {
      out->append(value->data() + i, n);
      used += n;
      i += n;
    }
  }
  if (cut) out->push_back(kTruncatedMarker);
}

std::string EncodeKeyValue(std::optional<std::string_view> value) {
  std::string out;
  AppendKeyValue(value, &out);
  return out;
}

std::string FormatPartitionKey(
    const PartitionTemplate& partition_template, int64_t time_ns,
    std::span<const std::optional<std::string_view>> tag_values) {
  std::string out;
  size_t tag = 0;
  for (size_t i = 0; i < partition_template.parts().size(); ++i) {
    if (i > 0) out.push_back(kKeyDelimiter);
    if (i == partition_template.time_part_index()) {
      const TimeFormat& format = partition_template.time_format();
      format.AppendPeriod(format.PeriodOf(time_ns), &out);
    } else {
      AppendKeyValue(tag < tag_values.size() ? tag_values[tag] : std::nullopt, &out);
      ++tag;
    }
  }
  return out;
}

arrow::Result<ParsedPartitionKey> ParsePartitionKey(
    const PartitionTemplate& partition_template, std::string_view key) {
  std::array<std::string_view, 9> parts;
  const size_t n = SplitKey(key, &parts);
  const auto& template_parts = partition_template.parts();
  if (n != template_parts.size()) {
    return InvalidInput("partition key '" + std::string(key) + "' has " +
                        std::to_string(n) + " parts; its template " +
                        partition_template.ToJson() + " has " +
                        std::to_string(template_parts.size()));
  }
  ParsedPartitionKey out;
  for (size_t i = 0; i < n; ++i) {
    if (template_parts[i].kind == TemplatePart::Kind::kTimeFormat) {
      auto range = partition_template.time_format().Parse(parts[i]);
      if (!range) {
        return InvalidInput("partition key '" + std::string(key) + "': '" +
                            std::string(parts[i]) + "' is not a time in the format '" +
                            template_parts[i].value + "'");
      }
      out.time = *range;
    } else {
      auto value = DecodeKeyValue(template_parts[i].value, parts[i]);
      if (!value.ok()) {
        return InvalidInput("partition key '" + std::string(key) +
                            "': " + value.status().message());
      }
      out.tags.push_back(std::move(*value));
    }
  }
  return out;
}

bool PartitionKeyMayMatch(const PartitionTemplate& partition_template,
                          std::string_view key, const TimeRange& time,
                          const std::vector<TagPredicate>& tags) {
  if (time.unbounded() && tags.empty()) return true;
  std::array<std::string_view, 9> parts;
  const auto& template_parts = partition_template.parts();
  if (SplitKey(key, &parts) != template_parts.size()) return true;
  if (!time.unbounded()) {
    const auto range = partition_template.time_format().Parse(
        parts[partition_template.time_part_index()]);
    if (range) {
      const int64_t min = range->start.value_or(std::numeric_limits<int64_t>::min());
      const int64_t max =
          range->end ? *range->end - 1 : std::numeric_limits<int64_t>::max();
      if (!time.Overlaps(min, max)) return false;
    }
  }
  std::string encoded;
  for (const TagPredicate& predicate : tags) {
    for (size_t i = 0; i < template_parts.size(); ++i) {
      if (template_parts[i].kind != TemplatePart::Kind::kTagValue ||
          template_parts[i].value != predicate.tag) {
        continue;
      }
      bool any = false;
      for (const std::string& value : predicate.values) {
        encoded.clear();
        AppendKeyValue(value, &encoded);
        if (encoded == parts[i]) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
  }
  return true;
}

}  // namespace ingester::partition
