// The subcommands of the `ingester` binary, kept out of main.cc so main only parses
// flags.
#pragma once

#include <string>

#include "ingester/server/options.h"

namespace ingester {

// Runs the servers until SIGTERM or SIGINT, then shuts down cleanly. Returns the exit
// code.
int RunServe(IngesterOptions options);

struct WriteFileCommand {
  std::string file;
  std::string namespace_name;
  std::string host = "127.0.0.1:8080";
  std::string precision = "auto";
  std::string token;
  // HTTPS: `tls` trusts the system's CAs, `tls_ca` (implies tls) the CA certificates
  // of that PEM file.
  bool tls = false;
  std::string tls_ca;
  int batch_lines = 5000;
};
// Posts a line protocol file to a running server in batches; prints what was rejected.
int RunWriteFile(const WriteFileCommand& command);

// Prints what a WAL directory holds (text or JSON). Exit code 2 when a segment is
// corrupt.
int RunWalInspect(const std::string& dir, bool json);

}  // namespace ingester
