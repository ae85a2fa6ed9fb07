#include "ingester/persist/persist_triggers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>

#include "ingester/common/error.h"
#include "ingester/persist/persist_worker_test_util.h"
#include "ingester/wal/replay.h"
#include "ingester/wal/wal.h"
#include "ingester/wal/wal_sink.h"

namespace ingester::persist {
namespace {

using namespace std::chrono_literals;
using testing::FakeJob;
using testing::HandleOptions;
using testing::MakeOp;
using testing::MakeTree;
using testing::MakeWrite;

std::shared_ptr<PartitionData> PartitionOf(BufferTree& tree, int table,
                                           const std::string& key) {
  auto ns = tree.Namespace(NamespaceId(1));
  if (ns == nullptr) return nullptr;
  auto t = ns->Table(TableId(table));
  return t == nullptr ? nullptr : t->Partition(key);
}

arrow::Status WriteOne(DmlSink& sink, int table, const std::string& key,
                       SequenceNumber seq, int rows = 10) {
  std::vector<PartitionWrite> writes;
  writes.push_back(MakeWrite(table, key, seq, rows));
  return sink.Apply(MakeOp(std::move(writes)));
}

// Accepts every append: the tests below drive the chain under the WAL, with the WalSink
// still releasing the writes the tree does not hold.
class AcceptingAppender final : public wal::WalAppender {
 public:
  arrow::Status Append(const WriteOp&, bool) override { return arrow::Status::OK(); }
};

// A tracker whose deleter records ids.
struct RecordingTracker {
  RecordingTracker() {
    wal::ReferenceTrackerOptions options;
    options.delete_segment = [this](wal::SegmentId id) {
      std::lock_guard<std::mutex> lock(mu);
      deleted.push_back(id);
      return arrow::Status::OK();
    };
    tracker = *wal::ReferenceTracker::Make(std::move(options));
  }
  std::vector<wal::SegmentId> Deleted() {
    std::lock_guard<std::mutex> lock(mu);
    return deleted;
  }
  std::mutex mu;
  std::vector<wal::SegmentId> deleted;
  std::shared_ptr<wal::ReferenceTracker> tracker;
};

class PersistTriggersTest : public ::testing::Test {
 protected:
  // Builds observer, tree, handle and triggers; `adjust` edits the trigger options.
  void Build(const std::function<void(PersistTriggersOptions&)>& adjust = nullptr,
             size_t workers = 2, size_t depth = 8) {
    observer_ = std::make_shared<PersistWriteObserver>();
    tree_ = MakeTree(observer_);
    auto handle_options = HandleOptions(job_.Fn(), workers, depth);
    handle_options.on_persisted = testing::ReleaseTo(tracker_.tracker);
    handle_options.ingest_state = state_;
    auto handle = PersistHandle::Make(std::move(handle_options));
    ASSERT_TRUE(handle.ok()) << handle.status().ToString();
    handle_ = *handle;
    PersistTriggersOptions options;
    options.tree = tree_;
    options.handle = handle_;
    options.observer = observer_;
    testing::TrackSegments(options, tracker_.tracker);
    options.ingest_state = state_;
    options.metrics = &metrics_;
    options.hot_partition_cost = 0;
    options.disk_check_interval = 0ns;
    if (adjust) adjust(options);
    auto triggers = PersistTriggers::Make(std::move(options));
    ASSERT_TRUE(triggers.ok()) << triggers.status().ToString();
    triggers_ = std::move(*triggers);
    sink_ = std::make_shared<wal::WalSink>(std::make_shared<AcceptingAppender>(), tree_,
                                           tracker_.tracker);
  }
  void TearDown() override {
    if (triggers_) triggers_->Stop();
    handle_.Stop();
  }

