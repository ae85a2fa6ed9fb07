#include "ingester/persist/persist_handle.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "ingester/buffer/buffer_test_util.h"
#include "ingester/common/error.h"
#include "ingester/persist/persist_core_test_util.h"
#include "ingester/persist/persist_worker_test_util.h"
#include "ingester/wal/reference_tracker.h"

namespace ingester::persist {
namespace {

using namespace std::chrono_literals;
using testing::FakeJob;
using testing::HandleOptions;
using testing::MakeOp;
using testing::MakeTree;
using testing::MakeWrite;

// Buffers one write of `rows` rows in (table, key) and returns its partition.
std::shared_ptr<PartitionData> Write(BufferTree& tree, int table, const std::string& key,
                                     SequenceNumber seq, int rows = 10) {
  std::vector<PartitionWrite> writes;
  writes.push_back(MakeWrite(table, key, seq, rows));
  EXPECT_TRUE(tree.Apply(MakeOp(std::move(writes))).ok());
  return tree.Namespace(NamespaceId(1))->Table(TableId(table))->Partition(key);
}

TEST(PersistHandleTest, OptionsAreValidated) {
  FakeJob job;
  EXPECT_FALSE(PersistHandle::Make(HandleOptions(job.Fn(), 0, 1)).ok());
  EXPECT_FALSE(PersistHandle::Make(HandleOptions(job.Fn(), 1, 0)).ok());
  EXPECT_FALSE(PersistHandle::Make(HandleOptions(nullptr)).ok());
  PersistHandle empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_FALSE(empty.MarkAndEnqueue(nullptr).ok());
}

TEST(PersistHandleTest, ClonesShareWorkersAndState) {
  FakeJob job;
  auto tree = MakeTree();
  PIPELINE_ASSIGN_OR_FAIL(PersistHandle a, PersistHandle::Make(HandleOptions(job.Fn())));
  PersistHandle b = a;  // a clone
  auto partition = Write(*tree, 1, "2024-01-01", 1);
  PIPELINE_ASSIGN_OR_FAIL(bool queued, b.MarkAndEnqueue(partition));
  EXPECT_TRUE(queued);
  EXPECT_TRUE(a.WaitIdle(30s));
  EXPECT_EQ(a.stats().enqueued, 1);
  EXPECT_EQ(a.stats().completed, 1);
  EXPECT_EQ(b.stats().completed, 1);
  EXPECT_EQ(a.WorkerFor(partition->partition_id()),
            b.WorkerFor(partition->partition_id()));
  // Stopping through one clone stops them all.
  a.Stop();
  Write(*tree, 1, "2024-01-01", 2);
  EXPECT_TRUE(b.MarkAndEnqueue(partition).status().IsCancelled());
  EXPECT_EQ(partition->Stats().buffer_rows, 10);  // not marked when stopped
}

TEST(PersistHandleTest, PersistLeavesTheBufferAndReleasesTheWal) {
  FakeJob job;
  auto tree = MakeTree();
  std::vector<wal::SegmentId> deleted;
  wal::ReferenceTrackerOptions tracker_options;
  tracker_options.delete_segment = [&](wal::SegmentId id) {
    deleted.push_back(id);
    return arrow::Status::OK();
  };
  std::shared_ptr<wal::ReferenceTracker> tracker =
      *wal::ReferenceTracker::Make(std::move(tracker_options));
  auto options = HandleOptions(job.Fn());
  options.on_persisted = testing::ReleaseTo(tracker);
  MetricsRegistry metrics;
  options.metrics = &metrics;
  PIPELINE_ASSIGN_OR_FAIL(PersistHandle handle, PersistHandle::Make(std::move(options)));

  auto partition = Write(*tree, 1, "2024-01-01", 11, 5);
  Write(*tree, 1, "2024-01-01", 12, 7);
  wal::SequenceNumberSet segment;
  segment.AddRange(11, 12);
  tracker->AddSegment(3, segment);

  std::promise<PersistCompletion> done;
  PIPELINE_ASSIGN_OR_FAIL(auto snapshot, partition->MarkPersisting());
  PIPELINE_ASSERT_OK(handle.Enqueue(
      partition, snapshot, [&](const PersistCompletion& c) { done.set_value(c); }));
  PersistCompletion c = done.get_future().get();
  ASSERT_TRUE(c.status.ok()) << c.status.ToString();
  EXPECT_EQ(c.partition_id, partition->partition_id());
  EXPECT_EQ(c.generation, 1u);
  EXPECT_EQ(c.result.output_rows, 12);
  EXPECT_EQ(c.attempts, 1);
  EXPECT_GE(c.total, c.active);
  EXPECT_EQ(partition->completed_persist_count(), 1u);
  EXPECT_EQ(partition->Rows(), 0);
  EXPECT_EQ(tree->BufferedBytes(), 0);
  EXPECT_EQ(deleted, std::vector<wal::SegmentId>{3});
  ASSERT_TRUE(handle.WaitIdle(30s));
  const std::string text = metrics.RenderText();
  EXPECT_NE(text.find("ingester_persist_jobs_total 1"), std::string::npos) << text;
  EXPECT_NE(text.find("ingester_persist_rows_total 12"), std::string::npos) << text;
  EXPECT_NE(text.find("ingester_persist_jobs_in_flight 0"), std::string::npos) << text;
}

TEST(PersistHandleTest, SamePartitionSameWorkerInOrder) {
  FakeJob job;
  auto tree = MakeTree();
  PIPELINE_ASSIGN_OR_FAIL(PersistHandle handle,
                          PersistHandle::Make(HandleOptions(job.Fn(), 4, 100)));
  constexpr int kPartitions = 24;
  constexpr int kGenerations = 3;
  SequenceNumber seq = 1;
  std::vector<std::shared_ptr<PartitionData>> partitions;
  for (int g = 0; g < kGenerations; ++g) {
    for (int p = 0; p < kPartitions; ++p) {
      auto partition =
          Write(*tree, 1 + p % 3, "2024-01-" + std::to_string(10 + p), seq++);
      if (g == 0) partitions.push_back(partition);
      PIPELINE_ASSIGN_OR_FAIL(bool queued, handle.MarkAndEnqueue(partition));
      ASSERT_TRUE(queued);
    }
  }
  ASSERT_TRUE(handle.WaitIdle(30s));
  std::map<PartitionId, std::vector<FakeJob::Call>> by_partition;
  for (auto& call : job.succeeded()) by_partition[call.partition_id].push_back(call);
  ASSERT_EQ(by_partition.size(), static_cast<size_t>(kPartitions));
  std::set<std::thread::id> threads;
  std::set<size_t> workers_used;
  for (const auto& [id, calls] : by_partition) {
    ASSERT_EQ(calls.size(), static_cast<size_t>(kGenerations));
    for (int g = 0; g < kGenerations; ++g) {
      EXPECT_EQ(calls[g].generation, static_cast<uint64_t>(g + 1)) << "partition " << id;
      EXPECT_EQ(calls[g].thread, calls[0].thread) << "partition " << id;
    }
    threads.insert(calls[0].thread);
    workers_used.insert(handle.WorkerFor(id));
  }
  // Distinct workers are distinct threads, and the hash spreads partitions.
  EXPECT_EQ(threads.size(), workers_used.size());
  EXPECT_GT(workers_used.size(), 1u);
  for (const auto& p : partitions) {
    EXPECT_EQ(p->completed_persist_count(), static_cast<uint64_t>(kGenerations));
    EXPECT_EQ(p->Rows(), 0);
  }
}

TEST(PersistHandleTest, ConcurrentMarkersOfOnePartitionStayInOrder) {
  FakeJob job;
  auto tree = MakeTree();
  PIPELINE_ASSIGN_OR_FAIL(PersistHandle handle,
                          PersistHandle::Make(HandleOptions(job.Fn(), 3, 4)));
  auto partition = Write(*tree, 1, "2024-01-01", 1);
  std::atomic<SequenceNumber> seq{2};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        Write(*tree, 1, "2024-01-01", seq.fetch_add(1));
        auto queued = handle.MarkAndEnqueue(partition, [&](const PersistCompletion& c) {
          if (!c.status.ok()) failures.fetch_add(1);
        });
        if (!queued.ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(handle.MarkAndEnqueue(partition).ok());
  ASSERT_TRUE(handle.WaitIdle(30s));
  EXPECT_EQ(failures.load(), 0);  // MarkPersisted never saw a snapshot out of order
  EXPECT_EQ(partition->Rows(), 0);
  auto calls = job.succeeded();
  for (size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(calls[i].generation, i + 1);
  EXPECT_EQ(partition->completed_persist_count(), calls.size());
}

TEST(PersistHandleTest, FullQueueBlocksEnqueueUntilAJobFinishes) {
  FakeJob job;
  job.LimitPermits(0);
  auto tree = MakeTree();
  auto state = std::make_shared<IngestState>();
  auto options = HandleOptions(job.Fn(), 1, 2);
  options.ingest_state = state;
  PIPELINE_ASSIGN_OR_FAIL(PersistHandle handle, PersistHandle::Make(std::move(options)));

  auto p1 = Write(*tree, 1, "a", 1);
  ASSERT_TRUE(*handle.MarkAndEnqueue(p1));
  ASSERT_TRUE(job.WaitStarted(1));  // job 1 runs (waiting for a permit), queue empty
  auto p2 = Write(*tree, 1, "b", 2);
  auto p3 = Write(*tree, 1, "c", 3);
  ASSERT_TRUE(*handle.MarkAndEnqueue(p2));
  ASSERT_TRUE(*handle.MarkAndEnqueue(p3));
  EXPECT_EQ(handle.QueueLength(0), 2u);
  EXPECT_TRUE(state->accepting());

  // The non-blocking variant reports the full queue and marks nothing.
  auto p4 = Write(*tree, 1, "d", 4);
  PIPELINE_ASSIGN_OR_FAIL(bool queued, handle.TryMarkAndEnqueue(p4));
  EXPECT_FALSE(queued);
  EXPECT_EQ(p4->Stats().persisting_snapshots, 0u);
  EXPECT_TRUE(state->IsSet(IngestBlock::kPersistSaturated));
  state->Clear(IngestBlock::kPersistSaturated);

  std::atomic<bool> permit_given{false};
  std::atomic<bool> returned_before_permit{false};
  std::thread producer([&] {
    auto st = handle.MarkAndEnqueue(p4);
    EXPECT_TRUE(st.ok());
    if (!permit_given.load()) returned_before_permit.store(true);
  });
  // The producer sets the saturation right before it waits for room.
  while (!state->IsSet(IngestBlock::kPersistSaturated)) std::this_thread::yield();
  EXPECT_EQ(ErrorKindOf(state->Check()), ErrorKind::kBackpressure);
  permit_given.store(true);
  job.Unlimit();
  producer.join();
  EXPECT_FALSE(returned_before_permit.load());
  ASSERT_TRUE(handle.WaitIdle(30s));
  EXPECT_EQ(job.succeeded().size(), 4u);
  EXPECT_TRUE(state->accepting());  // cleared once the queue drained
}

TEST(PersistHandleTest, SaturationClearsBelowHalfTheQueueDepth) {
  FakeJob job;
  job.LimitPermits(0);
  auto tree = MakeTree();
  auto state = std::make_shared<IngestState>();
  auto options = HandleOptions(job.Fn(), 1, 4);
  options.ingest_state = state;
  PIPELINE_ASSIGN_OR_FAIL(PersistHandle handle, PersistHandle::Make(std::move(options)));
  SequenceNumber seq = 1;
  auto enqueue = [&](const std::string& key) {
    return handle.TryMarkAndEnqueue(Write(*tree, 1, key, seq++));
  };
  ASSERT_TRUE(*enqueue("p0"));
  ASSERT_TRUE(job.WaitStarted(1));
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(*enqueue("p" + std::to_string(i)));
  ASSERT_FALSE(*enqueue("p5"));  // queue of 4 full
  EXPECT_TRUE(state->IsSet(IngestBlock::kPersistSaturated));

  // Each permit finishes one job; the worker then dequeues the next (and re-checks).
  job.AddPermits(1);
  ASSERT_TRUE(job.WaitStarted(2));
  EXPECT_EQ(handle.QueueLength(0), 3u);
  EXPECT_TRUE(state->IsSet(IngestBlock::kPersistSaturated));
  job.AddPermits(1);
  ASSERT_TRUE(job.WaitStarted(3));
  EXPECT_EQ(handle.QueueLength(0), 2u);  // half: still saturated
  EXPECT_TRUE(state->IsSet(IngestBlock::kPersistSaturated));
  job.AddPermits(1);
  ASSERT_TRUE(job.WaitStarted(4));
  EXPECT_EQ(handle.QueueLength(0), 1u);  // below half: cleared
  EXPECT_FALSE(state->IsSet(IngestBlock::kPersistSaturated));
  EXPECT_TRUE(state->Check().ok());
  job.Unlimit();
  ASSERT_TRUE(handle.WaitIdle(30s));
}

TEST(PersistHandleTest, FailedJobIsRetriedAndNotDropped) {
  FakeJob job;
  job.FailNext(3);
  auto tree = MakeTree();
  PIPELINE_ASSIGN_OR_FAIL(PersistHandle handle,
                          PersistHandle::Make(HandleOptions(job.Fn())));
  auto partition = Write(*tree, 1, "2024-01-01", 1, 9);
  std::promise<PersistCompletion> done;
  ASSERT_TRUE(*handle.MarkAndEnqueue(
      partition, [&](const PersistCompletion& c) { done.set_value(c); }));
  PersistCompletion c = done.get_future().get();
  EXPECT_TRUE(c.status.ok()) << c.status.ToString();
  EXPECT_EQ(c.attempts, 4);
  EXPECT_EQ(handle.stats().failed_attempts, 3);
  EXPECT_EQ(job.calls().size(), 4u);
  for (const auto& call : job.calls()) EXPECT_EQ(call.generation, 1u);
  EXPECT_EQ(partition->completed_persist_count(), 1u);
  EXPECT_EQ(partition->Rows(), 0);
}

TEST(PersistHandleTest, StopCancelsQueuedJobsAndKeepsTheirData) {
  FakeJob job;
  job.LimitPermits(0);
  auto tree = MakeTree();
  PIPELINE_ASSIGN_OR_FAIL(PersistHandle handle,
                          PersistHandle::Make(HandleOptions(job.Fn(), 1, 8)));
  std::atomic<int> cancelled{0};
  auto count = [&](const PersistCompletion& c) {
    if (c.status.IsCancelled()) cancelled.fetch_add(1);
  };
  auto p1 = Write(*tree, 1, "a", 1);
  auto p2 = Write(*tree, 1, "b", 2);
  ASSERT_TRUE(*handle.MarkAndEnqueue(p1, count));
  ASSERT_TRUE(job.WaitStarted(1));
  ASSERT_TRUE(*handle.MarkAndEnqueue(p2, count));
  handle.Stop();  // the running job is asked to stop; the queued one never runs
  EXPECT_EQ(cancelled.load(), 2);
  EXPECT_EQ(handle.stats().cancelled, 2);
  EXPECT_TRUE(handle.idle());
  // Nothing was dropped: both snapshots are still in their partitions.
  EXPECT_EQ(p1->Stats().persisting_rows, 10);
  EXPECT_EQ(p2->Stats().persisting_rows, 10);
  EXPECT_EQ(tree->BufferedRows(), 20);
}

TEST(PersistHandleTest, EnqueueChecksItsArguments) {
  FakeJob job;
  auto tree = MakeTree();
  PIPELINE_ASSIGN_OR_FAIL(PersistHandle handle,
                          PersistHandle::Make(HandleOptions(job.Fn())));
  auto a = Write(*tree, 1, "a", 1);
  auto b = Write(*tree, 1, "b", 2);
  PIPELINE_ASSIGN_OR_FAIL(auto snapshot_a, a->MarkPersisting());
  EXPECT_FALSE(handle.Enqueue(b, snapshot_a).ok());
  EXPECT_FALSE(handle.Enqueue(a, nullptr).ok());
  // An empty partition has nothing to persist.
  PIPELINE_ASSIGN_OR_FAIL(bool queued, handle.MarkAndEnqueue(a));
  EXPECT_FALSE(queued);
  PIPELINE_ASSERT_OK(handle.Enqueue(a, snapshot_a));
  ASSERT_TRUE(handle.WaitIdle(30s));
  EXPECT_EQ(a->completed_persist_count(), 1u);
}

// The real job (compaction, Parquet, local object store, SQLite catalog) behind the
// handle: the file lands, the catalog records it, the buffer and the WAL let go, and the
// second persist of the partition reuses the worker's cached sort key.
TEST(PersistHandleRealJobTest, PersistsThroughTheRealJob) {
  testing::CatalogWithPartition catalog;
  PIPELINE_ASSERT_OK(catalog.Init({"host"}, {"v"}));
  TempDir objects("persist-pipeline");
  ObjectStoreOptions store_options;
  store_options.url = "file://" + (objects.path() / "objects").string();
  PIPELINE_ASSIGN_OR_FAIL(auto store, ObjectStore::Make(store_options));
  PIPELINE_ASSIGN_OR_FAIL(auto executor, CompactionExecutor::Make({}));
  PersistJobContext context;
  context.catalog = catalog.catalog.get();
  context.object_store = store.get();
  context.executor = executor.get();

  std::vector<wal::SegmentId> deleted;
  wal::ReferenceTrackerOptions tracker_options;
  tracker_options.delete_segment = [&](wal::SegmentId id) {
    deleted.push_back(id);
    return arrow::Status::OK();
  };
  std::shared_ptr<wal::ReferenceTracker> tracker =
      *wal::ReferenceTracker::Make(std::move(tracker_options));
  auto options = HandleOptions(MakePersistJobFn(context), 2, 4);
  options.on_persisted = testing::ReleaseTo(tracker);
  PIPELINE_ASSIGN_OR_FAIL(PersistHandle handle, PersistHandle::Make(std::move(options)));

  auto partition = std::make_shared<PartitionData>(
      PartitionIdentity{catalog.partition.id, catalog.partition.key, catalog.ns.id,
                        DeferredLoad<std::string>::Ready(catalog.ns.name),
                        catalog.table.id,
                        DeferredLoad<std::string>::Ready(catalog.table.name)},
      MutableBufferOptions{});
  using buffer_test::BatchMaker;
  PIPELINE_ASSERT_OK(partition->BufferWrite(
      1, BatchMaker().Tag("host", {"b", "a"}).I64("v", {2, 1}).Time({20, 10}).Build()));
  PIPELINE_ASSERT_OK(partition->BufferWrite(
      2, BatchMaker().Tag("host", {"a"}).I64("v", {5}).Time({10}).Build()));
  wal::SequenceNumberSet segment;
  segment.AddRange(1, 3);
  tracker->AddSegment(1, segment);

  ASSERT_TRUE(*handle.MarkAndEnqueue(partition));
  ASSERT_TRUE(handle.WaitIdle(60s));
  EXPECT_EQ(handle.stats().completed, 1);
  EXPECT_EQ(partition->Rows(), 0);
  EXPECT_EQ(partition->completed_persist_count(), 1u);
  EXPECT_TRUE(deleted.empty());  // write 3 is still in memory

  PIPELINE_ASSIGN_OR_FAIL(auto files,
                          catalog.catalog->ListParquetFiles(catalog.partition.id));
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].row_count, 2);  // de-duplicated
  PIPELINE_ASSIGN_OR_FAIL(auto bytes, store->Get(files[0].path));
  PIPELINE_ASSIGN_OR_FAIL(auto parquet, testing::ReadParquet(bytes));
  arrow::TableBatchReader reader(*parquet.table);
  PIPELINE_ASSIGN_OR_FAIL(auto batches, reader.ToRecordBatches());
  EXPECT_EQ(buffer_test::RowStrings(batches),
            (std::vector<std::string>{"host=a v=5 time=10", "host=b v=2 time=20"}));

  // A second persist with a new tag: the sort key grows, the WAL segment goes.
  PIPELINE_ASSERT_OK(catalog.AddColumns({"dc"}, {}));
  PIPELINE_ASSERT_OK(partition->BufferWrite(
      3,
      BatchMaker().Tag("host", {"c"}).Tag("dc", {"x"}).I64("v", {7}).Time({30}).Build()));
  ASSERT_TRUE(*handle.MarkAndEnqueue(partition));
  ASSERT_TRUE(handle.WaitIdle(60s));
  EXPECT_EQ(handle.stats().completed, 2);
  EXPECT_EQ(deleted, std::vector<wal::SegmentId>{1});
  PIPELINE_ASSIGN_OR_FAIL(files, catalog.catalog->ListParquetFiles(catalog.partition.id));
  EXPECT_EQ(files.size(), 2u);
  PIPELINE_ASSIGN_OR_FAIL(auto stored,
                          catalog.catalog->GetPartition(catalog.partition.id));
  EXPECT_EQ(stored.sort_key, (std::vector<std::string>{"host", "dc", "time"}));
}

// A permanent error (the object store's directory is a regular file here) is not
// retried: the job completes at once with it, the partition is blocked (later snapshots
// are not run), and nothing is released: the data stays buffered and the WAL segment
// stays. Transient failures do not block.
TEST(PersistHandleRealJobTest, PermanentFailureIsNotRetriedAndKeepsDataAndWal) {
  testing::CatalogWithPartition catalog;
  PIPELINE_ASSERT_OK(catalog.Init({"host"}, {"v"}));
  TempDir objects("persist-pipeline");
  ObjectStoreOptions store_options;
  store_options.url = "file://" + (objects.path() / "objects").string();
  PIPELINE_ASSIGN_OR_FAIL(auto store, ObjectStore::Make(store_options));
  // Where the namespace's directory would go.
  std::ofstream(
      (objects.path() / "objects" / std::to_string(catalog.ns.id.value())).string())
      << "in the way";
  PIPELINE_ASSIGN_OR_FAIL(auto executor, CompactionExecutor::Make({}));
  PersistJobContext context;
  context.catalog = catalog.catalog.get();
  context.object_store = store.get();
  context.executor = executor.get();
  std::atomic<int> job_runs{0};
  PersistJobFn real = MakePersistJobFn(context);
  auto counting = [&](const PersistingSnapshot& s,
                      const std::optional<std::vector<std::string>>& key,
                      std::stop_token stop) {
    job_runs.fetch_add(1);
    return real(s, key, stop);
  };

  std::vector<wal::SegmentId> deleted;
  wal::ReferenceTrackerOptions tracker_options;
  tracker_options.delete_segment = [&](wal::SegmentId id) {
    deleted.push_back(id);
    return arrow::Status::OK();
  };
  std::shared_ptr<wal::ReferenceTracker> tracker =
      *wal::ReferenceTracker::Make(std::move(tracker_options));
  auto options = HandleOptions(counting, 2, 4);
  options.on_persisted = testing::ReleaseTo(tracker);
  MetricsRegistry metrics;
  options.metrics = &metrics;
  PIPELINE_ASSIGN_OR_FAIL(PersistHandle handle, PersistHandle::Make(std::move(options)));

  auto partition = std::make_shared<PartitionData>(
      PartitionIdentity{catalog.partition.id, catalog.partition.key, catalog.ns.id,
                        DeferredLoad<std::string>::Ready(catalog.ns.name),
                        catalog.table.id,
                        DeferredLoad<std::string>::Ready(catalog.table.name)},
      MutableBufferOptions{});
  using buffer_test::BatchMaker;
  PIPELINE_ASSERT_OK(partition->BufferWrite(
      1, BatchMaker().Tag("host", {"a"}).I64("v", {1}).Time({10}).Build()));
  wal::SequenceNumberSet segment;
  segment.AddRange(1, 2);
  tracker->AddSegment(1, segment);

  std::promise<PersistCompletion> first;
  ASSERT_TRUE(*handle.MarkAndEnqueue(
      partition, [&](const PersistCompletion& c) { first.set_value(c); }));
  auto future = first.get_future();
  ASSERT_EQ(future.wait_for(30s), std::future_status::ready) << "still retrying";
  PersistCompletion c = future.get();
  EXPECT_FALSE(c.status.ok());
  EXPECT_TRUE(c.permanent);
  EXPECT_EQ(c.attempts, 1);
  EXPECT_EQ(job_runs.load(), 1);

  const auto failures = handle.PermanentFailures();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].partition_id, catalog.partition.id);
  EXPECT_EQ(failures[0].reason, "not_a_directory");
  EXPECT_EQ(failures[0].generation, 1u);
  EXPECT_NE(failures[0].partition.find(catalog.partition.key), std::string::npos);
  EXPECT_FALSE(failures[0].remedy.empty());

