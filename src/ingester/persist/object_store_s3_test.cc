// The object store against a real S3 server: SeaweedFS started on loopback by the test
// (persist_core_test_util.h). Registered as persist_s3_test, label `slow`.
#include <arrow/buffer.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "ingester/common/error.h"
#include "ingester/common/sanitizers.h"
#include "ingester/common/uuid.h"
#include "ingester/persist/object_store.h"
#include "ingester/persist/persist_core_test_util.h"

namespace ingester::persist {
namespace {

using ::testing::ElementsAre;
using testing::SeaweedS3Server;
using namespace std::chrono_literals;

// Stops the shared server and finalises the AWS SDK once every test is done (every
// store is destroyed by then).
class S3Environment : public ::testing::Environment {
 public:
  void TearDown() override {
    testing::StopSharedS3Server();
    const arrow::Status st = FinalizeObjectStores();
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
};
[[maybe_unused]] ::testing::Environment* const kS3Environment =
    ::testing::AddGlobalTestEnvironment(new S3Environment);

std::shared_ptr<arrow::Buffer> Bytes(const std::string& text) {
  return arrow::Buffer::FromString(text);
}

ObjectStoreOptions S3Options(const SeaweedS3Server& server, const std::string& url) {
  ObjectStoreOptions options;
  options.url = url;
  options.s3_endpoint = server.endpoint();
  options.s3_region = "us-east-1";
  options.s3_access_key_id = SeaweedS3Server::kAccessKey;
  options.s3_secret_access_key = SeaweedS3Server::kSecretKey;
  options.s3_connect_timeout = 2;
  options.s3_request_timeout = 10;
  options.s3_create_bucket = true;
  options.retry.initial_delay = 10ms;
  options.retry.max_delay = 100ms;
  options.retry.max_attempts = 3;
  return options;
}

class S3ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PERSIST_REQUIRE_S3_SERVER(server_);
    // A fresh prefix per test: tests do not see each other's objects.
    prefix_ = "run-" + GenerateUuidV4();
    auto store = ObjectStore::Make(S3Options(*server_, "s3://ingester-test/" + prefix_));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).ValueOrDie();
  }

  SeaweedS3Server* server_ = nullptr;
  std::string prefix_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(S3ObjectStoreTest, PutGetListDelete) {
  EXPECT_FALSE(store_->is_local());
  PERSIST_ASSERT_OK(store_->Put("1/2/3/a.parquet", Bytes("hello")));
  PERSIST_ASSERT_OK(store_->Put("1/2/4/b.parquet", Bytes("world!")));
  PERSIST_ASSIGN_OR_FAIL(auto got, store_->Get("1/2/3/a.parquet"));
  EXPECT_EQ(got->ToString(), "hello");
  PERSIST_ASSIGN_OR_FAIL(auto all, store_->List());
  EXPECT_THAT(all, ElementsAre(ObjectInfo{"1/2/3/a.parquet", 5},
                               ObjectInfo{"1/2/4/b.parquet", 6}));
  PERSIST_ASSIGN_OR_FAIL(auto under, store_->List("1/2/4"));
  EXPECT_THAT(under, ElementsAre(ObjectInfo{"1/2/4/b.parquet", 6}));

  PERSIST_ASSERT_OK(store_->Put("1/2/3/a.parquet", Bytes("replaced")));
  PERSIST_ASSIGN_OR_FAIL(got, store_->Get("1/2/3/a.parquet"));
  EXPECT_EQ(got->ToString(), "replaced");

  PERSIST_ASSERT_OK(store_->Delete("1/2/3/a.parquet"));
  PERSIST_ASSERT_OK(store_->Delete("1/2/3/a.parquet"));  // idempotent
  EXPECT_EQ(ErrorKindOf(store_->Get("1/2/3/a.parquet").status()), ErrorKind::kNotFound);
  PERSIST_ASSIGN_OR_FAIL(all, store_->List());
  EXPECT_THAT(all, ElementsAre(ObjectInfo{"1/2/4/b.parquet", 6}));
}

TEST_F(S3ObjectStoreTest, PrefixesIsolateStoresInOneBucket) {
  auto other =
      ObjectStore::Make(S3Options(*server_, "s3://ingester-test/" + prefix_ + "-other"));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  PERSIST_ASSERT_OK(store_->Put("x.parquet", Bytes("mine")));
  PERSIST_ASSERT_OK((*other)->Put("x.parquet", Bytes("theirs")));
  PERSIST_ASSIGN_OR_FAIL(auto mine, store_->Get("x.parquet"));
  EXPECT_EQ(mine->ToString(), "mine");
  PERSIST_ASSIGN_OR_FAIL(auto listed, store_->List());
  EXPECT_THAT(listed, ElementsAre(ObjectInfo{"x.parquet", 4}));
}

TEST_F(S3ObjectStoreTest, LargeObjectsRoundTrip) {
  if (kThreadSanitizer) {
    // Every chunk the AWS SDK copies out of curl's buffers is a (suppressed) report in
    // uninstrumented code; 23 MiB of them take TSAN over ten minutes.
    GTEST_SKIP() << "too slow under ThreadSanitizer; runs in the normal and ASan builds";
  }
  // Past Arrow's multipart threshold (parts of 10 MiB): still one atomic object.
  std::string big(23 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 3);
  PERSIST_ASSERT_OK(store_->Put("big.bin", Bytes(big)));
  PERSIST_ASSIGN_OR_FAIL(auto got, store_->Get("big.bin"));
  ASSERT_EQ(got->size(), static_cast<int64_t>(big.size()));
  EXPECT_TRUE(got->Equals(*Bytes(big)));
}

TEST_F(S3ObjectStoreTest, UploadsRetryThroughAServerOutage) {
  PERSIST_ASSERT_OK(server_->Stop());
  // Bounded retries fail with a transient error while the server is down...
  RetryStats stats;
  auto st = store_->PutWithRetry("down.parquet", Bytes("x"), {}, &stats);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(IsTransientError(st)) << st.ToString();
  EXPECT_EQ(stats.attempts, 3);

  // ...and unbounded ones complete once it is back. The restart happens after the
  // second failure has been seen, so the upload really spans the outage.
  std::mutex mu;
  std::condition_variable cv;
  int failures = 0;
  RetryPolicy policy = store_->options().retry;
  policy.max_attempts = 0;
  policy.TEST_on_failure = [&](int, const arrow::Status&) {
    std::lock_guard<std::mutex> lock(mu);
    ++failures;
    cv.notify_all();
  };
  arrow::Status result = arrow::Status::UnknownError("not finished");
  std::stop_source stop;
  std::thread uploader([&] {
    result = RetryWithBackoff(
        policy, "test upload",
        [&] { return store_->Put("later.parquet", Bytes("made it")); }, stop.get_token());
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return failures >= 2; });
  }
  const arrow::Status restarted = server_->Restart();
  if (!restarted.ok()) stop.request_stop();  // do not retry forever against nothing
  uploader.join();
  PERSIST_ASSERT_OK(restarted);
  PERSIST_ASSERT_OK(result);
  PERSIST_ASSIGN_OR_FAIL(auto got, store_->Get("later.parquet"));
  EXPECT_EQ(got->ToString(), "made it");
}

}  // namespace
}  // namespace ingester::persist
