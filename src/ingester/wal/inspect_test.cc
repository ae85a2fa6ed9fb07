#include "ingester/wal/inspect.h"

#include <gtest/gtest.h>

#include "ingester/wal/segment_reader.h"
#include "ingester/wal/wal.h"
#include "ingester/wal/wal_test_util.h"

namespace ingester::wal {
namespace {

using testing::MakeOp;
using testing::TempDir;

class InspectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WalOptions options;
    options.dir = dir();
    auto wal = Wal::Make(options);
    ASSERT_TRUE(wal.ok());
    // Segment 1: sequence numbers 1-3 (30 rows); segment 2: 10-11 (2 writes, 10 rows).
    for (SequenceNumber s = 1; s <= 3; ++s)
      ASSERT_TRUE((*wal)->Append(MakeOp(s, 1, 10), true).ok());
    ASSERT_TRUE((*wal)->Rotate().ok());
    ASSERT_TRUE((*wal)->Append(MakeOp(10, 2, 5), true).ok());
    ASSERT_TRUE((*wal)->Close().ok());
  }
  std::string dir() const { return tmp_.Sub("wal \"quoted\""); }
  std::string Path(SegmentId id) const { return dir() + "/" + SegmentFileName(id); }
  TempDir tmp_;
};

TEST_F(InspectTest, ReportsSegmentsAndTotals) {
  auto r = InspectWal(dir());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->segments.size(), 2u);
  EXPECT_EQ(r->segments[0].id, 1u);
  EXPECT_EQ(r->segments[0].entries, 3);
  EXPECT_EQ(r->segments[0].rows, 30);
  EXPECT_EQ(r->segments[0].sequence_numbers.ToString(), "1-3");
  EXPECT_EQ(r->segments[0].Status(), "ok");
  EXPECT_EQ(r->segments[1].rows, 10);
  EXPECT_EQ(r->segments[1].sequence_numbers.ToString(), "10-11");
  EXPECT_EQ(r->entries, 4);
  EXPECT_EQ(r->rows, 40);
  EXPECT_EQ(r->bytes, testing::FileSizeOf(Path(1)) + testing::FileSizeOf(Path(2)));
  EXPECT_TRUE(r->ok());

  std::string text = FormatInspectionText(*r);
  EXPECT_NE(text.find("00000000000000000001.dat"), std::string::npos) << text;
  EXPECT_NE(text.find("1-3"), std::string::npos) << text;
  EXPECT_NE(text.find("total: 2 segment(s), 4 entries, 40 rows"), std::string::npos)
      << text;
  EXPECT_NE(text.find("checksums ok"), std::string::npos) << text;

  std::string json = FormatInspectionJson(*r);
  EXPECT_NE(json.find("\"entries\": 4, \"rows\": 40, \"bytes\": "), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"min_sequence_number\": 10, \"max_sequence_number\": 11"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"ok\": true"), std::string::npos) << json;
  EXPECT_NE(json.find("wal \\\"quoted\\\""), std::string::npos) << json;  // escaped
}

TEST_F(InspectTest, ReportsDamageWithoutRepairingIt) {
  // Torn tail in segment 2, corruption in segment 1.
  const uint64_t end2 = testing::FileSizeOf(Path(2));
  testing::AppendFileBytes(Path(2), "torn");
  auto reader = SegmentReader::Open(PosixFileSystem().get(), Path(1), 1);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE((*reader)->Next().ok());
  auto second = (*reader)->Next();
  ASSERT_TRUE(second.ok() && second->has_value());
  const uint64_t bad = (*second)->offset;
  reader->reset();
  testing::FlipBit(Path(1), bad + kEntryHeaderSize + 5);

  auto r = InspectWal(dir());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->ok());
  EXPECT_EQ(r->segments[0].Status(), "corrupt at offset " + std::to_string(bad));
  EXPECT_EQ(r->segments[0].entries, 1);
  EXPECT_EQ(r->segments[1].Status(), "torn tail at offset " + std::to_string(end2));
  EXPECT_EQ(r->segments[1].entries, 1);
  EXPECT_EQ(testing::FileSizeOf(Path(2)), end2 + 4);  // read-only

  std::string json = FormatInspectionJson(*r);
  EXPECT_NE(
      json.find("\"damage\": \"corrupt\", \"damage_offset\": " + std::to_string(bad)),
      std::string::npos)
      << json;
  EXPECT_NE(json.find("\"ok\": false"), std::string::npos);
  EXPECT_NE(FormatInspectionText(*r).find("DAMAGE FOUND"), std::string::npos);
}

TEST_F(InspectTest, BadHeaderIsReportedPerSegment) {
  testing::WriteFileBytes(Path(1), std::string(40, 'q'));
  auto r = InspectWal(dir());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->segments[0].Status(), "bad header");
  EXPECT_NE(r->segments[0].header_error.find("magic"), std::string::npos);
  EXPECT_EQ(r->segments[1].Status(), "ok");
}

TEST(Inspect, MissingDirectoryIsAnError) {
  EXPECT_FALSE(InspectWal("/nonexistent/ingester/wal").ok());
}

}  // namespace
}  // namespace ingester::wal
