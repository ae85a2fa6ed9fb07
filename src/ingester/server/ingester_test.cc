// The Ingester facade behind the real HTTP server, in process, on loopback.
#include "ingester/server/ingester.h"

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "ingester/common/error.h"
#include "ingester/server/http_server.h"

namespace ingester {
namespace {

class IngesterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ =
        std::filesystem::temp_directory_path() /
        ("ingester-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  }
  void TearDown() override {
    server_.reset();
    ingester_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Start(int64_t max_request_bytes = 1 << 20) {
    IngesterOptions options;
    options.data_dir = dir_.string();
    ingester_ = Ingester::Make(options).ValueOrDie();
    HttpServerOptions http;
    http.front.port = 0;
    http.front.worker_threads = 8;
    http.front.max_body_bytes = max_request_bytes;
    server_ = HttpServer::Start(http, ingester_.get()).ValueOrDie();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void Restart() {
    server_.reset();
    ingester_.reset();
    Start();
  }

  httplib::Result Post(const std::string& path, const std::string& body) {
    return client_->Post(path, body, "text/plain");
  }

  std::filesystem::path dir_;
  std::unique_ptr<Ingester> ingester_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(IngesterTest, WriteIsBufferedAndListed) {
  Start();
  auto res = Post("/api/v3/write_lp?db=db", "cpu,host=a usage=1.5 1700000000000000000\n");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 204) << res->body;
  auto listing = ingester_->CatalogJson().ValueOrDie();
  EXPECT_NE(listing.find("\"name\":\"cpu\""), std::string::npos) << listing;
  EXPECT_NE(listing.find("\"key\":\"2023-11-14\",\"buffered_rows\":1"), std::string::npos)
      << listing;
}

TEST_F(IngesterTest, RejectedLinesAreListedAsJson) {
  Start();
  auto res = Post("/api/v3/write_lp?db=db", "cpu v=1 1\ncpu v=x 2\n");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("\"line_number\":2"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("\"original_line\":\"cpu v=x 2\""), std::string::npos)
      << res->body;
}

TEST_F(IngesterTest, UnknownPrecisionIsA400) {
  Start();
  auto res = Post("/api/v3/write_lp?db=db&precision=fortnights", "cpu v=1 1\n");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("fortnights"), std::string::npos) << res->body;
}

TEST_F(IngesterTest, OversizeBodyIs413) {
  Start(/*max_request_bytes=*/1000);
  std::string body;
  while (body.size() < 5000) body += "cpu v=1 1\n";
  auto res = Post("/api/v3/write_lp?db=db", body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  // The connection is still usable for a good write.
  res = Post("/api/v3/write_lp?db=db", "cpu v=1 1\n");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 204);
}

TEST_F(IngesterTest, WritesAfterShutdownGet503WithRetryAfter) {
  Start();
  ASSERT_TRUE(ingester_->Shutdown().ok());
  auto res = Post("/api/v3/write_lp?db=db", "cpu v=1 1\n");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->get_header_value("Retry-After"), "1");
  auto health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
}

TEST_F(IngesterTest, CleanRestartPersistsEverythingAndEmptiesTheWal) {
  Start();
  std::string body;
  for (int i = 0; i < 500; ++i) {
    body += "cpu,host=h" + std::to_string(i % 7) + " v=" + std::to_string(i) + "i " +
            std::to_string(1700000000000000000LL + i) + "\n";
  }
  auto res = Post("/write?db=db", body);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 204);
  Restart();  // a clean shutdown: persist all, wait for the WAL to empty
  auto listing = ingester_->CatalogJson().ValueOrDie();
  EXPECT_NE(listing.find("\"buffered_rows\":0"), std::string::npos) << listing;
  EXPECT_NE(listing.find("\"parquet_files\":1,\"persisted_rows\":500"), std::string::npos)
      << listing;
  EXPECT_EQ(listing.find("\"files\""), std::string::npos) << listing;
  listing = ingester_->CatalogJson(/*with_files=*/true).ValueOrDie();
  EXPECT_THAT(
      listing,
      ::testing::MatchesRegex(
          ".*\"files\":\\[\\{\"path\":\"[0-9]+/[0-9]+/[0-9]+/" +
          ingester_->ingester_id() +
          "/[0-9a-f-]{36}"
          "\\.parquet\",\"rows\":500,\"bytes\":[1-9][0-9]*,"
          "\"min_time\":1700000000000000000,\"max_time\":1700000000000000499\\}\\].*"));
  // Only the segment opened by this start is left.
  int segments = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "wal")) {
    segments += e.path().extension() == ".dat";
  }
  EXPECT_EQ(segments, 1);
  // Writes after the restart land in the buffer again.
  res = Post("/write?db=db", "cpu,host=x v=1i 1700000000000000999\n");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 204);
  listing = ingester_->CatalogJson().ValueOrDie();
  EXPECT_NE(listing.find("\"buffered_rows\":1"), std::string::npos) << listing;
}

TEST_F(IngesterTest, ConcurrentWritersToOnePartition) {
  Start();
  constexpr int kThreads = 16, kRequests = 20, kLines = 25;
  std::atomic<int> failures{0};
  std::mutex first_failure_mu;
  std::string first_failure;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", server_->port());
      for (int r = 0; r < kRequests; ++r) {
        std::string body;
        for (int l = 0; l < kLines; ++l) {
          body += "hot,writer=w" + std::to_string(t) +
                  " n=" + std::to_string(r * kLines + l) + "i 1700000000000000000\n";
        }
        auto res = client.Post("/api/v3/write_lp?db=db", body, "text/plain");
        if (!res || res->status != 204) {
          std::lock_guard lock(first_failure_mu);
          if (failures++ == 0) {
            first_failure = res ? std::to_string(res->status) + " " + res->body
                                : httplib::to_string(res.error());
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0) << "first failure: " << first_failure;
  auto listing = ingester_->CatalogJson().ValueOrDie();
  EXPECT_NE(
      listing.find("\"buffered_rows\":" + std::to_string(kThreads * kRequests * kLines)),
      std::string::npos)
      << listing;
}

TEST_F(IngesterTest, ClientMessagesNameTheDirectoriesByTheirFlags) {
  Start();
  const std::string wal = ingester_->options().wal_dir;
  const std::string message =
      ingester_
          ->ClientMessage(arrow::Status::IOError(
              "fsync of ", std::filesystem::absolute(wal).string(),
              "/00000000000000000001.dat failed; data in ", dir_.string(), "/objects"))
          .c_str();
  EXPECT_EQ(
      message,
      "fsync of <wal-dir>/00000000000000000001.dat failed; data in <data-dir>/objects");
}

}  // namespace
}  // namespace ingester
