// Helpers shared by the parser's test files (test binaries only).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "ingester/lp/parser.h"

namespace ingester::lp {

inline constexpr int64_t kNow = 1'700'000'000'123'456'789;

inline ParsedBody ParseNs(std::string_view body) {
  ParseOptions options;
  options.default_time_ns = kNow;
  return Parse(body, options);
}

// The only line of `parsed`, failing the test on errors.
inline const ParsedLine& Only(const ParsedBody& parsed) {
  static const ParsedLine kEmpty;
  EXPECT_FALSE(parsed.has_errors()) << parsed.ErrorStatus().ToString();
  EXPECT_EQ(parsed.lines().size(), 1u);
  return parsed.lines().empty() ? kEmpty : parsed.lines()[0];
}

// The single field of a one-line body "m f=<value>".
inline Field FieldOf(const ParsedBody& parsed) {
  const ParsedLine& line = Only(parsed);
  EXPECT_EQ(line.fields.size(), 1u);
  return line.fields.empty() ? Field{} : line.fields[0];
}

// The only error of `body`, as "line L, column C: message".
inline std::string OnlyError(std::string_view body, ParseOptions options = {}) {
  const ParsedBody parsed = Parse(body, options);
  EXPECT_EQ(parsed.error_count(), 1u) << body;
  EXPECT_TRUE(parsed.lines().empty()) << body;
  return parsed.errors().empty() ? "" : parsed.errors()[0].ToString();
}

inline std::vector<Tag> Tags(const ParsedLine& line) {
  return {line.tags.begin(), line.tags.end()};
}
inline std::vector<Field> Fields(const ParsedLine& line) {
  return {line.fields.begin(), line.fields.end()};
}

}  // namespace ingester::lp
