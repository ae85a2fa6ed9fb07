// Finds the text of a line of a request body by its 1-based number, for error reports.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace ingester {

class LineIndex {
 public:
  // Scans `body` once for line ends; `body` must outlive the index.
  explicit LineIndex(std::string_view body);

  // The line without its end ("\n" or "\r\n"); empty past the last line.
  std::string_view Line(uint32_t line_number) const;
  // 1-based byte column of `inside` within its line, or 0 if it does not point there.
  uint32_t ColumnOf(uint32_t line_number, const char* inside) const;

 private:
  std::string_view body_;
  std::vector<size_t> starts_;  // starts_[n - 1]: offset of line n
};

}  // namespace ingester
