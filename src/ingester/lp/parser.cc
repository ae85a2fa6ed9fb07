#include "ingester/lp/parser.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "ingester/common/error.h"
#include "ingester/common/text_bytes.h"
#include "ingester/lp/number_internal.h"
#include "ingester/lp/scan_internal.h"

namespace ingester::lp {

namespace {

using internal::FindAny;
using internal::NumberStatus;

inline bool IsDigit(char c) { return static_cast<unsigned char>(c - '0') <= 9; }
// Bytes that end a non-string field value.
inline bool IsValueEnd(char c) {
  return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
// Bytes tolerated around the timestamp and at the end of a line.
inline bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

inline bool IsTime(std::string_view key) {
  return key.size() == 4 && std::memcmp(key.data(), "time", 4) == 0;
}

enum class NameKind { kMeasurement, kTagKey, kTagValue, kFieldKey };

template <NameKind kKind>
constexpr const char* NameKindLabel() {
  if constexpr (kKind == NameKind::kMeasurement) return "measurement";
  if constexpr (kKind == NameKind::kTagKey) return "tag key";
  if constexpr (kKind == NameKind::kTagValue) return "tag value";
  return "field key";
}

// The end of the unescaped run of a name starting at `p`: its delimiter or a backslash.
template <NameKind kKind>
inline const char* FindNameStop(const char* p, const char* end) {
  if constexpr (kKind == NameKind::kMeasurement || kKind == NameKind::kTagValue) {
    return FindAny<',', ' ', '\\', '\n'>(p, end);
  } else {
    return FindAny<'=', ',', ' ', '\\', '\n'>(p, end);
  }
}

template <NameKind kKind>
inline bool IsEscapable(char c) {
  if constexpr (kKind == NameKind::kMeasurement) {
    return c == ',' || c == ' ' || c == '\\';
  } else {
    return c == ',' || c == '=' || c == ' ' || c == '\\';
  }
}

inline bool IsStringEscapable(char c) { return c == '"' || c == '\\'; }

// A cheap hash of a non-empty key from its length and its first and last bytes (up to
// eight each). Equal keys hash equal; unequal keys may collide, which only costs a
// string comparison.
inline uint64_t HashKey(std::string_view key) {
  const char* p = key.data();
  const size_t n = key.size();
  uint64_t a, b;
  LoadEnds(p, n, &a, &b);
  uint64_t h = a * 0x9E3779B97F4A7C15ULL ^ (b + n) * 0xC2B2AE3D27D4EB4FULL;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 32);
}

// `token` in double quotes for an error message: at most 64 bytes (cut at a character
// boundary), control bytes and invalid UTF-8 shown as \xNN, so messages are valid UTF-8.
std::string Quote(std::string_view token) {
  constexpr size_t kMax = 64;
  bool cut = false;
  if (token.size() > kMax) {
    size_t n = kMax;
    while (n > 0 && (static_cast<unsigned char>(token[n]) & 0xC0) == 0x80) --n;
    token = token.substr(0, n);
    cut = true;
  }
  std::string out = "\"";
  const char* p = token.data();
  const char* end = p + token.size();
  while (p < end) {
    const char* bad = internal::FindInvalidUtf8(p, end);
    for (; p < bad; ++p) {
      const auto c = static_cast<unsigned char>(*p);
      if (c < 0x20 || c == 0x7F) {
        static constexpr char kHex[] = "0123456789ABCDEF";
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
      } else {
        out += *p;
      }
    }
    if (p < end) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      const auto c = static_cast<unsigned char>(*p++);
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  out += cut ? "...\"" : "\"";
  return out;
}

}  // namespace

// Parses one body into a ParsedBody; lives for one Parser::Parse call.
class LineParser {
 public:
  LineParser(Parser* parser, const ParseOptions& options, std::string_view body,
             ParsedBody* out)
      : parser_(*parser),
        options_(options),
        begin_(body.data()),
        end_(body.data() + body.size()),
        out_(*out) {}

  void Run();

