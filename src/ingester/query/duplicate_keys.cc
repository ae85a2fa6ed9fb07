#include "ingester/query/duplicate_keys.h"

#include <arrow/array.h>
#include <arrow/type.h>

#include <algorithm>
#include <functional>
#include <string_view>
#include <utility>

#include "ingester/common/column_type.h"
#include "ingester/common/error.h"

namespace ingester::query {

namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// The primary key hash of each row of one batch.
class RowKeyHasher {
 public:
  static arrow::Result<RowKeyHasher> Make(const arrow::RecordBatch& batch) {
    RowKeyHasher hasher;
    const auto& schema = *batch.schema();
    const int time_index = schema.GetFieldIndex(std::string(kTimeColumnName));
    if (time_index < 0 ||
        schema.field(time_index)->type()->id() != arrow::Type::TIMESTAMP ||
        batch.column(time_index)->null_count() != 0) {
      return InvalidInput("a buffered batch without a non-null 'time' column");
    }
    hasher.times_ = batch.column_data(time_index)->GetValues<int64_t>(1);
    for (int i = 0; i < schema.num_fields(); ++i) {
      if (schema.field(i)->type()->id() != arrow::Type::DICTIONARY) continue;
      const auto& column = static_cast<const arrow::DictionaryArray&>(*batch.column(i));
      if (column.indices()->type_id() != arrow::Type::INT32 ||
          column.dictionary()->type_id() != arrow::Type::STRING) {
        return InvalidInput("tag column '" + schema.field(i)->name() +
                            "' is not dictionary<int32, utf8>");
      }
      Tag tag;
      const uint64_t name_hash = std::hash<std::string>{}(schema.field(i)->name());
      const auto& values = static_cast<const arrow::StringArray&>(*column.dictionary());
      tag.value_hashes.resize(values.length());
      for (int64_t v = 0; v < values.length(); ++v) {
        tag.value_hashes[v] =
            Mix(name_hash ^ Mix(std::hash<std::string_view>{}(values.GetView(v))));
      }
      const auto& indices = static_cast<const arrow::Int32Array&>(*column.indices());
      tag.indices = indices.raw_values();
      tag.indices_array = column.indices();
      hasher.tags_.push_back(std::move(tag));
    }
    return hasher;
  }

  uint64_t Key(int64_t row) const {
    uint64_t series = 0;
    for (const Tag& tag : tags_) {
      if (tag.indices_array->IsNull(row)) continue;
      const int32_t index = tag.indices[row];
      if (index < 0 || static_cast<size_t>(index) >= tag.value_hashes.size()) continue;
      series += tag.value_hashes[index];
    }
    return Mix(series ^ Mix(static_cast<uint64_t>(times_[row])));
  }

  int64_t time(int64_t row) const { return times_[row]; }

 private:
  struct Tag {
    const int32_t* indices = nullptr;
    std::shared_ptr<arrow::Array> indices_array;  // for its validity
    std::vector<uint64_t> value_hashes;
  };
  std::vector<Tag> tags_;
  const int64_t* times_ = nullptr;
};

// An open-addressing set of 64-bit keys that says whether a key was already in it.
class KeySet {
 public:
  explicit KeySet(int64_t expected) {
    size_t capacity = 16;
    while (capacity < static_cast<size_t>(expected) * 2) capacity <<= 1;
    slots_.assign(capacity, 0);
    mask_ = capacity - 1;
  }
  // False when `key` was there already.
  bool Insert(uint64_t key) {
    if (key == 0) key = 1;  // 0 marks an empty slot
    if (size_ * 2 >= slots_.size()) Grow();
    size_t i = key & mask_;
    while (slots_[i] != 0) {
      if (slots_[i] == key) return false;
      i = (i + 1) & mask_;
    }
    slots_[i] = key;
    ++size_;
    return true;
  }

 private:
  void Grow() {
    std::vector<uint64_t> old = std::move(slots_);
    slots_.assign(old.size() * 2, 0);
    mask_ = slots_.size() - 1;
    size_ = 0;
    for (uint64_t key : old) {
      if (key != 0) Insert(key);
    }
  }

