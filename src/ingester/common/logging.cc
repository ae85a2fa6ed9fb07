#include "ingester/common/logging.h"

#include <string>

namespace ingester {

arrow::Status SetLogLevel(std::string_view level) {
  auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return arrow::Status::Invalid("unknown log level '", level,
                                  "' (use trace, debug, info, warn, error or off)");
  }
  spdlog::set_level(parsed);
  return arrow::Status::OK();
}

}  // namespace ingester