 private:
  // Parses the line whose first non-blank byte is `s`. On success returns the line's
  // end (its '\n' or the end of the body); on failure nullptr, with the problem in
  // err_pos_ / err_msg_.
  const char* ParseLine(const char* s, uint32_t line_number);
  template <NameKind kKind>
  const char* ScanName(const char* p, std::string_view* name);
  template <NameKind kKind>
  const char* ScanEscapedName(const char* p, const char* q, std::string_view* name);
  // When the eight bytes at `d` lie in the body and begin with one to seven digits
  // followed by a non-digit: sets *q to that non-digit and *value to the digits' value,
  // without a branch per digit. Otherwise false.
  bool ShortDigits(const char* d, const char** q, uint64_t* value) const {
    if (end_ - d < 8) return false;
    uint64_t w;
    std::memcpy(&w, d, 8);
    const uint64_t nondigit = internal::NonDigitBytes(w);
    if (nondigit == 0) return false;  // eight digits or more
    const int digits = __builtin_ctzll(nondigit) >> 3;
    if (digits == 0) return false;
    // The digits moved to the top bytes; the bytes below read as leading zeros.
    *value =
        internal::EightDigitsValue((w - 0x3030303030303030ULL) << (8 * (8 - digits)));
    *q = d + digits;
    return true;
  }
  // The value starting at `v` (just after '='); returns the byte after it.
  const char* ParseFieldValue(const char* v, Field* field);
  const char* ParseNonStringValue(const char* v, Field* field);
  const char* ParseString(const char* v, Field* field);
  const char* ParseTimestamp(const char* t, int64_t* ts);
  const char* ParseTimestampSlow(const char* t, int64_t* ts);
  // Whether `text` is a view into the body (not an unescaped copy in the arena).
  bool InBody(std::string_view text) const {
    return text.data() >= begin_ && text.data() < end_;
  }
  // Where the i-th key of the current line (tags, then fields) starts in the body: a key
  // in the body starts at its text; an unescaped copy's place was recorded.
  const char* KeyPosition(size_t i, size_t tag_base, size_t nt, size_t field_base) const {
    const std::string_view key = KeyAt(i, tag_base, nt, field_base);
    if (InBody(key)) return key.data();
    for (const auto& [index, pos] : parser_.unescaped_key_pos_) {
      if (index == i) return pos;
    }
    return nullptr;  // not reached: every unescaped key is recorded
  }
  // When `key` (a key of the previous good line) lies in the body as written and the
  // bytes at `k` are `key` followed by '=', the end of the key at `k` (its '='): the
  // name scan would stop there and find the same text, which the previous line already
  // showed is a valid key (non-empty, not `time`, nothing to unescape). Otherwise
  // nullptr.
  const char* PredictKey(const char* k, std::string_view key) const {
    const size_t n = key.size();
    if (!InBody(key)) return nullptr;  // an unescaped copy
    if (static_cast<size_t>(end_ - k) <= n || k[n] != '=') return nullptr;
    return SameBytes(k, key.data(), n) ? k + n : nullptr;
  }
  bool CheckUniqueKeys(size_t tag_base, size_t field_base);
  bool CheckUniqueKeysSlow(size_t n, size_t tag_base, size_t nt, size_t field_base);
  std::string_view KeyAt(size_t i, size_t tag_base, size_t nt, size_t field_base) const {
    return i < nt ? out_.tags_[tag_base + i].key : out_.fields_[field_base + i - nt].key;
  }
  // [p, q) with the escapes `is_escapable` accepts removed, copied into the arena.
  template <typename IsEscapableFn>
  std::string_view Unescape(const char* p, const char* q, IsEscapableFn is_escapable);
  const char* SkipBlanks(const char* p) const {
    while (p < end_ && IsBlank(*p)) ++p;
    return p;
  }
  std::nullptr_t Fail(const char* pos, std::string message) {
    err_pos_ = pos;
    err_msg_ = std::move(message);
    return nullptr;
  }
  void RecordError(const char* line_start, uint32_t line_number);

