// Segment writer and reader: framing, and the precise classification of damage.
#include <gtest/gtest.h>

#include "ingester/common/error.h"
#include "ingester/wal/segment_reader.h"
#include "ingester/wal/segment_writer.h"
#include "ingester/wal/wal_test_util.h"

namespace ingester::wal {
namespace {

using testing::AppendFileBytes;
using testing::FileSizeOf;
using testing::FlipBit;
using testing::TempDir;

class SegmentTest : public ::testing::Test {
 protected:
  // Writes a published segment 1 with `payloads`; returns the offsets of the entries.
  std::vector<uint64_t> WriteSegment(const std::vector<std::string>& payloads,
                                     SegmentId id = 1) {
    auto writer = SegmentWriter::Create(fs_.get(), dir_.path(), id);
    EXPECT_TRUE(writer.ok()) << writer.status();
    EXPECT_TRUE((*writer)->Publish().ok());
    std::vector<uint64_t> offsets;
    for (const auto& p : payloads) {
      offsets.push_back((*writer)->size());
      EXPECT_TRUE((*writer)->AppendEntry(p).ok());
    }
    EXPECT_TRUE((*writer)->Sync().ok());
    EXPECT_TRUE((*writer)->Close().ok());
    path_ = dir_.Sub(SegmentFileName(id));
    return offsets;
  }

  struct ReadAll {
    std::vector<std::string> payloads;
    std::vector<uint64_t> offsets;
    SegmentDamage damage;
    uint64_t damage_offset;
    std::string reason;
  };
  ReadAll Read(std::optional<SegmentId> expected = 1) {
    auto reader = SegmentReader::Open(fs_.get(), path_, expected);
    EXPECT_TRUE(reader.ok()) << reader.status();
    ReadAll out;
    while (true) {
      auto entry = (*reader)->Next();
      EXPECT_TRUE(entry.ok()) << entry.status();
      if (!entry->has_value()) break;
      out.payloads.emplace_back((*entry)->payload);
      out.offsets.push_back((*entry)->offset);
    }
    out.damage = (*reader)->damage();
    out.damage_offset = (*reader)->damage_offset();
    out.reason = (*reader)->damage_reason();
    return out;
  }

  static std::vector<std::string> Payloads(int n, size_t size = 100) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i)
      out.push_back(std::string(size + i, static_cast<char>('a' + i)));
    return out;
  }

  TempDir dir_;
  std::shared_ptr<FileSystem> fs_ = PosixFileSystem();
  std::string path_;
};

TEST_F(SegmentTest, WriterPublishesUnderTheFinalName) {
  auto writer = SegmentWriter::Create(fs_.get(), dir_.path(), 3);
  ASSERT_TRUE(writer.ok());
  EXPECT_TRUE((*writer)->path().ends_with(".dat.tmp"));
  EXPECT_EQ((*writer)->size(), kSegmentHeaderSize);
  EXPECT_FALSE((*writer)->has_unsynced_data());
  ASSERT_TRUE((*writer)->Publish().ok());
  EXPECT_EQ((*writer)->path(), dir_.Sub("00000000000000000003.dat"));
  EXPECT_TRUE(std::filesystem::exists((*writer)->path()));
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("00000000000000000003.dat.tmp")));
}

TEST_F(SegmentTest, ErrorsAfterThePublishNameTheFinalFile) {
  // A failed write or fdatasync of a published segment names the file that exists (the
  // error reaches the log, /health and clients), not its temporary name.
  auto writer = SegmentWriter::Create(fs_.get(), dir_.path(), 3);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Publish().ok());
  ASSERT_TRUE((*writer)->Close().ok());
  arrow::Status status = (*writer)->AppendEntry("x");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("00000000000000000003.dat'"), std::string::npos)
      << status.ToString();
  EXPECT_EQ(status.message().find(".tmp"), std::string::npos) << status.ToString();
}

TEST_F(SegmentTest, ReadsBackWhatWasWritten) {
  auto payloads = Payloads(5);
  auto offsets = WriteSegment(payloads);
  ReadAll r = Read();
  EXPECT_EQ(r.payloads, payloads);
  EXPECT_EQ(r.offsets, offsets);
  EXPECT_EQ(r.damage, SegmentDamage::kNone);
  EXPECT_EQ(offsets[0], kSegmentHeaderSize);
}

TEST_F(SegmentTest, HeaderOnlyAndEmptyFilesHaveNoEntries) {
  WriteSegment({});
  EXPECT_TRUE(Read().payloads.empty());
  EXPECT_EQ(Read().damage, SegmentDamage::kNone);
  testing::WriteFileBytes(path_, "");
  auto reader = SegmentReader::Open(fs_.get(), path_, 1);
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE((*reader)->empty());
  EXPECT_EQ((*reader)->id(), 1u);
  EXPECT_FALSE((*(*reader)->Next()).has_value());
  EXPECT_EQ((*reader)->damage(), SegmentDamage::kNone);
}

TEST_F(SegmentTest, BadHeadersNameTheFile) {
  WriteSegment({"x"}, 4);
  // Wrong id for the name.
  auto r = SegmentReader::Open(fs_.get(), path_, 5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrorKindOf(r.status()), ErrorKind::kDataLoss);
  EXPECT_NE(r.status().message().find(path_), std::string::npos);
  // Truncated header.
  testing::WriteFileBytes(path_, testing::ReadFileBytes(path_).substr(0, 10));
  r = SegmentReader::Open(fs_.get(), path_, 4);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated segment header"), std::string::npos);
  EXPECT_NE(r.status().message().find(path_), std::string::npos);
  // Not a segment at all.
  testing::WriteFileBytes(path_, std::string(64, 'z'));
  r = SegmentReader::Open(fs_.get(), path_, 4);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("magic"), std::string::npos);
}

