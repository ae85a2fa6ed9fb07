// The persist job against a real S3 server (SeaweedFS on loopback), including an outage
// in the middle of a persist. Registered as persist_s3_test, label `slow`.
#include <arrow/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "ingester/buffer/buffer_test_util.h"
#include "ingester/common/uuid.h"
#include "ingester/persist/persist_core_test_util.h"
#include "ingester/persist/persist_job.h"

namespace ingester::persist {
namespace {

using buffer_test::BatchMaker;
using testing::CatalogWithPartition;
using ::testing::ElementsAre;
using testing::ReadParquet;
using testing::SeaweedS3Server;
using namespace std::chrono_literals;

std::vector<std::string> TableRows(const arrow::Table& table) {
  arrow::TableBatchReader reader(table);
  auto batches = reader.ToRecordBatches();
  EXPECT_TRUE(batches.ok());
  return buffer_test::RowStrings(*batches);
}

class S3PersistJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PERSIST_REQUIRE_S3_SERVER(server_);
    PERSIST_ASSERT_OK(catalog_.Init({"host", "region"}, {"v"}));
    prefix_ = "persist-" + GenerateUuidV4();
    store_options_.url = "s3://ingester-test/" + prefix_;
    store_options_.s3_endpoint = server_->endpoint();
    store_options_.s3_region = "us-east-1";
    store_options_.s3_access_key_id = SeaweedS3Server::kAccessKey;
    store_options_.s3_secret_access_key = SeaweedS3Server::kSecretKey;
    store_options_.s3_connect_timeout = 2;
    store_options_.s3_create_bucket = true;
    store_options_.retry.initial_delay = 10ms;
    store_options_.retry.max_delay = 200ms;
    store_options_.retry.max_attempts = 0;  // like production: until it works
    store_options_.retry.TEST_on_failure = [this](int, const arrow::Status&) {
      std::lock_guard<std::mutex> lock(mu_);
      ++upload_failures_;
      cv_.notify_all();
    };
    PERSIST_ASSIGN_OR_FAIL(store_, ObjectStore::Make(store_options_));
    PERSIST_ASSIGN_OR_FAIL(executor_, CompactionExecutor::Make({}));
    partition_ = std::make_unique<PartitionData>(
        PartitionIdentity{catalog_.partition.id, catalog_.partition.key, catalog_.ns.id,
                          DeferredLoad<std::string>::Ready("ns"), catalog_.table.id,
                          DeferredLoad<std::string>::Ready("cpu")},
        MutableBufferOptions{});
    PERSIST_ASSERT_OK(partition_->BufferWrite(1, BatchMaker()
                                                     .Tag("host", {"b", "a", "b"})
                                                     .Tag("region", {"eu", "eu", "eu"})
                                                     .I64("v", {1, 2, 3})
                                                     .Time({7, 7, 7})
                                                     .Build()));
    PERSIST_ASSIGN_OR_FAIL(snapshot_, partition_->MarkPersisting());
  }

  PersistJobContext Context() {
    PersistJobContext context;
    context.catalog = catalog_.catalog.get();
    context.object_store = store_.get();
    context.executor = executor_.get();
    return context;
  }

  void ExpectPersisted(const PersistJobResult& result) {
    PERSIST_ASSIGN_OR_FAIL(auto files,
                           catalog_.catalog->ListParquetFiles(catalog_.partition.id));
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(files[0], result.file);
    PERSIST_ASSIGN_OR_FAIL(auto objects, store_->List());
    EXPECT_THAT(objects, ElementsAre(ObjectInfo{result.file.path, result.file_bytes}));
    PERSIST_ASSIGN_OR_FAIL(auto bytes, store_->Get(result.file.path));
    PERSIST_ASSIGN_OR_FAIL(auto parquet, ReadParquet(bytes));
    EXPECT_THAT(TableRows(*parquet.table), ElementsAre("host=a region=eu v=2 time=7",
                                                       "host=b region=eu v=3 time=7"));
  }

  SeaweedS3Server* server_ = nullptr;
  CatalogWithPartition catalog_;
  std::string prefix_;
  ObjectStoreOptions store_options_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<CompactionExecutor> executor_;
  std::unique_ptr<PartitionData> partition_;
  std::shared_ptr<const PersistingSnapshot> snapshot_;
  std::mutex mu_;
  std::condition_variable cv_;
  int upload_failures_ = 0;
};

TEST_F(S3PersistJobTest, PersistsToS3) {
  PERSIST_ASSIGN_OR_FAIL(auto result, RunPersistJob(Context(), *snapshot_));
  EXPECT_EQ(result.output_rows, 2);
  EXPECT_EQ(result.upload_attempts, 1);
  ExpectPersisted(result);
  // The object lives under the URL's prefix in the bucket.
  ObjectStoreOptions bucket_root = store_options_;
  bucket_root.url = "s3://ingester-test";
  PERSIST_ASSIGN_OR_FAIL(auto root, ObjectStore::Make(bucket_root));
  PERSIST_ASSIGN_OR_FAIL(auto at_root, root->Get(prefix_ + "/" + result.file.path));
  EXPECT_EQ(at_root->size(), result.file_bytes);
}

TEST_F(S3PersistJobTest, CompletesWhenTheServerComesBackMidPersist) {
  PERSIST_ASSERT_OK(server_->Stop());
  std::stop_source stop;
  arrow::Result<PersistJobResult> result = arrow::Status::UnknownError("not finished");
  std::thread job([&] {
    result = RunPersistJob(Context(), *snapshot_, std::nullopt, stop.get_token());
  });
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return upload_failures_ >= 2; });
  }
  // Nothing is recorded while the upload cannot happen.
  PERSIST_ASSIGN_OR_FAIL(auto files,
                         catalog_.catalog->ListParquetFiles(catalog_.partition.id));
  EXPECT_TRUE(files.empty());
  const arrow::Status restarted = server_->Restart();
  if (!restarted.ok()) stop.request_stop();
  job.join();
  PERSIST_ASSERT_OK(restarted);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_GE(result->upload_attempts, 3);
  ExpectPersisted(*result);
  // The snapshot can now leave the partition.
  PERSIST_ASSIGN_OR_FAIL(auto released, partition_->MarkPersisted(snapshot_));
  EXPECT_THAT(released, ElementsAre(1u));
}

}  // namespace
}  // namespace ingester::persist
