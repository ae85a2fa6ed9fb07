#include "ingester/server/content_coding.h"

#include <strings.h>
#include <zlib.h>

#include "ingester/common/error.h"

namespace ingester {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool Is(std::string_view token, std::string_view name) {
  return token.size() == name.size() &&
         ::strncasecmp(token.data(), name.data(), name.size()) == 0;
}

arrow::Status TooLarge(int64_t max_bytes) {
  return MakeError(ErrorKind::kTooLarge, arrow::StatusCode::Invalid,
                   "request body is over the limit of " + std::to_string(max_bytes) +
                       " bytes once decoded");
}

}  // namespace

arrow::Result<ContentCoding> ParseContentCoding(std::string_view field_value) {
  ContentCoding coding = ContentCoding::kIdentity;
  std::string_view rest = field_value;
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view token = Trim(rest.substr(0, comma));
    if (!token.empty() && !Is(token, "identity")) {
      ContentCoding next;
      if (Is(token, "gzip") || Is(token, "x-gzip")) {
        next = ContentCoding::kGzip;
      } else if (Is(token, "deflate")) {
        next = ContentCoding::kDeflate;
      } else {
        return arrow::Status::NotImplemented("unsupported Content-Encoding '", token,
                                             "' (supported: gzip, deflate, identity)");
      }
      if (coding != ContentCoding::kIdentity) {
        return arrow::Status::NotImplemented("unsupported Content-Encoding '",
                                             field_value,
                                             "': at most one coding is supported");
      }
      coding = next;
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return coding;
}

arrow::Result<std::string> DecodeContent(ContentCoding coding, std::string data,
                                         int64_t max_bytes) {
  if (coding == ContentCoding::kIdentity) {
    if (static_cast<int64_t>(data.size()) > max_bytes) return TooLarge(max_bytes);
    return data;
  }
  z_stream zs{};
  // 15 + 32: zlib or gzip header, detected; deflate is zlib-wrapped (RFC 9110 8.4.1.2).
  if (inflateInit2(&zs, 15 + 32) != Z_OK) {
    return arrow::Status::OutOfMemory("cannot initialise zlib");
  }
  std::string out;
  out.reserve(std::min<size_t>(data.size() * 4, static_cast<size_t>(max_bytes)));
  zs.next_in = reinterpret_cast<Bytef*>(data.data());
  zs.avail_in = static_cast<uInt>(data.size());
  char chunk[64 * 1024];
  arrow::Status status;
  bool ended = false;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const size_t produced = sizeof(chunk) - zs.avail_out;
    if (static_cast<int64_t>(out.size() + produced) > max_bytes) {
      status = TooLarge(max_bytes);
      break;
    }
    out.append(chunk, produced);
    if (rc == Z_STREAM_END) {
      ended = true;
      // gzip allows several members one after the other; deflate data is one stream.
      if (zs.avail_in == 0 || coding != ContentCoding::kGzip) break;
      if (inflateReset(&zs) != Z_OK) break;
      ended = false;
      continue;
    }
    if (rc != Z_OK) {  // Z_BUF_ERROR: the input ended before the stream did
      status = InvalidInput(std::string("request body is not valid ") +
                            (coding == ContentCoding::kGzip ? "gzip" : "deflate") +
                            " data: " + (zs.msg != nullptr ? zs.msg : "truncated"));
      break;
    }
  }
  const uInt trailing = zs.avail_in;
  inflateEnd(&zs);
  ARROW_RETURN_NOT_OK(status);
  if (!ended || trailing > 0) {
    return InvalidInput("request body has bytes after the end of its compressed data");
  }
  return out;
}

}  // namespace ingester
