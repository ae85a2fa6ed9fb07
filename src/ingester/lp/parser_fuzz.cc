// libFuzzer target: parses arbitrary bytes with every precision and checks the
// parser's contract on whatever comes out.
//
//   make fuzz   (or: CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja
//                    -DINGESTER_FUZZ=ON -DINGESTER_BENCHMARKS=OFF
//                && cmake --build build-fuzz --target parser_fuzz)
//   build-fuzz/src/ingester/lp/parser_fuzz -max_total_time=600 -rss_limit_mb=2048 \
//       CORPUS_DIR src/ingester/lp/fuzz_corpus
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "ingester/lp/format.h"
#include "ingester/lp/parser.h"
#include "ingester/lp/scan_internal.h"

namespace ingester::lp {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

bool InBody(std::string_view text, std::string_view body) {
  const auto p = reinterpret_cast<uintptr_t>(text.data());
  const auto b = reinterpret_cast<uintptr_t>(body.data());
  return p >= b && p + text.size() <= b + body.size();
}

void CheckText(std::string_view text, std::string_view body, const ParsedBody& parsed) {
  if (text.empty()) return;
  Check(InBody(text, body) || parsed.TEST_InArena(text), "view outside body and arena");
  Check(internal::FindInvalidUtf8(text.data(), text.data() + text.size()) ==
            text.data() + text.size(),
        "invalid UTF-8 accepted");
}

bool SameLine(const ParsedLine& a, const ParsedLine& b) {
  if (a.measurement != b.measurement || a.timestamp_ns != b.timestamp_ns) return false;
  if (a.tags.size() != b.tags.size() || a.fields.size() != b.fields.size()) return false;
  for (size_t i = 0; i < a.tags.size(); ++i) {
    if (!(a.tags[i] == b.tags[i])) return false;
  }
  for (size_t i = 0; i < a.fields.size(); ++i) {
    if (!(a.fields[i] == b.fields[i])) return false;
  }
  return true;
}

// Without string values (which may span lines), a body parses to what its physical
// lines parse to one by one with fresh parsers: the parser's predictions from the
// previous line (lp/parser.cc) change nothing.
void CheckLineByLine(std::string_view body, const ParseOptions& options,
                     const ParsedBody& parsed) {
  if (body.find('"') != std::string_view::npos) return;
  size_t next_line = 0;
  size_t next_error = 0;
  uint32_t number = 1;
  size_t start = 0;
  for (;; ++number) {
    const size_t nl = body.find('\n', start);
    const std::string_view text =
        body.substr(start, nl == std::string_view::npos ? nl : nl - start);
    const ParsedBody alone = Parse(text, options);
    for (const ParsedLine& line : alone.lines()) {
      Check(next_line < parsed.lines().size(), "line by line: line count");
      const ParsedLine& got = parsed.lines()[next_line++];
      Check(got.line_number == number && SameLine(got, line), "line by line: same line");
    }
    for (const LineError& error : alone.errors()) {
      Check(next_error < parsed.errors().size(), "line by line: error count");
      const LineError& got = parsed.errors()[next_error++];
      Check(got.line == number && got.column == error.column &&
                got.message == error.message,
            "line by line: same error");
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  Check(next_line == parsed.lines().size(), "line by line: no extra lines");
  Check(next_error == parsed.errors().size(), "line by line: no extra errors");
}

void CheckBody(std::string_view body, const ParseOptions& options, Parser* parser) {
  ParsedBody parsed;
  parser->Parse(body, options, &parsed);

  uint64_t newlines = 0;
  for (char c : body) newlines += c == '\n';
  Check(parsed.error_count() == parsed.errors().size(), "error count");

  std::set<uint32_t> used_lines;
  for (const LineError& error : parsed.errors()) {
    Check(error.line >= 1 && error.line <= newlines + 1, "error line in range");
    Check(error.column >= 1, "error column >= 1");
    Check(!error.message.empty(), "error message");
    Check(used_lines.insert(error.line).second, "two errors on one line");
  }
  CheckLineByLine(body, options, parsed);
  for (size_t i = 0; i < parsed.lines().size(); ++i) {
    if (parsed.lines()[i].same_keys_as_previous) {
      Check(i > 0 && SameKeys(parsed.lines()[i], parsed.lines()[i - 1]),
            "same_keys_as_previous");
    }
  }
  uint32_t previous = 0;
  for (const ParsedLine& line : parsed.lines()) {
    Check(line.line_number > previous, "line numbers increase");
    previous = line.line_number;
    Check(line.line_number <= newlines + 1, "line number in range");
    Check(!line.measurement.empty(), "measurement");
    CheckText(line.measurement, body, parsed);
    Check(!line.fields.empty(), "fields");
    std::set<std::string_view> keys;
    for (const Tag& tag : line.tags) {
      Check(!tag.key.empty() && !tag.value.empty() && tag.key != "time", "tag");
      Check(keys.insert(tag.key).second, "unique tag key");
      CheckText(tag.key, body, parsed);
      CheckText(tag.value, body, parsed);
    }
    for (const Field& field : line.fields) {
      Check(!field.key.empty() && field.key != "time", "field key");
      Check(keys.insert(field.key).second, "unique field key");
      CheckText(field.key, body, parsed);
      if (field.type == FieldType::kString) CheckText(field.str, body, parsed);
      if (field.type == FieldType::kFloat)
        Check(std::isfinite(field.f64), "finite float");
    }
    // Formatting (timestamps in ns) and parsing again gives the same line.
    const std::string text = FormatLine(line);
    ParsedBody again;
    parser->Parse(text, ParseOptions{}, &again);
    Check(!again.has_errors() && again.lines().size() == 1, "formatted line parses");
    Check(SameLine(line, again.lines()[0]), "formatted line round-trips");
  }
  // Parsing the same body again with the same (reused) parser gives the same result.
  ParsedBody second;
  parser->Parse(body, options, &second);
  Check(second.lines().size() == parsed.lines().size(), "reparse line count");
  for (size_t i = 0; i < parsed.lines().size(); ++i) {
    Check(SameLine(parsed.lines()[i], second.lines()[i]), "reparse same lines");
  }
  Check(second.errors().size() == parsed.errors().size(), "reparse error count");
  for (size_t i = 0; i < parsed.errors().size(); ++i) {
    Check(second.errors()[i] == parsed.errors()[i], "reparse same errors");
  }
}

}  // namespace
}  // namespace ingester::lp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ingester::lp::Precision;
  // libFuzzer's buffer is exactly `size` bytes, so ASan catches any read past the end.
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  static ingester::lp::Parser parser;
  for (Precision precision : {Precision::kNanosecond, Precision::kAuto,
                              Precision::kMicrosecond, Precision::kMillisecond,
                              Precision::kSecond, Precision::kMinute, Precision::kHour}) {
    ingester::lp::ParseOptions options;
    options.precision = precision;
    options.default_time_ns = 1'700'000'000'000'000'000;
    options.max_errors = SIZE_MAX;
    ingester::lp::CheckBody(body, options, &parser);
  }
  return 0;
}
