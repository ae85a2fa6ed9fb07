#include "ingester/server/data_dir_lock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "ingester/common/temp_dir.h"

namespace ingester {
namespace {

using ::testing::HasSubstr;

TEST(DataDirLock, OneHolderAtATime) {
  TempDir dir("data-dir-lock");
  auto first = DataDirLock::Acquire(dir.path().string());
  ASSERT_TRUE(first.ok()) << first.status().ToString();

  // A second holder (another open file description: what another process would have)
  // is refused, naming the data dir and the holder.
  auto second = DataDirLock::Acquire(dir.path().string());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsInvalid());
  EXPECT_THAT(second.status().message(), HasSubstr(dir.path().string()));
  EXPECT_THAT(second.status().message(),
              HasSubstr("(pid " + std::to_string(::getpid()) + ")"));
  EXPECT_THAT(second.status().message(), HasSubstr("a data dir of its own"));

  // Released with its holder; the LOCK file left behind does not block the next start.
  first->reset();
  auto third = DataDirLock::Acquire(dir.path().string());
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

TEST(DataDirLock, AMissingDirIsAnIoError) {
  auto lock = DataDirLock::Acquire("/nonexistent/ingester-data-dir");
  ASSERT_FALSE(lock.ok());
  EXPECT_TRUE(lock.status().IsIOError());
  EXPECT_THAT(lock.status().message(), HasSubstr("/nonexistent/ingester-data-dir/LOCK"));
}

}  // namespace
}  // namespace ingester
