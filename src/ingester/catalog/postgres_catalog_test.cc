// PostgreSQL-specific behaviour of PostgresCatalog (the conformance and race suites,
// catalog_test.cc and catalog_race_test.cc, run against it too): opening by URL,
// migrations, reconnecting after the server restarts, and races between separate
// processes (forked children, each with its own catalog and connections).
#include "ingester/catalog/postgres_catalog.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ingester/catalog/catalog_test_util.h"
#include "ingester/catalog/open.h"
#include "ingester/catalog/pg_migrations.h"
#include "ingester/catalog/postgres_test_server.h"

namespace ingester::catalog::testing {
namespace {

// Skips (locally) or fails (CI=true) when PostgreSQL is not installed.
#define REQUIRE_POSTGRES()                                                    \
  do {                                                                        \
    const ::arrow::Status _found = PostgresTestServer::FindBinDir().status(); \
    if (!_found.ok()) {                                                       \
      if (UnderCi())                                                          \
        FAIL() << "PostgreSQL required under CI=true: " << _found.ToString(); \
      GTEST_SKIP() << _found.ToString();                                      \
    }                                                                         \
  } while (false)

// A new database on the process's shared server; its URL.
std::string NewDatabase() {
  static int counter = 0;
  auto server = SharedPostgresServer();
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  if (!server.ok()) return "";
  auto url = (*server)->CreateDatabase("pg_" + std::to_string(::getpid()) + "_" +
                                       std::to_string(counter++));
  EXPECT_TRUE(url.ok()) << url.status().ToString();
  return url.ok() ? *url : "";
}

arrow::Result<std::unique_ptr<PostgresCatalog>> OpenPg(const std::string& url,
                                                       const Clock* clock) {
  PostgresCatalogOptions options;
  options.url = url;
  options.clock = clock;
  return PostgresCatalog::Make(options);
}

// Runs a statement on `url` with a connection of its own (libpq directly); the first
// value of the first row, or the error.
std::string Sql(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  PGresult* result = PQexec(conn, sql.c_str());
  std::string out;
  if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) > 0) {
    out = PQgetvalue(result, 0, 0);
  } else if (PQresultStatus(result) != PGRES_COMMAND_OK &&
             PQresultStatus(result) != PGRES_TUPLES_OK) {
    out = std::string("error: ") + PQresultErrorMessage(result);
  }
  PQclear(result);
  PQfinish(conn);
  return out;
}

// Runs body(i) in `n` forked child processes, released together once all exist; each
// child's answer (what body returned) in order. A child that dies or hangs (60 s) is
// reported as "died: ...".
std::vector<std::string> RunInProcesses(int n,
                                        const std::function<std::string(int)>& body) {
  int go[2];
  if (::pipe(go) != 0) return {};
  std::vector<std::pair<pid_t, int>> children;
  for (int i = 0; i < n; ++i) {
    int out[2];
    if (::pipe(out) != 0) break;
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::alarm(60);
      ::close(go[1]);
      ::close(out[0]);
      char c;
      (void)::read(go[0], &c, 1);  // EOF when the parent closes its end: go
      const std::string answer = body(i);
      (void)::write(out[1], answer.data(), answer.size());
      ::_exit(0);  // no static destructors: the shared server belongs to the parent
    }
    ::close(out[1]);
    children.emplace_back(pid, out[0]);
  }
  ::close(go[1]);
  ::close(go[0]);
  std::vector<std::string> answers;
  for (auto& [pid, fd] : children) {
    std::string answer;
    char buf[4096];
    ssize_t got;
    while ((got = ::read(fd, buf, sizeof(buf))) > 0) answer.append(buf, got);
    ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      answer = "died: wait status " + std::to_string(status) + " " + answer;
    }
    answers.push_back(answer);
  }
  return answers;
}

std::string Describe(const arrow::Status& st) {
  if (st.ok()) return "ok";
  if (ErrorKindOf(st) == ErrorKind::kLimit) return "limit: " + st.message();
  if (ErrorKindOf(st) == ErrorKind::kConflict) return "conflict: " + st.message();
  return "error: " + st.ToString();
}

constexpr int kProcesses = 8;

