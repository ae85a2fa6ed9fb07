#include "ingester/persist/persist_job.h"

#include <arrow/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "ingester/buffer/buffer_test_util.h"
#include "ingester/persist/object_path.h"
#include "ingester/persist/persist_core_test_util.h"
#include "ingester/persist/persist_error.h"

namespace ingester::persist {
namespace {

using buffer_test::BatchMaker;
using buffer_test::Opt;
using testing::CatalogWithPartition;
using ::testing::ElementsAre;
using testing::ReadParquet;
using namespace std::chrono_literals;

std::vector<std::string> TableRows(const arrow::Table& table) {
  arrow::TableBatchReader reader(table);
  auto batches = reader.ToRecordBatches();
  EXPECT_TRUE(batches.ok());
  return buffer_test::RowStrings(*batches);
}

RetryPolicy Fast(int max_attempts) {
  RetryPolicy policy;
  policy.initial_delay = 1ms;
  policy.max_delay = 5ms;
  policy.max_attempts = max_attempts;
  return policy;
}

class PersistJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PERSIST_ASSERT_OK(catalog_.Init({"host", "region", "dc"}, {"v", "w"}));
    ObjectStoreOptions store_options;
    store_options.url = "file://" + (objects_dir_.path() / "objects").string();
    store_options.retry = Fast(2);
    PERSIST_ASSIGN_OR_FAIL(store_, ObjectStore::Make(store_options));
    MakeExecutor(0);
  }

  void MakeExecutor(int64_t memory_limit) {
    CompactionExecutorOptions options;
    options.memory_limit_bytes = memory_limit;
    options.memory_retry.max_wait = 10ms;
    auto executor = CompactionExecutor::Make(options);
    ASSERT_TRUE(executor.ok()) << executor.status().ToString();
    executor_ = std::move(executor).ValueOrDie();
  }

  PersistJobContext Context() {
    PersistJobContext context;
    context.catalog = catalog_.catalog.get();
    context.object_store = store_.get();
    context.executor = executor_.get();
    context.catalog_retry = Fast(3);
    return context;
  }

  std::unique_ptr<PartitionData> NewPartition(const catalog::PartitionRecord& record) {
    return std::make_unique<PartitionData>(
        PartitionIdentity{record.id, record.key, catalog_.ns.id,
                          DeferredLoad<std::string>::Ready(catalog_.ns.name),
                          catalog_.table.id,
                          DeferredLoad<std::string>::Ready(catalog_.table.name)},
        MutableBufferOptions{});
  }

  CatalogWithPartition catalog_;
  TempDir objects_dir_{"persist-job"};
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<CompactionExecutor> executor_;
};

