// Races between independent Catalog instances on one store: every get-or-create racing
// on the same name must succeed and agree on ids, and contested decisions (a new
// column's type, the last free table slot, a sort key swap) must have one winner.
#include <gtest/gtest.h>

#include <latch>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ingester/catalog/catalog.h"
#include "ingester/catalog/catalog_test_util.h"

namespace ingester::catalog::testing {
namespace {

constexpr int kThreads = 16;

class CatalogRaceTest : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override { INGESTER_MAKE_BACKEND(backend_, GetParam()); }

  // Runs body(i, catalog) on kThreads threads, each with its own Catalog instance,
  // released together once all are open; an instance that fails to open is reported.
  template <typename Body>
  void RunOnInstances(Body body) {
    std::vector<std::unique_ptr<Catalog>> catalogs(kThreads);
    std::vector<arrow::Status> open_status(kThreads);
    std::latch opened(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        // Opening races too: the first opener creates the schema.
        auto catalog = backend_->Open(&clock_);
        open_status[i] = catalog.status();
        if (catalog.ok()) catalogs[i] = std::move(*catalog);
        opened.arrive_and_wait();
        if (catalogs[i] != nullptr) body(i, *catalogs[i]);
      });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < kThreads; ++i) {
      EXPECT_TRUE(open_status[i].ok())
          << "instance " << i << ": " << open_status[i].ToString();
    }
  }

  SteppingClock clock_;
  std::unique_ptr<CatalogBackend> backend_;
};

TEST_P(CatalogRaceTest, ConcurrentGetOrCreateAgreesOnIds) {
  constexpr int kTables = 4;
  constexpr int kRounds = 3;
  struct Seen {
    arrow::Status status;
    NamespaceId ns;
    std::map<std::string, TableId> tables;
    std::map<std::string, ColumnId> columns;  // "table.column" -> id
    std::map<std::string, PartitionId> partitions;
  };
  std::vector<Seen> seen(kThreads);

  RunOnInstances([&](int i, Catalog& catalog) {
    Seen& mine = seen[i];
    mine.status = [&]() -> arrow::Status {
      for (int round = 0; round < kRounds; ++round) {
        ARROW_ASSIGN_OR_RAISE(NamespaceRecord ns, catalog.GetOrCreateNamespace(
                                                      "race" + std::to_string(round)));
        mine.ns = ns.id;
        for (int k = 0; k < kTables; ++k) {
          // Threads walk the tables in different orders.
          const std::string name = "t" + std::to_string((k + i) % kTables);
          ARROW_ASSIGN_OR_RAISE(TableRecord table, catalog.GetOrCreateTable(ns.id, name));
          const std::string tkey = std::to_string(round) + "/" + name;
          mine.tables[tkey] = table.id;
          // Overlapping column sets: a shared core plus two of eight per-thread columns.
          std::vector<ColumnSpec> wanted = {
              {"host", ColumnType::kTag},
              {"time", ColumnType::kTime},
              {"f" + std::to_string(i % 8), ColumnType::kF64},
              {"f" + std::to_string((i + 3) % 8), ColumnType::kF64}};
          ARROW_ASSIGN_OR_RAISE(TableSchema schema,
                                catalog.GetOrCreateColumns(table.id, wanted));
          for (const ColumnRecord& c : schema.columns)
            mine.columns[tkey + "." + c.name] = c.id;
          ARROW_ASSIGN_OR_RAISE(PartitionRecord p,
                                catalog.GetOrCreatePartition(table.id, "2024-01-01"));
          mine.partitions[tkey] = p.id;
        }
      }
      return arrow::Status::OK();
    }();
  });

  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(seen[i].status.ok())
        << "thread " << i << ": " << seen[i].status.ToString();
  }
  // Every thread that saw a record saw the same id.
  std::map<std::string, int64_t> ids;
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(seen[i].ns, seen[0].ns);
    EXPECT_EQ(seen[i].tables, seen[0].tables);
    EXPECT_EQ(seen[i].partitions, seen[0].partitions);
    for (const auto& [key, id] : seen[i].columns) {
      auto [it, inserted] = ids.emplace(key, id.value());
      EXPECT_EQ(it->second, id.value()) << key;
    }
  }
  // And nothing was created twice.
  ASSERT_OK_AND_ASSIGN(auto catalog, backend_->Open(&clock_));
  ASSERT_OK_AND_ASSIGN(auto namespaces, catalog->ListNamespaces());
  EXPECT_EQ(namespaces.size(), static_cast<size_t>(kRounds));
  for (const NamespaceRecord& ns : namespaces) {
    ASSERT_OK_AND_ASSIGN(auto tables, catalog->ListTables(ns.id));
    EXPECT_EQ(tables.size(), static_cast<size_t>(kTables));
    for (const TableRecord& t : tables) {
      ASSERT_OK_AND_ASSIGN(TableSchema schema, catalog->GetTableSchema(t.id));
      EXPECT_EQ(schema.columns.size(), 2u + 8u) << t.name;  // host, time, f0..f7
      ASSERT_OK_AND_ASSIGN(auto partitions, catalog->ListPartitions(t.id));
      EXPECT_EQ(partitions.size(), 1u);
    }
  }
}

