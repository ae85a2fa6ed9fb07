#include "ingester/catalog/postgres_test_server.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

namespace ingester::catalog::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// A process to run: argv, the user to run it as, where its output goes.
struct Spawn {
  std::vector<std::string> argv;
  bool switch_user = false;
  // Ask the kernel to stop the child (SIGINT: a fast shutdown) when the thread that
  // spawned it ends, so a test process that crashes leaves no server running.
  bool die_with_parent = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string cwd;
  std::string log_path;
};

// Forks and execs `spawn`; returns the child's pid. Everything the child needs is
// prepared before fork (only async-signal-safe calls after it).
arrow::Result<pid_t> StartProcess(const Spawn& spawn) {
  std::vector<char*> argv;
  for (const std::string& a : spawn.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int log_fd = ::open(spawn.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log_fd < 0) {
    return arrow::Status::IOError("postgres test server: cannot open ", spawn.log_path);
  }
  if (spawn.switch_user && ::fchown(log_fd, spawn.uid, spawn.gid) != 0) {
    ::close(log_fd);
    return arrow::Status::IOError("postgres test server: cannot chown ", spawn.log_path);
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return arrow::Status::IOError("postgres test server: fork failed");
  }
  if (pid == 0) {
    // Own process group: a signal to the test's group does not reach the server
    // twice, and the server outlives nothing it should not.
    ::setpgid(0, 0);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    if (spawn.switch_user) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(spawn.gid) != 0 ||
          ::setuid(spawn.uid) != 0) {
        ::_exit(126);
      }
    }
    // After setuid, which clears the parent-death signal.
    if (spawn.die_with_parent &&
        (::prctl(PR_SET_PDEATHSIG, SIGINT) != 0 || ::getppid() != parent)) {
      ::_exit(125);
    }
    if (!spawn.cwd.empty() && ::chdir(spawn.cwd.c_str()) != 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  return pid;
}

// Waits up to `timeout` for `pid`; its exit status, or nullopt when it still runs.
std::optional<int> WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string Tail(const std::string& path, size_t max_bytes = 2000) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  return s;
}

// Runs `spawn` to completion within `timeout`.
arrow::Status Run(const Spawn& spawn, std::chrono::seconds timeout) {
  ARROW_ASSIGN_OR_RAISE(pid_t pid, StartProcess(spawn));
  const std::optional<int> status = WaitFor(pid, timeout);
  if (!status.has_value()) {
    ::kill(pid, SIGKILL);
    WaitFor(pid, std::chrono::seconds(5));
    return arrow::Status::IOError("postgres test server: ", spawn.argv[0],
                                  " did not finish within ", timeout.count(),
                                  " s; log:\n", Tail(spawn.log_path));
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return arrow::Status::IOError("postgres test server: ", spawn.argv[0],
                                  " failed (wait status ", *status, "); log:\n",
                                  Tail(spawn.log_path));
  }
  return arrow::Status::OK();
}

arrow::Result<int> FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return arrow::Status::IOError("postgres test server: socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return arrow::Status::IOError("postgres test server: cannot find a free port");
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

std::string ConnInfo(int port, const std::string& database) {
  return "host=127.0.0.1 port=" + std::to_string(port) +
         " user=postgres dbname=" + database + " connect_timeout=2";
}

}  // namespace

arrow::Result<std::string> PostgresTestServer::FindBinDir(const std::string& configured) {
  std::vector<fs::path> candidates;
  if (!configured.empty()) {
    candidates.emplace_back(configured);
  } else if (const char* env = std::getenv("INGESTER_PG_BIN"); env && *env) {
    candidates.emplace_back(env);
  } else {
    std::error_code ec;
    std::vector<std::pair<int, fs::path>> versions;
    for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
      const std::string name = entry.path().filename().string();
      versions.emplace_back(std::atoi(name.c_str()), entry.path() / "bin");
    }
    std::sort(versions.rbegin(), versions.rend());
    for (auto& [version, bin] : versions) candidates.push_back(bin);
  }
  for (const fs::path& bin : candidates) {
    if (::access((bin / "initdb").c_str(), X_OK) == 0 &&
        ::access((bin / "postgres").c_str(), X_OK) == 0) {
      return bin.string();
    }
  }
  return arrow::Status::IOError(
      "PostgreSQL server binaries (initdb, postgres) not found in ",
      configured.empty() ? "$INGESTER_PG_BIN or /usr/lib/postgresql/*/bin" : configured,
      ": install Debian's postgresql package (scripts/bootstrap.sh does) or set "
      "INGESTER_PG_BIN");
}

