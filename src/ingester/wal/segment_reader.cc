#include "ingester/wal/segment_reader.h"

#include <algorithm>

#include "ingester/common/error.h"

namespace ingester::wal {

namespace {
constexpr size_t kWindowSize = 1 << 20;
}  // namespace

std::string_view SegmentDamageName(SegmentDamage damage) {
  switch (damage) {
    case SegmentDamage::kNone:
      return "none";
    case SegmentDamage::kTornTail:
      return "torn tail";
    case SegmentDamage::kCorrupt:
      return "corrupt";
  }
  return "unknown";
}

arrow::Result<std::unique_ptr<SegmentReader>> SegmentReader::Open(
    FileSystem* fs, const std::string& path, std::optional<SegmentId> expected_id) {
  ARROW_ASSIGN_OR_RAISE(auto file, fs->OpenRandomAccess(path));
  uint64_t size = file->size();
  SegmentId id = expected_id.value_or(0);
  if (size > 0) {
    if (size < kSegmentHeaderSize) {
      return DataLoss(path + ": truncated segment header (" + std::to_string(size) +
                      " of " + std::to_string(kSegmentHeaderSize) + " bytes)");
    }
    SegmentHeader header;
    ARROW_ASSIGN_OR_RAISE(size_t n, file->ReadAt(0, header.size(), header.data()));
    if (n != header.size()) return DataLoss(path + ": short read of the segment header");
    ARROW_ASSIGN_OR_RAISE(id, DecodeSegmentHeader(header.data(), path));
    if (expected_id.has_value() && id != *expected_id) {
      return DataLoss(path + ": header names segment " + std::to_string(id) +
                      ", expected " + std::to_string(*expected_id));
    }
  }
  return std::unique_ptr<SegmentReader>(new SegmentReader(path, std::move(file), id));
}

SegmentReader::SegmentReader(std::string path, std::unique_ptr<RandomAccessFile> file,
                             SegmentId id)
    : path_(std::move(path)),
      file_(std::move(file)),
      id_(id),
      pos_(file_->size() == 0 ? 0 : kSegmentHeaderSize) {}

arrow::Result<const uint8_t*> SegmentReader::Fetch(uint64_t offset, size_t n) {
  if (offset >= window_offset_ && offset + n <= window_offset_ + window_.size()) {
    return window_.data() + (offset - window_offset_);
  }
  std::vector<uint8_t>* target = &large_;
  size_t want = n;
  if (n <= kWindowSize) {
    target = &window_;
    want = static_cast<size_t>(std::min<uint64_t>(kWindowSize, file_->size() - offset));
    window_offset_ = offset;
  }
  target->resize(want);
  ARROW_ASSIGN_OR_RAISE(size_t got, file_->ReadAt(offset, want, target->data()));
  if (got < n) {
    target->clear();
    return arrow::Status::IOError(path_, ": short read at offset ", offset,
                                  " (the file shrank while being read?)");
  }
  target->resize(got);
  return target->data();
}

arrow::Result<std::optional<SegmentReader::Entry>> SegmentReader::Next() {
  if (done_) return std::nullopt;
  uint64_t size = file_->size();
  if (pos_ == size) {
    done_ = true;
    return std::nullopt;
  }
  uint64_t remaining = size - pos_;
  if (remaining < kEntryHeaderSize) {
    ARROW_RETURN_NOT_OK(
        SetDamage(pos_, "partial entry header (" + std::to_string(remaining) + " of " +
                            std::to_string(kEntryHeaderSize) + " bytes)"));
    return std::nullopt;
  }
  ARROW_ASSIGN_OR_RAISE(const uint8_t* header, Fetch(pos_, kEntryHeaderSize));
  uint32_t length = DecodeFixed32(header);
  uint32_t checksum = DecodeFixed32(header + 4);
  if (length < kMinPayloadSize) {
    ARROW_RETURN_NOT_OK(SetDamage(
        pos_, length == 0
                  ? std::string("zero entry length")
                  : "entry length " + std::to_string(length) + " below the minimum"));
    return std::nullopt;
  }
  if (length > remaining - kEntryHeaderSize) {
    ARROW_RETURN_NOT_OK(SetDamage(pos_, "entry length " + std::to_string(length) +
                                            " exceeds the " +
                                            std::to_string(remaining - kEntryHeaderSize) +
                                            " bytes left in the file"));
    return std::nullopt;
  }
  ARROW_ASSIGN_OR_RAISE(const uint8_t* payload, Fetch(pos_ + kEntryHeaderSize, length));
  if (EntryChecksum(id_, payload, length) != checksum) {
    ARROW_RETURN_NOT_OK(SetDamage(
        pos_, "checksum mismatch in entry of " + std::to_string(length) + " bytes"));
    return std::nullopt;
  }
  Entry entry{pos_, std::string_view(reinterpret_cast<const char*>(payload), length)};
  pos_ += kEntryHeaderSize + length;
  return entry;
}

arrow::Status SegmentReader::SetDamage(uint64_t offset, std::string reason) {
  done_ = true;
  damage_offset_ = offset;
  ARROW_ASSIGN_OR_RAISE(auto next_valid, FindValidEntryAfter(offset));
  if (next_valid.has_value()) {
    damage_ = SegmentDamage::kCorrupt;
    reason += "; a valid entry follows at offset " + std::to_string(*next_valid);
  } else {
    damage_ = SegmentDamage::kTornTail;
  }
  damage_reason_ = std::move(reason);
  return arrow::Status::OK();
}

arrow::Result<std::optional<uint64_t>> SegmentReader::FindValidEntryAfter(
    uint64_t offset) {
  // Every position is a candidate: a damaged length field gives no way to find the next
  // entry boundary. A candidate costs a checksum only when its length fits the file, so
  // random or zeroed bytes are skipped quickly.
  const uint64_t size = file_->size();
  for (uint64_t p = offset + 1; p + kEntryHeaderSize + kMinPayloadSize <= size; ++p) {
    ARROW_ASSIGN_OR_RAISE(const uint8_t* header, Fetch(p, kEntryHeaderSize));
    uint32_t length = DecodeFixed32(header);
    uint32_t checksum = DecodeFixed32(header + 4);
    if (length < kMinPayloadSize || length > size - p - kEntryHeaderSize) continue;
    ARROW_ASSIGN_OR_RAISE(const uint8_t* payload, Fetch(p + kEntryHeaderSize, length));
    if (EntryChecksum(id_, payload, length) == checksum) return p;
  }
  return std::nullopt;
}

}  // namespace ingester::wal
