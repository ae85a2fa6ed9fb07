#include "ingester/wal/payload_codec.h"

#include <arrow/util/compression.h>
#include <zstd.h>

#include <cstring>
#include <memory>

#include "ingester/common/error.h"

namespace ingester::wal {

namespace {

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

// One context per thread, created on first use and kept until the thread ends.
ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  return cctx.get();
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  return dctx.get();
}

arrow::Result<arrow::util::Codec*> Lz4Codec() {
  // LZ4 block compression keeps its state on the stack: one instance serves every thread.
  static const arrow::Result<std::unique_ptr<arrow::util::Codec>> codec =
      arrow::util::Codec::Create(arrow::Compression::LZ4);
  if (!codec.ok()) return codec.status();
  return codec->get();
}

}  // namespace

std::string_view PayloadCompressionName(PayloadCompression compression) {
  switch (compression) {
    case PayloadCompression::kNone:
      return "none";
    case PayloadCompression::kZstd:
      return "zstd";
    case PayloadCompression::kLz4:
      return "lz4";
  }
  return "unknown";
}

arrow::Result<PayloadCompression> ParsePayloadCompression(std::string_view name) {
  for (auto c :
       {PayloadCompression::kZstd, PayloadCompression::kLz4, PayloadCompression::kNone}) {
    if (name == PayloadCompressionName(c)) return c;
  }
  return InvalidInput("unknown WAL compression '" + std::string(name) +
                      "' (expected zstd, lz4 or none)");
}

arrow::Status ValidateCompressionLevel(PayloadCompression compression, int level) {
  if (level == 0) return arrow::Status::OK();
  if (compression == PayloadCompression::kZstd) {
    if (level < kMinZstdLevel || level > kMaxZstdLevel) {
      return InvalidInput("WAL zstd compression level " + std::to_string(level) +
                          " is outside " + std::to_string(kMinZstdLevel) + ".." +
                          std::to_string(kMaxZstdLevel));
    }
    return arrow::Status::OK();
  }
  return InvalidInput("WAL compression '" +
                      std::string(PayloadCompressionName(compression)) +
                      "' takes no level (got " + std::to_string(level) + ")");
}

arrow::Status CompressBody(PayloadCompression compression, int level,
                           std::string_view body, std::string* out) {
  const size_t at = out->size();
  switch (compression) {
    case PayloadCompression::kNone:
      out->append(body);
      return arrow::Status::OK();
    case PayloadCompression::kZstd: {
      out->resize(at + ZSTD_compressBound(body.size()));
      const size_t n =
          ZSTD_compressCCtx(ThreadCCtx(), out->data() + at, out->size() - at, body.data(),
                            body.size(), level == 0 ? kDefaultZstdLevel : level);
      if (ZSTD_isError(n)) {
        out->resize(at);
        return arrow::Status::IOError("zstd compression failed: ", ZSTD_getErrorName(n));
      }
      out->resize(at + n);
      return arrow::Status::OK();
    }
    case PayloadCompression::kLz4: {
      ARROW_ASSIGN_OR_RAISE(auto* codec, Lz4Codec());
      const auto* in = reinterpret_cast<const uint8_t*>(body.data());
      const auto in_size = static_cast<int64_t>(body.size());
      out->resize(at + static_cast<size_t>(codec->MaxCompressedLen(in_size, in)));
      auto n = codec->Compress(in_size, in, static_cast<int64_t>(out->size() - at),
                               reinterpret_cast<uint8_t*>(out->data() + at));
      if (!n.ok()) {
        out->resize(at);
        return n.status();
      }
      out->resize(at + static_cast<size_t>(*n));
      return arrow::Status::OK();
    }
  }
  return arrow::Status::Invalid("unknown payload compression ",
                                static_cast<int>(compression));
}

arrow::Status DecompressBody(uint8_t compression, const uint8_t* data, size_t size,
                             uint8_t* out, size_t out_size) {
  switch (static_cast<PayloadCompression>(compression)) {
    case PayloadCompression::kNone:
      if (size != out_size) {
        return arrow::Status::Invalid("uncompressed body of ", size, " bytes, expected ",
                                      out_size);
      }
      if (size > 0) std::memcpy(out, data, size);
      return arrow::Status::OK();
    case PayloadCompression::kZstd: {
      const size_t n = ZSTD_decompressDCtx(ThreadDCtx(), out, out_size, data, size);
      if (ZSTD_isError(n)) {
        return arrow::Status::Invalid("zstd body does not decompress: ",
                                      ZSTD_getErrorName(n));
      }
      if (n != out_size) {
        return arrow::Status::Invalid("body decompressed to ", n, " bytes, expected ",
                                      out_size);
      }
      return arrow::Status::OK();
    }
    case PayloadCompression::kLz4: {
      ARROW_ASSIGN_OR_RAISE(auto* codec, Lz4Codec());
      auto n = codec->Decompress(static_cast<int64_t>(size), data,
                                 static_cast<int64_t>(out_size), out);
      if (!n.ok()) {
        return arrow::Status::Invalid("lz4 body does not decompress: ",
                                      n.status().message());
      }
      if (*n != static_cast<int64_t>(out_size)) {
        return arrow::Status::Invalid("body decompressed to ", *n, " bytes, expected ",
                                      out_size);
      }
      return arrow::Status::OK();
    }
  }
  return arrow::Status::Invalid("unknown payload compression ",
                                static_cast<int>(compression));
}

}  // namespace ingester::wal