  Parser& parser_;
  const ParseOptions& options_;
  const char* const begin_;
  const char* const end_;
  ParsedBody& out_;
  uint32_t string_newlines_ = 0;  // newlines inside string values of the current line
  // The previous good line's tags and fields in out_.tags_ / out_.fields_ (they stay
  // there: a bad line only drops what it added after them), for PredictKey.
  bool have_previous_ = false;
  size_t previous_tag_base_ = 0;
  size_t previous_tags_ = 0;
  size_t previous_field_base_ = 0;
  size_t previous_fields_ = 0;
  const char* err_pos_ = nullptr;
  std::string err_msg_;
};

void LineParser::Run() {
  const char* p = begin_;  // start of the current physical line
  uint32_t line_number = 1;
  while (p < end_) {
    const char* s = p;
    while (s < end_ && IsBlank(*s)) ++s;
    if (s == end_) break;
    if (*s == '\n' || *s == '#') {
      const auto* nl = static_cast<const char*>(std::memchr(s, '\n', end_ - s));
      if (nl == nullptr) break;
      p = nl + 1;
      ++line_number;
      continue;
    }
    const size_t tag_base = out_.tags_.size();
    const size_t field_base = out_.fields_.size();
    string_newlines_ = 0;
    const char* line_end = ParseLine(s, line_number);
    if (line_end != nullptr) {
      line_number += 1 + string_newlines_;
      if (line_end == end_) break;
      p = line_end + 1;
      continue;
    }
    out_.tags_.resize(tag_base);
    out_.fields_.resize(field_base);
    // The line of the problem, which string values spanning lines may have moved on.
    for (const char* q = p; q < err_pos_; ++q) {
      if (*q == '\n') {
        ++line_number;
        p = q + 1;
      }
    }
    RecordError(p, line_number);
    const auto* nl =
        static_cast<const char*>(std::memchr(err_pos_, '\n', end_ - err_pos_));
    if (nl == nullptr) break;
    p = nl + 1;
    ++line_number;
  }

  // The spans of the lines were made while tags_ and fields_ grew: rebase them.
  size_t tag_offset = 0;
  size_t field_offset = 0;
  for (ParsedLine& line : out_.lines_) {
    line.tags = {out_.tags_.data() + tag_offset, line.tags.size()};
    tag_offset += line.tags.size();
    line.fields = {out_.fields_.data() + field_offset, line.fields.size()};
    field_offset += line.fields.size();
  }
}

void LineParser::RecordError(const char* line_start, uint32_t line_number) {
  ++out_.error_count_;
  if (out_.errors_.size() >= options_.max_errors) return;
  const uint64_t column = static_cast<uint64_t>(err_pos_ - line_start) + 1;
  out_.errors_.push_back(LineError{
      line_number, static_cast<uint32_t>(std::min<uint64_t>(column, UINT32_MAX)),
      std::move(err_msg_)});
}

const char* LineParser::ParseLine(const char* s, uint32_t line_number) {
  parser_.unescaped_key_pos_.clear();
  const size_t tag_base = out_.tags_.size();
  const size_t field_base = out_.fields_.size();

  std::string_view measurement;
  const char* p = ScanName<NameKind::kMeasurement>(s, &measurement);
  if (p == nullptr) return nullptr;
  if (measurement.empty()) return Fail(s, "missing measurement");

  // Whether every key so far is the previous good line's key at the same place.
  bool predicted = have_previous_;
  size_t nt = 0;
  while (p < end_ && *p == ',') {
    const char* k = p + 1;
    Tag& tag = out_.tags_.emplace_back();
    const char* q = nullptr;
    if (nt < previous_tags_ && predicted) {
      q = PredictKey(k, out_.tags_[previous_tag_base_ + nt].key);
    }
    if (q != nullptr) {
      tag.key = std::string_view(k, static_cast<size_t>(q - k));
    } else {
      predicted = false;
      q = ScanName<NameKind::kTagKey>(k, &tag.key);
      if (q == nullptr) return nullptr;
      if (q == k) return Fail(k, "missing tag key");
      if (q == end_ || *q != '=') {
        return Fail(q, "missing '=' after tag key " + Quote(tag.key));
      }
      if (IsTime(tag.key)) {
        return Fail(k, "tag key \"time\" is reserved for the timestamp");
      }
      if (!InBody(tag.key)) {
        parser_.unescaped_key_pos_.push_back({static_cast<uint32_t>(nt), k});
      }
    }
    ++nt;
    const char* v = q + 1;
    p = ScanName<NameKind::kTagValue>(v, &tag.value);
    if (p == nullptr) return nullptr;
    if (p == v) return Fail(v, "missing value for tag key " + Quote(tag.key));
  }

  if (p == end_ || *p != ' ') return Fail(p, "missing field set");
  do {
    ++p;
  } while (p < end_ && *p == ' ');
  if (const char* t = SkipBlanks(p); t == end_ || *t == '\n') {
    return Fail(t, "missing field set");
  }

  predicted = predicted && nt == previous_tags_;
  size_t nf = 0;
  for (;;) {
    const char* k = p;
    Field& field = out_.fields_.emplace_back();
    const char* q = nullptr;
    if (nf < previous_fields_ && predicted) {
      q = PredictKey(k, out_.fields_[previous_field_base_ + nf].key);
    }
    if (q != nullptr) {
      field.key = std::string_view(k, static_cast<size_t>(q - k));
    } else {
      predicted = false;
      q = ScanName<NameKind::kFieldKey>(k, &field.key);
      if (q == nullptr) return nullptr;
      if (q == k) return Fail(k, "missing field key");
      if (q == end_ || *q != '=') {
        return Fail(q, "missing '=' after field key " + Quote(field.key));
      }
      if (IsTime(field.key)) {
        return Fail(k, "field key \"time\" is reserved for the timestamp");
      }
      if (!InBody(field.key)) {
        parser_.unescaped_key_pos_.push_back({static_cast<uint32_t>(nt + nf), k});
      }
    }
    ++nf;
    p = ParseFieldValue(q + 1, &field);
    if (p == nullptr) return nullptr;
    if (p < end_ && *p == ',') {
      ++p;
      continue;
    }
    break;
  }

  int64_t timestamp = options_.default_time_ns;
  p = SkipBlanks(p);
  if (p < end_ && *p != '\n') {
    p = ParseTimestamp(p, &timestamp);
    if (p == nullptr) return nullptr;
    p = SkipBlanks(p);
    if (p < end_ && *p != '\n') return Fail(p, "unexpected content after the timestamp");
  }

  // The previous good line's keys in the same order are unique: no need to look again.
  predicted = predicted && nf == previous_fields_;
  if (!predicted && !CheckUniqueKeys(tag_base, field_base)) return nullptr;
  if (!internal::IsAscii(s, p)) {
    const char* bad = internal::FindInvalidUtf8(s, p);
    if (bad != p) return Fail(bad, "invalid UTF-8");
  }

  bool same_keys = predicted;
  for (size_t i = 0; i < nf && same_keys; ++i) {
    same_keys =
        out_.fields_[field_base + i].type == out_.fields_[previous_field_base_ + i].type;
  }
  out_.lines_.push_back(ParsedLine{line_number,
                                   measurement,
                                   {out_.tags_.data() + tag_base, nt},
                                   {out_.fields_.data() + field_base, nf},
                                   timestamp,
                                   same_keys});
  have_previous_ = true;
  previous_tag_base_ = tag_base;
  previous_tags_ = nt;
  previous_field_base_ = field_base;
  previous_fields_ = nf;
  return p;
}

template <NameKind kKind>
inline const char* LineParser::ScanName(const char* p, std::string_view* name) {
  const char* q = FindNameStop<kKind>(p, end_);
  if (q == end_ || *q != '\\') [[likely]] {
    *name = std::string_view(p, static_cast<size_t>(q - p));
    return q;
  }
  return ScanEscapedName<kKind>(p, q, name);
}

template <NameKind kKind>
const char* LineParser::ScanEscapedName(const char* p, const char* q,
                                        std::string_view* name) {
  bool escaped = false;
  while (q < end_ && *q == '\\') {
    if (q + 1 < end_ && IsEscapable<kKind>(q[1])) {
      escaped = true;
      q += 2;
    } else {
      ++q;  // a literal backslash
    }
    q = FindNameStop<kKind>(q, end_);
  }
  *name = escaped ? Unescape(p, q, IsEscapable<kKind>)
                  : std::string_view(p, static_cast<size_t>(q - p));
  // Refused as InfluxDB 3 refuses it: a name ending in a backslash is most often an
  // escape that lost its character (`host=east\\ f=1` meant `host=east\ x f=1`), and
  // other tools disagree on what it means.
  if (name->back() == '\\') {
    return Fail(p, std::string(NameKindLabel<kKind>()) + " " + Quote(*name) +
                       " ends in a backslash");
  }
  return q;
}

template <typename IsEscapableFn>
std::string_view LineParser::Unescape(const char* p, const char* q,
                                      IsEscapableFn is_escapable) {
  char* const out = out_.arena_.Allocate(static_cast<size_t>(q - p));
  char* o = out;
  while (p < q) {
    if (*p == '\\' && p + 1 < q && is_escapable(p[1])) ++p;
    *o++ = *p++;
  }
  return std::string_view(out, static_cast<size_t>(o - out));
}

const char* LineParser::ParseFieldValue(const char* v, Field* field) {
  if (v < end_ && *v == '"') return ParseString(v, field);
  // Fast path: an integer or unsigned of at most 19 digits, the common metric.
  const bool negative = v < end_ && *v == '-';
  const char* d = v + negative;
  const char* limit = end_ - d > 19 ? d + 19 : end_;
  uint64_t magnitude = 0;
  const char* q = d;
  if (!ShortDigits(d, &q, &magnitude)) {
    for (; q < limit && IsDigit(*q); ++q) magnitude = magnitude * 10 + (*q - '0');
  }
  if (q > d && q < end_ && (q + 1 == end_ || IsValueEnd(q[1]))) {
    if (*q == 'i' && magnitude <= static_cast<uint64_t>(INT64_MAX) + negative) {
      field->type = FieldType::kInteger;
      field->i64 = negative ? static_cast<int64_t>(0 - magnitude)
                            : static_cast<int64_t>(magnitude);
      return q + 1;
    }
    if (*q == 'u' && !negative) {
      field->type = FieldType::kUnsigned;
      field->u64 = magnitude;
      return q + 1;
    }
  }
  return ParseNonStringValue(v, field);
}

const char* LineParser::ParseNonStringValue(const char* v, Field* field) {
  const char* r = FindAny<',', ' ', '\t', '\r', '\n'>(v, end_);
  if (r == v) return Fail(v, "missing value for field key " + Quote(field->key));
  const std::string_view token(v, static_cast<size_t>(r - v));
  const char first = token.front();
  const char last = token.back();
  // No number starts with a letter, so a token starting like a boolean is one.
  if (first == 't' || first == 'T' || first == 'f' || first == 'F') {
    static constexpr std::string_view kTrue[] = {"t", "T", "true", "True", "TRUE"};
    static constexpr std::string_view kFalse[] = {"f", "F", "false", "False", "FALSE"};
    for (std::string_view t : kTrue) {
      if (token == t) {
        field->type = FieldType::kBoolean;
        field->boolean = true;
        return r;
      }
    }
    for (std::string_view f : kFalse) {
      if (token == f) {
        field->type = FieldType::kBoolean;
        field->boolean = false;
        return r;
      }
    }
    return Fail(v, "invalid boolean value " + Quote(token));
  }
  if (last == 'i' && token.size() > 1) {
    switch (internal::ParseInt64(v, r - 1, &field->i64)) {
      case NumberStatus::kOk:
        field->type = FieldType::kInteger;
        return r;
      case NumberStatus::kOutOfRange:
        return Fail(v, "integer value " + Quote(token) + " out of range");
      case NumberStatus::kInvalid:
        return Fail(v, "invalid integer value " + Quote(token));
    }
  }
  if (last == 'u' && token.size() > 1) {
    switch (internal::ParseUint64(v, r - 1, &field->u64)) {
      case NumberStatus::kOk:
        field->type = FieldType::kUnsigned;
        return r;
      case NumberStatus::kOutOfRange:
        return Fail(v, "unsigned value " + Quote(token) + " out of range");
      case NumberStatus::kInvalid:
        return Fail(v, "invalid unsigned value " + Quote(token));
    }
  }
  switch (internal::ParseFloat(v, r, &field->f64)) {
    case NumberStatus::kOk:
      field->type = FieldType::kFloat;
      return r;
    case NumberStatus::kOutOfRange:
      return Fail(v, "float value " + Quote(token) + " out of range");
    case NumberStatus::kInvalid:
      break;
  }
  std::string lower;
  for (char c : token.substr(token.front() == '-' || token.front() == '+')) {
    lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  if (lower == "nan" || lower == "inf" || lower == "infinity") {
    return Fail(v, "NaN and infinite float values are not supported: " + Quote(token));
  }
  if (IsDigit(first) || first == '-' || first == '+' || first == '.') {
    return Fail(v, "invalid float value " + Quote(token));
  }
  return Fail(v, "invalid field value " + Quote(token) +
                     " (string values must be in double quotes)");
}

const char* LineParser::ParseString(const char* v, Field* field) {
  const char* s = v + 1;
  const char* q = FindAny<'"', '\\', '\n'>(s, end_);
  bool escaped = false;
  uint32_t newlines = 0;
  while (q < end_ && *q != '"') {
    if (*q == '\n') {
      ++newlines;
      ++q;
    } else if (q + 1 < end_ && IsStringEscapable(q[1])) {
      escaped = true;
      q += 2;
    } else {
      ++q;  // a literal backslash
    }
    q = FindAny<'"', '\\', '\n'>(q, end_);
  }
  if (q == end_) {
    return Fail(v, "unterminated string value for field key " + Quote(field->key));
  }
  field->type = FieldType::kString;
  field->str = escaped ? Unescape(s, q, IsStringEscapable)
                       : std::string_view(s, static_cast<size_t>(q - s));
  const char* r = q + 1;
  if (r < end_ && !IsValueEnd(*r)) {
    return Fail(r, "unexpected character after the string value of field key " +
                       Quote(field->key));
  }
  string_newlines_ += newlines;
  return r;
}

const char* LineParser::ParseTimestamp(const char* t, int64_t* ts) {
  // Fast path: at most 19 digits ended by a blank, a newline or the end, in range.
  const bool negative = *t == '-';
  const char* d = t + negative;
  const char* limit = end_ - d > 19 ? d + 19 : end_;
  uint64_t magnitude = 0;
  const char* r = d;
  // Up to 16 digits eight at a time (below 10^16, so the rest cannot overflow), then
  // one by one up to `limit`.
  for (int chunk = 0; chunk < 2 && end_ - r >= 8; ++chunk) {
    uint64_t w;
    std::memcpy(&w, r, 8);
    if (internal::NonDigitBytes(w) != 0) break;
    magnitude =
        magnitude * 100'000'000 + internal::EightDigitsValue(w - 0x3030303030303030ULL);
    r += 8;
  }
  for (; r < limit && IsDigit(*r); ++r) magnitude = magnitude * 10 + (*r - '0');
  if (r > d && (r == end_ || IsBlank(*r) || *r == '\n') &&
      magnitude <= static_cast<uint64_t>(INT64_MAX) + negative) {
    const int64_t raw =
        negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
    if (options_.precision == Precision::kNanosecond) {
      *ts = raw;
      return r;
    }
    if (const std::optional<int64_t> ns = ToNanos(raw, options_.precision)) {
      *ts = *ns;
      return r;
    }
  }
  // Anything else, including every error, as the grammar says.
  return ParseTimestampSlow(t, ts);
}

const char* LineParser::ParseTimestampSlow(const char* t, int64_t* ts) {
  const char* r = FindAny<' ', '\t', '\r', '\n'>(t, end_);
  const std::string_view token(t, static_cast<size_t>(r - t));
  int64_t raw;
  switch (internal::ParseInt64(t, r, &raw)) {
    case NumberStatus::kOk:
      break;
    case NumberStatus::kOutOfRange:
      return Fail(t, "timestamp " + Quote(token) + " out of range");
    case NumberStatus::kInvalid:
      return Fail(t, "invalid timestamp " + Quote(token));
  }
  if (options_.precision == Precision::kNanosecond) {
    *ts = raw;
    return r;
  }
  const std::optional<int64_t> ns = ToNanos(raw, options_.precision);
  if (!ns.has_value()) {
    const Precision unit =
        options_.precision == Precision::kAuto ? GuessPrecision(raw) : options_.precision;
    return Fail(t, "timestamp " + Quote(token) + " in " +
                       std::string(PrecisionName(unit)) +
                       " is out of range for nanoseconds since the epoch");
  }
  *ts = *ns;
  return r;
}

bool LineParser::CheckUniqueKeys(size_t tag_base, size_t field_base) {
  const size_t nt = out_.tags_.size() - tag_base;
  const size_t nf = out_.fields_.size() - field_base;
  const size_t n = nt + nf;
  std::vector<uint64_t>& hashes = parser_.hashes_;
  hashes.resize(n);
  for (size_t i = 0; i < nt; ++i) hashes[i] = HashKey(out_.tags_[tag_base + i].key);
  for (size_t i = 0; i < nf; ++i)
    hashes[nt + i] = HashKey(out_.fields_[field_base + i].key);
  // Distinct hashes mean distinct keys; most bodies repeat one key set line after line.
  if (hashes == parser_.last_distinct_hashes_) return true;
  return CheckUniqueKeysSlow(n, tag_base, nt, field_base);
}

bool LineParser::CheckUniqueKeysSlow(size_t n, size_t tag_base, size_t nt,
                                     size_t field_base) {
  const std::vector<uint64_t>& hashes = parser_.hashes_;
  bool distinct_hashes = true;
  size_t dup = n;  // the first key (in input order) that repeats an earlier one
  if (n <= 32) {
    for (size_t j = 1; j < n && dup == n; ++j) {
      for (size_t i = 0; i < j; ++i) {
        if (hashes[i] != hashes[j]) continue;
        distinct_hashes = false;
        if (KeyAt(i, tag_base, nt, field_base) == KeyAt(j, tag_base, nt, field_base)) {
          dup = j;
          break;
        }
      }
    }
  } else {
    // Sort (hash, key) so equal keys are adjacent: O(n log n) for lines with many keys.
    std::vector<uint32_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      if (hashes[a] != hashes[b]) return hashes[a] < hashes[b];
      const std::string_view ka = KeyAt(a, tag_base, nt, field_base);
      const std::string_view kb = KeyAt(b, tag_base, nt, field_base);
      return ka != kb ? ka < kb : a < b;
    });
    for (size_t i = 1; i < n; ++i) {
      const uint32_t a = order[i - 1];
      const uint32_t b = order[i];
      if (hashes[a] != hashes[b]) continue;
      distinct_hashes = false;
      if (KeyAt(a, tag_base, nt, field_base) == KeyAt(b, tag_base, nt, field_base)) {
        dup = std::min<size_t>(dup, b);  // b > a: same key sorts by position
      }
    }
  }
  if (dup == n) {
    if (distinct_hashes) parser_.last_distinct_hashes_ = hashes;
    return true;
  }
  const std::string key = Quote(KeyAt(dup, tag_base, nt, field_base));
  const char* pos = KeyPosition(dup, tag_base, nt, field_base);
  if (dup < nt) {
    Fail(pos, "duplicate tag key " + key);
    return false;
  }
  // The first occurrence decides whether the key is also a tag.
  for (size_t i = 0; i < nt; ++i) {
    if (KeyAt(i, tag_base, nt, field_base) == KeyAt(dup, tag_base, nt, field_base)) {
      Fail(pos, "field key " + key + " is also a tag key");
      return false;
    }
  }
  Fail(pos, "duplicate field key " + key);
  return false;
}

void ParsedBody::Clear() {
  lines_.clear();
  tags_.clear();
  fields_.clear();
  errors_.clear();
  error_count_ = 0;
  arena_.Reset();
}

arrow::Status ParsedBody::ErrorStatus(size_t max_listed) const {
  if (error_count_ == 0) return arrow::Status::OK();
  std::string message = std::to_string(error_count_) +
                        (error_count_ == 1 ? " bad line" : " bad lines") +
                        " of line protocol";
  const size_t listed = std::min(max_listed, errors_.size());
  for (size_t i = 0; i < listed; ++i) {
    message += i == 0 ? ": " : "; ";
    message += errors_[i].ToString();
  }
  if (listed < error_count_) {
    message += "; and " + std::to_string(error_count_ - listed) + " more";
  }
  return InvalidInput(std::move(message));
}

void Parser::Parse(std::string_view body, const ParseOptions& options, ParsedBody* out) {
  out->Clear();
  LineParser(this, options, body, out).Run();
}

ParsedBody Parse(std::string_view body, const ParseOptions& options) {
  return Parser().Parse(body, options);
}

}  // namespace ingester::lp
