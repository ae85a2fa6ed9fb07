// The compression of WAL entry bodies (the payload's compression byte, format.h). Each
// entry names its codec, so a WAL may mix codecs and replay reads any of them whatever
// the writer's current setting.
//
//   byte  codec  library
//   0     none   - (the body as is)
//   1     zstd   libzstd, level configurable (-7..19)
//   2     lz4    LZ4 block compression (Arrow's LZ4 codec); the default
//
// docs/wal.md ("Compression") has the measurements behind the default.
// zstd keeps one compression and one decompression context per thread (a one-shot call
// would allocate and fault in a fresh context of several hundred KiB for every entry).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "ingester/wal/format.h"

namespace ingester::wal {

// zstd's own default; levels below 1 trade ratio for speed (zstd "fast" levels).
inline constexpr int kDefaultZstdLevel = 1;
inline constexpr int kMinZstdLevel = -7;
inline constexpr int kMaxZstdLevel = 19;

// "none", "zstd", "lz4".
std::string_view PayloadCompressionName(PayloadCompression compression);
// The codec of a name above; InvalidInput naming the choices for anything else.
arrow::Result<PayloadCompression> ParsePayloadCompression(std::string_view name);
// OK if `level` is meaningful for `compression` (zstd: kMinZstdLevel..kMaxZstdLevel;
// the others take only the default, 0).
arrow::Status ValidateCompressionLevel(PayloadCompression compression, int level);

// Appends `body` compressed with `compression` to `out`. `level` 0 means the codec's
// default. Thread-safe.
arrow::Status CompressBody(PayloadCompression compression, int level,
                           std::string_view body, std::string* out);

// Decompresses `size` bytes at `data` into exactly `out_size` bytes at `out`; Invalid
// when the data is corrupt, decompresses to another size, or names an unknown codec.
// Thread-safe.
arrow::Status DecompressBody(uint8_t compression, const uint8_t* data, size_t size,
                             uint8_t* out, size_t out_size);

}  // namespace ingester::wal