TEST_P(CatalogRaceTest, ConcurrentTypeConflictHasOneWinner) {
  constexpr ColumnType kTypes[] = {ColumnType::kTag,  ColumnType::kI64,
                                   ColumnType::kU64,  ColumnType::kF64,
                                   ColumnType::kBool, ColumnType::kString};
  constexpr int kRounds = 5;
  TableId table_id;
  {
    ASSERT_OK_AND_ASSIGN(auto setup, backend_->Open(&clock_));
    ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, setup->GetOrCreateNamespace("db"));
    ASSERT_OK_AND_ASSIGN(TableRecord t, setup->GetOrCreateTable(ns.id, "contested"));
    table_id = t.id;
  }
  // results[round][thread]
  std::vector<std::vector<arrow::Status>> results(kRounds,
                                                  std::vector<arrow::Status>(kThreads));
  std::vector<std::unique_ptr<std::latch>> round_start;
  for (int r = 0; r < kRounds; ++r)
    round_start.push_back(std::make_unique<std::latch>(kThreads));

  RunOnInstances([&](int i, Catalog& catalog) {
    for (int r = 0; r < kRounds; ++r) {
      round_start[r]->arrive_and_wait();
      // The offered type rotates per round so every type gets to race.
      const ColumnType type = kTypes[(i + r) % std::size(kTypes)];
      results[r][i] =
          catalog.GetOrCreateColumns(table_id, {{"col" + std::to_string(r), type}})
              .status();
    }
  });

  ASSERT_OK_AND_ASSIGN(auto catalog, backend_->Open(&clock_));
  ASSERT_OK_AND_ASSIGN(TableSchema schema, catalog->GetTableSchema(table_id));
  for (int r = 0; r < kRounds; ++r) {
    const std::string column = "col" + std::to_string(r);
    const std::optional<ColumnType> winner = schema.TypeOf(column);
    ASSERT_TRUE(winner.has_value()) << column;
    int successes = 0;
    for (int i = 0; i < kThreads; ++i) {
      const ColumnType offered = kTypes[(i + r) % std::size(kTypes)];
      const arrow::Status& st = results[r][i];
      if (offered == *winner) {
        EXPECT_TRUE(st.ok()) << column << " thread " << i << ": " << st.ToString();
        ++successes;
      } else {
        EXPECT_ERROR_KIND(ErrorKind::kConflict, st, "\"" + column + "\"",
                          std::string(ColumnTypeName(*winner)),
                          std::string(ColumnTypeName(offered)));
      }
    }
    EXPECT_GE(successes, 1);
  }
}

TEST_P(CatalogRaceTest, ConcurrentTableCreationRespectsTheLimit) {
  constexpr int kLimit = 5;
  NamespaceId ns_id;
  {
    ASSERT_OK_AND_ASSIGN(auto setup, backend_->Open(&clock_));
    ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, setup->GetOrCreateNamespace(
                                                 "limited", NamespaceLimits{kLimit, 10}));
    ns_id = ns.id;
  }
  std::vector<arrow::Status> results(kThreads);
  RunOnInstances([&](int i, Catalog& catalog) {
    results[i] = catalog.GetOrCreateTable(ns_id, "table" + std::to_string(i)).status();
  });
  int created = 0;
  for (const arrow::Status& st : results) {
    if (st.ok()) {
      ++created;
    } else {
      EXPECT_ERROR_KIND(ErrorKind::kLimit, st, "\"limited\"", std::to_string(kLimit));
    }
  }
  EXPECT_EQ(created, kLimit);
  ASSERT_OK_AND_ASSIGN(auto catalog, backend_->Open(&clock_));
  ASSERT_OK_AND_ASSIGN(auto tables, catalog->ListTables(ns_id));
  EXPECT_EQ(tables.size(), static_cast<size_t>(kLimit));
}

TEST_P(CatalogRaceTest, ConcurrentSortKeySwapHasOneWinner) {
  PartitionId partition_id;
  {
    ASSERT_OK_AND_ASSIGN(auto setup, backend_->Open(&clock_));
    ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, setup->GetOrCreateNamespace("db"));
    ASSERT_OK_AND_ASSIGN(TableRecord t, setup->GetOrCreateTable(ns.id, "cpu"));
    std::vector<ColumnSpec> columns = {{"time", ColumnType::kTime}};
    for (int i = 0; i < kThreads; ++i) {
      columns.push_back({"tag" + std::to_string(i), ColumnType::kTag});
    }
    ASSERT_OK(setup->GetOrCreateColumns(t.id, columns).status());
    ASSERT_OK_AND_ASSIGN(PartitionRecord p, setup->GetOrCreatePartition(t.id, "k"));
    partition_id = p.id;
  }
  std::vector<arrow::Result<PartitionRecord>> results(kThreads);
  const auto key_of = [](int i) {
    return std::vector<std::string>{"tag" + std::to_string(i), "time"};
  };
  RunOnInstances([&](int i, Catalog& catalog) {
    results[i] = catalog.CasSortKey(partition_id, {}, key_of(i));
  });
  int winner = -1;
  for (int i = 0; i < kThreads; ++i) {
    if (results[i].ok()) {
      EXPECT_EQ(winner, -1) << "two winners: " << winner << " and " << i;
      winner = i;
    }
  }
  ASSERT_NE(winner, -1);
  for (int i = 0; i < kThreads; ++i) {
    if (i == winner) continue;
    const SortKeyConflictDetail* detail = SortKeyConflictOf(results[i].status());
    ASSERT_NE(detail, nullptr) << results[i].status().ToString();
    EXPECT_EQ(detail->observed(), key_of(winner));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, CatalogRaceTest, ::testing::ValuesIn(AllBackends()),
                         BackendName);

}  // namespace
}  // namespace ingester::catalog::testing
