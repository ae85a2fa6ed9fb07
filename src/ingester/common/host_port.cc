#include "ingester/common/host_port.h"

#include <charconv>

namespace ingester {

arrow::Status SplitHostPort(std::string_view what, std::string_view address,
                            std::string* host, int* port) {
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return arrow::Status::Invalid(what, " '", address, "' is not HOST:PORT");
  }
  const std::string_view port_text = address.substr(colon + 1);
  int value = -1;
  auto [ptr, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || value < 0 ||
      value > 65535) {
    return arrow::Status::Invalid(what, " '", address, "' has no valid port");
  }
  std::string_view host_text = address.substr(0, colon);
  if (host_text.size() > 2 && host_text.front() == '[' && host_text.back() == ']') {
    host_text = host_text.substr(1, host_text.size() - 2);  // [::1]:8080
  }
  *host = std::string(host_text);
  *port = value;
  return arrow::Status::OK();
}

}  // namespace ingester
