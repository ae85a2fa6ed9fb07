// Request targets, routing and request body codings of the HTTP front.
#include <zlib.h>

#include <gtest/gtest.h>

#include "ingester/common/error.h"
#include "ingester/server/content_coding.h"
#include "ingester/server/http_message.h"

namespace ingester {
namespace {

std::string Gzip(const std::string& data) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(compressBound(data.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(HttpTarget, SplitsAndDecodes) {
  std::string path;
  std::vector<std::pair<std::string, std::string>> params;
  ASSERT_TRUE(ParseTarget("/api/v3/write_lp?db=my+db&precision=ns&x=%2F%3d&flag&=v#frag",
                          &path, &params));
  EXPECT_EQ(path, "/api/v3/write_lp");
  ASSERT_EQ(params.size(), 5u);
  EXPECT_EQ(params[0], (std::pair<std::string, std::string>{"db", "my db"}));
  EXPECT_EQ(params[2].second, "/=");
  EXPECT_EQ(params[3], (std::pair<std::string, std::string>{"flag", ""}));
  EXPECT_EQ(params[4].first, "");
  ASSERT_TRUE(ParseTarget("/a%20b", &path, &params));
  EXPECT_EQ(path, "/a b");
  EXPECT_TRUE(params.empty());
  EXPECT_FALSE(ParseTarget("/x?db=%zz", &path, &params));
  EXPECT_FALSE(ParseTarget("/x?db=%2", &path, &params));
  EXPECT_FALSE(ParseTarget("*", &path, &params));
  EXPECT_FALSE(ParseTarget("", &path, &params));
}

TEST(HttpRequest, FirstParamAndCaseInsensitiveHeader) {
  HttpRequest req;
  req.params = {{"db", "a"}, {"db", "b"}};
  req.headers = {{"Content-Type", "text/plain"}};
  EXPECT_EQ(req.Param("db"), "a");
  EXPECT_FALSE(req.HasParam("bucket"));
  EXPECT_EQ(req.ParamOr("precision", "auto"), "auto");
  EXPECT_EQ(req.Header("content-type"), "text/plain");
  EXPECT_EQ(req.Header("authorization"), "");
}

TEST(HttpRouter, RoutesByMethodAndPath) {
  HttpRouter router;
  router.Add("GET", "/ping",
             [](const HttpRequest&) { return HttpResponse::Json(200, "1"); });
  router.Add("POST", "/ping",
             [](const HttpRequest&) { return HttpResponse::Json(201, "2"); });
  HttpRequest req;
  req.method = "GET";
  req.path = "/ping";
  EXPECT_EQ(router.Dispatch(req).status, 200);
  req.method = "HEAD";
  EXPECT_EQ(router.Dispatch(req).status, 200);
  req.method = "POST";
  EXPECT_EQ(router.Dispatch(req).status, 201);
  req.method = "DELETE";
  auto res = router.Dispatch(req);
  EXPECT_EQ(res.status, 405);
  ASSERT_FALSE(res.headers.empty());
  EXPECT_EQ(res.headers.back(),
            (std::pair<std::string, std::string>{"Allow", "GET, POST"}));
  req.path = "/nope";
  EXPECT_EQ(router.Dispatch(req).status, 404);
}

TEST(ContentCoding, ParsesKnownCodings) {
  EXPECT_EQ(ParseContentCoding("").ValueOrDie(), ContentCoding::kIdentity);
  EXPECT_EQ(ParseContentCoding("identity").ValueOrDie(), ContentCoding::kIdentity);
  EXPECT_EQ(ParseContentCoding(" GZIP ").ValueOrDie(), ContentCoding::kGzip);
  EXPECT_EQ(ParseContentCoding("x-gzip").ValueOrDie(), ContentCoding::kGzip);
  EXPECT_EQ(ParseContentCoding("deflate").ValueOrDie(), ContentCoding::kDeflate);
  EXPECT_EQ(ParseContentCoding("identity, gzip").ValueOrDie(), ContentCoding::kGzip);
  auto zstd = ParseContentCoding("zstd");
  ASSERT_FALSE(zstd.ok());
  EXPECT_TRUE(zstd.status().IsNotImplemented());
  EXPECT_NE(zstd.status().message().find("zstd"), std::string::npos);
  EXPECT_FALSE(ParseContentCoding("gzip, gzip").ok());
}

TEST(ContentCoding, DecodesGzipWithinTheLimit) {
  const std::string text(100'000, 'x');
  const std::string gz = Gzip(text);
  EXPECT_EQ(DecodeContent(ContentCoding::kGzip, gz, 100'000).ValueOrDie(), text);
  // Two members one after the other (gzip allows it).
  EXPECT_EQ(DecodeContent(ContentCoding::kGzip, gz + Gzip("y"), 200'000).ValueOrDie(),
            text + "y");
  auto bomb = DecodeContent(ContentCoding::kGzip, gz, 99'999);
  ASSERT_FALSE(bomb.ok());
  EXPECT_EQ(ErrorKindOf(bomb.status()), ErrorKind::kTooLarge);
  for (const std::string& bad : {gz.substr(0, gz.size() - 4), gz + "junk",
                                 std::string("\x1f\x8b\x08garbage", 10), std::string()}) {
    auto decoded = DecodeContent(ContentCoding::kGzip, bad, 1 << 20);
    ASSERT_FALSE(decoded.ok()) << bad.size();
    EXPECT_EQ(ErrorKindOf(decoded.status()), ErrorKind::kInvalidInput);
  }
  auto big = DecodeContent(ContentCoding::kIdentity, text, 10);
  EXPECT_EQ(ErrorKindOf(big.status()), ErrorKind::kTooLarge);
}

}  // namespace
}  // namespace ingester
