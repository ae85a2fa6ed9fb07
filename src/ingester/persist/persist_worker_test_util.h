// Test helpers of the persist pipeline (handle, workers, triggers): a buffer tree over an
// in-memory partition provider, write ops for chosen tables and partitions, and a
// controllable persist job that records what it persisted. Test only.
#pragma once

#include <arrow/record_batch.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ingester/buffer/buffer_tree.h"
#include "ingester/common/thread_annotations.h"
#include "ingester/persist/persist_handle.h"
#include "ingester/persist/persist_triggers.h"
#include "ingester/wal/reference_tracker.h"
#include "ingester/wal/wal_test_util.h"

namespace ingester::persist::testing {

using namespace std::chrono_literals;

// The wiring's segment hooks of the triggers, over `tracker` (as the Ingester wires
// them): closed segments are added to it, and the drain waits for it to empty.
inline void TrackSegments(PersistTriggersOptions& options,
                          std::shared_ptr<wal::ReferenceTracker> tracker) {
  options.segment_closed = [tracker](const wal::ClosedSegment& segment) {
    tracker->AddSegment(segment);
  };
  options.wait_segments_deleted = [tracker](std::chrono::nanoseconds timeout) {
    if (tracker->WaitUntilEmpty(timeout)) return arrow::Status::OK();
    const auto s = tracker->stats();
    return arrow::Status::IOError(s.segments, " WAL segments not deleted (", s.referenced,
                                  " writes still referenced)");
  };
}

// The wiring's completion callback: persisted numbers are released in `tracker`.
inline PersistedCallback ReleaseTo(std::shared_ptr<wal::ReferenceTracker> tracker) {
  return [tracker = std::move(tracker)](const std::vector<SequenceNumber>& numbers) {
    tracker->Release(numbers);
  };
}

// Ids for (table, key): 1, 2, 3, ... in order of first request. Thread-safe.
class MemoryPartitionProvider final : public PartitionProvider {
 public:
  arrow::Result<PartitionId> GetOrCreatePartitionId(TableId table,
                                                    std::string_view key) override {
    MutexLock lock(&mu_);
    auto [it, fresh] = ids_.try_emplace({table.value(), std::string(key)}, 0);
    if (fresh) it->second = static_cast<int64_t>(ids_.size());
    return PartitionId(it->second);
  }

 private:
  Mutex mu_;
  std::map<std::pair<int64_t, std::string>, int64_t> ids_ GUARDED_BY(mu_);
};

inline std::shared_ptr<BufferTree> MakeTree(
    std::shared_ptr<PostWriteObserver> observer = nullptr) {
  BufferTreeOptions options;
  options.partition_provider = std::make_shared<MemoryPartitionProvider>();
  options.post_write_observer = std::move(observer);
  auto tree = BufferTree::Make(std::move(options));
  EXPECT_TRUE(tree.ok()) << tree.status().ToString();
  return tree.ok() ? std::shared_ptr<BufferTree>(std::move(*tree)) : nullptr;
}

// One write of `rows` TSBS cpu rows to table `table` ("t<table>"), partition `key`.
inline PartitionWrite MakeWrite(int table, const std::string& key, SequenceNumber seq,
                                int rows = 10) {
  PartitionWrite w;
  w.table_id = TableId(table);
  w.table_name = "t" + std::to_string(table);
  w.partition_key = key;
  w.sequence_number = seq;
  w.batch = wal::testing::MakeCpuBatch(rows, static_cast<int>(seq % 1000));
  return w;
}

inline WriteOp MakeOp(std::vector<PartitionWrite> writes) {
  WriteOp op;
  op.namespace_id = NamespaceId(1);
  op.namespace_name = "ns";
  op.writes = std::move(writes);
  return op;
}

// A persist job that records every snapshot it is given (partition, generation,
// sequence numbers, thread) and can be made to fail, to wait for permits, or both.
// Thread-safe.
class FakeJob {
 public:
  struct Call {
    PartitionId partition_id;
    uint64_t generation = 0;
    std::vector<SequenceNumber> sequence_numbers;
    int64_t rows = 0;
    std::thread::id thread;
    bool succeeded = false;
  };

