// Writers, WAL rotations, hot-partition and memory triggers and persists all at once, on
// a real WAL: every write must be persisted exactly once and every closed segment
// deleted, whatever the interleaving.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "ingester/dml/timestamp_oracle.h"
#include "ingester/persist/persist_triggers.h"
#include "ingester/persist/persist_worker_test_util.h"
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

TEST(PersistPipelineStressTest, EveryWriteIsPersistedOnceAndEverySegmentDeleted) {
  constexpr int kWriters = 4;
  constexpr int kOpsPerWriter = 500;
  wal::testing::TempDir tmp;
  wal::WalOptions wal_options;
  wal_options.dir = tmp.Sub("wal");
  wal_options.compression = wal::PayloadCompression::kNone;
  std::shared_ptr<wal::Wal> wal = *wal::Wal::Make(wal_options);
  MetricsRegistry metrics;
  std::shared_ptr<wal::ReferenceTracker> tracker =
      *wal::ReferenceTracker::ForWal(wal, &metrics);
  auto state = std::make_shared<IngestState>(&metrics);

  FakeJob job;
  auto observer = std::make_shared<PersistWriteObserver>();
  auto tree = MakeTree(observer);
  // Small queues, so that backpressure and saturation happen.
  auto handle_options = HandleOptions(job.Fn(), 3, 2);
  handle_options.on_persisted = testing::ReleaseTo(tracker);
  handle_options.ingest_state = state;
  handle_options.metrics = &metrics;
  PersistHandle handle = *PersistHandle::Make(std::move(handle_options));

  // A partition's buffer after one 5-row write, to size the hot-partition cost at about
  // four writes.
  int64_t one_write = 0;
  {
    auto scratch = MakeTree();
    std::vector<PartitionWrite> w;
    w.push_back(MakeWrite(1, "k", 1, 5));
    ASSERT_TRUE(scratch->Apply(MakeOp(std::move(w))).ok());
    one_write = scratch->BufferedBytes();
  }
  PersistTriggersOptions options;
  options.tree = tree;
  options.handle = handle;
  options.observer = observer;
  testing::TrackSegments(options, tracker);
  options.ingest_state = state;
  options.metrics = &metrics;
  options.hot_partition_cost = 4 * one_write;
  options.max_buffer_bytes = 30 * one_write;
  options.memory_check_min_interval = 0ns;
  options.disk_check_interval = 0ns;
  options.rotate = [wal] { return wal->Rotate(); };
  std::unique_ptr<PersistTriggers> triggers = *PersistTriggers::Make(std::move(options));

  auto chain = std::make_shared<wal::WalSink>(wal, tree, tracker);
  TimestampOracle oracle;
  std::atomic<int64_t> ops_done{0};
  // ops_done when the rotator last rotated. Writers wait while they are 20 ops ahead of
  // it, so that rotations interleave with the writes however the threads are scheduled
  // (on a loaded machine the rotator could otherwise sleep through them all).
  std::atomic<int64_t> rotated_at{0};
  std::atomic<bool> rotator_stopped{false};
  std::atomic<bool> writers_done{false};
  // Sequence numbers of the writes that carried rows, per writer (no lock needed).
  std::vector<std::vector<SequenceNumber>> written(kWriters);

  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 rng(1000 + w);
      for (int i = 0; i < kOpsPerWriter; ++i) {
        const int n = 1 + static_cast<int>(rng() % 3);
        const SequenceNumber first = oracle.Next(n);
        std::vector<PartitionWrite> writes;
        for (int k = 0; k < n; ++k) {
          const int table = 1 + static_cast<int>(rng() % 3);
          const std::string key = "2024-01-0" + std::to_string(1 + rng() % 4);
          const int rows = rng() % 10 == 0 ? 0 : 5;  // some writes carry no rows
          writes.push_back(MakeWrite(table, key, first + k, rows));
          if (rows > 0) written[w].push_back(first + k);
        }
        const arrow::Status st =
            chain->Apply(MakeOp(std::move(writes)), {.no_sync = true});
        ASSERT_TRUE(st.ok()) << st.ToString();
        const int64_t done = ops_done.fetch_add(1) + 1;
        while (done - rotated_at.load() >= 20 && !rotator_stopped.load()) {
          std::this_thread::yield();
        }
      }
    });
  }
  // Rotations interleave with the writes: one every 10 to 20 ops.
  std::thread rotator([&] {
    while (!writers_done.load()) {
      const int64_t now = ops_done.load();
      if (now - rotated_at.load() < 10) {
        std::this_thread::yield();
        continue;
      }
      auto closed = wal->Rotate();
      if (!closed.ok()) {
        ADD_FAILURE() << closed.status().ToString();
        break;
      }
      triggers->OnWalRotated(std::move(*closed));
      rotated_at.store(now);
    }
    rotator_stopped.store(true);
  });
  for (auto& t : threads) t.join();
  writers_done.store(true);
  rotator.join();

  // Shutdown: writes are over; persist the rest and wait for the WAL to empty.
  const arrow::Status drained = triggers->Drain(120s);
  ASSERT_TRUE(drained.ok()) << drained.ToString();

  std::map<SequenceNumber, int> persisted;
  for (const auto& call : job.succeeded()) {
    for (SequenceNumber s : call.sequence_numbers) ++persisted[s];
  }
  size_t expected = 0;
  for (const auto& seqs : written) {
    expected += seqs.size();
    for (SequenceNumber s : seqs) {
      ASSERT_EQ(persisted[s], 1) << "sequence number " << s;
    }
  }
  EXPECT_EQ(persisted.size(), expected);  // and nothing that was not written
  EXPECT_TRUE(wal->ClosedSegmentIds().empty());
  const auto stats = tracker->stats();
  EXPECT_EQ(stats.segments, 0u);
  EXPECT_EQ(stats.referenced, 0u);
  EXPECT_EQ(stats.early_releases, 0u);
  EXPECT_GE(stats.deleted, 5);
  EXPECT_EQ(tree->BufferedRows(), 0);
  EXPECT_TRUE(handle.idle());
  EXPECT_TRUE(state->accepting());
  const auto trigger_stats = triggers->stats();
  EXPECT_GT(trigger_stats.hot_partitions, 0);
  EXPECT_GE(trigger_stats.rotations, 5);
  std::cerr << "persists: " << handle.stats().completed
            << ", hot: " << trigger_stats.hot_partitions
            << " (skipped on a full queue: " << trigger_stats.hot_skipped_full
            << "), memory passes: " << trigger_stats.memory_passes
            << ", rotations: " << trigger_stats.rotations
            << ", segments deleted: " << stats.deleted << "\n";
  triggers->Stop();
  handle.Stop();
}

}  // namespace
}  // namespace ingester::persist
