// Writing line protocol: the inverse of the parser, for tests, tools and clients.
// Parsing what these functions write gives back the same measurement, tags, fields and
// timestamp (in nanoseconds), provided the line is one the parser accepts: non-empty,
// unique keys other than `time`, non-empty tag values, valid UTF-8, no newline in a
// name, and a measurement that does not start with `#`, a space, a tab or CR (line
// protocol has no escape for those at the start of a line).
#pragma once

#include <string>
#include <string_view>

#include "ingester/lp/line.h"

namespace ingester::lp {

// Escapes `,`, space and `\` of a measurement.
void AppendMeasurement(std::string_view measurement, std::string* out);
// Escape `,`, `=`, space and `\`.
void AppendTagKey(std::string_view key, std::string* out);
void AppendTagValue(std::string_view value, std::string* out);
void AppendFieldKey(std::string_view key, std::string* out);
// `1.5` (shortest form that reads back exactly), `3i`, `3u`, `true`, `"say \"hi\""`.
void AppendFieldValue(const Field& field, std::string* out);

// The whole line with its timestamp in nanoseconds, without a trailing newline.
void AppendLine(const ParsedLine& line, std::string* out);
std::string FormatLine(const ParsedLine& line);

}  // namespace ingester::lp
