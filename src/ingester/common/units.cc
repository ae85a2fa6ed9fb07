#include "ingester/common/units.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>
#include <utility>

#include <arrow/status.h>

namespace ingester {

namespace {

// Splits "20MB" into 20 and "mb" (lower case); fails on a missing or negative number.
arrow::Result<std::pair<double, std::string>> SplitNumber(std::string_view text) {
  size_t i = 0;
  while (i < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, value);
  if (i == 0 || ec != std::errc() || ptr != text.data() + i) {
    return arrow::Status::Invalid("'", text, "' does not start with a number");
  }
  std::string suffix(text.substr(i));
  std::transform(suffix.begin(), suffix.end(), suffix.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return std::make_pair(value, suffix);
}

}  // namespace

arrow::Result<int64_t> ParseByteSize(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(auto parts, SplitNumber(text));
  static const std::pair<std::string_view, double> kUnits[] = {{"", 1},
                                                               {"b", 1},
                                                               {"kb", 1e3},
                                                               {"mb", 1e6},
                                                               {"gb", 1e9},
                                                               {"tb", 1e12},
                                                               {"kib", 1024.0},
                                                               {"mib", 1048576.0},
                                                               {"gib", 1073741824.0},
                                                               {"tib", 1099511627776.0},
                                                               {"k", 1e3},
                                                               {"m", 1e6},
                                                               {"g", 1e9}};
  for (const auto& [suffix, scale] : kUnits) {
    if (parts.second == suffix) return static_cast<int64_t>(parts.first * scale);
  }
  return arrow::Status::Invalid("unknown size unit in '", text,
                                "' (use B, KB, MB, GB, KiB, MiB or GiB)");
}

arrow::Result<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(auto parts, SplitNumber(text));
  static const std::pair<std::string_view, double> kUnits[] = {
      {"", 1e9},   {"s", 1e9},  {"ns", 1},    {"us", 1e3},
      {"ms", 1e6}, {"m", 60e9}, {"h", 3600e9}};
  for (const auto& [suffix, scale] : kUnits) {
    if (parts.second == suffix) {
      return std::chrono::nanoseconds(static_cast<int64_t>(parts.first * scale));
    }
  }
  return arrow::Status::Invalid("unknown duration unit in '", text,
                                "' (use ns, us, ms, s, m or h)");
}

}  // namespace ingester
