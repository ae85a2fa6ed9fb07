// The fault-injecting filesystem must itself behave, or the crash tests prove nothing.
#include "ingester/wal/fault_injection_fs.h"

#include <arrow/util/io_util.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "ingester/wal/wal_test_util.h"

namespace ingester::wal {
namespace {

using testing::ReadFileBytes;
using testing::TempDir;

TEST(FaultInjectionFs, CrashDropsUnsyncedBytes) {
  TempDir dir;
  FaultInjectionFileSystem fs;
  const std::string path = dir.Sub("f");
  auto file = fs.NewWritableFile(path);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(fs.SyncDir(dir.path()).ok());
  ASSERT_TRUE((*file)->Append("durable").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Append("+lost").ok());
  EXPECT_EQ(ReadFileBytes(path), "durable+lost");  // visible before the crash
  EXPECT_EQ(fs.syncs(), 1);
  EXPECT_EQ(fs.appends(), 2);
  ASSERT_TRUE(fs.SimulateCrash().ok());
  EXPECT_EQ(ReadFileBytes(path), "durable");
  // The old handle is dead.
  EXPECT_FALSE((*file)->Append("more").ok());
  EXPECT_FALSE((*file)->Sync().ok());
}

TEST(FaultInjectionFs, CrashUndoesUnsyncedCreationsAndRenames) {
  TempDir dir;
  FaultInjectionFileSystem fs;
  {
    auto a = fs.NewWritableFile(dir.Sub("a.tmp"));
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE((*a)->Append("aaa").ok());
    ASSERT_TRUE((*a)->Sync().ok());
    ASSERT_TRUE(fs.Rename(dir.Sub("a.tmp"), dir.Sub("a")).ok());
    ASSERT_TRUE(fs.SyncDir(dir.path()).ok());  // "a" is durable
    auto b = fs.NewWritableFile(dir.Sub("b.tmp"));
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE((*b)->Append("bbb").ok());
    ASSERT_TRUE((*b)->Sync().ok());
    ASSERT_TRUE(fs.Rename(dir.Sub("b.tmp"), dir.Sub("b")).ok());  // never dir-synced
  }
  ASSERT_TRUE(fs.SimulateCrash().ok());
  EXPECT_EQ(ReadFileBytes(dir.Sub("a")), "aaa");
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("b")));
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("b.tmp")));
}

TEST(FaultInjectionFs, InjectedFailuresCarryTheErrno) {
  TempDir dir;
  FaultInjectionFileSystem fs;
  auto file = fs.NewWritableFile(dir.Sub("f"));
  ASSERT_TRUE(file.ok());
  fs.FailNextAppend(ENOSPC, 3);
  auto st = (*file)->Append("abcdef");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(arrow::internal::ErrnoFromStatus(st), ENOSPC);
  EXPECT_EQ(ReadFileBytes(dir.Sub("f")), "abc");  // a short write, like a full disk
  EXPECT_TRUE((*file)->Append("g").ok());         // only the next one fails
  fs.FailNextSync(EIO);
  st = (*file)->Sync();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(arrow::internal::ErrnoFromStatus(st), EIO);
  EXPECT_EQ(fs.syncs(), 0);
  EXPECT_TRUE((*file)->Sync().ok());
  EXPECT_EQ(fs.syncs(), 1);
}

TEST(FaultInjectionFs, TruncateCountsAsSynced) {
  TempDir dir;
  FaultInjectionFileSystem fs;
  auto file = fs.NewWritableFile(dir.Sub("f"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(fs.SyncDir(dir.path()).ok());
  ASSERT_TRUE((*file)->Append("0123456789").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  ASSERT_TRUE(fs.Truncate(dir.Sub("f"), 4).ok());
  ASSERT_TRUE(fs.SimulateCrash().ok());
  EXPECT_EQ(ReadFileBytes(dir.Sub("f")), "0123");
}

}  // namespace
}  // namespace ingester::wal
