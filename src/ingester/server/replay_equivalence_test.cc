// Replaying the WAL rebuilds a buffer tree equal to the one the writes built before a
// crash: the real parser, catalog, WAL and buffer tree, wired as the server wires them.
#include <atomic>
#include <filesystem>
#include <map>
#include <random>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "ingester/buffer/buffer_tree.h"
#include "ingester/buffer/catalog_adapters.h"
#include "ingester/buffer/column_set.h"
#include "ingester/catalog/open.h"
#include "ingester/dml/timestamp_oracle.h"
#include "ingester/lp/parser.h"
#include "ingester/wal/replay.h"
#include "ingester/wal/wal.h"
#include "ingester/wal/wal_sink.h"
#include "ingester/write/write_builder.h"

namespace ingester {
namespace {

class ReplayEquivalenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("replay-eq-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir_ / "wal");
    catalog_ = catalog::OpenCatalog("sqlite://" + (dir_ / "catalog.sqlite").string())
                   .ValueOrDie();
    cache_ = std::make_unique<SchemaCache>(catalog_.get(), catalog::NamespaceLimits{});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::shared_ptr<BufferTree> NewTree() {
    BufferTreeOptions options;
    options.partition_provider =
        std::make_shared<CatalogPartitionProvider>(catalog_.get());
    options.name_resolver = std::make_shared<CatalogNameResolver>(catalog_.get());
    return std::shared_ptr<BufferTree>(BufferTree::Make(std::move(options)).ValueOrDie());
  }

  // Every partition's rows under its full schema, keyed by partition id.
  static std::map<int64_t, std::shared_ptr<arrow::Table>> Contents(BufferTree& tree) {
    std::map<int64_t, std::shared_ptr<arrow::Table>> out;
    for (const auto& p : tree.Partitions()) {
      auto data = p->QueryData().ValueOrDie();
      std::vector<std::shared_ptr<arrow::RecordBatch>> conformed;
      for (const auto& b : data.batches) {
        conformed.push_back(ConformBatch(b, data.schema).ValueOrDie());
      }
      out[p->partition_id().value()] =
          arrow::Table::FromRecordBatches(data.schema, conformed).ValueOrDie();
    }
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<SchemaCache> cache_;
};

TEST_F(ReplayEquivalenceTest, ReplayRebuildsTheSameBuffer) {
  auto before = NewTree();
  SequenceNumber max_seq = 0;
  {
    wal::WalOptions wal_options;
    wal_options.dir = (dir_ / "wal").string();
    std::shared_ptr<wal::Wal> wal = wal::Wal::Make(wal_options).ValueOrDie();
    wal::WalSink sink(wal, before);
    TimestampOracle oracle;
    auto ns = cache_->GetOrCreateNamespace("db").ValueOrDie();
    std::mt19937 rng(7);
    lp::Parser parser;
    for (int request = 0; request < 60; ++request) {
      std::string body;
      for (int line = 0; line < 40; ++line) {
        int host = static_cast<int>(rng() % 5);
        int64_t day = static_cast<int64_t>(rng() % 3);
        int64_t ts = 1'700'000'000'000'000'000LL + day * 86'400'000'000'000LL +
                     request * 1000 + line;
        body += "cpu,host=h" + std::to_string(host);
        // Columns that come and go: schemas evolve between and within requests.
        if (rng() % 2) body += ",region=r" + std::to_string(rng() % 3);
        body += " usage=" + std::to_string(rng() % 1000) + "i";
        if (request > 20 && rng() % 3 == 0)
          body += ",note=\"n" + std::to_string(line) + "\"";
        body += " " + std::to_string(ts) + "\n";
        if (line % 10 == 0)
          body += "mem,host=h1 free=" + std::to_string(line) + "u " + std::to_string(ts) +
                  "\n";
      }
      auto parsed = parser.Parse(body, {});
      ASSERT_FALSE(parsed.has_errors()) << parsed.ErrorStatus().ToString();
      auto built = BuildWrite(ns, body, parsed, cache_.get()).ValueOrDie();
      ASSERT_TRUE(built.rejected.empty());
      SequenceNumber first = oracle.Next(built.op.writes.size());
      for (size_t i = 0; i < built.op.writes.size(); ++i)
        built.op.writes[i].sequence_number = first + i;
      max_seq = oracle.Peek() - 1;
      ASSERT_TRUE(sink.Apply(built.op).ok());
      if (request == 30) {
        ASSERT_TRUE(wal->Rotate().ok());  // data across two segments
      }
    }
    // The WAL object goes away without Close(), as in a crash after the last ack.
  }

  auto after = NewTree();
  auto fs = wal::PosixFileSystem();
  auto stats = wal::ReplayWal(*fs, (dir_ / "wal").string(), *after).ValueOrDie();
  EXPECT_EQ(stats.max_sequence_number, max_seq);
  EXPECT_EQ(stats.rows, before->BufferedRows());
  EXPECT_GE(stats.segments.size(), 2u);

  auto expected = Contents(*before);
  auto actual = Contents(*after);
  ASSERT_EQ(expected.size(), actual.size());
  EXPECT_GE(expected.size(), 4u);  // cpu on 3 days, mem on at least one
  for (const auto& [id, table] : expected) {
    ASSERT_TRUE(actual.count(id)) << "partition " << id << " missing after replay";
    EXPECT_TRUE(actual[id]->Equals(*table)) << "partition " << id << "\nexpected:\n"
                                            << table->ToString() << "\nactual:\n"
                                            << actual[id]->ToString();
  }
}

}  // namespace
}  // namespace ingester
