#include "ingester/server/heap_tuning.h"

#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "ingester/common/sanitizers.h"

namespace ingester {
namespace {

#if defined(__GLIBC__)
// Blocks glibc serves with their own mapping (each is unmapped again when freed).
size_t MappedBlocks() { return ::mallinfo2().hblks; }

TEST(HeapTuningTest, ABodySizedBlockComesFromTheHeapAndStaysMappedWhenFreed) {
  if (kAddressSanitizer || kThreadSanitizer) {
    GTEST_SKIP() << "the sanitizer replaces the C library's allocator";
  }
  ASSERT_TRUE(TuneHeap());
  const size_t before = MappedBlocks();
  // 4 MiB: above glibc's initial mmap threshold (128 KiB), below the tuned 32 MiB.
  constexpr size_t kBody = size_t{4} << 20;
  char* body = static_cast<char*>(std::malloc(kBody));
  ASSERT_NE(body, nullptr);
  std::memset(body, 'x', kBody);
  EXPECT_EQ(MappedBlocks(), before) << "a 4 MiB block was mapped on its own";
  const size_t heap_before_free = ::mallinfo2().arena;
  std::free(body);
  // Not trimmed: the heap keeps the 4 MiB for the next body.
  EXPECT_GE(::mallinfo2().arena, heap_before_free);
  // A block above the tuned threshold is still mapped on its own.
  char* huge = static_cast<char*>(std::malloc(size_t{48} << 20));
  ASSERT_NE(huge, nullptr);
  EXPECT_EQ(MappedBlocks(), before + 1);
  std::free(huge);
}

TEST(HeapTuningTest, AThresholdTheOperatorSetIsLeftAlone) {
  if (kAddressSanitizer || kThreadSanitizer) {
    GTEST_SKIP() << "the sanitizer replaces the C library's allocator";
  }
  const char* saved = std::getenv("GLIBC_TUNABLES");
  const std::string restore = saved == nullptr ? "" : saved;
  // An operator's threshold (read by glibc at process start) must not be overridden;
  // the tuning must still succeed for the other one.
  ::setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536", 1);
  // A threshold mallopt cannot take (above INT_MAX): true only if TuneHeap skipped it.
  ASSERT_TRUE(TuneHeap({.mmap_threshold_bytes = size_t{1} << 40}));
  if (saved == nullptr) {
    ::unsetenv("GLIBC_TUNABLES");
  } else {
    ::setenv("GLIBC_TUNABLES", restore.c_str(), 1);
  }
  // Without the operator's setting, the refused value makes TuneHeap say so.
  EXPECT_FALSE(TuneHeap({.mmap_threshold_bytes = size_t{1} << 40}));
  ASSERT_TRUE(TuneHeap());
}
#endif

}  // namespace
}  // namespace ingester