TEST_F(PersistJobTest, PersistsASnapshotEndToEnd) {
  auto partition = NewPartition(catalog_.partition);
  // 3 hosts, 1 region: the first key is [region, host, time]. Later writes overwrite
  // fields of earlier rows with the same (host, region, time), field by field.
  PERSIST_ASSERT_OK(partition->BufferWrite(1, BatchMaker()
                                                  .Tag("host", {"c", "a", "b", "a"})
                                                  .Tag("region", {"eu", "eu", "eu", "eu"})
                                                  .I64("v", {1, 2, 3, 4})
                                                  .Time({30, 10, 20, 40})
                                                  .Build()));
  PERSIST_ASSERT_OK(partition->BufferWrite(2, BatchMaker()
                                                  .Tag("host", {"a"})
                                                  .Tag("region", {"eu"})
                                                  .I64("v", {Opt<int64_t>::value_type()})
                                                  .I64("w", {99})
                                                  .Time({10})
                                                  .Build()));
  PERSIST_ASSIGN_OR_FAIL(auto snapshot, partition->MarkPersisting());
  PERSIST_ASSIGN_OR_FAIL(auto result, RunPersistJob(Context(), *snapshot));

  EXPECT_EQ(result.input_rows, 5);
  EXPECT_EQ(result.output_rows, 4);
  EXPECT_EQ(result.sort_key, (std::vector<std::string>{"region", "host", "time"}));
  EXPECT_EQ(result.sort_key_cas_attempts, 1);
  EXPECT_EQ(result.upload_attempts, 1);
  EXPECT_EQ(result.memory_retries, 0);
  EXPECT_GT(result.peak_memory_bytes, result.file_bytes);
  EXPECT_GE(result.total_time,
            result.compact_time + result.encode_time + result.upload_time);

  // The catalog: the sort key and one parquet_file row.
  PERSIST_ASSIGN_OR_FAIL(auto stored,
                         catalog_.catalog->GetPartition(catalog_.partition.id));
  EXPECT_EQ(stored.sort_key, result.sort_key);
  PERSIST_ASSIGN_OR_FAIL(auto files,
                         catalog_.catalog->ListParquetFiles(catalog_.partition.id));
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0], result.file);
  EXPECT_EQ(files[0].path,
            catalog::ParquetFilePath(catalog_.ns.id, catalog_.table.id,
                                     catalog_.partition.id, files[0].object_store_id));
  EXPECT_EQ(files[0].min_time, 10);
  EXPECT_EQ(files[0].max_time, 40);
  EXPECT_EQ(files[0].row_count, 4);
  EXPECT_EQ(files[0].file_size_bytes, result.file_bytes);

  // The object: a real file under the store's directory, sorted and de-duplicated.
  EXPECT_TRUE(
      std::filesystem::is_regular_file(objects_dir_.path() / "objects" / files[0].path));
  PERSIST_ASSIGN_OR_FAIL(auto bytes, store_->Get(files[0].path));
  EXPECT_EQ(bytes->size(), result.file_bytes);
  PERSIST_ASSIGN_OR_FAIL(auto parquet, ReadParquet(bytes));
  EXPECT_THAT(TableRows(*parquet.table),
              ElementsAre("host=a region=eu v=2 w=99 time=10",
                          "host=a region=eu v=4 w=null time=40",
                          "host=b region=eu v=3 w=null time=20",
                          "host=c region=eu v=1 w=null time=30"));
  PERSIST_ASSIGN_OR_FAIL(auto meta, ParquetFileMetadata::FromKeyValue(
                                        *parquet.metadata->key_value_metadata()));
  EXPECT_EQ(meta.namespace_name, "ns");
  EXPECT_EQ(meta.table_name, "cpu");
  EXPECT_EQ(meta.partition_key, catalog_.partition.key);
  EXPECT_EQ(meta.object_store_id, files[0].object_store_id);
  EXPECT_EQ(meta.row_count, 4);
  EXPECT_EQ(meta.created_at, files[0].created_at);

  // The caller's part: the snapshot leaves the partition.
  PERSIST_ASSIGN_OR_FAIL(auto sequence_numbers, partition->MarkPersisted(snapshot));
  EXPECT_THAT(sequence_numbers, ElementsAre(1u, 2u));
}

// Two ingesters sharing a bucket and a catalog persist the same partition: each object
// lies under its own ingester's prefix of the partition, and both are recorded.
TEST_F(PersistJobTest, ObjectPathsCarryTheIngesterId) {
  auto partition = NewPartition(catalog_.partition);
  std::vector<PersistJobResult> results;
  for (const std::string id : {"ingester-a", "ingester-b"}) {
    PERSIST_ASSERT_OK(partition->BufferWrite(
        1, BatchMaker().Tag("host", {"a"}).I64("v", {1}).Time({10}).Build()));
    PERSIST_ASSIGN_OR_FAIL(auto snapshot, partition->MarkPersisting());
    PersistJobContext context = Context();
    context.ingester_id = id;
    PERSIST_ASSIGN_OR_FAIL(auto result, RunPersistJob(context, *snapshot));
    EXPECT_EQ(result.file.path, std::to_string(catalog_.ns.id.value()) + "/" +
                                    std::to_string(catalog_.table.id.value()) + "/" +
                                    std::to_string(catalog_.partition.id.value()) + "/" +
                                    id + "/" + result.file.object_store_id + ".parquet");
    EXPECT_EQ(result.file.path,
              ObjectPath(catalog_.ns.id, catalog_.table.id, catalog_.partition.id, id,
                         result.file.object_store_id));
    EXPECT_TRUE(std::filesystem::is_regular_file(objects_dir_.path() / "objects" /
                                                 result.file.path));
    PERSIST_ASSIGN_OR_FAIL(auto bytes, store_->Get(result.file.path));
    PERSIST_ASSIGN_OR_FAIL(auto parquet, ReadParquet(bytes));
    PERSIST_ASSIGN_OR_FAIL(auto meta, ParquetFileMetadata::FromKeyValue(
                                          *parquet.metadata->key_value_metadata()));
    EXPECT_EQ(meta.ingester_id, id);
    PERSIST_ASSERT_OK(partition->MarkPersisted(snapshot).status());
    results.push_back(std::move(result));
  }
  PERSIST_ASSIGN_OR_FAIL(auto files,
                         catalog_.catalog->ListParquetFiles(catalog_.partition.id));
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].path, results[0].file.path);
  EXPECT_EQ(files[1].path, results[1].file.path);
}

