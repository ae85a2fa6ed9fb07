#include "ingester/persist/object_store.h"

#include <arrow/buffer.h>
#include <arrow/filesystem/filesystem.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <thread>

#include "ingester/catalog/types.h"
#include "ingester/common/error.h"
#include "ingester/common/uuid.h"
#include "ingester/persist/persist_core_test_util.h"

namespace ingester::persist {
namespace {

using ::testing::ElementsAre;
using namespace std::chrono_literals;

std::shared_ptr<arrow::Buffer> Bytes(const std::string& text) {
  return arrow::Buffer::FromString(text);
}

TEST(UuidTest, IsVersion4TextAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 10'000; ++i) {
    const std::string uuid = GenerateUuidV4();
    ASSERT_TRUE(catalog::IsUuidText(uuid)) << uuid;
    EXPECT_EQ(uuid[14], '4') << uuid;
    EXPECT_THAT(std::string("89ab"), ::testing::HasSubstr(std::string(1, uuid[19])));
    seen.insert(uuid);
  }
  EXPECT_EQ(seen.size(), 10'000u);
}

TEST(RetryTest, BackoffDoublesFrom100msUpToTheCapWithJitter) {
  RetryPolicy policy;  // 100 ms, x2, capped at 10 s, jitter 0.5
  EXPECT_EQ(BackoffDelay(policy, 1, 0.0), 100ms);
  EXPECT_EQ(BackoffDelay(policy, 2, 0.0), 200ms);
  EXPECT_EQ(BackoffDelay(policy, 5, 0.0), 1600ms);
  EXPECT_EQ(BackoffDelay(policy, 8, 0.0), 10s);
  EXPECT_EQ(BackoffDelay(policy, 5000, 0.0), 10s);  // no overflow
  // Jitter takes up to half of each delay away.
  EXPECT_EQ(BackoffDelay(policy, 1, 0.999999), std::chrono::nanoseconds(50'000'050));
  EXPECT_EQ(BackoffDelay(policy, 2, 0.5), 150ms);
  policy.max_delay = 50ms;
  EXPECT_FALSE(policy.Validate().ok());
}

TEST(RetryTest, ClassifiesTransientErrors) {
  EXPECT_TRUE(IsTransientError(arrow::Status::IOError("connection refused")));
  EXPECT_TRUE(IsTransientError(arrow::Status::UnknownError("?")));
  EXPECT_TRUE(IsTransientError(
      MakeError(ErrorKind::kRetryable, arrow::StatusCode::IOError, "catalog busy")));
  EXPECT_FALSE(IsTransientError(Conflict("column type")));
  EXPECT_FALSE(IsTransientError(NotFound("no table")));
  EXPECT_FALSE(IsTransientError(arrow::Status::Invalid("bad")));
  EXPECT_FALSE(IsTransientError(arrow::Status::OutOfMemory("limit")));
  EXPECT_FALSE(IsTransientError(arrow::Status::OK()));
}

RetryPolicy Fast(int max_attempts = 0) {
  RetryPolicy policy;
  policy.initial_delay = 1ms;
  policy.max_delay = 4ms;
  policy.max_attempts = max_attempts;
  return policy;
}

TEST(RetryTest, RetriesTransientFailuresUntilSuccess) {
  int calls = 0;
  RetryStats stats;
  PERSIST_ASSERT_OK(RetryWithBackoff(
      Fast(), "flaky op",
      [&] { return ++calls < 4 ? arrow::Status::IOError("down") : arrow::Status::OK(); },
      {}, &stats));
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(stats.attempts, 4);
  EXPECT_TRUE(stats.last_error.IsIOError());
  EXPECT_GE(stats.backoff, 1ms + 2ms + 4ms - 3500us);  // with jitter: >= half of each
}

TEST(RetryTest, StopsOnPermanentErrorsAttemptLimitAndStopRequests) {
  int calls = 0;
  auto permanent = RetryWithBackoff(Fast(), "op", [&] {
    ++calls;
    return arrow::Status::Invalid("bad request");
  });
  EXPECT_TRUE(permanent.IsInvalid());
  EXPECT_EQ(calls, 1);

  RetryStats stats;
  auto limited = RetryWithBackoff(
      Fast(3), "op", [] { return arrow::Status::IOError("down"); }, {}, &stats);
  EXPECT_TRUE(limited.IsIOError());
  EXPECT_NE(limited.message().find("gave up after 3 attempts"), std::string::npos);
  EXPECT_EQ(stats.attempts, 3);
}

TEST(RetryTest, AStopRequestWakesTheBackoffSleep) {
  std::stop_source stop;
  RetryPolicy slow = Fast();
  slow.initial_delay = slow.max_delay = std::chrono::hours(1);
  std::thread stopper;
  RetryStats stats;
  auto st = RetryWithBackoff(
      slow, "op",
      [&] {
        stopper = std::thread([&] { stop.request_stop(); });
        return arrow::Status::IOError("down");
      },
      stop.get_token(), &stats);
  stopper.join();
  EXPECT_TRUE(st.IsIOError());
  EXPECT_NE(st.message().find("stopped"), std::string::npos) << st.message();
  EXPECT_EQ(stats.attempts, 1);
  EXPECT_LT(stats.backoff, std::chrono::minutes(1));
}

// --- local object store ------------------------------------------------------------

class LocalObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ObjectStoreOptions options;
    options.url = "file://" + (dir_.path() / "objects").string();
    options.retry = Fast(3);
    auto store = ObjectStore::Make(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).ValueOrDie();
  }
  std::filesystem::path Root() const { return dir_.path() / "objects"; }

