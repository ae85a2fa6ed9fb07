// The on-disk format of the write-ahead log. Everything is little-endian.
//
// A WAL directory holds segment files named by their id, zero-padded to 20 digits so
// that names sort like ids:
//
//   wal/00000000000000000001.dat
//   wal/00000000000000000002.dat        <- the highest id is the segment being written
//   wal/00000000000000000003.dat.tmp    <- a segment being prepared (ignored, removed)
//
// A segment is created under a `.tmp` name, its header written and synced, then renamed
// to `<id>.dat` and the directory synced; so a `.dat` file always has a whole header.
//
// Segment file:
//
//   +--------------------------- header, kSegmentHeaderSize = 32 bytes ---------------+
//   | magic "INGSTWAL" (8) | version u32 | reserved u32 (0) | segment id u64 |         |
//   | header crc u32 (masked CRC32C of the 24 bytes before it) | reserved u32 (0)     |
//   +---------------------------------------------------------------------------------+
//   | entry 0 | entry 1 | ... | entry n-1 |
//   +-------------------------------------+
//
// Entry (kEntryHeaderSize = 8 bytes of framing, then the payload):
//
//   +----------------+---------------------+------------------------------+
//   | length u32     | crc u32             | payload (length bytes)       |
//   +----------------+---------------------+------------------------------+
//   crc = Mask(CRC32C(payload ++ segment id as u64 LE)). Covering the segment id means a
//   stale entry of another segment (a recycled disk block showing up in a torn tail)
//   never passes as an entry of this one; putting it last lets a writer checksum its
//   payload before it knows which segment the entry lands in (Extend() adds the id).
//
// Payload (see write_op_codec.h for the body):
//
//   +-------------------+-------------------------+---------------------------------+
//   | compression u8    | body length u32         | body, compressed as announced   |
//   | 0 none, 1 zstd,   | (uncompressed)          |                                 |
//   | 2 lz4 (block)     |                         |                                 |
//   +-------------------+-------------------------+---------------------------------+
//
// Compatibility: readers refuse a header version they do not know; a new payload
// layout gets a new body version (write_op_codec.h), not a new segment version.
#pragma once

#include <arrow/result.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ingester::wal {

// Identifies a segment file; ids only grow and are never reused.
using SegmentId = uint64_t;

inline constexpr std::string_view kSegmentMagic = "INGSTWAL";
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 32;
inline constexpr size_t kEntryHeaderSize = 8;
// Compression byte + body length: the smallest payload a writer produces is this plus
// at least one body byte.
inline constexpr size_t kPayloadPrefixSize = 5;
inline constexpr size_t kMinPayloadSize = kPayloadPrefixSize + 1;
inline constexpr std::string_view kSegmentSuffix = ".dat";
inline constexpr std::string_view kTempSuffix = ".tmp";

// Recorded in every entry (payload_codec.h): a WAL may mix them.
enum class PayloadCompression : uint8_t { kNone = 0, kZstd = 1, kLz4 = 2 };

// "00000000000000000042.dat" for 42.
std::string SegmentFileName(SegmentId id);
// The id of a segment file name; nullopt for anything else (including `.tmp` files).
std::optional<SegmentId> ParseSegmentFileName(std::string_view name);
// `dir`/`name`, with a single separator.
std::string JoinPath(std::string_view dir, std::string_view name);

// LevelDB's masking: a CRC stored next to the data it covers is rotated and offset,
// so that computing the CRC of a string holding embedded CRCs does not degenerate.
inline uint32_t MaskCrc(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
inline uint32_t UnmaskCrc(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

// The masked checksum stored in an entry's framing, from CRC32C(payload).
uint32_t EntryChecksum(SegmentId segment_id, uint32_t payload_crc);
uint32_t EntryChecksum(SegmentId segment_id, const uint8_t* payload, size_t size);

// Little-endian fixed-width integers.
inline void EncodeFixed32(uint8_t* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void EncodeFixed64(uint8_t* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t DecodeFixed32(const uint8_t* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(in[i]) << (8 * i);
  return v;
}
inline uint64_t DecodeFixed64(const uint8_t* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(in[i]) << (8 * i);
  return v;
}

using SegmentHeader = std::array<uint8_t, kSegmentHeaderSize>;

SegmentHeader EncodeSegmentHeader(SegmentId id);
// The segment id of a header; a DataLoss error naming `file` when the magic, version or
// checksum is wrong.
arrow::Result<SegmentId> DecodeSegmentHeader(const uint8_t* header,
                                             std::string_view file);

// Writes the 8-byte framing of an entry of `size` payload bytes whose CRC32C is
// `payload_crc` into `out`.
void EncodeEntryHeader(SegmentId segment_id, uint32_t size, uint32_t payload_crc,
                       uint8_t* out);

}  // namespace ingester::wal