TEST(OpenCatalogTest, PostgresUnreachableNamesServerWithoutPassword) {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  for (const char* url : {"postgres://user:secret@127.0.0.1:1/db",
                          "postgresql://user:secret@127.0.0.1:1/db"}) {
    auto catalog = OpenCatalog(url);
    ASSERT_FALSE(catalog.ok());
    EXPECT_EQ(ErrorKindOf(catalog.status()), ErrorKind::kRetryable)
        << catalog.status().ToString();
    EXPECT_TRUE(catalog.status().IsIOError()) << catalog.status().ToString();
    EXPECT_NE(catalog.status().message().find("user@127.0.0.1:1/db"), std::string::npos)
        << catalog.status().message();
    EXPECT_EQ(catalog.status().message().find("secret"), std::string::npos)
        << "credentials leak into the message: " << catalog.status().message();
  }
}

TEST(OpenCatalogTest, DescribeCatalogUrlHidesThePassword) {
  EXPECT_EQ(
      DescribeCatalogUrl("postgres://ing:s3cret@db.example:5433/cat?sslmode=require"),
      "postgres://ing@db.example:5433/cat");
  EXPECT_EQ(DescribeCatalogUrl("postgresql://ing:s3cret@db.example/cat"),
            "postgresql://ing@db.example/cat");
  EXPECT_EQ(DescribeCatalogUrl("postgres://db.example/cat?password=s3cret"),
            "postgres://db.example/cat");
  EXPECT_EQ(DescribeCatalogUrl("postgres://ing@db.example"), "postgres://ing@db.example");
  EXPECT_EQ(DescribeCatalogUrl("sqlite:///srv/catalog.sqlite"),
            "sqlite:///srv/catalog.sqlite");
}

TEST(PostgresCatalogTest, OpensByUrlAndRecordsTheSchemaVersion) {
  REQUIRE_POSTGRES();
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  for (const std::string& form : {url, "postgresql" + url.substr(url.find("://"))}) {
    ASSERT_OK_AND_ASSIGN(auto catalog, OpenCatalog(form));
    ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, catalog->GetOrCreateNamespace("db"));
    EXPECT_EQ(ns.name, "db");
  }
  // Opened twice, migrated once.
  EXPECT_EQ(Sql(url, "SELECT COUNT(*) FROM schema_version"),
            std::to_string(PostgresSchemaVersion()));
  EXPECT_EQ(Sql(url, "SELECT MAX(version) FROM schema_version"),
            std::to_string(PostgresSchemaVersion()));
}

TEST(PostgresCatalogTest, RefusesADatabaseOfANewerSchema) {
  REQUIRE_POSTGRES();
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  SteppingClock clock;
  ASSERT_OK(OpenPg(url, &clock).status());
  ASSERT_EQ(Sql(url, "INSERT INTO schema_version VALUES (999, 0)"), "");
  auto again = OpenPg(url, &clock);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("schema version 999"), std::string::npos)
      << again.status().ToString();
  EXPECT_NE(again.status().message().find("newer"), std::string::npos);
}

TEST(PostgresCatalogTest, ConcurrentOpenersMigrateOnce) {
  REQUIRE_POSTGRES();
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  const std::vector<std::string> answers = RunInProcesses(kProcesses, [&](int) {
    SteppingClock clock;
    return Describe(OpenPg(url, &clock).status());
  });
  ASSERT_EQ(answers.size(), static_cast<size_t>(kProcesses));
  for (const std::string& a : answers) EXPECT_EQ(a, "ok");
  EXPECT_EQ(Sql(url, "SELECT COUNT(*) FROM schema_version"),
            std::to_string(PostgresSchemaVersion()));
}

TEST(PostgresCatalogTest, PartitionKeyWithNulIsRefusedClearly) {
  REQUIRE_POSTGRES();
  SteppingClock clock;
  ASSERT_OK_AND_ASSIGN(auto catalog, OpenPg(NewDatabase(), &clock));
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, catalog->GetOrCreateNamespace("db"));
  ASSERT_OK_AND_ASSIGN(TableRecord t, catalog->GetOrCreateTable(ns.id, "cpu"));
  EXPECT_ERROR_KIND(ErrorKind::kInvalidInput,
                    catalog->GetOrCreatePartition(t.id, std::string("a\0b", 3)), "NUL");
}

// --- the server restarts ----------------------------------------------------------

