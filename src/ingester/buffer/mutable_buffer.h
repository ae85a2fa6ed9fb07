// The mutable part of a partition: the rows written since the partition last moved its
// buffer into the persist queue.
//
// Design: large writes are kept as they come (zero-copy); small writes are copied into
// Arrow builders.
//
//   entries_: [ batch ][ batch ][ batch ] ... [ staging: builders ]
//               kept as written, or sealed      small writes appended here, sealed into
//               from the staging builders       an entry at staging_seal_rows, when
//                                               a large write arrives, or on Snapshot()
//
// A write reaches us already in Arrow layout: tags dictionary-encoded, fields in their
// final types, built by the line protocol parser or decoded from the WAL. For a large
// batch (>= `small_batch_rows`, e.g. the 5,000-row batches of a bulk loader), copying it
// into builders would cost a hash lookup per tag value and a copy per value on the hot
// path and buy only one dictionary per column, so the batch itself is kept: the append is
// O(columns). The memory held is then exactly the batch's Arrow size, with one exception:
// a batch whose buffers are more than `max_slack_ratio` times the bytes it references
// (and over 64 KiB), i.e. a slice pinning a larger parent, is copied compactly.
//
// A small batch (one line per HTTP request) kept as is would cost a RecordBatch of
// small allocations per write, so it is appended into per-column builders instead
// (dictionary builders for tags: one dictionary memo across all the small writes, no
// re-unification): O(rows x columns) with a memo lookup per tag value, no per-write
// allocation once the builders have grown. Rows are presented in append order because
// the staging is sealed before a large batch is kept after it.
//
// Snapshot() seals the staging, so frequent queries can leave small sealed batches:
// runs of them are compacted (arrow::Concatenate, which in Arrow 26 unifies differing
// dictionaries and transposes indices) in size tiers: when `compaction_fan_in`
// consecutive small batches of the same tier (rows in [F^k, F^(k+1))) end the buffer,
// they become one of the next tier; past `max_small_batches` small batches the whole
// small tail is merged. A row is copied about log_F(small_batch_rows) times at worst.
//
// Snapshot() returns the batches under ONE schema (the buffer's current canonical
// schema, column_set.h), with tag dictionaries that may differ per batch: the Arrow IPC
// stream format (Flight) and arrow::Concatenate both handle that.
//
// Row order is append order; nothing here sorts or de-duplicates (persist does).
//
// Not thread-safe: the owning PartitionData serialises every call under its lock.
// Batches handed out by Snapshot() are immutable and stay valid after any later call.
#pragma once

#include <arrow/array/builder_base.h>
#include <arrow/memory_pool.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "ingester/buffer/column_set.h"

namespace ingester {

struct MutableBufferOptions {
  // Writes with fewer rows are copied into the staging builders; larger ones are kept as
  // they are. Sealed batches with fewer rows are candidates for compaction.
  int64_t small_batch_rows = 1024;
  // The staging is sealed into one batch at this many rows. Larger sealed batches carry
  // their tag dictionaries over more rows (a 1,000-host dictionary costs 16 bytes per
  // row at 1,024 rows, 2 at 8,192).
  int64_t staging_seal_rows = 8192;
  // Small batches merged at a time (F above).
  int compaction_fan_in = 4;
  // Bound on the number of small batches held; past it the whole small tail is merged.
  int max_small_batches = 16;
  // An appended batch whose buffers exceed this many times the bytes it references (and
  // by over 64 KiB) is copied so that it does not pin its parent's memory.
  double max_slack_ratio = 2.0;
  arrow::MemoryPool* pool = arrow::default_memory_pool();

  arrow::Status Validate() const;
};

class MutableBuffer {
 public:
  // `options` must be valid (Validate()); the tree checks once for all buffers.
  explicit MutableBuffer(const MutableBufferOptions& options = {});
  ~MutableBuffer();

  // Adds the rows of `batch`. The batch must follow the data model (see
  // ColumnSet::Check): InvalidInput for an unsupported type, a missing or null-bearing
  // `time`, columns that do not match the schema; Conflict when a column's type differs
  // from the one buffered. On error the buffered rows are unchanged. A batch with no rows
  // is accepted and ignored.
  arrow::Status Append(const std::shared_ptr<arrow::RecordBatch>& batch);

  // The buffered rows in append order, every batch under schema(). Seals the staged
  // small writes; otherwise O(batches), plus O(batches x columns) once after each schema
  // change; kept batches are not copied.
  arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> Snapshot();

  // The canonical schema of everything appended; the same object until a write brings a
  // new column.
  const std::shared_ptr<arrow::Schema>& schema() const { return columns_.schema(); }
  int64_t Rows() const { return rows_; }
  // Bytes of the Arrow buffers the buffer keeps alive; staged small writes are counted
  // at the size they were written with until sealed (shared all-null columns used for
  // schema evolution are not counted: one per type per buffer).
  int64_t BufferedBytes() const { return bytes_; }
  bool empty() const { return rows_ == 0; }
  // Range of `time` over the rows; meaningless when empty().
  int64_t min_time() const { return min_time_; }
  int64_t max_time() const { return max_time_; }
  // Sealed batches, plus one if small writes are staged.
  size_t num_batches() const { return entries_.size() + (staging_.rows > 0 ? 1 : 0); }
  uint64_t TEST_compactions() const { return compactions_; }

 private:
  struct Entry {
    std::shared_ptr<arrow::RecordBatch> batch;  // as appended, sealed or compacted
    int64_t bytes = 0;
    // `batch` under the schema object it was last conformed to; redone lazily when the
    // ColumnSet's schema changes.
    std::shared_ptr<arrow::RecordBatch> conformed;
  };
  // Small writes being copied into builders, one per column of `schema`, in its order.
  struct Staging {
    std::shared_ptr<arrow::Schema> schema;
    std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders;
    int64_t rows = 0;
    int64_t bytes = 0;  // of the batches staged, as written
  };

  arrow::Status CheckBatch(const arrow::RecordBatch& batch);
  bool IsSmall(const Entry& e) const {
    return e.batch->num_rows() < options_.small_batch_rows;
  }
  int Tier(int64_t rows) const;
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Conformed(Entry* entry);
  void PushEntry(std::shared_ptr<arrow::RecordBatch> batch, int64_t bytes);
  // Makes the staging builders follow the current schema (new columns null-filled).
  arrow::Status SyncStaging();
  arrow::Status Stage(const arrow::RecordBatch& batch);
  // Moves the staged rows into an entry.
  arrow::Status Seal();
  // Merges entries [first, end) into one.
  arrow::Status MergeTail(size_t first);
  void MaybeCompact();

  const MutableBufferOptions options_;
  ColumnSet columns_;
  // The last batch schema that passed ColumnSet::Check: an equal schema needs no new
  // check, since columns never change type.
  std::shared_ptr<arrow::Schema> checked_schema_;
  NullArrayCache nulls_;
  std::vector<Entry> entries_;
  Staging staging_;
  int64_t rows_ = 0;
  int64_t bytes_ = 0;
  int64_t min_time_ = std::numeric_limits<int64_t>::max();
  int64_t max_time_ = std::numeric_limits<int64_t>::min();
  uint64_t compactions_ = 0;
};

}  // namespace ingester
