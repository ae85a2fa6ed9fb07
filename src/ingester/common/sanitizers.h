// Which sanitizer the build runs under, for the few places that must behave differently
// (work Arrow would hand to its uninstrumented threads, tests too slow under TSAN).
#pragma once

namespace ingester {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif
#else
inline constexpr bool kThreadSanitizer = false;
#endif

}  // namespace ingester
