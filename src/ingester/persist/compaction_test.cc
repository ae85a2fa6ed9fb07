#include "ingester/persist/compaction.h"

#include <arrow/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "ingester/buffer/buffer_test_util.h"
#include "ingester/buffer/column_set.h"
#include "ingester/persist/persist_core_test_util.h"

namespace ingester::persist {
namespace {

using buffer_test::BatchMaker;
using buffer_test::CellString;
using ::testing::ElementsAre;
using Batches = std::vector<std::shared_ptr<arrow::RecordBatch>>;
using Key = std::vector<std::string>;

std::vector<std::string> TableRows(const arrow::Table& table) {
  arrow::TableBatchReader reader(table);
  auto batches = reader.ToRecordBatches();
  EXPECT_TRUE(batches.ok()) << batches.status().ToString();
  return buffer_test::RowStrings(*batches);
}

// --- reference implementation ----------------------------------------------------
//
// Rows as decoded strings; de-duplication with a std::map keyed by the primary key and
// a per-field "last non-null wins" overwrite; then std::sort by the sort key. Slow and
// obviously right.
struct RefRow {
  std::map<std::string, std::optional<std::string>> tags;  // raw values
  int64_t time = 0;
  std::map<std::string, std::string> cells;  // "name=value" per column, nulls included
};

std::vector<std::string> ReferenceCompact(const Batches& batches,
                                          const arrow::Schema& merged,
                                          const Key& sort_key) {
  std::vector<std::string> tag_names;
  for (const auto& f : merged.fields()) {
    if (f->type()->id() == arrow::Type::DICTIONARY) tag_names.push_back(f->name());
  }
  using PrimaryKey = std::pair<std::vector<std::optional<std::string>>, int64_t>;
  std::map<PrimaryKey, RefRow> rows;
  for (const auto& batch : batches) {
    for (int64_t i = 0; i < batch->num_rows(); ++i) {
      RefRow row;
      for (const auto& f : merged.fields()) {
        const int c = batch->schema()->GetFieldIndex(f->name());
        row.cells[f->name()] = c < 0 ? f->name() + "=null" : CellString(*batch, c, i);
        if (f->type()->id() == arrow::Type::DICTIONARY) {
          std::optional<std::string> value;
          if (c >= 0 && batch->column(c)->IsValid(i)) {
            value = row.cells[f->name()].substr(f->name().size() + 1);
          }
          row.tags[f->name()] = value;
        }
        if (f->name() == "time") {
          row.time =
              static_cast<const arrow::TimestampArray&>(*batch->column(c)).Value(i);
        }
      }
      PrimaryKey pk;
      for (const auto& t : tag_names) pk.first.push_back(row.tags[t]);
      pk.second = row.time;
      auto [it, inserted] = rows.emplace(pk, row);
      if (!inserted) {
        for (const auto& [name, cell] : row.cells) {
          if (cell != name + "=null") it->second.cells[name] = cell;
        }
      }
    }
  }
  std::vector<RefRow> sorted;
  for (auto& [pk, row] : rows) sorted.push_back(std::move(row));
  std::sort(sorted.begin(), sorted.end(), [&](const RefRow& a, const RefRow& b) {
    for (const auto& name : sort_key) {
      if (name == "time") {
        if (a.time != b.time) return a.time < b.time;
        continue;
      }
      const auto& va = a.tags.at(name);
      const auto& vb = b.tags.at(name);
      if (va == vb) continue;
      if (!va) return false;  // nulls last
      if (!vb) return true;
      return *va < *vb;
    }
    return false;
  });
  std::vector<std::string> out;
  for (const auto& row : sorted) {
    std::string line;
    for (const auto& f : merged.fields()) {
      if (!line.empty()) line += ' ';
      line += row.cells.at(f->name());
    }
    out.push_back(line);
  }
  return out;
}

// --- hand-written cases ------------------------------------------------------------

TEST(CompactionTest, SortsByKeyAndMergesDuplicatesFieldByField) {
  Batches batches = {
      BatchMaker()
          .Tag("host", {"b", "a", "b"})
          .I64("x", {1, 2, 3})
          .F64("y", {1.5, std::nullopt, std::nullopt})
          .Time({10, 10, 5})
          .Build(),
      // A later write of (host=b, time=10): x overwritten, y absent (kept), z new.
      BatchMaker().Tag("host", {"b"}).I64("x", {7}).I64("z", {9}).Time({10}).Build(),
      // A later write with x null: does not erase x=7.
      BatchMaker().Tag("host", {"b"}).I64("x", {std::nullopt}).Time({10}).Build(),
  };
  PERSIST_ASSIGN_OR_FAIL(auto result, CompactBatches(batches, {"host", "time"}));
  EXPECT_EQ(result.input_rows, 5);
  EXPECT_EQ(result.output_rows, 3);
  EXPECT_EQ(result.min_time, 5);
  EXPECT_EQ(result.max_time, 10);
  EXPECT_EQ(result.sort_key, (Key{"host", "time"}));
  EXPECT_THAT(TableRows(*result.table), ElementsAre("host=a x=2 y=null z=null time=10",
                                                    "host=b x=3 y=null z=null time=5",
                                                    "host=b x=7 y=1.5 z=9 time=10"));
}

TEST(CompactionTest, SortsTagsByValueNotByDictionaryIndex) {
  // Dictionary order is first-seen: "z" has index 0. Sorting indices would put it first.
  Batches batches = {
      BatchMaker().Tag("host", {"z", "m", "a"}).Time({1, 1, 1}).Build(),
      BatchMaker().Tag("host", {"b", "zz"}).Time({1, 1}).Build(),
  };
  PERSIST_ASSIGN_OR_FAIL(auto result, CompactBatches(batches, {"host", "time"}));
  EXPECT_THAT(TableRows(*result.table),
              ElementsAre("host=a time=1", "host=b time=1", "host=m time=1",
                          "host=z time=1", "host=zz time=1"));
  // The output dictionary is sorted and holds exactly the referenced values.
  auto dict =
      std::static_pointer_cast<arrow::DictionaryArray>(result.table->column(0)->chunk(0))
          ->dictionary();
  std::vector<std::string> dict_values;
  for (int64_t i = 0; i < dict->length(); ++i) {
    dict_values.emplace_back(static_cast<const arrow::StringArray&>(*dict).GetView(i));
  }
  EXPECT_THAT(dict_values, ElementsAre("a", "b", "m", "z", "zz"));
}

TEST(CompactionTest, FollowsTheKeyOrderAndExtendsItWithMissingTags) {
  Batches batches = {BatchMaker()
                         .Tag("a", {"1", "2", "1", "2"})
                         .Tag("b", {"y", "x", "x", "y"})
                         .Tag("c", {"k", "k", "k", "j"})
                         .Time({4, 3, 2, 1})
                         .Build()};
  // `gone` is not in the data; `c` is missing from the key and lands before time.
  PERSIST_ASSIGN_OR_FAIL(auto result,
                         CompactBatches(batches, {"b", "gone", "a", "time"}));
  EXPECT_EQ(result.sort_key, (Key{"b", "a", "c", "time"}));
  EXPECT_THAT(TableRows(*result.table),
              ElementsAre("a=1 b=x c=k time=2", "a=2 b=x c=k time=3",
                          "a=1 b=y c=k time=4", "a=2 b=y c=j time=1"));
}

TEST(CompactionTest, NullTagsSortLastAndDeduplicateTogether) {
  Batches batches = {
      BatchMaker().Tag("host", {std::nullopt, "a"}).I64("v", {1, 2}).Time({1, 1}).Build(),
      // A batch without `host`: its rows have a null host.
      BatchMaker().I64("v", {3}).Time({1}).Build(),
  };
  PERSIST_ASSIGN_OR_FAIL(auto result, CompactBatches(batches, {}));
  EXPECT_EQ(result.sort_key, (Key{"host", "time"}));
  EXPECT_THAT(TableRows(*result.table),
              ElementsAre("host=a v=2 time=1", "host=null v=3 time=1"));
}

TEST(CompactionTest, RejectsDataOutsideTheModel) {
  EXPECT_FALSE(CompactBatches({}, {}).ok());
  EXPECT_FALSE(CompactBatches({BatchMaker().I64("v", {1}).Build()}, {}).ok());
  // The same column with two types.
  EXPECT_FALSE(CompactBatches({BatchMaker().I64("v", {1}).Time({1}).Build(),
                               BatchMaker().F64("v", {1}).Time({1}).Build()},
                              {})
                   .ok());
}

// --- against the reference, on random data -------------------------------------------

struct RandomData {
  Batches batches;
  std::shared_ptr<arrow::Schema> merged;
};

RandomData MakeRandomData(uint32_t seed) {
  std::mt19937 rng(seed);
  auto chance = [&](double p) { return std::uniform_real_distribution<>(0, 1)(rng) < p; };
  auto pick = [&](int n) { return std::uniform_int_distribution<>(0, n - 1)(rng); };
  const std::vector<std::string> tags = {"host", "region", "dc"};
  const std::vector<std::string> values = {"a", "b", "c", "zz", "A", "b2"};
  RandomData data;
  const int n_batches = 1 + pick(5);
  for (int b = 0; b < n_batches; ++b) {
    const int rows = pick(40);  // 0 rows happens too
    BatchMaker maker;
    for (const auto& tag : tags) {
      if (!chance(0.75)) continue;  // schema changes between batches
      std::vector<std::optional<std::string>> col;
      for (int i = 0; i < rows; ++i) {
        if (chance(0.1)) {
          col.push_back(std::nullopt);
        } else {
          col.push_back(values[pick(static_cast<int>(values.size()))]);
        }
      }
      maker.Tag(tag, col);
    }
    buffer_test::Opt<int64_t> i64;
    buffer_test::Opt<double> f64;
    buffer_test::Opt<bool> bools;
    buffer_test::Opt<std::string> strs;
    buffer_test::Opt<uint64_t> u64;
    std::vector<int64_t> times;
    for (int i = 0; i < rows; ++i) {
      i64.push_back(chance(0.3) ? std::nullopt
                                : std::optional<int64_t>(pick(1000) - 500));
      f64.push_back(chance(0.3) ? std::nullopt : std::optional<double>(pick(100) / 4.0));
      bools.push_back(chance(0.3) ? std::nullopt : std::optional<bool>(chance(0.5)));
      strs.push_back(chance(0.3)
                         ? std::nullopt
                         : std::optional<std::string>("s" + std::to_string(pick(9))));
      u64.push_back(chance(0.3) ? std::nullopt : std::optional<uint64_t>(pick(7)));
      times.push_back(pick(6) * 1'000'000'000LL);  // few timestamps: many duplicates
    }
    if (chance(0.8)) maker.I64("i", i64);
    if (chance(0.6)) maker.F64("f", f64);
    if (chance(0.5)) maker.Bool("b", bools);
    if (chance(0.5)) maker.Str("s", strs);
    if (chance(0.4)) maker.U64("u", u64);
    maker.Time(times);
    auto batch = maker.Build();
    // Sometimes a slice, whose dictionaries hold values no row references.
    if (rows > 4 && chance(0.3)) batch = batch->Slice(2, rows - 4);
    data.batches.push_back(batch);
  }
  std::vector<std::shared_ptr<arrow::Schema>> schemas;
  for (const auto& b : data.batches) schemas.push_back(b->schema());
  data.merged = MergeSchemas(schemas).ValueOrDie();
  return data;
}

TEST(CompactionTest, MatchesTheReferenceOnRandomData) {
  int compared_with_duplicates = 0;
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    RandomData data = MakeRandomData(seed);
    // A key from the catalog that orders some tags, sometimes not all of them.
    // Keys ending in time take the packed sort; `time` in the middle of a key (written by
    // another tool) takes Arrow's sort_indices.
    Key requested = seed % 3 == 0   ? Key{"region", "time"}
                    : seed % 3 == 1 ? Key{"dc", "host", "region", "time"}
                                    : Key{"host", "time", "dc"};
    PERSIST_ASSIGN_OR_FAIL(auto result, CompactBatches(data.batches, requested));
    ASSERT_TRUE(result.table->schema()->Equals(*data.merged));
    if (seed % 3 != 2) {
      ASSERT_EQ(result.sort_key.back(), "time");
    }
    const auto expected = ReferenceCompact(data.batches, *data.merged, result.sort_key);
    const auto actual = TableRows(*result.table);
    ASSERT_EQ(actual, expected);
    EXPECT_EQ(result.output_rows, static_cast<int64_t>(expected.size()));
    if (result.output_rows < result.input_rows) ++compared_with_duplicates;
    PERSIST_ASSERT_OK(result.table->ValidateFull());
  }
  // The generator must actually exercise de-duplication.
  EXPECT_GT(compared_with_duplicates, 200);
}

TEST(CompactionTest, KeysTooWideToPackMatchTheReference) {
  // 5 tags of ~15,000 distinct values need 5 x 14 = 70 bits: Arrow's sort_indices path.
  std::mt19937 rng(7);
  Batches batches;
  for (int b = 0; b < 3; ++b) {
    BatchMaker maker;
    std::vector<int64_t> times;
    buffer_test::Opt<int64_t> values;
    for (int i = 0; i < 6000; ++i) {
      times.push_back(rng() % 3);
      values.push_back(rng() % 4 == 0 ? std::nullopt
                                      : std::optional<int64_t>(b * 100 + i));
    }
    for (const char* tag : {"a", "b", "c", "d", "e"}) {
      std::vector<std::optional<std::string>> col;
      for (int i = 0; i < 6000; ++i) {
        col.push_back("v" + std::to_string(rng() % 20'000));
      }
      maker.Tag(tag, col);
    }
    batches.push_back(maker.I64("x", values).Time(times).Build());
  }
  // Make sure there are duplicates: the last batch repeats the first one's keys.
  batches.push_back(batches.front()->Slice(0, 5000));
  PERSIST_ASSIGN_OR_FAIL(auto result, CompactBatches(batches, {}));
  EXPECT_LT(result.output_rows, result.input_rows);
  auto merged = MergeSchemas({batches[0]->schema()}).ValueOrDie();
  EXPECT_EQ(TableRows(*result.table),
            ReferenceCompact(batches, *merged, result.sort_key));
}

// --- memory limit and executor ------------------------------------------------------

Batches BigData(int batches, int rows_per_batch) {
  Batches out;
  for (int b = 0; b < batches; ++b) {
    std::vector<std::optional<std::string>> hosts;
    buffer_test::Opt<int64_t> values;
    std::vector<int64_t> times;
    for (int i = 0; i < rows_per_batch; ++i) {
      hosts.push_back("host_" + std::to_string((i * 7 + b) % 100));
      values.push_back(i);
      times.push_back(static_cast<int64_t>(i) * 1000 + b);
    }
    out.push_back(BatchMaker().Tag("host", hosts).I64("v", values).Time(times).Build());
  }
  return out;
}

TEST(CompactionTest, FailsCleanlyWithOutOfMemoryUnderTheLimit) {
  Batches batches = BigData(4, 50'000);
  auto pool = LimitedMemoryPool::Make({.limit_bytes = 1 << 20}).ValueOrDie();
  {
    JobMemoryPool job(pool.get());
    auto result = CompactBatches(batches, {"host", "time"}, &job);
    ASSERT_FALSE(result.ok());
    EXPECT_TRUE(result.status().IsOutOfMemory()) << result.status().ToString();
    EXPECT_EQ(job.bytes_allocated(), 0);
    EXPECT_GT(job.known_need(), 1 << 20);
  }
  EXPECT_EQ(pool->bytes_allocated(), 0);
  EXPECT_GT(pool->rejected_allocations(), 0);
  // The process lives on and the same data compacts under a large enough limit.
  auto roomy = LimitedMemoryPool::Make({.limit_bytes = 256 << 20}).ValueOrDie();
  JobMemoryPool job(roomy.get());
  PERSIST_ASSIGN_OR_FAIL(auto result, CompactBatches(batches, {"host", "time"}, &job));
  EXPECT_EQ(result.output_rows, 200'000);
  EXPECT_GT(job.max_memory(), 1 << 20);
}

TEST(CompactionExecutorTest, RunsJobsConcurrentlyUnderOneLimit) {
  CompactionExecutorOptions options;
  options.threads = 2;
  options.memory_limit_bytes = 64 << 20;
  PERSIST_ASSIGN_OR_FAIL(auto executor, CompactionExecutor::Make(options));
  Batches batches = BigData(2, 20'000);
  std::vector<std::thread> callers;
  std::vector<arrow::Status> statuses(4);
  std::vector<int64_t> rows(4, 0);
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&, i] {
      JobMemoryPool job(executor->memory_pool());
      statuses[i] = executor->Run(&job, [&]() -> arrow::Status {
        ARROW_ASSIGN_OR_RAISE(auto result, CompactBatches(batches, {}, &job));
        rows[i] = result.output_rows;
        return arrow::Status::OK();
      });
    });
  }
  for (auto& t : callers) t.join();
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(statuses[i].ok()) << statuses[i].ToString();
    EXPECT_EQ(rows[i], 40'000);
  }
  EXPECT_EQ(executor->memory_pool()->bytes_allocated(), 0);
  EXPECT_GT(executor->memory_pool()->max_memory(), 0);
  EXPECT_LE(executor->memory_pool()->max_memory(), 64 << 20);
}

TEST(CompactionExecutorTest, RefusesAJobPoolOfAnotherExecutor) {
  PERSIST_ASSIGN_OR_FAIL(auto a, CompactionExecutor::Make({}));
  PERSIST_ASSIGN_OR_FAIL(auto b, CompactionExecutor::Make({}));
  JobMemoryPool job(b->memory_pool());
  EXPECT_TRUE(a->Run(&job, [] { return arrow::Status::OK(); }).IsInvalid());
  CompactionExecutorOptions bad;
  bad.threads = 0;
  EXPECT_FALSE(CompactionExecutor::Make(bad).ok());
}

}  // namespace
}  // namespace ingester::persist
