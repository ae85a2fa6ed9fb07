// Recovery rules: torn tail in the last segment only, corruption refused with file and
// offset, recovery modes, sink errors, sequence numbers.
#include "ingester/wal/replay.h"

#include <gtest/gtest.h>

#include <arrow/api.h>

#include <filesystem>
#include <limits>

#include "ingester/common/column_type.h"
#include "ingester/common/error.h"
#include "ingester/wal/quarantine.h"
#include "ingester/wal/segment_reader.h"
#include "ingester/wal/segment_writer.h"
#include "ingester/wal/wal.h"
#include "ingester/wal/wal_test_util.h"

namespace ingester::wal {
namespace {

using testing::CollectingSink;
using testing::ExpectOpsEqual;
using testing::MakeOp;
using testing::ReadFileBytes;
using testing::TempDir;

class ReplayTest : public ::testing::Test {
 protected:
  // Writes segments holding `per_segment[i]` ops each (sequence numbers from 1) and
  // closes the WAL.
  void WriteSegments(const std::vector<int>& per_segment,
                     PayloadCompression compression = PayloadCompression::kZstd) {
    WalOptions options;
    options.dir = dir();
    options.compression = compression;
    auto wal = Wal::Make(options);
    ASSERT_TRUE(wal.ok()) << wal.status();
    for (size_t s = 0; s < per_segment.size(); ++s) {
      if (s > 0) {
        ASSERT_TRUE((*wal)->Rotate().ok());
      }
      for (int i = 0; i < per_segment[s]; ++i)
        ASSERT_TRUE((*wal)->Append(MakeOp(next_++), true).ok());
    }
    ASSERT_TRUE((*wal)->Close().ok());
  }

  // Offsets of the entries of segment `id`.
  std::vector<uint64_t> EntryOffsets(SegmentId id) {
    auto reader = SegmentReader::Open(fs_.get(), Path(id), id);
    EXPECT_TRUE(reader.ok());
    std::vector<uint64_t> out;
    while (true) {
      auto e = (*reader)->Next();
      EXPECT_TRUE(e.ok());
      if (!e->has_value()) break;
      out.push_back((*e)->offset);
    }
    return out;
  }

  arrow::Result<ReplayStats> Replay(CollectingSink* sink, ReplayOptions options = {}) {
    return ReplayWal(*fs_, dir(), *sink, options);
  }

  std::string dir() const { return tmp_.Sub("wal"); }
  std::string Path(SegmentId id) const { return tmp_.Sub("wal/" + SegmentFileName(id)); }

  TempDir tmp_;
  std::shared_ptr<FileSystem> fs_ = PosixFileSystem();
  SequenceNumber next_ = 1;
};

void ExpectDataLossAt(const arrow::Result<ReplayStats>& r, const std::string& file,
                      uint64_t offset) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrorKindOf(r.status()), ErrorKind::kDataLoss) << r.status();
  EXPECT_NE(r.status().message().find(file), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("byte offset " + std::to_string(offset)),
            std::string::npos)
      << r.status();
}

TEST_F(ReplayTest, MissingDirectoryAndEmptySegmentsAreFine) {
  CollectingSink sink;
  auto none = Replay(&sink);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->segments.empty());
  EXPECT_FALSE(none->max_sequence_number.has_value());

  WriteSegments({0, 2, 0});
  testing::WriteFileBytes(tmp_.Sub("wal/" + SegmentFileName(7)), "");  // empty file
  auto r = Replay(&sink);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->segment_ids(), (std::vector<SegmentId>{1, 2, 3, 7}));
  EXPECT_EQ(r->entries, 2);
  EXPECT_EQ(sink.size(), 2u);
}

TEST_F(ReplayTest, CorruptionInAMiddleSegmentIsRefusedWithFileAndOffset) {
  WriteSegments({3, 3, 3});
  auto offsets = EntryOffsets(2);
  testing::FlipBit(Path(2), offsets[1] + kEntryHeaderSize + 20, 3);
  CollectingSink sink;
  ExpectDataLossAt(Replay(&sink), SegmentFileName(2), offsets[1]);
}

TEST_F(ReplayTest, TornTailInAMiddleSegmentIsRefused) {
  WriteSegments({2, 2});
  const uint64_t end = testing::FileSizeOf(Path(1));
  testing::AppendFileBytes(Path(1), std::string(5, '\x07'));
  CollectingSink sink;
  auto r = Replay(&sink);
  ExpectDataLossAt(r, SegmentFileName(1), end);
  EXPECT_NE(r.status().message().find("only the last segment"), std::string::npos);
  EXPECT_EQ(testing::FileSizeOf(Path(1)), end + 5);  // not truncated
}