  FakeJob job_;
  RecordingTracker tracker_;
  MetricsRegistry metrics_;
  std::shared_ptr<IngestState> state_ = std::make_shared<IngestState>();
  std::shared_ptr<PersistWriteObserver> observer_;
  std::shared_ptr<BufferTree> tree_;
  PersistHandle handle_;
  std::unique_ptr<PersistTriggers> triggers_;
  std::shared_ptr<wal::WalSink> sink_;
};

// The buffer bytes of one partition after each of `writes` identical-seed writes.
std::vector<int64_t> BytesAfterWrites(int writes) {
  auto tree = MakeTree();
  std::vector<int64_t> out;
  for (int i = 1; i <= writes; ++i) {
    EXPECT_TRUE(WriteOne(*tree, 1, "k", static_cast<SequenceNumber>(i)).ok());
    out.push_back(PartitionOf(*tree, 1, "k")->Stats().buffer_bytes);
  }
  return out;
}

TEST_F(PersistTriggersTest, HotPartitionPersistsAfterTheWriteThatCrossesTheCost) {
  const std::vector<int64_t> bytes = BytesAfterWrites(3);
  ASSERT_LT(bytes[1], bytes[2]);
  Build([&](PersistTriggersOptions& o) { o.hot_partition_cost = bytes[2]; });
  job_.LimitPermits(0);  // hold the persist so the partition is seen mid-flight
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "k", 1));
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "k", 2));
  EXPECT_EQ(handle_.stats().enqueued, 0);
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "k", 3));  // reaches the cost
  EXPECT_EQ(handle_.stats().enqueued, 1);
  EXPECT_EQ(triggers_->stats().hot_partitions, 1);
  auto partition = PartitionOf(*tree_, 1, "k");
  // The partition keeps taking writes in a new buffer while the snapshot persists.
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "k", 4));
  PartitionStats stats = partition->Stats();
  EXPECT_EQ(stats.persisting_rows, 30);
  EXPECT_EQ(stats.buffer_rows, 10);
  ASSERT_TRUE(job_.WaitStarted(1));
  job_.Unlimit();
  ASSERT_TRUE(handle_.WaitIdle(30s));
  EXPECT_EQ(partition->completed_persist_count(), 1u);
  EXPECT_EQ(partition->Rows(), 10);
  auto calls = job_.succeeded();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].sequence_numbers, (std::vector<SequenceNumber>{1, 2, 3}));
  EXPECT_NE(metrics_.RenderText().find(
                "ingester_persist_triggered_total{trigger=\"hot_partition\"} 1"),
            std::string::npos);
}

TEST_F(PersistTriggersTest, HotPartitionNeverBlocksAWriterOnAFullQueue) {
  const std::vector<int64_t> bytes = BytesAfterWrites(1);
  Build([&](PersistTriggersOptions& o) { o.hot_partition_cost = bytes[0]; }, 1, 1);
  job_.LimitPermits(0);
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "a", 1));  // runs (held)
  ASSERT_TRUE(job_.WaitStarted(1));
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "b", 2));  // queued: the queue is full
  // This writer's partition is hot too, but the queue is full: the write returns at
  // once, the partition stays unmarked and the ingest state turns writes away.
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "c", 3));
  EXPECT_EQ(PartitionOf(*tree_, 1, "c")->Stats().persisting_snapshots, 0u);
  EXPECT_EQ(triggers_->stats().hot_skipped_full, 1);
  EXPECT_EQ(ErrorKindOf(state_->Check()), ErrorKind::kBackpressure);
  job_.Unlimit();
  ASSERT_TRUE(handle_.WaitIdle(30s));
  EXPECT_TRUE(state_->accepting());  // the queue drained
}

TEST_F(PersistTriggersTest, RotationMarksEveryPartitionAndReleasesTheSegment) {
  Build();
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "2024-01-01", 1));
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "2024-01-02", 2));
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 2, "2024-01-01", 3));
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 2, "2024-01-01", 4, 0));  // no rows: released now
  EXPECT_EQ(tracker_.tracker->stats().early_releases, 1u);
  wal::ClosedSegment segment;
  segment.id = 9;
  segment.sequence_numbers.AddRange(1, 4);
  triggers_->OnWalRotated(segment);
  EXPECT_EQ(handle_.stats().enqueued, 3);
  ASSERT_TRUE(handle_.WaitIdle(30s));
  for (auto [table, key] : std::vector<std::pair<int, std::string>>{
           {1, "2024-01-01"}, {1, "2024-01-02"}, {2, "2024-01-01"}}) {
    auto p = PartitionOf(*tree_, table, key);
    EXPECT_EQ(p->completed_persist_count(), 1u) << table << " " << key;
    EXPECT_EQ(p->Rows(), 0);
  }
  EXPECT_EQ(tracker_.Deleted(), std::vector<wal::SegmentId>{9});
  EXPECT_EQ(triggers_->stats().rotations, 1);
}

