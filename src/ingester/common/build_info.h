// What this binary is, for the handshakes that report it: the X-Influxdb-Version and
// X-Influxdb-Build headers, /health's "version" and the ingester_build_info metric.
#pragma once

#include <string_view>

namespace ingester {

// The project version of CMakeLists.txt, e.g. "0.1.0".
std::string_view BuildVersion();
// The product name reported as the build ("ingester"), where InfluxDB says "OSS".
std::string_view BuildName();

}  // namespace ingester
