#include "ingester/server/options.h"

#include "ingester/common/host_port.h"

#include <gtest/gtest.h>

namespace ingester {
namespace {

TEST(Options, ResolveDerivesPathsFromDataDir) {
  IngesterOptions o;
  o.data_dir = "/srv/x";
  o.Resolve();
  EXPECT_EQ(o.wal_dir, "/srv/x/wal");
  EXPECT_EQ(o.catalog_url, "sqlite:///srv/x/catalog.sqlite");
  EXPECT_EQ(o.object_store_url, "file:///srv/x/objects");
  EXPECT_TRUE(o.Validate().ok());
}

TEST(Options, ExplicitPathsAreKept) {
  IngesterOptions o;
  o.wal_dir = "/fast/wal";
  o.Resolve();
  EXPECT_EQ(o.wal_dir, "/fast/wal");
}

TEST(Options, ValidateNamesTheBadFlag) {
  IngesterOptions o;
  o.persist_workers = 0;
  auto st = o.Validate();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--persist-workers"), std::string::npos);
  o = IngesterOptions{};
  o.http_bind = "localhost";
  EXPECT_NE(o.Validate().message().find("HOST:PORT"), std::string::npos);
  for (double percent : {0.0, -5.0, 100.5}) {
    o = IngesterOptions{};
    o.wal_disk_full_percent = percent;
    EXPECT_NE(o.Validate().message().find("--wal-disk-full-percent"), std::string::npos)
        << percent;
  }
  o.wal_disk_full_percent = 100;
  EXPECT_TRUE(o.Validate().ok());
  o = IngesterOptions{};
  EXPECT_EQ(o.max_flight_put_size, 64 * 1024 * 1024);
  o.max_flight_put_size = 0;
  EXPECT_NE(o.Validate().message().find("--max-flight-put-size"), std::string::npos);
}

TEST(Options, PeersAndIngesterIdAreChecked) {
  IngesterOptions o;
  o.peers = {"127.0.0.1:9002", "[::1]:9003", "ingester-b:8082"};
  o.ingester_id = "ingester-a";
  EXPECT_TRUE(o.Validate().ok()) << o.Validate().ToString();
  for (std::string bad : {"127.0.0.1", "127.0.0.1:0", ":8082", "host:port"}) {
    o.peers = {bad};
    auto st = o.Validate();
    EXPECT_TRUE(st.IsInvalid()) << bad;
    EXPECT_NE(st.message().find("--peer " + bad), std::string::npos) << st.message();
  }
  o.peers = {"127.0.0.1:9002", "127.0.0.1:9002"};
  EXPECT_NE(o.Validate().message().find("given twice"), std::string::npos);
  o.peers.clear();
  o.peer_timeout = std::chrono::milliseconds(1);
  EXPECT_NE(o.Validate().message().find("--peer-timeout"), std::string::npos);
  o = IngesterOptions{};
  o.ingester_id = "a/b";
  EXPECT_NE(o.Validate().message().find("--ingester-id"), std::string::npos);
}

TEST(Options, WalCompressionAndLevelAreChecked) {
  IngesterOptions o;
  EXPECT_EQ(o.wal_compression, "lz4");
  EXPECT_TRUE(o.Validate().ok());
  o.wal_compression = "gzip";
  EXPECT_NE(o.Validate().message().find("--wal-compression"), std::string::npos);
  o.wal_compression = "zstd";
  o.wal_compression_level = -5;
  EXPECT_TRUE(o.Validate().ok());
  o.wal_compression_level = 42;
  EXPECT_NE(o.Validate().message().find("--wal-compression-level"), std::string::npos);
  o.wal_compression = "none";
  o.wal_compression_level = 1;
  EXPECT_NE(o.Validate().message().find("--wal-compression-level"), std::string::npos);
}

TEST(Options, TlsTakesCertificateAndKeyTogether) {
  IngesterOptions o;
  o.tls_cert = "server.pem";
  EXPECT_NE(o.Validate().message().find("--tls-key"), std::string::npos);
  o = IngesterOptions{};
  o.tls_key = "server.key";
  EXPECT_NE(o.Validate().message().find("--tls-cert"), std::string::npos);
  o.tls_cert = "server.pem";
  EXPECT_TRUE(o.Validate().ok());  // the files are read and checked at start
}

TEST(Options, SplitHostPort) {
  std::string host;
  int port = 0;
  ASSERT_TRUE(SplitHostPort("bind address", "127.0.0.1:8080", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8080);
  ASSERT_TRUE(SplitHostPort("bind address", "[::1]:0", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 0);
  EXPECT_FALSE(SplitHostPort("bind address", "host:99999", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("bind address", "host:", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("bind address", ":80", &host, &port).ok());
}

}  // namespace
}  // namespace ingester