  TempDir dir_{"object-store"};
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(LocalObjectStoreTest, PutGetListDelete) {
  EXPECT_TRUE(std::filesystem::is_directory(Root()));
  EXPECT_TRUE(store_->is_local());
  PERSIST_ASSERT_OK(store_->Put("1/2/3/a.parquet", Bytes("hello")));
  PERSIST_ASSERT_OK(store_->Put("1/2/4/b.parquet", Bytes("world!")));
  PERSIST_ASSERT_OK(store_->Put("9.parquet", Bytes("")));
  PERSIST_ASSIGN_OR_FAIL(auto got, store_->Get("1/2/3/a.parquet"));
  EXPECT_EQ(got->ToString(), "hello");
  // A real file under the root, written whole.
  std::ifstream in(Root() / "1/2/4/b.parquet");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "world!");

  PERSIST_ASSIGN_OR_FAIL(auto all, store_->List());
  EXPECT_THAT(
      all, ElementsAre(ObjectInfo{"1/2/3/a.parquet", 5}, ObjectInfo{"1/2/4/b.parquet", 6},
                       ObjectInfo{"9.parquet", 0}));
  PERSIST_ASSIGN_OR_FAIL(auto under, store_->List("1/2/4/"));
  EXPECT_THAT(under, ElementsAre(ObjectInfo{"1/2/4/b.parquet", 6}));
  PERSIST_ASSIGN_OR_FAIL(auto none, store_->List("7"));
  EXPECT_TRUE(none.empty());

  // Overwrite replaces the whole object.
  PERSIST_ASSERT_OK(store_->Put("1/2/3/a.parquet", Bytes("bye")));
  PERSIST_ASSIGN_OR_FAIL(got, store_->Get("1/2/3/a.parquet"));
  EXPECT_EQ(got->ToString(), "bye");

  PERSIST_ASSERT_OK(store_->Delete("1/2/3/a.parquet"));
  PERSIST_ASSERT_OK(store_->Delete("1/2/3/a.parquet"));  // idempotent
  auto missing = store_->Get("1/2/3/a.parquet");
  EXPECT_EQ(ErrorKindOf(missing.status()), ErrorKind::kNotFound)
      << missing.status().ToString();
  PERSIST_ASSIGN_OR_FAIL(all, store_->List());
  EXPECT_EQ(all.size(), 2u);
}

