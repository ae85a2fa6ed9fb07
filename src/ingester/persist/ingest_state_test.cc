#include "ingester/persist/ingest_state.h"

#include <gtest/gtest.h>

#include <string>

#include "ingester/common/error.h"

namespace ingester::persist {
namespace {

TEST(IngestStateTest, AcceptsUntilAReasonIsSetAndAgainOnceAllAreCleared) {
  MetricsRegistry metrics;
  IngestState state(&metrics);
  EXPECT_TRUE(state.accepting());
  EXPECT_TRUE(state.Check().ok());

  EXPECT_TRUE(state.Set(IngestBlock::kPersistSaturated));
  EXPECT_FALSE(state.Set(IngestBlock::kPersistSaturated));  // already set
  EXPECT_TRUE(state.Set(IngestBlock::kDiskFull));
  arrow::Status st = state.Check();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ErrorKindOf(st), ErrorKind::kBackpressure);
  EXPECT_NE(st.message().find("persist saturated"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("disk full"), std::string::npos) << st.ToString();
  EXPECT_EQ(state.refused(), 1);

  EXPECT_TRUE(state.Clear(IngestBlock::kPersistSaturated));
  EXPECT_FALSE(state.Clear(IngestBlock::kPersistSaturated));
  EXPECT_FALSE(state.accepting());  // the disk is still full
  EXPECT_TRUE(state.Clear(IngestBlock::kDiskFull));
  EXPECT_TRUE(state.accepting());
  EXPECT_TRUE(state.Check().ok());

  const std::string text = metrics.RenderText();
  EXPECT_NE(text.find("ingester_ingest_blocked{reason=\"disk_full\"} 0"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ingester_ingest_refused_total 1"), std::string::npos) << text;
}

TEST(IngestStateTest, ShuttingDownIsOneMoreReason) {
  IngestState state;
  state.Set(IngestBlock::kShuttingDown);
  EXPECT_TRUE(state.IsSet(IngestBlock::kShuttingDown));
  EXPECT_FALSE(state.IsSet(IngestBlock::kDiskFull));
  EXPECT_EQ(state.bits(), static_cast<uint32_t>(IngestBlock::kShuttingDown));
  EXPECT_NE(state.Check().message().find("shutting down"), std::string::npos);
}

TEST(IngestStateTest, DiskUseFraction) {
  // used / (used + available), as df: 90 used, 10 available (and, say, 5 reserved for
  // root, which counts in neither) is 90 %.
  EXPECT_DOUBLE_EQ(DiskUseFraction(90, 10), 0.9);
  EXPECT_DOUBLE_EQ(DiskUseFraction(0, 100), 0.0);
  EXPECT_DOUBLE_EQ(DiskUseFraction(100, 0), 1.0);
  EXPECT_DOUBLE_EQ(DiskUseFraction(0, 0), 0.0);  // unknown
  EXPECT_DOUBLE_EQ(DiskUseFraction(1, 3), 0.25);
}

}  // namespace
}  // namespace ingester::persist
