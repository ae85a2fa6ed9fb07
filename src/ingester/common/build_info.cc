#include "ingester/common/build_info.h"

#ifndef INGESTER_VERSION
#error "INGESTER_VERSION is set by src/ingester/common/CMakeLists.txt"
#endif

namespace ingester {

std::string_view BuildVersion() { return INGESTER_VERSION; }

std::string_view BuildName() { return "ingester"; }

}  // namespace ingester