TEST(PostgresCatalogTest, ReconnectsAfterTheServerRestarts) {
  REQUIRE_POSTGRES();
  // A server of its own: this test stops it.
  ASSERT_OK_AND_ASSIGN(auto server, PostgresTestServer::Start());
  ASSERT_OK_AND_ASSIGN(std::string url, server->CreateDatabase("restart"));
  SteppingClock clock;
  PostgresCatalogOptions options;
  options.url = url;
  options.clock = &clock;
  options.max_connections = 3;
  options.connect_timeout = std::chrono::seconds(2);
  ASSERT_OK_AND_ASSIGN(auto catalog, PostgresCatalog::Make(options));
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, catalog->GetOrCreateNamespace("db"));
  // Fill the pool with idle connections, all of which the restart breaks.
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&] { EXPECT_TRUE(catalog->ListNamespaces().ok()); });
    }
    for (auto& t : threads) t.join();
  }

  ASSERT_OK(server->Restart());
  // Reads and writes after the restart succeed: the broken connection is dropped with
  // the idle ones and the call retried on a fresh one.
  ASSERT_OK_AND_ASSIGN(TableRecord t, catalog->GetOrCreateTable(ns.id, "after_restart"));
  ASSERT_OK_AND_ASSIGN(auto tables, catalog->ListTables(ns.id));
  ASSERT_EQ(tables.size(), 1u);
  EXPECT_EQ(tables[0].id, t.id);

  // While the server is down: a Retryable IOError naming the server, no crash.
  ASSERT_OK(server->Stop());
  for (int i = 0; i < 3; ++i) {
    auto down = catalog->GetOrCreateTable(ns.id, "while_down");
    ASSERT_FALSE(down.ok());
    EXPECT_TRUE(down.status().IsIOError()) << down.status().ToString();
    EXPECT_EQ(ErrorKindOf(down.status()), ErrorKind::kRetryable)
        << down.status().ToString();
    EXPECT_NE(down.status().message().find("127.0.0.1:" + std::to_string(server->port())),
              std::string::npos)
        << down.status().message();
  }
  // And back once it is.
  ASSERT_OK(server->Resume());
  ASSERT_OK_AND_ASSIGN(TableRecord back, catalog->GetOrCreateTable(ns.id, "while_down"));
  EXPECT_EQ(back.name, "while_down");
  ASSERT_OK_AND_ASSIGN(tables, catalog->ListTables(ns.id));
  EXPECT_EQ(tables.size(), 2u);
}

TEST(PostgresCatalogTest, ReconnectsWhenItsConnectionsAreTerminated) {
  REQUIRE_POSTGRES();
  // The server stays up but cuts the catalog's sessions (a failover, an idle timeout,
  // an administrator's pg_terminate_backend).
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  SteppingClock clock;
  ASSERT_OK_AND_ASSIGN(auto catalog, OpenPg(url, &clock));
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, catalog->GetOrCreateNamespace("db"));
  const std::string database = url.substr(url.rfind('/') + 1);
  for (int round = 0; round < 3; ++round) {
    EXPECT_NE(Sql(url,
                  "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                  "WHERE application_name = 'ingester' AND datname = '" +
                      database + "'"),
              "0")
        << "the catalog had no session to terminate";
    ASSERT_OK_AND_ASSIGN(TableRecord t,
                         catalog->GetOrCreateTable(ns.id, "t" + std::to_string(round)));
    EXPECT_EQ(t.name, "t" + std::to_string(round));
  }
  ASSERT_OK_AND_ASSIGN(auto tables, catalog->ListTables(ns.id));
  EXPECT_EQ(tables.size(), 3u);
}

TEST(PostgresCatalogTest, ThreadsBeyondThePoolWaitForAConnection) {
  REQUIRE_POSTGRES();
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  SteppingClock clock;
  PostgresCatalogOptions options;
  options.url = url;
  options.clock = &clock;
  options.max_connections = 2;
  ASSERT_OK_AND_ASSIGN(auto catalog, PostgresCatalog::Make(options));
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, catalog->GetOrCreateNamespace("db"));
  constexpr int kThreads = 12;
  std::vector<arrow::Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      results[i] = [&]() -> arrow::Status {
        for (int k = 0; k < 5; ++k) {
          ARROW_ASSIGN_OR_RAISE(
              TableRecord t, catalog->GetOrCreateTable(ns.id, "t" + std::to_string(k)));
          ARROW_RETURN_NOT_OK(catalog
                                  ->GetOrCreateColumns(
                                      t.id, {{"c" + std::to_string(i), ColumnType::kF64}})
                                  .status());
        }
        return arrow::Status::OK();
      }();
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i)
    EXPECT_TRUE(results[i].ok()) << results[i].ToString();
  // The pool opened at most max_connections sessions (it closes none that work, so all
  // it ever opened are still there).
  const std::string database = url.substr(url.rfind('/') + 1);
  EXPECT_EQ(Sql(url,
                "SELECT COUNT(*) <= 2 FROM pg_stat_activity WHERE application_name = "
                "'ingester' AND datname = '" +
                    database + "'"),
            "t");
  ASSERT_OK_AND_ASSIGN(auto tables, catalog->ListTables(ns.id));
  EXPECT_EQ(tables.size(), 5u);
}