TEST_F(PersistTriggersTest, WalSinkReleasesWritesThatFailToBuffer) {
  Build();
  tracker_.tracker->AddSegment(1, [] {
    wal::SequenceNumberSet s;
    s.AddRange(1, 2);
    return s;
  }());
  std::vector<PartitionWrite> writes;
  writes.push_back(MakeWrite(1, "k", 1, 0));  // empty
  PartitionWrite broken = MakeWrite(1, "k", 2);
  broken.batch = nullptr;  // fails to buffer
  writes.push_back(std::move(broken));
  EXPECT_FALSE(sink_->Apply(MakeOp(std::move(writes))).ok());
  EXPECT_EQ(tracker_.Deleted(), std::vector<wal::SegmentId>{1});
}

TEST_F(PersistTriggersTest, MaxBufferBytesPersistsTheLargestPartitions) {
  Build([](PersistTriggersOptions& o) { o.max_buffer_bytes = 0; });  // manual first
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "large", 1, 4000));
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "medium", 2, 200));
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "small", 3, 50));
  const int64_t large = PartitionOf(*tree_, 1, "large")->BufferedBytes();
  const int64_t rest = tree_->BufferedBytes() - large;
  // Over the limit; marking the largest brings the rest under half of it.
  const int64_t limit = std::max(2 * rest, tree_->BufferedBytes() / 2);
  ASSERT_LT(limit, tree_->BufferedBytes());
  ASSERT_LE(rest, limit / 2);

  // Rebuild with that limit and write the same data: the write that crosses the limit
  // wakes the trigger thread.
  triggers_->Stop();
  handle_.Stop();
  Build([&](PersistTriggersOptions& o) { o.max_buffer_bytes = limit; });
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "medium", 2, 200));
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "small", 3, 50));
  EXPECT_EQ(job_.started(), 0);
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "large", 1, 4000));
  ASSERT_TRUE(job_.WaitStarted(1));
  ASSERT_TRUE(handle_.WaitIdle(30s));
  EXPECT_EQ(PartitionOf(*tree_, 1, "large")->completed_persist_count(), 1u);
  EXPECT_EQ(PartitionOf(*tree_, 1, "medium")->completed_persist_count(), 0u);
  EXPECT_EQ(PartitionOf(*tree_, 1, "small")->completed_persist_count(), 0u);
  EXPECT_EQ(handle_.stats().enqueued, 1);  // counted before the job can run
  EXPECT_LE(tree_->BufferedBytes(), limit);
  // Under the limit now: a manual check does nothing.
  PIPELINE_ASSERT_OK(triggers_->CheckMemoryNow());
  EXPECT_EQ(handle_.stats().enqueued, 1);
}

