# Debian packages (installed by scripts/bootstrap.sh).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(PostgreSQL REQUIRED)
find_package(ZLIB REQUIRED)
# Header-only Boost.Asio and Boost.Beast: the HTTP server (server/http_front.cc) and the
# `ingester write` client.
find_package(Boost 1.74 REQUIRED)
# OpenSSL: HTTPS of the HTTP front and of `ingester write` (server/tls.h), through
# Boost.Asio's ssl::stream. (Flight's TLS is the gRPC inside Arrow.)
find_package(OpenSSL REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 CONFIG QUIET)
if(NOT CLI11_FOUND)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 INTERFACE ${CLI11_INCLUDE_DIR})
endif()
# cpp-httplib: the HTTP client of server_test and of the load tools in bench/. The Debian
# build is compiled with OpenSSL, zlib and brotli support; its header must see the same
# macros (they change class layouts), which pkg-config supplies.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
# libzstd: the WAL's zstd codec with per-thread contexts (wal/payload_codec.h). Arrow's
# bundled zstd is not exported from its shared library.
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
find_package(nlohmann_json 3 REQUIRED)
find_package(GTest REQUIRED)
if(INGESTER_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