arrow::Status PostgresTestServerOptions::Validate() const {
  if (start_timeout.count() <= 0 || stop_timeout.count() <= 0) {
    return arrow::Status::Invalid("postgres test server: timeouts must be positive");
  }
  return arrow::Status::OK();
}

arrow::Result<std::unique_ptr<PostgresTestServer>> PostgresTestServer::Start(
    const PostgresTestServerOptions& options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  std::unique_ptr<PostgresTestServer> server(new PostgresTestServer());
  server->options_ = options;
  ARROW_ASSIGN_OR_RAISE(server->bin_dir_, FindBinDir(options.bin_dir));

  if (::geteuid() == 0) {
    std::vector<std::string> users;
    if (const char* env = std::getenv("INGESTER_PG_USER"); env && *env) {
      users.emplace_back(env);
    }
    users.insert(users.end(), {"postgres", "nobody"});
    const passwd* pw = nullptr;
    for (const std::string& user : users) {
      if ((pw = ::getpwnam(user.c_str())) != nullptr && pw->pw_uid != 0) break;
      pw = nullptr;
    }
    if (pw == nullptr) {
      return arrow::Status::IOError(
          "postgres test server: running as root and no unprivileged user (postgres, "
          "nobody, $INGESTER_PG_USER) to run PostgreSQL as");
    }
    server->switch_user_ = true;
    server->run_uid_ = pw->pw_uid;
    server->run_gid_ = pw->pw_gid;
  } else {
    server->run_uid_ = ::geteuid();
    server->run_gid_ = ::getegid();
  }

  server->temp_dir_.emplace("pg");
  server->dir_ = server->temp_dir_->path().string();
  server->data_dir_ = server->dir_ + "/data";
  if (::chown(server->dir_.c_str(), server->run_uid_, server->run_gid_) != 0 ||
      ::chmod(server->dir_.c_str(), 0700) != 0) {
    return arrow::Status::IOError("postgres test server: cannot hand ", server->dir_,
                                  " to uid ", server->run_uid_);
  }

  Spawn base;
  base.switch_user = server->switch_user_;
  base.uid = server->run_uid_;
  base.gid = server->run_gid_;
  base.cwd = server->dir_;
  base.log_path = server->dir_ + "/setup.log";

  // The cached cluster: initdb once per user and binaries, renamed into place whole.
  const std::string cache =
      (fs::temp_directory_path() /
       ("ingester-pg-template-v2-" + std::to_string(server->run_uid_) + "-" +
        std::to_string(std::hash<std::string>()(server->bin_dir_))))
          .string();
  if (!fs::exists(cache + "/PG_VERSION")) {
    const std::string building = server->dir_ + "/template";
    Spawn initdb = base;
    initdb.argv = {server->bin_dir_ + "/initdb", "-D", building, "-U", "postgres", "-A",
                   "trust", "-E", "UTF8", "--locale=C", "--no-sync",
                   // 1 MB WAL segments instead of 16: a smaller copy per server.
                   "--wal-segsize=1"};
    ARROW_RETURN_NOT_OK(Run(initdb, std::chrono::seconds(120)));
    std::error_code ec;
    fs::rename(building, cache, ec);  // fails harmlessly when another process won
    if (ec) {
      Spawn move = base;
      move.argv = {"/bin/mv", building, server->data_dir_};
      ARROW_RETURN_NOT_OK(Run(move, std::chrono::seconds(60)));
    }
  }
  if (!fs::exists(server->data_dir_)) {
    Spawn copy = base;
    copy.argv = {"/bin/cp", "-a", cache, server->data_dir_};
    ARROW_RETURN_NOT_OK(Run(copy, std::chrono::seconds(60)));
  }

  // The port is free when chosen but may be taken before postgres binds it: retry.
  arrow::Status launched;
  for (int attempt = 0; attempt < 3; ++attempt) {
    ARROW_ASSIGN_OR_RAISE(server->port_, FreePort());
    launched = server->Launch();
    if (launched.ok()) return server;
  }
  return launched;
}