TEST_F(PersistTriggersTest, FullDiskRefusesWritesForcesAPersistAndClears) {
  std::atomic<uint64_t> available{50};
  std::atomic<int> rotations{0};
  Build([&](PersistTriggersOptions& o) {
    o.disk_space = [&]() -> arrow::Result<wal::DiskSpace> {
      return wal::DiskSpace{100, available.load(), 100 - available.load()};
    };
    o.rotate = [&]() -> arrow::Result<wal::ClosedSegment> {
      wal::ClosedSegment s;
      s.id = static_cast<wal::SegmentId>(100 + rotations.fetch_add(1));
      return s;
    };
  });
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 1, "a", 1));
  PIPELINE_ASSERT_OK(WriteOne(*sink_, 2, "b", 2));
  PIPELINE_ASSERT_OK(triggers_->CheckDiskNow());
  EXPECT_TRUE(state_->accepting());
  EXPECT_EQ(rotations.load(), 0);

  available = 10;  // 90 % used: the threshold
  PIPELINE_ASSERT_OK(triggers_->CheckDiskNow());
  EXPECT_TRUE(state_->IsSet(IngestBlock::kDiskFull));
  EXPECT_EQ(ErrorKindOf(state_->Check()), ErrorKind::kBackpressure);
  EXPECT_EQ(rotations.load(), 1);
  ASSERT_TRUE(handle_.WaitIdle(30s));
  EXPECT_EQ(tree_->BufferedBytes(), 0);
  EXPECT_EQ(triggers_->stats().disk_forced, 1);
  // Still full, nothing buffered: no further rotations.
  PIPELINE_ASSERT_OK(triggers_->CheckDiskNow());
  EXPECT_EQ(rotations.load(), 1);
  EXPECT_TRUE(state_->IsSet(IngestBlock::kDiskFull));

  available = 11;  // 89 %: clears
  PIPELINE_ASSERT_OK(triggers_->CheckDiskNow());
  EXPECT_FALSE(state_->IsSet(IngestBlock::kDiskFull));
  EXPECT_TRUE(state_->Check().ok());
}

TEST_F(PersistTriggersTest, TheTriggerThreadChecksTheDisk) {
  std::mutex mu;
  std::condition_variable cv;
  int rotations = 0;
  Build([&](PersistTriggersOptions& o) {
    o.disk_check_interval = 1ms;
    o.disk_space = []() -> arrow::Result<wal::DiskSpace> {
      return wal::DiskSpace{1000, 5, 995};
    };
    o.rotate = [&]() -> arrow::Result<wal::ClosedSegment> {
      std::lock_guard<std::mutex> lock(mu);
      ++rotations;
      cv.notify_all();
      return wal::ClosedSegment{};
    };
  });
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return rotations >= 1; }));
  EXPECT_TRUE(state_->IsSet(IngestBlock::kDiskFull));
}

TEST_F(PersistTriggersTest, DrainWithARealWalDeletesEverySegment) {
  wal::testing::TempDir tmp;
  wal::WalOptions wal_options;
  wal_options.dir = tmp.Sub("wal");
  wal_options.compression = wal::PayloadCompression::kNone;
  std::shared_ptr<wal::Wal> wal = *wal::Wal::Make(wal_options);
  auto tracker =
      std::shared_ptr<wal::ReferenceTracker>(*wal::ReferenceTracker::ForWal(wal));

  observer_ = std::make_shared<PersistWriteObserver>();
  tree_ = MakeTree(observer_);
  auto handle_options = HandleOptions(job_.Fn());
  handle_options.on_persisted = testing::ReleaseTo(tracker);
  handle_ = *PersistHandle::Make(std::move(handle_options));
  PersistTriggersOptions options;
  options.tree = tree_;
  options.handle = handle_;
  options.observer = observer_;
  testing::TrackSegments(options, tracker);
  options.hot_partition_cost = 0;
  options.disk_check_interval = 0ns;
  options.rotate = [wal] { return wal->Rotate(); };
  triggers_ = *PersistTriggers::Make(std::move(options));
  auto chain = std::make_shared<wal::WalSink>(wal, tree_, tracker);

  SequenceNumber seq = 1;
  for (int i = 0; i < 10; ++i)
    PIPELINE_ASSERT_OK(WriteOne(*chain, 1 + i % 2, "k", seq++));
  // A periodic rotation in the middle, then more writes in the new segment.
  auto closed = wal->Rotate();
  ASSERT_TRUE(closed.ok());
  triggers_->OnWalRotated(*closed);
  for (int i = 0; i < 10; ++i) PIPELINE_ASSERT_OK(WriteOne(*chain, 3, "k", seq++));
  PIPELINE_ASSERT_OK(WriteOne(*chain, 3, "k", seq++, 0));  // empty, released at once

  PIPELINE_ASSERT_OK(triggers_->Drain(60s));
  EXPECT_TRUE(wal->ClosedSegmentIds().empty());
  EXPECT_TRUE(tracker->SegmentIds().empty());
  EXPECT_EQ(tracker->stats().early_releases, 0u);
  EXPECT_EQ(tree_->BufferedRows(), 0);
  std::multiset<SequenceNumber> persisted;
  for (const auto& call : job_.succeeded()) {
    persisted.insert(call.sequence_numbers.begin(), call.sequence_numbers.end());
  }
  std::multiset<SequenceNumber> expected;
  for (SequenceNumber s = 1; s < seq - 1; ++s) expected.insert(s);
  EXPECT_EQ(persisted, expected);
  // Only the open segment is left in the directory (beside the ledger).
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(wal_options.dir)) {
    if (entry.path().extension() == ".dat") ++files;
  }
  EXPECT_EQ(files, 1u);
}

