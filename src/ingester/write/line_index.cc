#include "ingester/write/line_index.h"

#include <cstring>
#include <functional>

namespace ingester {

LineIndex::LineIndex(std::string_view body) : body_(body) {
  starts_.push_back(0);
  const char* begin = body.data();
  const char* end = begin + body.size();
  for (const char* p = begin; p < end;) {
    auto* nl =
        static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (nl == nullptr) break;
    starts_.push_back(static_cast<size_t>(nl - begin) + 1);
    p = nl + 1;
  }
}

std::string_view LineIndex::Line(uint32_t line_number) const {
  if (line_number == 0 || line_number > starts_.size()) return {};
  size_t start = starts_[line_number - 1];
  size_t end = line_number < starts_.size() ? starts_[line_number] - 1 : body_.size();
  if (end > start && body_[end - 1] == '\r') --end;
  return body_.substr(start, end - start);
}

uint32_t LineIndex::ColumnOf(uint32_t line_number, const char* inside) const {
  std::string_view line = Line(line_number);
  // std::less gives a total order even for pointers into different objects.
  std::less<const char*> before;
  if (line.data() == nullptr || before(inside, line.data()) ||
      !before(inside, line.data() + line.size())) {
    return 0;
  }
  return static_cast<uint32_t>(inside - line.data()) + 1;
}

}  // namespace ingester