TEST_F(PersistJobTest, LaterPersistsExtendTheKeyBeforeTime) {
  auto partition = NewPartition(catalog_.partition);
  PERSIST_ASSERT_OK(partition->BufferWrite(
      1, BatchMaker().Tag("host", {"a", "b"}).I64("v", {1, 2}).Time({1, 2}).Build()));
  PERSIST_ASSIGN_OR_FAIL(auto first_snapshot, partition->MarkPersisting());
  PERSIST_ASSIGN_OR_FAIL(auto first, RunPersistJob(Context(), *first_snapshot));
  EXPECT_EQ(first.sort_key, (std::vector<std::string>{"host", "time"}));

  // A new tag arrives; the job is handed a stale cached key (empty) and must still end
  // with host first (catalog order kept), dc before time.
  PERSIST_ASSERT_OK(partition->BufferWrite(2, BatchMaker()
                                                  .Tag("host", {"z", "a", "a"})
                                                  .Tag("dc", {"x", "y", "x"})
                                                  .I64("v", {1, 2, 3})
                                                  .Time({5, 5, 5})
                                                  .Build()));
  PERSIST_ASSIGN_OR_FAIL(auto second_snapshot, partition->MarkPersisting());
  PERSIST_ASSIGN_OR_FAIL(auto second, RunPersistJob(Context(), *second_snapshot,
                                                    std::vector<std::string>{}));
  EXPECT_EQ(second.sort_key, (std::vector<std::string>{"host", "dc", "time"}));
  EXPECT_EQ(second.sort_key_cas_attempts,
            2);  // the stale guess, then on top of the catalog
  PERSIST_ASSIGN_OR_FAIL(auto bytes, store_->Get(second.file.path));
  PERSIST_ASSIGN_OR_FAIL(auto parquet, ReadParquet(bytes));
  EXPECT_THAT(TableRows(*parquet.table),
              ElementsAre("host=a dc=x v=3 time=5", "host=a dc=y v=2 time=5",
                          "host=z dc=x v=1 time=5"));
  PERSIST_ASSIGN_OR_FAIL(auto files,
                         catalog_.catalog->ListParquetFiles(catalog_.partition.id));
  EXPECT_EQ(files.size(), 2u);
}

TEST_F(PersistJobTest, SortsAgainWhenAnotherWriterStoredADifferentOrder) {
  auto partition = NewPartition(catalog_.partition);
  // One host, two regions: by cardinality this job would sort [host, region, time].
  PERSIST_ASSERT_OK(partition->BufferWrite(1, BatchMaker()
                                                  .Tag("host", {"a", "a", "a"})
                                                  .Tag("region", {"us", "eu", "us"})
                                                  .I64("v", {1, 2, 3})
                                                  .Time({2, 3, 1})
                                                  .Build()));
  PERSIST_ASSIGN_OR_FAIL(auto snapshot, partition->MarkPersisting());
  // Another ingester stored [region, host, time]; this job believes the key is empty.
  PERSIST_ASSERT_OK(
      catalog_.catalog->CasSortKey(catalog_.partition.id, {}, {"region", "host", "time"})
          .status());
  PERSIST_ASSIGN_OR_FAIL(auto result,
                         RunPersistJob(Context(), *snapshot, std::vector<std::string>{}));
  EXPECT_EQ(result.sort_key, (std::vector<std::string>{"region", "host", "time"}));
  EXPECT_EQ(result.sort_key_cas_attempts, 1);
  PERSIST_ASSIGN_OR_FAIL(auto bytes, store_->Get(result.file.path));
  PERSIST_ASSIGN_OR_FAIL(auto parquet, ReadParquet(bytes));
  EXPECT_THAT(TableRows(*parquet.table),
              ElementsAre("host=a region=eu v=2 time=3", "host=a region=us v=3 time=1",
                          "host=a region=us v=1 time=2"));
  PERSIST_ASSIGN_OR_FAIL(auto meta, ParquetFileMetadata::FromKeyValue(
                                        *parquet.metadata->key_value_metadata()));
  EXPECT_EQ(meta.sort_key, result.sort_key);
}

