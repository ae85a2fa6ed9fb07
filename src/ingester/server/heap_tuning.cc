#include "ingester/server/heap_tuning.h"

#include <cstdlib>
#include <limits>
#include <string_view>

#include "ingester/common/sanitizers.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ingester {

#if defined(__GLIBC__)
namespace {

bool Set(int option, size_t value) {
  return value <= static_cast<size_t>(std::numeric_limits<int>::max()) &&
         ::mallopt(option, static_cast<int>(value)) == 1;
}

bool OperatorSet(std::string_view tunable) {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  return tunables != nullptr &&
         std::string_view(tunables).find(tunable) != std::string_view::npos;
}

}  // namespace
#endif

bool TuneHeap(const HeapTuning& tuning) {
  // A sanitizer replaces malloc and ignores mallopt: nothing to tune, nothing refused.
  if (kAddressSanitizer || kThreadSanitizer) return true;
#if defined(__GLIBC__)
  bool ok = true;
  if (!OperatorSet("glibc.malloc.mmap_threshold")) {
    ok = Set(M_MMAP_THRESHOLD, tuning.mmap_threshold_bytes) && ok;
  }
  if (!OperatorSet("glibc.malloc.trim_threshold")) {
    ok = Set(M_TRIM_THRESHOLD, tuning.trim_threshold_bytes) && ok;
  }
  return ok;
#else
  (void)tuning;
  return false;
#endif
}

}  // namespace ingester