// Startup as the facade does it: replay a crashed WAL into the tree (replay leaves the
// writes the tree does not hold out of the segments), open the WAL, then persist the
// replayed data and delete the replayed segments (the tracker deletes through a WAL made
// after replay).
TEST(PersistTriggersStartupTest, ReplayedDataIsPersistedAndReplayedSegmentsDeleted) {
  wal::testing::TempDir tmp;
  wal::WalOptions wal_options;
  wal_options.dir = tmp.Sub("wal");
  wal_options.compression = wal::PayloadCompression::kNone;
  {
    // First life: two segments, then a crash (no Close).
    std::shared_ptr<wal::Wal> wal = *wal::Wal::Make(wal_options);
    std::vector<PartitionWrite> writes;
    writes.push_back(MakeWrite(1, "a", 1));
    writes.push_back(MakeWrite(2, "b", 2));
    writes.push_back(MakeWrite(2, "b", 3, 0));  // no rows
    PIPELINE_ASSERT_OK(wal->Append(MakeOp(std::move(writes)), true));
    ASSERT_TRUE(wal->Rotate().ok());
    writes.clear();
    writes.push_back(MakeWrite(1, "a", 4));
    PIPELINE_ASSERT_OK(wal->Append(MakeOp(std::move(writes)), true));
  }

  std::shared_ptr<wal::Wal> wal;  // opened after replay; no deletion happens before
  wal::ReferenceTrackerOptions tracker_options;
  tracker_options.delete_segment = [&wal](wal::SegmentId id) { return wal->Delete(id); };
  std::shared_ptr<wal::ReferenceTracker> tracker =
      *wal::ReferenceTracker::Make(std::move(tracker_options));
  FakeJob job;
  auto observer = std::make_shared<PersistWriteObserver>();
  auto tree = MakeTree(observer);
  auto handle_options = HandleOptions(job.Fn());
  handle_options.on_persisted = testing::ReleaseTo(tracker);
  PersistHandle handle = *PersistHandle::Make(std::move(handle_options));
  PersistTriggersOptions options;
  options.tree = tree;
  options.handle = handle;
  options.observer = observer;
  testing::TrackSegments(options, tracker);
  options.disk_check_interval = 0ns;
  auto triggers = *PersistTriggers::Make(std::move(options));

  auto replay = wal::ReplayWal(*wal::PosixFileSystem(), wal_options.dir, *tree);
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  ASSERT_EQ(replay->segments.size(), 2u);
  EXPECT_EQ(tree->BufferedRows(), 30);
  wal = *wal::Wal::Make(wal_options);

  PIPELINE_ASSERT_OK(triggers->PersistReplayed(replay->segments, 60s));
  EXPECT_TRUE(wal->ClosedSegmentIds().empty());
  EXPECT_EQ(tree->BufferedRows(), 0);
  std::multiset<SequenceNumber> persisted;
  for (const auto& call : job.succeeded()) {
    persisted.insert(call.sequence_numbers.begin(), call.sequence_numbers.end());
  }
  EXPECT_EQ(persisted, (std::multiset<SequenceNumber>{1, 2, 4}));
  EXPECT_EQ(tracker->stats().early_releases, 0u);
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(wal_options.dir)) {
    if (entry.path().extension() == ".dat") ++files;
  }
  EXPECT_EQ(files, 1u);  // the new, open segment
  triggers->Stop();
  handle.Stop();
}

}  // namespace
}  // namespace ingester::persist
