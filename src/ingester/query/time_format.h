// RFC 3339 text for nanosecond timestamps (UTC), for the query client and the HTTP
// read (calendar arithmetic: common/civil_time.h).
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace ingester::query {

// An integer of nanoseconds since the epoch ("1700000000000000000", "-5"), or RFC 3339:
// "2023-11-14T22:13:20Z", "2023-11-14T22:13:20.123456789+01:00", "2023-11-14 22:13:20"
// (no zone: UTC) or a date "2023-11-14" (midnight UTC). InvalidInput otherwise, or when
// outside the int64 nanosecond range (years 1677-2262).
arrow::Result<int64_t> ParseTimestamp(std::string_view text);

// "2023-11-14T22:13:20Z", with fractional seconds when not zero, trailing zeros trimmed
// ("...:20.5Z", "...:20.000000001Z").
std::string FormatTimestamp(int64_t ns);

}  // namespace ingester::query
