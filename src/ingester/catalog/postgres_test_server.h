// A throwaway PostgreSQL server for tests and benchmarks: a fresh cluster in a
// temporary directory, listening on 127.0.0.1 on a free port, with trust
// authentication for the superuser "postgres", stopped and removed with the object.
//
// PostgreSQL refuses to run as root: when the process is root the server runs as an
// unprivileged system user ($INGESTER_PG_USER, else "postgres", else "nobody") that
// owns the temporary directory. The binaries are taken from $INGESTER_PG_BIN, else the
// newest /usr/lib/postgresql/<version>/bin (Debian's postgresql package, installed by
// scripts/bootstrap.sh). A cluster made by initdb is cached once per user and binary
// directory under the temp directory and copied for each server, which is much faster
// than initdb.
//
// Every wait is bounded (start_timeout, stop_timeout); failures name what failed and
// end with the tail of the server's log. The server gets SIGINT from the kernel when the
// thread that started it (Start, Resume, Restart) ends, so a crashed test leaves no
// server behind: call those from a thread that outlives the server (the main thread).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "ingester/common/temp_dir.h"

namespace ingester::catalog::testing {

struct PostgresTestServerOptions {
  // Empty: found as described above.
  std::string bin_dir;
  std::chrono::seconds start_timeout{60};
  std::chrono::seconds stop_timeout{30};
  // false (tests): fsync=off and full_page_writes=off, fast and not crash-safe. true
  // (benchmarks): PostgreSQL's durable defaults, so commits cost what they would.
  bool durable = false;

  arrow::Status Validate() const;
};

class PostgresTestServer {
 public:
  // The directory holding initdb and postgres; NotFound-like IOError saying how to
  // install them when there is none.
  static arrow::Result<std::string> FindBinDir(const std::string& configured = "");

  // Creates the cluster and starts the server; returns once it accepts connections.
  static arrow::Result<std::unique_ptr<PostgresTestServer>> Start(
      const PostgresTestServerOptions& options = {});
  // Stops the server (fast shutdown, then SIGKILL after stop_timeout) and removes the
  // directory.
  ~PostgresTestServer();
  PostgresTestServer(const PostgresTestServer&) = delete;
  PostgresTestServer& operator=(const PostgresTestServer&) = delete;

  // Stops the server, keeping its data; a no-op when stopped.
  arrow::Status Stop();
  // Starts the stopped server again on the same port and data.
  arrow::Status Resume();
  // Stop then Resume: what clients see when the server restarts.
  arrow::Status Restart();
  bool running() const { return pid_ > 0; }

  // Creates database `name` ([a-z0-9_], 1..63 characters) and returns its URL.
  arrow::Result<std::string> CreateDatabase(const std::string& name);
  // postgres://postgres@127.0.0.1:<port>/<database>
  std::string Url(const std::string& database) const;
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

 private:
  PostgresTestServer() = default;
  // Spawns postgres and waits until it answers.
  arrow::Status Launch();
  // The last lines of the server log, for error messages.
  std::string LogTail() const;

  PostgresTestServerOptions options_;
  std::string bin_dir_;
  std::optional<TempDir> temp_dir_;  // removed with everything in it
  std::string dir_;                  // temp_dir_'s path (owned by run_uid_)
  std::string data_dir_;             // dir_/data
  uid_t run_uid_ = 0;
  gid_t run_gid_ = 0;
  bool switch_user_ = false;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace ingester::catalog::testing