  std::vector<uint64_t> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Inclusive [lo, hi] intervals.
struct Interval {
  int64_t lo;
  int64_t hi;
};

// The intervals covered by at least two of `ranges` (inclusive), sorted, disjoint.
std::vector<Interval> MultiplyCovered(std::vector<Interval> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const Interval& a, const Interval& b) { return a.lo < b.lo; });
  std::vector<Interval> hot;
  // Sweep: the furthest end seen so far; a range starting at or before it overlaps the
  // earlier ones on [its start, min(its end, that end)].
  bool any = false;
  int64_t reach = 0;
  for (const Interval& r : ranges) {
    if (any && r.lo <= reach) {
      const Interval overlap{r.lo, std::min(r.hi, reach)};
      if (!hot.empty() && overlap.lo <= hot.back().hi) {
        hot.back().hi = std::max(hot.back().hi, overlap.hi);
      } else {
        hot.push_back(overlap);
      }
    }
    reach = any ? std::max(reach, r.hi) : r.hi;
    any = true;
  }
  return hot;
}

bool InAny(const std::vector<Interval>& intervals, int64_t t) {
  // Few intervals in practice; the first with hi >= t decides.
  auto it = std::lower_bound(intervals.begin(), intervals.end(), t,
                             [](const Interval& i, int64_t v) { return i.hi < v; });
  return it != intervals.end() && it->lo <= t;
}

}  // namespace

arrow::Result<BatchKeyFacts> ComputeBatchKeyFacts(const arrow::RecordBatch& batch) {
  BatchKeyFacts facts;
  const int64_t rows = batch.num_rows();
  if (rows == 0) return facts;
  ARROW_ASSIGN_OR_RAISE(RowKeyHasher hasher, RowKeyHasher::Make(batch));
  facts.min_time = hasher.time(0);
  facts.max_time = hasher.time(0);
  KeySet seen(rows);
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t t = hasher.time(row);
    facts.min_time = std::min(facts.min_time, t);
    facts.max_time = std::max(facts.max_time, t);
    if (facts.unique_keys && !seen.Insert(hasher.Key(row))) facts.unique_keys = false;
  }
  return facts;
}

arrow::Result<BatchKeyFacts> BatchKeyFactsCache::Get(
    const std::shared_ptr<arrow::RecordBatch>& batch) {
  {
    MutexLock lock(&mu_);
    auto it = entries_.find(batch.get());
    if (it != entries_.end()) {
      if (it->second.batch.lock() == batch) return it->second.facts;
      entries_.erase(it);  // a dead batch's address, reused
    }
  }
  ARROW_ASSIGN_OR_RAISE(BatchKeyFacts facts, ComputeBatchKeyFacts(*batch));
  MutexLock lock(&mu_);
  if (entries_.size() >= purge_at_) {
    std::erase_if(entries_, [](const auto& e) { return e.second.batch.expired(); });
    purge_at_ = std::max<size_t>(1024, entries_.size() * 2);
  }
  entries_[batch.get()] = Entry{batch, facts};
  return facts;
}

size_t BatchKeyFactsCache::TEST_size() const {
  MutexLock lock(&mu_);
  return entries_.size();
}

arrow::Result<bool> MayHaveDuplicateKeys(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
    BatchKeyFactsCache* cache) {
  std::vector<Interval> ranges;
  std::vector<const std::shared_ptr<arrow::RecordBatch>*> live;
  for (const auto& batch : batches) {
    if (batch->num_rows() == 0) continue;
    BatchKeyFacts facts;
    if (cache != nullptr) {
      ARROW_ASSIGN_OR_RAISE(facts, cache->Get(batch));
    } else {
      ARROW_ASSIGN_OR_RAISE(facts, ComputeBatchKeyFacts(*batch));
    }
    if (!facts.unique_keys) return true;
    ranges.push_back({facts.min_time, facts.max_time});
    live.push_back(&batch);
  }
  if (live.size() < 2) return false;
  std::vector<Interval> by_batch = ranges;
  const std::vector<Interval> hot = MultiplyCovered(std::move(ranges));
  if (hot.empty()) return false;
  KeySet seen(1024);
  for (size_t b = 0; b < live.size(); ++b) {
    const Interval range = by_batch[b];
    auto first = std::lower_bound(hot.begin(), hot.end(), range.lo,
                                  [](const Interval& i, int64_t v) { return i.hi < v; });
    if (first == hot.end() || first->lo > range.hi) continue;  // touches no hot interval
    const arrow::RecordBatch& batch = **live[b];
    ARROW_ASSIGN_OR_RAISE(RowKeyHasher hasher, RowKeyHasher::Make(batch));
    for (int64_t row = 0; row < batch.num_rows(); ++row) {
      if (!InAny(hot, hasher.time(row))) continue;
      if (!seen.Insert(hasher.Key(row))) return true;
    }
  }
  return false;
}

}  // namespace ingester::query
