// What a client asks of the write pipeline and what it answers: the request and reply
// types shared by the pipeline, the Ingester facade and the HTTP handlers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ingester {

struct LineProtocolWrite {
  std::string_view namespace_name;
  std::string_view body;
  // As the client spelled it: auto, s, ms, us, ns (and the v1 spellings n, u, m, h).
  std::string_view precision = "auto";
  // true: valid lines are written and bad ones reported; false: one bad line rejects
  // the whole request and nothing of it is written.
  bool accept_partial = true;
  // false: acknowledge once the WAL append is handed to the OS, before its fsync.
  bool sync = true;
};

struct RejectedLine {
  uint32_t line_number = 0;  // 1-based
  uint32_t column = 0;       // 1-based byte column; 0 when the whole line is meant
  std::string message;
  std::string original_line;  // truncated to a readable length
};

struct WriteSummary {
  int64_t lines_written = 0;
  int64_t rows_written = 0;
  std::vector<RejectedLine> rejected;
};

}  // namespace ingester
