// Request body content codings (RFC 9110 section 8.4): identity, gzip (x-gzip) and
// deflate (zlib), decoded with a bound on the decoded size.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <arrow/result.h>

namespace ingester {

enum class ContentCoding { kIdentity, kGzip, kDeflate };

// The coding named by a Content-Encoding field value ("" means identity). At most one
// coding other than identity is supported; NotImplemented naming the value otherwise
// (HTTP 415).
arrow::Result<ContentCoding> ParseContentCoding(std::string_view field_value);

// `data` decoded. InvalidInput (HTTP 400) for data that is not valid in its coding,
// including trailing bytes after the last gzip member; an error of kind kTooLarge
// (HTTP 413) as soon as the decoded size passes `max_bytes`, without decoding further.
arrow::Result<std::string> DecodeContent(ContentCoding coding, std::string data,
                                         int64_t max_bytes);

}  // namespace ingester
