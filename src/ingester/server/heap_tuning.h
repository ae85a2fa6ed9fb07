// The C library's heap (glibc malloc: request bodies, parsed lines, everything outside
// Arrow's pool) tuned for a server that allocates and frees megabytes per request.
//
// By default glibc gives a freed block back to the kernel once the free space at the top
// of a heap passes a threshold that it sizes dynamically (twice the largest block it has
// served with mmap, a few MB here). Under 8 connections writing 1.7 MB bodies every body
// was then faulted in afresh, page by page, and zero-filled by the kernel: page faults
// were 12 % of the server's CPU in `make bench-peers` (docs/benchmarks.md). Fixed
// thresholds keep the freed memory for the next request instead.
#pragma once

#include <cstddef>

namespace ingester {

struct HeapTuning {
  // Blocks at least this large are mapped on their own (and unmapped when freed).
  // glibc's maximum for it on 64-bit; bodies larger than that (a --max-body-bytes above
  // it) are mapped on their own as before.
  size_t mmap_threshold_bytes = size_t{32} << 20;
  // Free memory at the top of a heap beyond this is returned to the kernel. Bounds what
  // a burst leaves mapped per heap.
  size_t trim_threshold_bytes = size_t{128} << 20;
};

// Applies `tuning` with mallopt, except for a threshold the operator set through
// GLIBC_TUNABLES (glibc.malloc.mmap_threshold / trim_threshold), which wins. Returns
// false when the C library refused a value (or is not glibc); true with nothing done
// under a sanitizer, whose allocator ignores mallopt. The server runs either way.
// Call once, at startup, before threads start.
bool TuneHeap(const HeapTuning& tuning = {});

}  // namespace ingester
