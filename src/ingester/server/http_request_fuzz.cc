// libFuzzer target: raw request bytes, fed in pieces of a size the input picks, through
// the request reader (framing, limits, header checks), the body decoder and the router,
// request after request as a pipelining client would send them. Checks the reader's
// contract: every refusal is a 4xx/5xx with a message, nothing is left half-parsed, and
// a complete request has an origin-form path and a body within the limit.
//
//   make fuzz
//   build-fuzz/src/ingester/server/http_request_fuzz -max_total_time=600 \
//       -rss_limit_mb=2048 CORPUS_DIR
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ingester/server/content_coding.h"
#include "ingester/server/http_message.h"
#include "ingester/server/http_request_reader.h"

namespace ingester::http_internal {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

HttpFrontOptions FuzzOptions() {
  HttpFrontOptions options;
  options.max_body_bytes = 64 * 1024;
  options.max_header_bytes = 4 * 1024;
  options.max_target_bytes = 1024;
  options.max_headers = 32;
  return options;
}

HttpRouter FuzzRouter() {
  HttpRouter router;
  router.Add("POST", "/api/v3/write_lp", [](const HttpRequest& req) {
    HttpResponse res;
    res.status = req.ParamOr("db", "").empty() ? 400 : 204;
    return res;
  });
  router.Add("GET", "/ping",
             [](const HttpRequest&) { return HttpResponse::Json(200, "{}"); });
  return router;
}

}  // namespace
}  // namespace ingester::http_internal

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ingester;
  using namespace ingester::http_internal;
  static const HttpFrontOptions options = FuzzOptions();
  static const HttpRouter router = FuzzRouter();
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;
  ++data;
  --size;
  HttpRequestReader reader(options);
  reader.Reset();
  boost::beast::flat_buffer buffer;
  for (size_t pos = 0; pos < size;) {
    const size_t n = std::min(piece, size - pos);
    auto space = buffer.prepare(n);
    std::memcpy(space.data(), data + pos, n);
    buffer.commit(n);
    pos += n;
    while (true) {
      const auto progress = reader.Parse(&buffer);
      if (progress == HttpRequestReader::Progress::kNeedMore) {
        Check(buffer.size() <= static_cast<size_t>(options.max_header_bytes) + piece,
              "the reader holds more than the header limit");
        break;
      }
      if (progress == HttpRequestReader::Progress::kExpectContinue) {
        Check(reader.header_done(), "100 Continue before the header passed");
        continue;
      }
      if (progress == HttpRequestReader::Progress::kRefused) {
        const auto& refusal = reader.refusal();
        Check(refusal.status >= 400 && refusal.status <= 505, "refusal status");
        Check(!refusal.message.empty(), "refusal without a message");
        return 0;  // the connection closes
      }
      HttpRequest request = reader.TakeRequest();
      Check(!request.path.empty() && request.path[0] == '/', "path not in origin form");
      Check(request.body.size() <= static_cast<size_t>(options.max_body_bytes),
            "body over the limit");
      auto decoded =
          DecodeContent(reader.coding(), std::move(request.body), options.max_body_bytes);
      if (decoded.ok()) {
        Check(decoded->size() <= static_cast<size_t>(options.max_body_bytes),
              "decoded body over the limit");
        request.body = std::move(*decoded);
        const HttpResponse response = router.Dispatch(request);
        Check(response.status >= 200 && response.status < 600, "response status");
      }
      if (!reader.keep_alive()) return 0;
      reader.Reset();
    }
  }
  return 0;
}