TEST(PostgresCatalogOptionsTest, Validate) {
  PostgresCatalogOptions options;
  EXPECT_TRUE(options.Validate().IsInvalid());  // no URL
  options.url = "postgres://127.0.0.1/db";
  EXPECT_TRUE(options.Validate().ok());
  options.max_connections = 0;
  EXPECT_TRUE(options.Validate().IsInvalid());
  options.max_connections = 4;
  options.connect_timeout = std::chrono::seconds(0);
  EXPECT_TRUE(options.Validate().IsInvalid());
  options.connect_timeout = std::chrono::seconds(5);
  options.clock = nullptr;
  EXPECT_TRUE(options.Validate().IsInvalid());
}

// --- races between processes ------------------------------------------------------

TEST(PostgresCatalogProcessRaceTest, SameColumnFirstCreatedConcurrently) {
  REQUIRE_POSTGRES();
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  SteppingClock clock;
  ASSERT_OK_AND_ASSIGN(auto setup, OpenPg(url, &clock));
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, setup->GetOrCreateNamespace("db"));
  ASSERT_OK_AND_ASSIGN(TableRecord table, setup->GetOrCreateTable(ns.id, "contested"));
  constexpr ColumnType kTypes[] = {ColumnType::kF64, ColumnType::kI64, ColumnType::kTag};
  const auto type_of = [&](int i) { return kTypes[i % 3]; };

  const std::vector<std::string> answers = RunInProcesses(kProcesses, [&](int i) {
    SteppingClock child_clock;
    auto catalog = OpenPg(url, &child_clock);
    if (!catalog.ok()) return Describe(catalog.status());
    // Every process also offers "host" with the same type: created once, no error.
    return Describe((*catalog)
                        ->GetOrCreateColumns(
                            table.id, {{"host", ColumnType::kTag}, {"value", type_of(i)}})
                        .status());
  });
  ASSERT_EQ(answers.size(), static_cast<size_t>(kProcesses));
  ASSERT_OK_AND_ASSIGN(TableSchema schema, setup->GetTableSchema(table.id));
  ASSERT_EQ(schema.columns.size(), 2u);  // each column once
  const std::optional<ColumnType> winner = schema.TypeOf("value");
  ASSERT_TRUE(winner.has_value());
  for (int i = 0; i < kProcesses; ++i) {
    if (type_of(i) == *winner) {
      EXPECT_EQ(answers[i], "ok") << "process " << i;
    } else {
      EXPECT_TRUE(answers[i].starts_with("conflict: ")) << answers[i];
      EXPECT_NE(answers[i].find("\"value\""), std::string::npos) << answers[i];
      EXPECT_NE(answers[i].find(std::string(ColumnTypeName(*winner))), std::string::npos)
          << answers[i];
      EXPECT_NE(answers[i].find(std::string(ColumnTypeName(type_of(i)))),
                std::string::npos)
          << answers[i];
    }
  }
}

