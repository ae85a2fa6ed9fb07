// Parsing of human-written sizes ("10MiB", "20MB", "512") and durations ("300s", "5m",
// "250ms") used by command-line flags.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include <arrow/result.h>

namespace ingester {

// Bytes. Suffixes: B, KB/MB/GB (powers of 1000), KiB/MiB/GiB (powers of 1024); case
// insensitive; no suffix means bytes.
arrow::Result<int64_t> ParseByteSize(std::string_view text);

// Suffixes: ns, us, ms, s, m, h; no suffix means seconds.
arrow::Result<std::chrono::nanoseconds> ParseDuration(std::string_view text);

}  // namespace ingester
