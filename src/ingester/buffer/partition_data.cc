#include "ingester/buffer/partition_data.h"

#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "ingester/buffer/column_set.h"
#include "ingester/common/uuid.h"

namespace ingester {

PartitionData::PartitionData(PartitionIdentity identity,
                             const MutableBufferOptions& options,
                             std::shared_ptr<BufferTotals> totals)
    : identity_(std::move(identity)),
      options_(options),
      totals_(std::move(totals)),
      buffer_(std::make_unique<MutableBuffer>(options_)) {}

PartitionData::~PartitionData() {
  MutexLock lock(&mu_);
  UpdateTotals(StatsLocked(), PartitionStats{});
}

PartitionStats PartitionData::StatsLocked() const {
  PartitionStats s;
  s.buffer_rows = buffer_->Rows();
  s.buffer_bytes = buffer_->BufferedBytes();
  s.persisting_rows = persisting_rows_;
  s.persisting_bytes = persisting_bytes_;
  s.persisting_snapshots = persisting_.size();
  s.completed_persists = completed_persists_;
  return s;
}

void PartitionData::UpdateTotals(const PartitionStats& before,
                                 const PartitionStats& after) {
  if (totals_ == nullptr) return;
  if (int64_t d = after.bytes() - before.bytes(); d != 0) {
    totals_->bytes.fetch_add(d, std::memory_order_relaxed);
  }
  if (int64_t d = after.rows() - before.rows(); d != 0) {
    totals_->rows.fetch_add(d, std::memory_order_relaxed);
  }
}

arrow::Status PartitionData::BufferWrite(SequenceNumber sequence_number,
                                         const std::shared_ptr<arrow::RecordBatch>& batch,
                                         PartitionStats* stats_after) {
  MutexLock lock(&mu_);
  const PartitionStats before = StatsLocked();
  ARROW_RETURN_NOT_OK(buffer_->Append(batch));
  if (batch->num_rows() > 0) buffer_sequence_numbers_.push_back(sequence_number);
  const PartitionStats after = StatsLocked();
  UpdateTotals(before, after);
  if (stats_after != nullptr) *stats_after = after;
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<const PersistingSnapshot>> PartitionData::MarkPersisting() {
  MutexLock lock(&mu_);
  if (buffer_->empty()) return nullptr;
  auto snapshot = std::make_shared<PersistingSnapshot>();
  // The only fallible step comes first, so that an error leaves the buffer in place.
  // It seals staged small writes, which refines the buffer's byte count.
  const PartitionStats before = StatsLocked();
  auto batches = buffer_->Snapshot();
  UpdateTotals(before, StatsLocked());
  ARROW_RETURN_NOT_OK(batches.status());
  snapshot->batches = *std::move(batches);
  snapshot->generation = ++last_generation_;
  snapshot->object_store_id = GenerateUuidV4();
  snapshot->partition_id = identity_.partition_id;
  snapshot->partition_key = identity_.partition_key;
  snapshot->namespace_id = identity_.namespace_id;
  snapshot->table_id = identity_.table_id;
  snapshot->namespace_name = identity_.namespace_name;
  snapshot->table_name = identity_.table_name;
  snapshot->schema = buffer_->schema();
  snapshot->rows = buffer_->Rows();
  snapshot->bytes = buffer_->BufferedBytes();
  snapshot->min_time = buffer_->min_time();
  snapshot->max_time = buffer_->max_time();
  auto& seqs = buffer_sequence_numbers_;
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  snapshot->sequence_numbers = std::move(seqs);
  seqs.clear();

  // Bytes and rows move from buffer to queue: the totals do not change.
  persisting_rows_ += snapshot->rows;
  persisting_bytes_ += snapshot->bytes;
  persisting_.push_back(snapshot);
  buffer_ = std::make_unique<MutableBuffer>(options_);
  return snapshot;
}

arrow::Result<std::vector<SequenceNumber>> PartitionData::MarkPersisted(
    const std::shared_ptr<const PersistingSnapshot>& snapshot) {
  if (snapshot == nullptr) return arrow::Status::Invalid("MarkPersisted(null)");
  MutexLock lock(&mu_);
  if (persisting_.empty() || persisting_.front() != snapshot) {
    const bool queued =
        std::find(persisting_.begin(), persisting_.end(), snapshot) != persisting_.end();
    if (queued) {
      return arrow::Status::Invalid(
          "persist of generation ", snapshot->generation, " of partition ",
          identity_.partition_id.value(), " completed before generation ",
          persisting_.front()->generation, ": persists must complete in order");
    }
    return arrow::Status::Invalid("snapshot generation ", snapshot->generation,
                                  " is not persisting in partition ",
                                  identity_.partition_id.value());
  }
  const PartitionStats before = StatsLocked();
  persisting_.pop_front();
  persisting_rows_ -= snapshot->rows;
  persisting_bytes_ -= snapshot->bytes;
  ++completed_persists_;
  UpdateTotals(before, StatsLocked());
  return snapshot->sequence_numbers;
}

arrow::Result<PartitionQueryData> PartitionData::QueryData() {
  PartitionQueryData out;
  out.partition_id = identity_.partition_id;
  out.partition_key = identity_.partition_key;
  std::vector<std::shared_ptr<arrow::Schema>> schemas;
  int64_t lo = std::numeric_limits<int64_t>::max();
  int64_t hi = std::numeric_limits<int64_t>::min();
  {
    MutexLock lock(&mu_);
    out.completed_persist_count = completed_persists_;
    size_t count = 0;
    for (const auto& s : persisting_) count += s->batches.size();
    out.batches.reserve(count + buffer_->num_batches());
    for (const auto& s : persisting_) {
      out.persisting_object_store_ids.push_back(s->object_store_id);
      out.batches.insert(out.batches.end(), s->batches.begin(), s->batches.end());
      schemas.push_back(s->schema);
      out.rows += s->rows;
      lo = std::min(lo, s->min_time);
      hi = std::max(hi, s->max_time);
    }
    if (!buffer_->empty()) {
      const PartitionStats before = StatsLocked();
      auto snapshot = buffer_->Snapshot();  // seals staged writes: bytes are refined
      UpdateTotals(before, StatsLocked());
      ARROW_ASSIGN_OR_RAISE(auto batches, std::move(snapshot));
      out.batches.insert(out.batches.end(), batches.begin(), batches.end());
      schemas.push_back(buffer_->schema());
      out.rows += buffer_->Rows();
      lo = std::min(lo, buffer_->min_time());
      hi = std::max(hi, buffer_->max_time());
    }
  }
  if (out.rows > 0) {
    out.min_time = lo;
    out.max_time = hi;
  }
  ARROW_ASSIGN_OR_RAISE(out.schema, MergeSchemas(schemas));
  return out;
}

std::vector<std::shared_ptr<const PersistingSnapshot>>
PartitionData::PersistingSnapshots() const {
  MutexLock lock(&mu_);
  return {persisting_.begin(), persisting_.end()};
}

PartitionStats PartitionData::Stats() const {
  MutexLock lock(&mu_);
  return StatsLocked();
}

uint64_t PartitionData::completed_persist_count() const {
  MutexLock lock(&mu_);
  return completed_persists_;
}

std::vector<SequenceNumber> PartitionData::SequenceNumbers() const {
  std::vector<SequenceNumber> out;
  {
    MutexLock lock(&mu_);
    for (const auto& s : persisting_) {
      out.insert(out.end(), s->sequence_numbers.begin(), s->sequence_numbers.end());
    }
    out.insert(out.end(), buffer_sequence_numbers_.begin(),
               buffer_sequence_numbers_.end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace ingester