TEST_F(ReplayTest, FlippedBitInTheLastSegmentWithValidEntriesAfterIsRefused) {
  WriteSegments({5});
  auto offsets = EntryOffsets(1);
  testing::FlipBit(Path(1), offsets[2] + kEntryHeaderSize + 1, 6);
  const uint64_t size = testing::FileSizeOf(Path(1));
  CollectingSink sink;
  auto r = Replay(&sink);
  ExpectDataLossAt(r, SegmentFileName(1), offsets[2]);
  EXPECT_NE(r.status().message().find("corrupt"), std::string::npos);
  EXPECT_EQ(testing::FileSizeOf(Path(1)), size);
}

TEST_F(ReplayTest, FlippedBitInTheLastEntryIsATornTail) {
  WriteSegments({2, 5});
  auto offsets = EntryOffsets(2);
  testing::FlipBit(Path(2), offsets[4] + kEntryHeaderSize + 40, 1);
  CollectingSink sink;
  auto r = Replay(&sink);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->truncated.has_value());
  EXPECT_EQ(r->truncated->offset, offsets[4]);
  EXPECT_EQ(r->entries, 6);
  EXPECT_EQ(testing::FileSizeOf(Path(2)), offsets[4]);
  EXPECT_EQ(r->max_sequence_number, 6u);
}

class ReplayModeTest : public ReplayTest,
                       public ::testing::WithParamInterface<RecoveryMode> {};

TEST_P(ReplayModeTest, TornTailInTheLastSegment) {
  WriteSegments({2, 3});
  const uint64_t end = testing::FileSizeOf(Path(2));
  testing::AppendFileBytes(Path(2), std::string("\x30\x00\x00\x00\x01\x02", 6));
  CollectingSink sink;
  ReplayOptions options;
  options.mode = GetParam();
  auto r = Replay(&sink, options);
  if (GetParam() == RecoveryMode::kTolerateTornTail) {
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->truncated.has_value());
    EXPECT_EQ(r->truncated->offset, end);
    EXPECT_EQ(r->truncated->dropped_bytes, 6u);
    EXPECT_EQ(testing::FileSizeOf(Path(2)), end);
    EXPECT_EQ(sink.size(), 5u);
  } else {
    ExpectDataLossAt(r, SegmentFileName(2), end);
    EXPECT_EQ(testing::FileSizeOf(Path(2)), end + 6);
  }
}

TEST_P(ReplayModeTest, IntactWalReplaysTheSameInEveryMode) {
  WriteSegments({4, 0, 4});
  CollectingSink sink;
  ReplayOptions options;
  options.mode = GetParam();
  auto r = Replay(&sink, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->entries, 8);
  EXPECT_EQ(r->segments[0].sequence_numbers.ToString(), "1-4");
  EXPECT_TRUE(r->segments[1].sequence_numbers.empty());
  EXPECT_EQ(r->segments[2].sequence_numbers.ToString(), "5-8");
}

INSTANTIATE_TEST_SUITE_P(Modes, ReplayModeTest,
                         ::testing::Values(RecoveryMode::kTolerateTornTail,
                                           RecoveryMode::kAbsoluteConsistency));

TEST_F(ReplayTest, BadHeaderNamesTheFile) {
  WriteSegments({1, 1});
  testing::FlipBit(Path(1), 2);
  CollectingSink sink;
  auto r = Replay(&sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrorKindOf(r.status()), ErrorKind::kDataLoss);
  EXPECT_NE(r.status().message().find(SegmentFileName(1)), std::string::npos);
}

TEST_F(ReplayTest, EntryThatPassesItsChecksumButDoesNotDecodeIsRefused) {
  ASSERT_TRUE(fs_->CreateDirIfMissing(dir()).ok());
  auto writer = SegmentWriter::Create(fs_.get(), dir(), 1);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Publish().ok());
  ASSERT_TRUE((*writer)->AppendEntry(std::string("\x00\x03\x00\x00\x00zzz", 8)).ok());
  ASSERT_TRUE((*writer)->Close().ok());
  CollectingSink sink;
  auto r = Replay(&sink);
  ExpectDataLossAt(r, SegmentFileName(1), kSegmentHeaderSize);
  EXPECT_NE(r.status().message().find("does not decode"), std::string::npos);
}