arrow::Status PostgresTestServer::Launch() {
  Spawn postgres;
  postgres.switch_user = switch_user_;
  postgres.die_with_parent = true;
  postgres.uid = run_uid_;
  postgres.gid = run_gid_;
  postgres.cwd = dir_;
  postgres.log_path = dir_ + "/postgres.log";
  postgres.argv = {bin_dir_ + "/postgres", "-D", data_dir_, "-p", std::to_string(port_),
                   "-k", dir_, "-c", "listen_addresses=127.0.0.1", "-c",
                   "max_connections=300", "-c", "shared_buffers=32MB",
                   // Files in the data directory, not /dev/shm (small in containers).
                   "-c", "dynamic_shared_memory_type=mmap"};
  if (!options_.durable) {
    postgres.argv.insert(postgres.argv.end(),
                         {"-c", "fsync=off", "-c", "full_page_writes=off"});
  }
  ARROW_ASSIGN_OR_RAISE(pid_, StartProcess(postgres));
  const std::string conninfo = ConnInfo(port_, "postgres");
  const auto deadline = Clock::now() + options_.start_timeout;
  while (Clock::now() < deadline) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return arrow::Status::OK();
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return arrow::Status::IOError("postgres test server: postgres exited (wait status ",
                                    status, ") on port ", port_, "; log:\n", LogTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ARROW_RETURN_NOT_OK(Stop());
  return arrow::Status::IOError("postgres test server: not ready on port ", port_,
                                " after ", options_.start_timeout.count(), " s; log:\n",
                                LogTail());
}

arrow::Status PostgresTestServer::Stop() {
  if (pid_ <= 0) return arrow::Status::OK();
  const pid_t pid = pid_;
  pid_ = -1;
  ::kill(pid, SIGINT);  // fast shutdown: sessions are disconnected, data is kept
  if (WaitFor(pid, options_.stop_timeout).has_value()) return arrow::Status::OK();
  ::kill(pid, SIGKILL);
  WaitFor(pid, std::chrono::seconds(10));
  return arrow::Status::IOError("postgres test server: postgres did not stop within ",
                                options_.stop_timeout.count(), " s and was killed");
}

arrow::Status PostgresTestServer::Resume() {
  if (pid_ > 0) return arrow::Status::OK();
  return Launch();
}

arrow::Status PostgresTestServer::Restart() {
  ARROW_RETURN_NOT_OK(Stop());
  return Resume();
}

// temp_dir_ removes the directory once the server is stopped.
PostgresTestServer::~PostgresTestServer() { (void)Stop(); }

std::string PostgresTestServer::LogTail() const { return Tail(dir_ + "/postgres.log"); }

std::string PostgresTestServer::Url(const std::string& database) const {
  return "postgres://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

arrow::Result<std::string> PostgresTestServer::CreateDatabase(const std::string& name) {
  const bool valid =
      !name.empty() && name.size() <= 63 &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      });
  if (!valid) {
    return arrow::Status::Invalid("postgres test server: bad database name '", name, "'");
  }
  PGconn* conn = PQconnectdb(ConnInfo(port_, "postgres").c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    return arrow::Status::IOError("postgres test server: cannot connect: ", message);
  }
  // FILE_COPY (PostgreSQL 15+) copies the template's files instead of logging every
  // block: faster for a test database.
  const std::string sql = "CREATE DATABASE " + name +
                          (PQserverVersion(conn) >= 150000 ? " STRATEGY FILE_COPY" : "");
  PGresult* result = PQexec(conn, sql.c_str());
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  const std::string message = ok ? "" : PQresultErrorMessage(result);
  PQclear(result);
  PQfinish(conn);
  if (!ok) {
    return arrow::Status::IOError("postgres test server: CREATE DATABASE ", name, ": ",
                                  message);
  }
  return Url(name);
}

}  // namespace ingester::catalog::testing
