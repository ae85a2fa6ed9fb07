#include "ingester/wal/format.h"

#include <charconv>
#include <cstring>

#include "ingester/common/crc32c.h"
#include "ingester/common/error.h"

namespace ingester::wal {

std::string SegmentFileName(SegmentId id) {
  std::string digits = std::to_string(id);
  return std::string(20 - digits.size(), '0') + digits + std::string(kSegmentSuffix);
}

std::optional<SegmentId> ParseSegmentFileName(std::string_view name) {
  if (name.size() != 20 + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) {
    return std::nullopt;
  }
  SegmentId id = 0;
  const char* end = name.data() + 20;
  auto [ptr, ec] = std::from_chars(name.data(), end, id);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return id;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

uint32_t EntryChecksum(SegmentId segment_id, uint32_t payload_crc) {
  uint8_t id[8];
  EncodeFixed64(id, segment_id);
  return MaskCrc(crc32c::Extend(payload_crc, id, sizeof(id)));
}

uint32_t EntryChecksum(SegmentId segment_id, const uint8_t* payload, size_t size) {
  return EntryChecksum(segment_id, crc32c::Value(payload, size));
}

SegmentHeader EncodeSegmentHeader(SegmentId id) {
  SegmentHeader h{};
  std::memcpy(h.data(), kSegmentMagic.data(), kSegmentMagic.size());
  EncodeFixed32(h.data() + 8, kFormatVersion);
  EncodeFixed32(h.data() + 12, 0);
  EncodeFixed64(h.data() + 16, id);
  EncodeFixed32(h.data() + 24, MaskCrc(crc32c::Value(h.data(), 24)));
  EncodeFixed32(h.data() + 28, 0);
  return h;
}

arrow::Result<SegmentId> DecodeSegmentHeader(const uint8_t* header,
                                             std::string_view file) {
  if (std::memcmp(header, kSegmentMagic.data(), kSegmentMagic.size()) != 0) {
    return DataLoss(std::string(file) + ": not a WAL segment (bad magic bytes)");
  }
  uint32_t version = DecodeFixed32(header + 8);
  if (UnmaskCrc(DecodeFixed32(header + 24)) != crc32c::Value(header, 24)) {
    return DataLoss(std::string(file) + ": segment header checksum mismatch");
  }
  if (version != kFormatVersion) {
    return DataLoss(std::string(file) + ": unsupported WAL format version " +
                    std::to_string(version) + " (this build reads version " +
                    std::to_string(kFormatVersion) + ")");
  }
  return DecodeFixed64(header + 16);
}

void EncodeEntryHeader(SegmentId segment_id, uint32_t size, uint32_t payload_crc,
                       uint8_t* out) {
  EncodeFixed32(out, size);
  EncodeFixed32(out + 4, EntryChecksum(segment_id, payload_crc));
}

}  // namespace ingester::wal
