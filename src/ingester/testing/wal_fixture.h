// Data directories as a crashed server leaves them, for the replay and startup
// benchmarks: a SQLite catalog and a WAL holding TSBS cpu-only rows written through the
// real write pipeline (parse -> validate against the catalog -> sequence -> WalSink ->
// BufferTree), the WAL closed (synced) and the buffer dropped, as after kill -9 of a
// server that had acknowledged it all. Not through the Ingester facade: its clean
// shutdown persists everything and deletes the WAL.
#pragma once

#include <arrow/result.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <tuple>
#include <utility>

#include "ingester/buffer/buffer_tree.h"
#include "ingester/catalog/catalog.h"
#include "ingester/wal/payload_codec.h"
#include "ingester/wal/wal.h"

namespace ingester::testing {

// The buffer tree of a restarted server, wired as Ingester::Make wires it: the
// partition cache warmed from the catalog, the catalog name resolver.
arrow::Result<std::unique_ptr<BufferTree>> MakeRestartedTree(catalog::Catalog* catalog);

// A data directory (catalog.sqlite + wal/) holding `rows` TSBS rows written in requests
// of `lines_per_request` lines (one WAL entry each), compressed with `compression`.
struct WalFixture {
  std::filesystem::path data_dir;
  int64_t rows = 0;
  int64_t entries = 0;
};

// Owns the fixtures of this process (under one temp directory) and removes them when it
// goes. Not thread-safe.
class WalFixtures {
 public:
  explicit WalFixtures(std::string tag) : tag_(std::move(tag)) {}
  ~WalFixtures();
  WalFixtures(const WalFixtures&) = delete;
  WalFixtures& operator=(const WalFixtures&) = delete;

  // The directory holding them all (created on first use).
  std::filesystem::path root();
  // Made on first use; `compression` defaults to the WAL's (--wal-compression).
  arrow::Result<const WalFixture*> Get(
      int64_t rows, int64_t lines_per_request,
      wal::PayloadCompression compression = wal::WalOptions{}.compression);

 private:
  const std::string tag_;
  std::filesystem::path root_;
  std::map<std::tuple<int64_t, int64_t, wal::PayloadCompression>, WalFixture> made_;
};

}  // namespace ingester::testing