TEST(PostgresCatalogProcessRaceTest, SortKeyCompareAndSwapHasOneWinner) {
  REQUIRE_POSTGRES();
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  SteppingClock clock;
  ASSERT_OK_AND_ASSIGN(auto setup, OpenPg(url, &clock));
  ASSERT_OK_AND_ASSIGN(NamespaceRecord ns, setup->GetOrCreateNamespace("db"));
  ASSERT_OK_AND_ASSIGN(TableRecord t, setup->GetOrCreateTable(ns.id, "cpu"));
  std::vector<ColumnSpec> columns = {{"time", ColumnType::kTime}};
  for (int i = 0; i < kProcesses; ++i) {
    columns.push_back({"tag" + std::to_string(i), ColumnType::kTag});
  }
  ASSERT_OK(setup->GetOrCreateColumns(t.id, columns).status());
  ASSERT_OK_AND_ASSIGN(PartitionRecord p, setup->GetOrCreatePartition(t.id, "k"));

  const std::vector<std::string> answers = RunInProcesses(kProcesses, [&](int i) {
    SteppingClock child_clock;
    auto catalog = OpenPg(url, &child_clock);
    if (!catalog.ok()) return Describe(catalog.status());
    auto swapped = (*catalog)->CasSortKey(p.id, {}, {"tag" + std::to_string(i), "time"});
    if (swapped.ok()) return std::string("ok");
    const SortKeyConflictDetail* detail = SortKeyConflictOf(swapped.status());
    if (detail == nullptr) return Describe(swapped.status());
    return "observed " + SortKeyToString(detail->observed());
  });
  ASSERT_EQ(answers.size(), static_cast<size_t>(kProcesses));
  ASSERT_OK_AND_ASSIGN(PartitionRecord stored, setup->GetPartition(p.id));
  int winners = 0;
  for (int i = 0; i < kProcesses; ++i) {
    if (answers[i] == "ok") {
      ++winners;
      EXPECT_EQ(stored.sort_key,
                (std::vector<std::string>{"tag" + std::to_string(i), "time"}));
    } else {
      EXPECT_EQ(answers[i], "observed " + SortKeyToString(stored.sort_key));
    }
  }
  EXPECT_EQ(winners, 1);
}

TEST(PostgresCatalogProcessRaceTest, NamespaceLimitsHold) {
  REQUIRE_POSTGRES();
  const std::string url = NewDatabase();
  ASSERT_FALSE(url.empty());
  constexpr int kMaxTables = 3;
  constexpr int kMaxColumns = 5;
  SteppingClock clock;
  ASSERT_OK_AND_ASSIGN(auto setup, OpenPg(url, &clock));
  ASSERT_OK_AND_ASSIGN(
      NamespaceRecord ns,
      setup->GetOrCreateNamespace("limited", NamespaceLimits{kMaxTables, kMaxColumns}));
  ASSERT_OK_AND_ASSIGN(TableRecord wide, setup->GetOrCreateTable(ns.id, "wide"));

  // Each process adds a table of its own and a column of its own to "wide".
  const std::vector<std::string> answers = RunInProcesses(kProcesses, [&](int i) {
    SteppingClock child_clock;
    auto catalog = OpenPg(url, &child_clock);
    if (!catalog.ok()) return Describe(catalog.status());
    const std::string table =
        Describe((*catalog)->GetOrCreateTable(ns.id, "t" + std::to_string(i)).status());
    const std::string column = Describe(
        (*catalog)
            ->GetOrCreateColumns(wide.id, {{"c" + std::to_string(i), ColumnType::kF64}})
            .status());
    return table + "\n" + column;
  });
  ASSERT_EQ(answers.size(), static_cast<size_t>(kProcesses));
  int tables_created = 0;
  int columns_created = 0;
  for (const std::string& answer : answers) {
    const std::string table = answer.substr(0, answer.find('\n'));
    const std::string column = answer.substr(answer.find('\n') + 1);
    if (table == "ok") {
      ++tables_created;
    } else {
      EXPECT_TRUE(table.starts_with("limit: ")) << table;
      EXPECT_NE(table.find("max_tables=" + std::to_string(kMaxTables)), std::string::npos)
          << table;
    }
    if (column == "ok") {
      ++columns_created;
    } else {
      EXPECT_TRUE(column.starts_with("limit: ")) << column;
      EXPECT_NE(column.find("max_columns_per_table=" + std::to_string(kMaxColumns)),
                std::string::npos)
          << column;
    }
  }
  // "wide" holds one of the table slots.
  EXPECT_EQ(tables_created, kMaxTables - 1);
  EXPECT_EQ(columns_created, kMaxColumns);
  ASSERT_OK_AND_ASSIGN(auto tables, setup->ListTables(ns.id));
  EXPECT_EQ(tables.size(), static_cast<size_t>(kMaxTables));
  ASSERT_OK_AND_ASSIGN(TableSchema schema, setup->GetTableSchema(wide.id));
  EXPECT_EQ(schema.columns.size(), static_cast<size_t>(kMaxColumns));
}

}  // namespace
}  // namespace ingester::catalog::testing
