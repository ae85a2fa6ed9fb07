#include "ingester/persist/persist_error.h"

#include <arrow/buffer.h>
#include <arrow/filesystem/localfs.h>
#include <arrow/io/interfaces.h>
#include <arrow/util/io_util.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>

#include "ingester/common/error.h"
#include "ingester/common/temp_dir.h"
#include "ingester/persist/object_store.h"

namespace ingester::persist {
namespace {

using Kind = PersistErrorKind;

void ExpectClass(const arrow::Status& st, Kind kind, std::string_view reason) {
  const PersistErrorClass c = ClassifyPersistError(st);
  EXPECT_EQ(PersistErrorKindName(c.kind), PersistErrorKindName(kind)) << st.ToString();
  EXPECT_EQ(c.reason, reason) << st.ToString();
  EXPECT_EQ(c.remedy.empty(), kind != Kind::kPermanent) << st.ToString();
}

// Real statuses from arrow::fs::LocalFileSystem carry their errno.
TEST(PersistErrorTest, LocalFileSystemRegularFileWhereADirectoryIsExpected) {
  TempDir dir("persist-error");
  const std::string file = (dir.path() / "objects").string();
  std::ofstream(file) << "not a directory";
  arrow::fs::LocalFileSystem fs;
  const arrow::Status st = fs.CreateDir(file + "/1/2", /*recursive=*/true);
  ASSERT_FALSE(st.ok());
  ExpectClass(st, Kind::kPermanent, "not_a_directory");
  auto out = fs.OpenOutputStream(file + "/x.parquet");
  ASSERT_FALSE(out.ok());
  ExpectClass(out.status(), Kind::kPermanent, "not_a_directory");
}

TEST(PersistErrorTest, LocalFileSystemPermissionDenied) {
  // Tests run as root, so chmod does not deny anything; sysfs refuses to create files
  // even for root.
  arrow::fs::LocalFileSystem fs;
  auto out = fs.OpenOutputStream("/sys/kernel/ingester-persist-error-test");
  if (out.ok() || arrow::internal::ErrnoFromStatus(out.status()) != EACCES) {
    GTEST_SKIP() << "no path here where creating a file fails with EACCES: "
                 << out.status().ToString();
  }
  ExpectClass(out.status(), Kind::kPermanent, "permission");
  EXPECT_FALSE(IsTransientError(out.status()));
}

TEST(PersistErrorTest, LocalFileSystemNoSpaceIsTransient) {
  // /dev/full fails every write with ENOSPC: space can be freed, so it is retried.
  arrow::fs::LocalFileSystem fs;
  auto out = fs.OpenOutputStream("/dev/full");
  if (!out.ok()) GTEST_SKIP() << "/dev/full: " << out.status().ToString();
  std::string data(1 << 16, 'x');
  arrow::Status st = (*out)->Write(data.data(), static_cast<int64_t>(data.size()));
  if (st.ok()) st = (*out)->Close();
  ASSERT_FALSE(st.ok());
  ASSERT_EQ(arrow::internal::ErrnoFromStatus(st), ENOSPC) << st.ToString();
  ExpectClass(st, Kind::kTransient, "no_space");
  EXPECT_TRUE(IsTransientError(st));
}

TEST(PersistErrorTest, ErrnoValues) {
  using arrow::internal::IOErrorFromErrno;
  ExpectClass(IOErrorFromErrno(EIO, "write"), Kind::kTransient, "io");
  ExpectClass(IOErrorFromErrno(EDQUOT, "write"), Kind::kTransient, "no_space");
  ExpectClass(IOErrorFromErrno(EROFS, "open"), Kind::kPermanent, "read_only");
  ExpectClass(IOErrorFromErrno(EPERM, "open"), Kind::kPermanent, "permission");
  ExpectClass(IOErrorFromErrno(EISDIR, "open"), Kind::kPermanent, "not_a_directory");
}

// The object store's own local Put: a regular file where the store's directory was
// gives a permanent error, and PutWithRetry gives up at once instead of retrying for
// ever.
TEST(PersistErrorTest, ObjectStorePutUnderARegularFileIsPermanentAndNotRetried) {
  TempDir dir("persist-error");
  ObjectStoreOptions options;
  options.url = "file://" + (dir.path() / "objects").string();
  options.retry.initial_delay = std::chrono::milliseconds(1);
  options.retry.max_delay = std::chrono::milliseconds(1);
  auto store = ObjectStore::Make(options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::ofstream((dir.path() / "objects" / "1").string()) << "in the way";
  RetryStats stats;
  const arrow::Status st = (*store)->PutWithRetry(
      "1/2/3/x.parquet", arrow::Buffer::FromString("data"), {}, &stats);
  ASSERT_FALSE(st.ok());
  ExpectClass(st, Kind::kPermanent, "not_a_directory");
  EXPECT_EQ(stats.attempts, 1);
}

// Arrow's S3 filesystem reports AWS errors as IOError text only ("AWS Error <NAME>
// during <operation> operation: <message>"); these are its words.
TEST(PersistErrorTest, S3ErrorTexts) {
  auto aws = [](const std::string& name) {
    return arrow::Status::IOError(
        "When uploading object with key '1/2/3/x.parquet' in bucket 'b': AWS Error ",
        name, " during PutObject operation: something");
  };
  ExpectClass(aws("NO_SUCH_BUCKET"), Kind::kPermanent, "no_bucket");
  ExpectClass(aws("ACCESS_DENIED"), Kind::kPermanent, "permission");
  ExpectClass(aws("INVALID_ACCESS_KEY_ID"), Kind::kPermanent, "permission");
  ExpectClass(aws("UNKNOWN (HTTP status 403)"), Kind::kPermanent, "permission");
  ExpectClass(aws("NETWORK_CONNECTION"), Kind::kTransient, "network");
  ExpectClass(aws("SLOW_DOWN"), Kind::kTransient, "network");
  ExpectClass(aws("UNKNOWN (HTTP status 503)"), Kind::kTransient, "network");
  EXPECT_FALSE(IsTransientError(aws("NO_SUCH_BUCKET")));
  EXPECT_TRUE(IsTransientError(aws("INTERNAL_FAILURE")));
}

TEST(PersistErrorTest, StatusCodesAndKinds) {
  ExpectClass(arrow::Status::Invalid("bad column"), Kind::kPermanent, "invalid_data");
  ExpectClass(arrow::Status::TypeError("bad type"), Kind::kPermanent, "invalid_data");
  ExpectClass(InvalidInput("bad value"), Kind::kPermanent, "invalid_data");
  ExpectClass(MakeError(ErrorKind::kRetryable, arrow::StatusCode::IOError, "busy"),
              Kind::kTransient, "catalog");
  ExpectClass(arrow::Status::OutOfMemory("limit"), Kind::kTransient, "memory");
  ExpectClass(arrow::Status::IOError("timeout"), Kind::kTransient, "io");
  ExpectClass(arrow::Status::UnknownError("?"), Kind::kTransient, "other");
  EXPECT_EQ(ClassifyPersistError(arrow::Status::Cancelled("stop")).kind,
            Kind::kCancelled);
}

}  // namespace
}  // namespace ingester::persist
