// Process-wide logging through spdlog.
#pragma once

#include <string_view>

#include <arrow/status.h>
#include <spdlog/spdlog.h>

namespace ingester {

// Sets the level from "trace", "debug", "info", "warn", "error" or "off".
arrow::Status SetLogLevel(std::string_view level);

}  // namespace ingester
