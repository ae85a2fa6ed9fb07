// "HOST:PORT" addresses (listeners, peers): one parser for every flag that takes one.
#pragma once

#include <arrow/status.h>

#include <string>
#include <string_view>

namespace ingester {

// "127.0.0.1:8080" -> host and port; "[::1]:8080" -> "::1". The port may be 0 (any
// free port; a caller that needs a real one checks). Errors name `what` ("bind
// address", "peer address") and the text.
arrow::Status SplitHostPort(std::string_view what, std::string_view address,
                            std::string* host, int* port);

}  // namespace ingester