TEST_F(PersistJobTest, RunsConcurrentlyForDifferentPartitions) {
  constexpr int kPartitions = 6;
  std::vector<std::unique_ptr<PartitionData>> partitions;
  std::vector<std::shared_ptr<const PersistingSnapshot>> snapshots;
  for (int p = 0; p < kPartitions; ++p) {
    PERSIST_ASSIGN_OR_FAIL(auto record,
                           catalog_.catalog->GetOrCreatePartition(
                               catalog_.table.id, "2024-02-0" + std::to_string(p + 1)));
    partitions.push_back(NewPartition(record));
    std::vector<std::optional<std::string>> hosts;
    std::vector<int64_t> times;
    Opt<int64_t> values;
    for (int i = 0; i < 5000; ++i) {
      hosts.push_back("h" + std::to_string(i % 50));
      times.push_back(i / 2);  // pairs of rows share a time: some duplicates
      values.push_back(i);
    }
    PERSIST_ASSERT_OK(partitions.back()->BufferWrite(
        1, BatchMaker().Tag("host", hosts).I64("v", values).Time(times).Build()));
    PERSIST_ASSIGN_OR_FAIL(auto snapshot, partitions.back()->MarkPersisting());
    snapshots.push_back(snapshot);
  }
  std::vector<arrow::Result<PersistJobResult>> results(
      kPartitions, arrow::Status::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int p = 0; p < kPartitions; ++p) {
    threads.emplace_back(
        [&, p] { results[p] = RunPersistJob(Context(), *snapshots[p]); });
  }
  for (auto& t : threads) t.join();
  for (int p = 0; p < kPartitions; ++p) {
    ASSERT_TRUE(results[p].ok()) << results[p].status().ToString();
    PERSIST_ASSIGN_OR_FAIL(
        auto files, catalog_.catalog->ListParquetFiles(snapshots[p]->partition_id));
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(files[0].row_count, results[p]->output_rows);
  }
  PERSIST_ASSIGN_OR_FAIL(auto objects, store_->List());
  EXPECT_EQ(objects.size(), static_cast<size_t>(kPartitions));
  EXPECT_EQ(executor_->memory_pool()->bytes_allocated(), 0);
}

TEST_F(PersistJobTest, OverTheMemoryLimitFailsCleanlyAndLeavesNothing) {
  MakeExecutor(64 << 10);
  auto partition = NewPartition(catalog_.partition);
  std::vector<std::optional<std::string>> hosts;
  std::vector<int64_t> times;
  for (int i = 0; i < 50'000; ++i) {
    hosts.push_back("host-" + std::to_string(i));
    times.push_back(i);
  }
  PERSIST_ASSERT_OK(
      partition->BufferWrite(1, BatchMaker().Tag("host", hosts).Time(times).Build()));
  PERSIST_ASSIGN_OR_FAIL(auto snapshot, partition->MarkPersisting());
  auto failed = RunPersistJob(Context(), *snapshot);
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.status().IsOutOfMemory()) << failed.status().ToString();
  PERSIST_ASSIGN_OR_FAIL(auto files,
                         catalog_.catalog->ListParquetFiles(catalog_.partition.id));
  EXPECT_TRUE(files.empty());
  PERSIST_ASSIGN_OR_FAIL(auto objects, store_->List());
  EXPECT_TRUE(objects.empty());
  EXPECT_EQ(executor_->memory_pool()->bytes_allocated(), 0);
  // The snapshot is still there; with room the same job succeeds.
  MakeExecutor(256 << 20);
  PERSIST_ASSIGN_OR_FAIL(auto result, RunPersistJob(Context(), *snapshot));
  EXPECT_EQ(result.output_rows, 50'000);
}

TEST_F(PersistJobTest, PermanentUploadFailuresAreNotRetriedAndRecordNothing) {
  auto partition = NewPartition(catalog_.partition);
  PERSIST_ASSERT_OK(partition->BufferWrite(
      1, BatchMaker().Tag("host", {"a"}).I64("v", {1}).Time({1}).Build()));
  PERSIST_ASSIGN_OR_FAIL(auto snapshot, partition->MarkPersisting());
  // A file where the namespace directory should be: a permanent error, not retried.
  const auto blocker =
      objects_dir_.path() / "objects" / std::to_string(catalog_.ns.id.value());
  std::ofstream(blocker) << "in the way";
  auto failed = RunPersistJob(Context(), *snapshot);
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.status().IsIOError()) << failed.status().ToString();
  EXPECT_TRUE(IsPermanentPersistError(failed.status())) << failed.status().ToString();
  EXPECT_EQ(failed.status().message().find("gave up"), std::string::npos);
  PERSIST_ASSIGN_OR_FAIL(auto files,
                         catalog_.catalog->ListParquetFiles(catalog_.partition.id));
  EXPECT_TRUE(files.empty());
  std::filesystem::remove(blocker);
  PERSIST_ASSIGN_OR_FAIL(auto result, RunPersistJob(Context(), *snapshot));
  EXPECT_EQ(result.upload_attempts, 1);
  PERSIST_ASSIGN_OR_FAIL(files,
                         catalog_.catalog->ListParquetFiles(catalog_.partition.id));
  EXPECT_EQ(files.size(), 1u);
}