  // A later snapshot of the blocked partition is not run (it must not overtake).
  PIPELINE_ASSERT_OK(partition->BufferWrite(
      2, BatchMaker().Tag("host", {"b"}).I64("v", {2}).Time({20}).Build()));
  std::promise<PersistCompletion> second;
  ASSERT_TRUE(*handle.MarkAndEnqueue(
      partition, [&](const PersistCompletion& c) { second.set_value(c); }));
  PersistCompletion c2 = second.get_future().get();
  EXPECT_TRUE(c2.permanent);
  EXPECT_EQ(c2.attempts, 0);
  EXPECT_EQ(job_runs.load(), 1);
  ASSERT_TRUE(handle.WaitIdle(30s));

  // Nothing dropped: both generations are buffered, the segment is kept, no file.
  EXPECT_EQ(partition->Stats().persisting_rows, 2);
  EXPECT_EQ(partition->completed_persist_count(), 0u);
  EXPECT_TRUE(deleted.empty());
  PIPELINE_ASSIGN_OR_FAIL(auto files,
                          catalog.catalog->ListParquetFiles(catalog.partition.id));
  EXPECT_TRUE(files.empty());
  EXPECT_EQ(handle.stats().permanent_failures, 1);
  EXPECT_EQ(handle.stats().blocked_partitions, 1);
  const std::string text = metrics.RenderText();
  EXPECT_NE(text.find("ingester_persist_failures_total{kind=\"permanent\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ingester_persist_failures_total{kind=\"transient\"} 0"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ingester_persist_blocked_partitions 1"), std::string::npos)
      << text;
}

TEST(PersistHandleTest, TransientFailuresAreCountedAndDoNotBlock) {
  FakeJob job;
  job.FailNext(2);  // IOError without errno: transient
  auto tree = MakeTree();
  auto options = HandleOptions(job.Fn());
  MetricsRegistry metrics;
  options.metrics = &metrics;
  PIPELINE_ASSIGN_OR_FAIL(PersistHandle handle, PersistHandle::Make(std::move(options)));
  auto partition = Write(*tree, 1, "2024-01-01", 1, 9);
  ASSERT_TRUE(*handle.MarkAndEnqueue(partition));
  ASSERT_TRUE(handle.WaitIdle(30s));
  EXPECT_EQ(partition->completed_persist_count(), 1u);
  EXPECT_TRUE(handle.PermanentFailures().empty());
  const std::string text = metrics.RenderText();
  EXPECT_NE(text.find("ingester_persist_failures_total{kind=\"transient\"} 2"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace ingester::persist