class FailingSink : public DmlSink {
 public:
  using DmlSink::Apply;
  arrow::Status Apply(const WriteOp& op, const ApplyOptions&) override {
    if (op.writes[0].sequence_number == 3) return arrow::Status::Invalid("table is gone");
    return arrow::Status::OK();
  }
};

// Holds every op but reports the even sequence numbers as never held (as the BufferTree
// reports writes with no rows).
class DroppingEvenSink : public DmlSink {
 public:
  using DmlSink::Apply;
  arrow::Status Apply(const WriteOp& op, const ApplyOptions& options) override {
    for (const auto& w : op.writes) {
      if (w.sequence_number % 2 == 0 && options.not_applied != nullptr) {
        options.not_applied->push_back(w.sequence_number);
      }
    }
    return arrow::Status::OK();
  }
};

TEST_F(ReplayTest, WritesTheSinkDoesNotHoldAreLeftOutOfTheirSegment) {
  WriteSegments({3, 2});
  DroppingEvenSink sink;
  auto r = ReplayWal(*fs_, dir(), sink);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->segments.size(), 2u);
  EXPECT_EQ(r->segments[0].sequence_numbers.ToString(), "1,3");
  EXPECT_EQ(r->segments[1].sequence_numbers.ToString(), "5");
  EXPECT_EQ(r->entries, 5);  // replayed all the same
  EXPECT_EQ(*r->max_sequence_number, 5u);
}

TEST_F(ReplayTest, SinkErrorStopsReplayAndSaysWhere) {
  WriteSegments({5});
  auto offsets = EntryOffsets(1);
  FailingSink sink;
  auto r = ReplayWal(*fs_, dir(), sink);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalid());
  EXPECT_NE(r.status().message().find("table is gone"), std::string::npos);
  EXPECT_NE(r.status().message().find("byte offset " + std::to_string(offsets[2])),
            std::string::npos)
      << r.status();
}

TEST_F(ReplayTest, MaxSequenceNumberIsTheHighestNotTheLast) {
  WalOptions options;
  options.dir = dir();
  {
    auto wal = Wal::Make(options);
    ASSERT_TRUE(wal.ok());
    for (SequenceNumber s : {5, 3, 9, 2})
      ASSERT_TRUE((*wal)->Append(MakeOp(s), true).ok());
    ASSERT_TRUE((*wal)->Close().ok());
  }
  CollectingSink sink;
  auto r = Replay(&sink);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->max_sequence_number, 9u);
  EXPECT_EQ(sink.sequence_numbers(), (std::vector<SequenceNumber>{5, 3, 9, 2}));
}

// An op whose tag column has a dictionary index far outside its one-value dictionary:
// what Flight DoPut accepted before it validated batches. Applying it to a buffer reads
// out of bounds.
WriteOp MakeOpWithBadDictionaryIndex(SequenceNumber sequence) {
  const int32_t index = std::numeric_limits<int32_t>::max();
  auto indices = arrow::Buffer::FromString(
      std::string(reinterpret_cast<const char*>(&index), sizeof(index)));
  auto dict =
      arrow::ArrayData::Make(ArrowTypeFor(ColumnType::kTag), 1, {nullptr, indices}, 0);
  arrow::StringBuilder values;
  EXPECT_TRUE(values.Append("a").ok());
  dict->dictionary = values.Finish().ValueOrDie()->data();
  arrow::TimestampBuilder time(ArrowTypeFor(ColumnType::kTime),
                               arrow::default_memory_pool());
  EXPECT_TRUE(time.Append(1'700'000'000'000'000'000LL).ok());
  auto batch = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("host", ArrowTypeFor(ColumnType::kTag)),
                     arrow::field("time", ArrowTypeFor(ColumnType::kTime), false)}),
      1, {arrow::MakeArray(dict), time.Finish().ValueOrDie()});
  WriteOp op{NamespaceId(1), "db", {}};
  op.writes.push_back({TableId(1), "cpu", "2023-11-14", sequence, batch});
  return op;
}