TEST_F(SegmentTest, PartialEntryAtTheEndIsATornTail) {
  auto payloads = Payloads(3);
  WriteSegment(payloads);
  const uint64_t good_end = FileSizeOf(path_);
  // A partial frame header, then a frame whose payload is cut short.
  for (const std::string& tail :
       {std::string("\x10\x00\x00", 3), std::string("\x64\x00\x00\x00\x01\x02\x03\x04"
                                                    "abc",
                                                    11)}) {
    testing::WriteFileBytes(path_, testing::ReadFileBytes(path_).substr(0, good_end));
    AppendFileBytes(path_, tail);
    ReadAll r = Read();
    EXPECT_EQ(r.payloads, payloads);
    EXPECT_EQ(r.damage, SegmentDamage::kTornTail) << r.reason;
    EXPECT_EQ(r.damage_offset, good_end);
  }
}

TEST_F(SegmentTest, GarbageLengthNeverAllocatesMoreThanTheFile) {
  WriteSegment(Payloads(2));
  const uint64_t good_end = FileSizeOf(path_);
  AppendFileBytes(path_, std::string("\xff\xff\xff\xf0\x00\x00\x00\x00", 8) + "tail");
  ReadAll r = Read();
  EXPECT_EQ(r.payloads.size(), 2u);
  EXPECT_EQ(r.damage, SegmentDamage::kTornTail);
  EXPECT_EQ(r.damage_offset, good_end);
  EXPECT_NE(r.reason.find("exceeds the"), std::string::npos) << r.reason;
}

TEST_F(SegmentTest, ZeroFilledTailIsATornTail) {
  WriteSegment(Payloads(2));
  const uint64_t good_end = FileSizeOf(path_);
  AppendFileBytes(path_, std::string(4096, '\0'));
  ReadAll r = Read();
  EXPECT_EQ(r.payloads.size(), 2u);
  EXPECT_EQ(r.damage, SegmentDamage::kTornTail);
  EXPECT_EQ(r.damage_offset, good_end);
}

TEST_F(SegmentTest, ChecksumMismatchInTheLastEntryIsATornTail) {
  auto offsets = WriteSegment(Payloads(4));
  FlipBit(path_, offsets[3] + kEntryHeaderSize + 10);
  ReadAll r = Read();
  EXPECT_EQ(r.payloads.size(), 3u);
  EXPECT_EQ(r.damage, SegmentDamage::kTornTail);
  EXPECT_EQ(r.damage_offset, offsets[3]);
  EXPECT_NE(r.reason.find("checksum mismatch"), std::string::npos);
}

TEST_F(SegmentTest, ChecksumMismatchFollowedByValidEntriesIsCorruption) {
  auto offsets = WriteSegment(Payloads(4));
  FlipBit(path_, offsets[1] + kEntryHeaderSize + 3, 5);
  ReadAll r = Read();
  EXPECT_EQ(r.payloads.size(), 1u);
  EXPECT_EQ(r.damage, SegmentDamage::kCorrupt);
  EXPECT_EQ(r.damage_offset, offsets[1]);
  EXPECT_NE(r.reason.find("valid entry follows at offset " + std::to_string(offsets[2])),
            std::string::npos)
      << r.reason;
}

TEST_F(SegmentTest, BadLengthInTheMiddleIsCorruption) {
  auto offsets = WriteSegment(Payloads(4));
  FlipBit(path_, offsets[1] + 2, 7);  // length becomes huge
  ReadAll r = Read();
  EXPECT_EQ(r.payloads.size(), 1u);
  EXPECT_EQ(r.damage, SegmentDamage::kCorrupt) << r.reason;
  EXPECT_EQ(r.damage_offset, offsets[1]);
}

TEST_F(SegmentTest, EntriesOfAnotherSegmentDoNotPassAsValid) {
  // Segment 2's entries copied behind a torn entry of segment 1 (a recycled block):
  // their checksums cover segment id 2, so segment 1 still has only a torn tail.
  WriteSegment(Payloads(2), 2);
  std::string foreign = testing::ReadFileBytes(path_).substr(kSegmentHeaderSize);
  WriteSegment(Payloads(1), 1);
  const uint64_t good_end = FileSizeOf(path_);
  AppendFileBytes(path_, std::string("\x40\x00\x00\x00junk", 8) + foreign);
  ReadAll r = Read(1);
  EXPECT_EQ(r.payloads.size(), 1u);
  EXPECT_EQ(r.damage, SegmentDamage::kTornTail) << r.reason;
  EXPECT_EQ(r.damage_offset, good_end);
}

TEST_F(SegmentTest, LargeEntriesBeyondTheReadAheadWindow) {
  std::vector<std::string> payloads = {std::string(3 << 20, 'L'), "smaller",
                                       std::string((1 << 20) + 5, 'M')};
  WriteSegment(payloads);
  ReadAll r = Read();
  EXPECT_EQ(r.payloads, payloads);
  EXPECT_EQ(r.damage, SegmentDamage::kNone);
}

}  // namespace
}  // namespace ingester::wal
