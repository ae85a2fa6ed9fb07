// Reading the small files a flag names (certificates, keys, CA bundles), with errors that
// name the flag and the file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <arrow/result.h>

namespace ingester {

// The whole content of `path`. IOError "FLAG: cannot read PATH: <reason>" when it cannot
// be opened or read (missing, a directory, no permission); Invalid when it is empty or
// larger than `max_bytes`.
arrow::Result<std::string> ReadFlagFile(std::string_view flag, const std::string& path,
                                        int64_t max_bytes = int64_t{1} << 20);

}  // namespace ingester