  // Each run takes one permit, waiting for it unless the handle stops; unlimited until
  // LimitPermits() is called.
  void LimitPermits(int permits = 0) {
    std::lock_guard<std::mutex> lock(mu_);
    limited_ = true;
    permits_ = permits;
  }
  void AddPermits(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    permits_ += n;
    cv_.notify_all();
  }
  void Unlimit() {
    std::lock_guard<std::mutex> lock(mu_);
    limited_ = false;
    cv_.notify_all();
  }
  // The next `n` runs fail (after taking their permits).
  void FailNext(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_ = n;
  }

  PersistJobFn Fn() {
    return [this](const PersistingSnapshot& s,
                  const std::optional<std::vector<std::string>>&,
                  std::stop_token stop) -> arrow::Result<PersistJobResult> {
      std::unique_lock<std::mutex> lock(mu_);
      ++started_;
      cv_.notify_all();
      std::condition_variable_any& cv = cv_;
      if (!cv.wait(lock, stop, [&] { return !limited_ || permits_ > 0; })) {
        return arrow::Status::Cancelled("stopped while waiting for a permit");
      }
      if (limited_) --permits_;
      Call call{s.partition_id,
                s.generation,
                s.sequence_numbers,
                s.rows,
                std::this_thread::get_id(),
                false};
      if (fail_next_ > 0) {
        --fail_next_;
        calls_.push_back(std::move(call));
        cv_.notify_all();
        return arrow::Status::IOError("injected persist failure");
      }
      call.succeeded = true;
      calls_.push_back(std::move(call));
      cv_.notify_all();
      PersistJobResult r;
      r.input_rows = s.rows;
      r.output_rows = s.rows;
      r.file_bytes = s.rows * 10;
      r.file.partition_id = s.partition_id;
      r.file.row_count = s.rows;
      r.file.path = "fake/" + std::to_string(s.partition_id.value()) + "/" +
                    std::to_string(s.generation) + ".parquet";
      r.sort_key = {"hostname", "time"};
      return r;
    };
  }

  // Waits (bounded, so a broken pipeline fails instead of hanging) until `n` runs have
  // started (taken or waiting for a permit).
  bool WaitStarted(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 30s, [&] { return started_ >= n; });
  }
  int started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }
  std::vector<Call> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::vector<Call> succeeded() {
    std::vector<Call> out;
    for (auto& c : calls()) {
      if (c.succeeded) out.push_back(std::move(c));
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool limited_ = false;
  int permits_ = 0;
  int fail_next_ = 0;
  int started_ = 0;
  std::vector<Call> calls_;
};

// Handle options with `job`, short retry delays and the given shape.
inline PersistHandleOptions HandleOptions(PersistJobFn job, size_t workers = 2,
                                          size_t depth = 8) {
  PersistHandleOptions o;
  o.workers = workers;
  o.queue_depth = depth;
  o.job = std::move(job);
  o.retry.initial_delay = std::chrono::milliseconds(1);
  o.retry.max_delay = std::chrono::milliseconds(5);
  return o;
}

#define PIPELINE_ASSIGN_OR_FAIL(lhs, rexpr) \
  PIPELINE_ASSIGN_OR_FAIL_IMPL(ARROW_ASSIGN_OR_RAISE_NAME(_res, __COUNTER__), lhs, rexpr)
#define PIPELINE_ASSIGN_OR_FAIL_IMPL(res, lhs, rexpr)                 \
  auto res = (rexpr);                                                 \
  ASSERT_TRUE(res.ok()) << #rexpr << ": " << res.status().ToString(); \
  lhs = std::move(res).ValueUnsafe()

#define PIPELINE_ASSERT_OK(expr)                              \
  do {                                                        \
    const ::arrow::Status _st = (expr);                       \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (false)

}  // namespace ingester::persist::testing