TEST_F(LocalObjectStoreTest, LeavesNoTempFilesAndHidesStrayOnes) {
  for (int i = 0; i < 20; ++i) {
    PERSIST_ASSERT_OK(store_->Put("d/x.parquet", Bytes(std::string(1000, 'a' + i % 26))));
  }
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(Root() / "d")) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "x.parquet");
  }
  EXPECT_EQ(entries, 1);
  // A crash between write and rename leaves a temp file: never listed as an object.
  std::ofstream(Root() / "d" / ".tmp-crashed") << "partial";
  PERSIST_ASSIGN_OR_FAIL(auto all, store_->List());
  EXPECT_THAT(all, ElementsAre(ObjectInfo{"d/x.parquet", 1000}));
}

TEST_F(LocalObjectStoreTest, RejectsBadPaths) {
  for (const char* bad : {"", "/abs", "a//b", "a/../b", "./a", "a/", ".."}) {
    EXPECT_EQ(ErrorKindOf(store_->Put(bad, Bytes("x"))), ErrorKind::kInvalidInput) << bad;
  }
  EXPECT_FALSE(store_->List("../x").ok());
}

TEST_F(LocalObjectStoreTest, PermanentPutFailuresAreReportedAtOnce) {
  // A file where a directory should be: an I/O error retrying cannot fix (ENOTDIR,
  // persist_error.h), so it is reported after one attempt instead of three. (Transient
  // errors are retried: RetryTest above.)
  std::ofstream(Root() / "blocked") << "file";
  RetryStats stats;
  auto st = store_->PutWithRetry("blocked/x.parquet", Bytes("x"), {}, &stats);
  EXPECT_TRUE(st.IsIOError()) << st.ToString();
  EXPECT_EQ(stats.attempts, 1);
  std::filesystem::remove(Root() / "blocked");
  stats = {};
  PERSIST_ASSERT_OK(store_->PutWithRetry("blocked/x.parquet", Bytes("x"), {}, &stats));
  EXPECT_EQ(stats.attempts, 1);
}

TEST_F(LocalObjectStoreTest, FilesystemIsRootedAtTheDirectory) {
  PERSIST_ASSERT_OK(store_->Put("a/b.parquet", Bytes("abc")));
  PERSIST_ASSIGN_OR_FAIL(auto info, store_->filesystem()->GetFileInfo("a/b.parquet"));
  EXPECT_EQ(info.type(), arrow::fs::FileType::File);
  EXPECT_EQ(info.size(), 3);
}

TEST(ObjectStoreTest, ParsesUrls) {
  TempDir dir("object-store-url");
  ObjectStoreOptions options;
  options.url = "file://";
  EXPECT_EQ(ErrorKindOf(ObjectStore::Make(options).status()), ErrorKind::kInvalidInput);
  options.url = "gs://bucket";
  EXPECT_EQ(ErrorKindOf(ObjectStore::Make(options).status()), ErrorKind::kInvalidInput);
  options.url = "s3://";
  EXPECT_EQ(ErrorKindOf(ObjectStore::Make(options).status()), ErrorKind::kInvalidInput);
  options.url = "s3://bucket/a/../b";
  EXPECT_EQ(ErrorKindOf(ObjectStore::Make(options).status()), ErrorKind::kInvalidInput);
  options.url = "s3://bucket";
  options.s3_access_key_id = "only-the-id";
  EXPECT_EQ(ErrorKindOf(ObjectStore::Make(options).status()), ErrorKind::kInvalidInput);
  // Relative directories resolve against the working directory.
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  options = {};
  options.url = "file://./rel/objects";
  auto store = ObjectStore::Make(options);
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_TRUE(std::filesystem::is_directory(dir.path() / "rel/objects"));
}

}  // namespace
}  // namespace ingester::persist