// Every attempt of a snapshot's persist writes the same object: a job run again (a
// retry after a reply lost past the catalog commit) replaces it and records it once.
TEST_F(PersistJobTest, ARunAgainWritesTheSameObjectAndRecordsItOnce) {
  auto partition = NewPartition(catalog_.partition);
  PERSIST_ASSERT_OK(partition->BufferWrite(
      1, BatchMaker().Tag("host", {"a"}).I64("v", {1}).Time({1}).Build()));
  PERSIST_ASSIGN_OR_FAIL(auto snapshot, partition->MarkPersisting());
  ASSERT_FALSE(snapshot->object_store_id.empty());
  PERSIST_ASSIGN_OR_FAIL(auto first, RunPersistJob(Context(), *snapshot));
  PERSIST_ASSIGN_OR_FAIL(auto again, RunPersistJob(Context(), *snapshot));
  EXPECT_EQ(first.file.object_store_id, snapshot->object_store_id);
  EXPECT_EQ(again.file.path, first.file.path);
  EXPECT_EQ(again.file.id, first.file.id);
  PERSIST_ASSIGN_OR_FAIL(auto files,
                         catalog_.catalog->ListParquetFiles(catalog_.partition.id));
  ASSERT_EQ(files.size(), 1u);
  PERSIST_ASSIGN_OR_FAIL(auto objects, store_->List());
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].path, files[0].path);
}

// A job that fails permanently after its upload (here the catalog refuses the row: the
// snapshot names another table than its partition's) deletes the object: nothing is
// left in the store that the catalog does not list.
TEST_F(PersistJobTest, APermanentFailureAfterTheUploadLeavesNoObject) {
  PERSIST_ASSIGN_OR_FAIL(auto other,
                         catalog_.catalog->GetOrCreateTable(catalog_.ns.id, "other"));
  auto partition = std::make_unique<PartitionData>(
      PartitionIdentity{catalog_.partition.id, catalog_.partition.key, catalog_.ns.id,
                        DeferredLoad<std::string>::Ready(catalog_.ns.name), other.id,
                        DeferredLoad<std::string>::Ready(other.name)},
      MutableBufferOptions{});
  PERSIST_ASSERT_OK(partition->BufferWrite(
      1, BatchMaker().Tag("host", {"a"}).I64("v", {1}).Time({1}).Build()));
  PERSIST_ASSIGN_OR_FAIL(auto snapshot, partition->MarkPersisting());
  auto failed = RunPersistJob(Context(), *snapshot);
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(IsPermanentPersistError(failed.status())) << failed.status().ToString();
  EXPECT_NE(failed.status().message().find("belongs to table"), std::string::npos)
      << failed.status().ToString();
  PERSIST_ASSIGN_OR_FAIL(auto files,
                         catalog_.catalog->ListParquetFiles(catalog_.partition.id));
  EXPECT_TRUE(files.empty());
  PERSIST_ASSIGN_OR_FAIL(auto objects, store_->List());
  EXPECT_TRUE(objects.empty()) << objects.size() << " orphaned object(s), first "
                               << (objects.empty() ? "" : objects[0].path);
}

TEST_F(PersistJobTest, RejectsAnIncompleteContext) {
  auto partition = NewPartition(catalog_.partition);
  PERSIST_ASSERT_OK(partition->BufferWrite(
      1, BatchMaker().Tag("host", {"a"}).I64("v", {1}).Time({1}).Build()));
  PERSIST_ASSIGN_OR_FAIL(auto snapshot, partition->MarkPersisting());
  PersistJobContext context = Context();
  context.object_store = nullptr;
  EXPECT_TRUE(RunPersistJob(context, *snapshot).status().IsInvalid());
}

}  // namespace
}  // namespace ingester::persist
