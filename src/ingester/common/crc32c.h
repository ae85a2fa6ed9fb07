// CRC-32C (Castagnoli), as used by the WAL entry framing. Uses the SSE4.2 instruction
// when the processor has it, a table otherwise; both give the same values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ingester::crc32c {

// Extends `crc` (the value of a previous call, or 0) over `data`.
uint32_t Extend(uint32_t crc, const void* data, size_t size);

inline uint32_t Value(const void* data, size_t size) { return Extend(0, data, size); }
inline uint32_t Value(std::string_view data) {
  return Extend(0, data.data(), data.size());
}

}  // namespace ingester::crc32c
