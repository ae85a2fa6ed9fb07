// InfluxDB line protocol parser.
//
//   measurement[,tag_key=tag_value...] field_key=field_value[,field_key=field_value...]
//   [timestamp]
//
//   cpu,host=a\ b,region=eu usage=0.5,count=3i,ok=t,note="say \"hi\"" 1700000000000000000
//   └┬┘ └──────────┬───────┘ └────────────────────┬───────────────────┘
//   └────────┬────────┘
//  measurement  tag set (optional)     field set (at least one field)   timestamp
//  (optional)
//
// Syntax (the InfluxDB spec; where it is silent, what InfluxDB IOx does):
// - Lines end with LF or CRLF. Blank lines and lines whose first non-blank byte is `#`
//   are skipped; leading spaces/tabs are ignored; trailing spaces, tabs and CR tolerated.
// - The measurement is separated from the tag set by `,`, the tag set from the field set
//   by one or more spaces, the field set from the timestamp by spaces or tabs.
// - Escapes: in the measurement `\,` `\ ` and `\\`; in tag keys, tag values and field
//   keys `\,` `\=` `\ ` and `\\`; in string field values `\"` and `\\`. A backslash
//   before any other byte is a literal backslash (`a\b` is `a\b`). An unescaped `=` in a
//   tag value or the measurement is literal.
// - Field values: a float is `-?(D+(.D*)?|.D+)([eE][+-]?D+)?` (so plain `1` is a float);
//   `-?D+i` an int64; `D+u` a uint64; t T true True TRUE f F false False FALSE a
//   boolean; `"..."` a string, which may span lines. NaN and infinities are rejected.
// - The timestamp is `-?D+` in the body's precision (lp/precision.h), converted to int64
//   nanoseconds; a line without one gets ParseOptions::default_time_ns.
// - Names and string values must be valid UTF-8. Keys must be non-empty, unique across
//   the line's tags and fields together, and not `time` (the timestamp column's name).
//   Tag values must be non-empty.
//
// Errors never stop the parse: each bad line becomes a LineError and parsing resumes
// after the first newline at or after the problem.
#pragma once

#include <arrow/status.h>

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "ingester/lp/arena_internal.h"
#include "ingester/lp/line.h"
#include "ingester/lp/precision.h"

namespace ingester::lp {

class LineParser;

struct ParseOptions {
  // The unit of the timestamps in the body.
  Precision precision = Precision::kNanosecond;
  // The time of lines without a timestamp, in nanoseconds (the server's receipt time).
  int64_t default_time_ns = 0;
  // How many LineErrors a ParsedBody keeps with their messages; further bad lines are
  // only counted (ParsedBody::error_count), which bounds the memory garbage can take.
  size_t max_errors = 100;
};

// The result of parsing one body: the good lines in input order and the bad lines'
// errors. Views in the lines point into the parsed body (which the caller keeps alive
// and unchanged as long as this object is used) or into an arena this object owns.
// Move-only; moving keeps every view valid. Not thread-safe for concurrent mutation;
// const access from many threads is fine.
class ParsedBody {
 public:
  ParsedBody() = default;
  ParsedBody(ParsedBody&&) noexcept = default;
  ParsedBody& operator=(ParsedBody&&) noexcept = default;
  ParsedBody(const ParsedBody&) = delete;
  ParsedBody& operator=(const ParsedBody&) = delete;

  std::span<const ParsedLine> lines() const { return lines_; }
  // The first ParseOptions::max_errors errors, in input order.
  std::span<const LineError> errors() const { return errors_; }
  // Every bad line, including those beyond max_errors.
  uint64_t error_count() const { return error_count_; }
  bool has_errors() const { return error_count_ != 0; }

  // Totals over all lines, e.g. to size column builders.
  size_t total_tags() const { return tags_.size(); }
  size_t total_fields() const { return fields_.size(); }

  // OK without errors; otherwise an InvalidInput error that counts the bad lines and
  // lists the first `max_listed` of them ("line 3, column 17: ...").
  arrow::Status ErrorStatus(size_t max_listed = 10) const;

  // Whether `text` points into memory this object owns (an unescaped string).
  bool TEST_InArena(std::string_view text) const {
    return arena_.Contains(text.data(), text.size());
  }

 private:
  friend class Parser;
  friend class LineParser;
  void Clear();

  std::vector<ParsedLine> lines_;
  std::vector<Tag> tags_;      // lines_[i].tags are consecutive runs of this, in order
  std::vector<Field> fields_;  // likewise for fields
  std::vector<LineError> errors_;
  uint64_t error_count_ = 0;
  internal::Arena arena_;  // unescaped names and strings
};

// A parser holds scratch state reused across bodies, so one instance per thread parses
// many bodies without allocating beyond what the results need. Not thread-safe: use one
// per thread.
class Parser {
 public:
  Parser() = default;

  // Parses `body` into `*out`, replacing its contents but reusing its memory.
  void Parse(std::string_view body, const ParseOptions& options, ParsedBody* out);
  ParsedBody Parse(std::string_view body, const ParseOptions& options) {
    ParsedBody out;
    Parse(body, options, &out);
    return out;
  }

 private:
  friend class LineParser;

  // Hashes of the keys (tags, then fields) of the last line whose hashes were all
  // distinct; a line with the same hashes needs no duplicate-key search.
  std::vector<uint64_t> last_distinct_hashes_;
  std::vector<uint64_t> hashes_;  // scratch: the current line's key hashes
  // Scratch: where the current line's keys that were unescaped into the arena start in
  // the body, by key index (tags, then fields); other keys start at their text.
  std::vector<std::pair<uint32_t, const char*>> unescaped_key_pos_;
};

// One-shot convenience: Parser().Parse(body, options).
ParsedBody Parse(std::string_view body, const ParseOptions& options = {});

}  // namespace ingester::lp
