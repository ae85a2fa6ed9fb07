// Minimal JSON output: enough for error bodies, catalog listings and reports, without a
// JSON library dependency. Writers append to a std::string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ingester::json {

// Appends `text` as a quoted JSON string, escaping quotes, backslashes and control
// characters. Invalid UTF-8 bytes are replaced by U+FFFD so the output stays valid JSON.
void AppendString(std::string* out, std::string_view text);

std::string Quote(std::string_view text);

}  // namespace ingester::json