TEST_F(ReplayTest, AnInvalidWriteIsQuarantinedAndTheOthersAreReplayed) {
  const WriteOp first = MakeOp(1), bad = MakeOpWithBadDictionaryIndex(9),
                last = MakeOp(2);
  {
    WalOptions options;
    options.dir = dir();
    auto wal = Wal::Make(options);
    ASSERT_TRUE(wal.ok()) << wal.status();
    for (const WriteOp* op : {&first, &bad, &last}) {
      ASSERT_TRUE((*wal)->Append(*op, true).ok());
    }
    ASSERT_TRUE((*wal)->Close().ok());
  }
  const auto offsets = EntryOffsets(1);
  ASSERT_EQ(offsets.size(), 3u);
  // The bad entry's payload as the segment holds it, after its 8 bytes of framing.
  const std::string segment_bytes = ReadFileBytes(Path(1));
  const std::string payload = segment_bytes.substr(
      offsets[1] + kEntryHeaderSize, offsets[2] - offsets[1] - kEntryHeaderSize);

  for (int round = 0; round < 2; ++round) {  // again, as after a crash: same outcome
    CollectingSink sink;
    auto r = Replay(&sink);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(sink.size(), 2u);
    ExpectOpsEqual(first, sink.ops()[0]);
    ExpectOpsEqual(last, sink.ops()[1]);
    EXPECT_EQ(r->entries, 2);
    EXPECT_EQ(r->rows, first.RowCount() + last.RowCount());

    ASSERT_EQ(r->quarantined.size(), 1u);
    const QuarantinedEntry& q = r->quarantined[0];
    EXPECT_EQ(q.offset, offsets[1]);
    EXPECT_EQ(q.file, Path(1));
    EXPECT_EQ(q.rows, 1);
    EXPECT_NE(q.reason.find("byte offset " + std::to_string(offsets[1])),
              std::string::npos)
        << q.reason;
    EXPECT_NE(q.reason.find("column 'host' row 0: dictionary index 2147483647"),
              std::string::npos)
        << q.reason;
    EXPECT_EQ(q.path,
              tmp_.Sub("wal/quarantine/" + QuarantineBaseName(1, offsets[1]) + ".entry"));
    EXPECT_EQ(ReadFileBytes(q.path), payload);
    const std::string reason_file = ReadFileBytes(
        tmp_.Sub("wal/quarantine/" + QuarantineBaseName(1, offsets[1]) + ".reason"));
    EXPECT_EQ(reason_file, q.reason + "\n");
    // Exactly the two files: no temporary left over.
    EXPECT_EQ(
        std::distance(std::filesystem::directory_iterator(tmp_.Sub("wal/quarantine")),
                      std::filesystem::directory_iterator()),
        2);

    // The bad write's sequence number is released (not in its segment's set, so the
    // segment is deleted once the rest is persisted) but still seeds the oracle.
    ASSERT_EQ(r->segments.size(), 1u);
    EXPECT_TRUE(r->segments[0].sequence_numbers.Contains(1));
    EXPECT_TRUE(r->segments[0].sequence_numbers.Contains(2));
    EXPECT_FALSE(r->segments[0].sequence_numbers.Contains(9));
    EXPECT_EQ(r->segments[0].sequence_numbers.size(), 2u);
    EXPECT_EQ(r->max_sequence_number, 9u);
  }
}

TEST_F(ReplayTest, QuarantineThatCannotBeWrittenStopsReplay) {
  {
    WalOptions options;
    options.dir = dir();
    auto wal = Wal::Make(options);
    ASSERT_TRUE(wal.ok()) << wal.status();
    ASSERT_TRUE((*wal)->Append(MakeOpWithBadDictionaryIndex(1), true).ok());
    ASSERT_TRUE((*wal)->Close().ok());
  }
  // A file where the quarantine directory should be: the copy cannot be made, and
  // replay must not go on as if it had been.
  testing::WriteFileBytes(tmp_.Sub("wal/quarantine"), "in the way");
  CollectingSink sink;
  auto r = Replay(&sink);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cannot quarantine"), std::string::npos)
      << r.status();
  EXPECT_EQ(sink.size(), 0u);
}

// Entries name their codec: a WAL written under one --wal-compression, then another
// after a restart, replays whole whatever the current setting.
TEST_F(ReplayTest, ReplaysSegmentsWrittenWithEveryCodec) {
  WriteSegments({3, 2}, PayloadCompression::kNone);
  WriteSegments({2}, PayloadCompression::kLz4);
  WriteSegments({4, 1}, PayloadCompression::kZstd);
  CollectingSink sink;
  auto stats = Replay(&sink);
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(sink.size(), 12u);
  std::vector<SequenceNumber> expected;
  for (SequenceNumber s = 1; s <= 12; ++s) expected.push_back(s);
  EXPECT_EQ(sink.sequence_numbers(), expected);
  for (size_t i = 0; i < sink.size(); ++i) {
    ExpectOpsEqual(MakeOp(static_cast<SequenceNumber>(i + 1)), sink.ops()[i]);
  }
}

}  // namespace
}  // namespace ingester::wal
