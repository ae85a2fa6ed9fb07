#include "ingester/persist/compaction_sort.h"

#include <arrow/api.h>
#include <arrow/compute/api_vector.h>

#include <algorithm>
#include <bit>
#include <string_view>
#include <unordered_map>

#include "ingester/common/column_type.h"
#include "ingester/common/thread_annotations.h"

namespace ingester::persist::compaction_internal {

namespace {

// A minimal open-addressing map from series key to dense id (keys are arbitrary 64-bit
// values; the table doubles at half load). Not thread-safe.
class SeriesIds {
 public:
  uint32_t GetOrInsert(uint64_t key) {
    if (2 * (keys_.size() + 1) > slots_.size()) Grow();
    size_t slot = Hash(key);
    while (true) {
      const uint32_t id = slots_[slot];
      if (id == kEmpty) {
        slots_[slot] = static_cast<uint32_t>(keys_.size());
        keys_.push_back(key);
        return slots_[slot];
      }
      if (keys_[id] == key) return id;
      slot = (slot + 1) & (slots_.size() - 1);
    }
  }
  const std::vector<uint64_t>& keys() const { return keys_; }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  size_t Hash(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> (64 - bits_));
  }
  void Grow() {
    bits_ = slots_.empty() ? 10 : bits_ + 1;
    slots_.assign(size_t{1} << bits_, kEmpty);
    for (uint32_t id = 0; id < keys_.size(); ++id) {
      size_t slot = Hash(keys_[id]);
      while (slots_[slot] != kEmpty) slot = (slot + 1) & (slots_.size() - 1);
      slots_[slot] = id;
    }
  }

  int bits_ = 0;
  std::vector<uint32_t> slots_;
  std::vector<uint64_t> keys_;
};

const arrow::DictionaryArray& DictionaryColumn(const arrow::RecordBatch& batch,
                                               int column) {
  return static_cast<const arrow::DictionaryArray&>(*batch.column(column));
}

const arrow::Int32Array& Indices(const arrow::DictionaryArray& dict) {
  return static_cast<const arrow::Int32Array&>(*dict.indices());
}

}  // namespace

TaskPool::TaskPool(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

TaskPool::~TaskPool() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  ready_.NotifyAll();
  for (auto& thread : threads_) thread.join();
}

void TaskPool::Submit(std::function<void()> task) {
  {
    MutexLock lock(&mu_);
    tasks_.push_back(std::move(task));
  }
  ready_.NotifyOne();
}

void TaskPool::Loop() {
  while (true) {
    std::function<void()> task;
    {
      MutexLock lock(&mu_);
      ready_.Wait(&mu_, [this]() REQUIRES(mu_) { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and everything queued has run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

TaskPool* HelperPool() {
  static TaskPool* const pool =
      new TaskPool(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return pool;
}

arrow::Status ParallelFor(bool use_threads, int n,
                          const std::function<arrow::Status(int)>& fn, TaskPool* pool) {
  if (!use_threads || n == 0 || (n == 1 && pool == nullptr)) {
    for (int i = 0; i < n; ++i) ARROW_RETURN_NOT_OK(fn(i));
    return arrow::Status::OK();
  }
  if (pool == nullptr) pool = HelperPool();
  struct State {
    Mutex mu;
    CondVar done;
    int pending GUARDED_BY(mu) = 0;
    arrow::Status first_error GUARDED_BY(mu);
  };
  State state;
  {
    MutexLock lock(&state.mu);
    state.pending = n;
  }
  for (int i = 0; i < n; ++i) {
    // `state` and `fn` outlive the tasks: this function returns after the last one.
    pool->Submit([&state, &fn, i] {
      const arrow::Status st = fn(i);
      MutexLock lock(&state.mu);
      if (!st.ok() && state.first_error.ok()) state.first_error = st;
      if (--state.pending == 0) state.done.NotifyAll();
    });
  }
  MutexLock lock(&state.mu);
  state.done.Wait(&state.mu, [&]() REQUIRES(state.mu) { return state.pending == 0; });
  return state.first_error;
}

arrow::Result<UnifiedTag> UnifyTag(const Batches& batches, int column) {
  UnifiedTag tag;
  tag.column = column;
  tag.name = batches.front()->schema()->field(column)->name();
  // Every referenced value gets a global id; each batch remembers its mapping.
  std::unordered_map<std::string_view, int32_t> ids;
  std::vector<std::string_view> values;  // by global id
  std::vector<uint8_t> referenced;       // per local index of the current batch
  tag.rank_of_index.resize(batches.size());
  for (size_t b = 0; b < batches.size(); ++b) {
    const auto& array = *batches[b]->column(column);
    if (array.type_id() != arrow::Type::DICTIONARY ||
        DictionaryColumn(*batches[b], column).indices()->type_id() !=
            arrow::Type::INT32 ||
        DictionaryColumn(*batches[b], column).dictionary()->type_id() !=
            arrow::Type::STRING) {
      return arrow::Status::Invalid("tag column '", tag.name, "' is ",
                                    array.type()->ToString());
    }
    const auto& dict = DictionaryColumn(*batches[b], column);
    const auto& indices = Indices(dict);
    const auto& strings = static_cast<const arrow::StringArray&>(*dict.dictionary());
    auto& mapping = tag.rank_of_index[b];
    mapping.assign(static_cast<size_t>(strings.length()), -1);
    tag.null_count += indices.null_count();
    const int32_t* raw = indices.raw_values();
    const bool has_nulls = indices.null_count() > 0;
    // Which local values rows reference (a dictionary may hold others): one store per
    // row, then one hash lookup per referenced value.
    const auto length = static_cast<uint32_t>(strings.length());
    referenced.assign(length, 0);
    for (int64_t i = 0; i < indices.length(); ++i) {
      if (has_nulls && indices.IsNull(i)) continue;
      const auto local = static_cast<uint32_t>(raw[i]);
      if (local >= length) {
        return arrow::Status::Invalid("tag column '", tag.name, "': dictionary index ",
                                      raw[i], " out of range");
      }
      referenced[local] = 1;
    }
    for (uint32_t local = 0; local < length; ++local) {
      if (!referenced[local]) continue;
      const std::string_view value = strings.GetView(local);
      auto [it, inserted] = ids.emplace(value, static_cast<int32_t>(values.size()));
      if (inserted) values.push_back(value);
      mapping[local] = it->second;
    }
  }
  // Sort the distinct values; turn the mappings from global ids into ranks.
  std::vector<int32_t> by_rank(values.size());
  for (size_t i = 0; i < by_rank.size(); ++i) by_rank[i] = static_cast<int32_t>(i);
  std::sort(by_rank.begin(), by_rank.end(),
            [&](int32_t a, int32_t b) { return values[a] < values[b]; });
  std::vector<int32_t> rank_of(values.size());
  // The dictionary is small and lives with the output: default pool, not the job's.
  arrow::StringBuilder dict_builder;
  ARROW_RETURN_NOT_OK(dict_builder.Reserve(static_cast<int64_t>(values.size())));
  for (size_t r = 0; r < by_rank.size(); ++r) {
    rank_of[by_rank[r]] = static_cast<int32_t>(r);
    ARROW_RETURN_NOT_OK(dict_builder.Append(values[by_rank[r]]));
  }
  ARROW_ASSIGN_OR_RAISE(tag.dictionary, dict_builder.Finish());
  for (auto& mapping : tag.rank_of_index) {
    for (auto& id : mapping) {
      if (id >= 0) id = rank_of[id];
    }
  }
  return tag;
}

arrow::Status MaterializeRanks(const Batches& batches, int64_t rows,
                               arrow::MemoryPool* pool, UnifiedTag* tag) {
  ARROW_ASSIGN_OR_RAISE(auto rank_buffer, arrow::AllocateBuffer(rows * 4, pool));
  std::shared_ptr<arrow::Buffer> validity;
  if (tag->null_count > 0) {
    ARROW_ASSIGN_OR_RAISE(validity, arrow::AllocateBitmap(rows, pool));
  }
  auto* out = reinterpret_cast<int32_t*>(rank_buffer->mutable_data());
  uint8_t* valid_bits = validity ? validity->mutable_data() : nullptr;
  int64_t row = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    const auto& indices = Indices(DictionaryColumn(*batches[b], tag->column));
    const auto& mapping = tag->rank_of_index[b];
    const int32_t* raw = indices.raw_values();
    for (int64_t i = 0; i < indices.length(); ++i) {
      const bool valid = indices.IsValid(i);
      out[row + i] = valid ? mapping[raw[i]] : 0;
      if (valid_bits) arrow::bit_util::SetBitTo(valid_bits, row + i, valid);
    }
    row += indices.length();
  }
  tag->ranks = std::make_shared<arrow::Int32Array>(rows, std::move(rank_buffer),
                                                   std::move(validity), tag->null_count);
  return arrow::Status::OK();
}

arrow::Result<bool> SortedRows::TryPacked(const Batches& batches,
                                          const std::vector<UnifiedTag>& tags,
                                          const int64_t* times,
                                          const std::vector<std::string>& key,
                                          int64_t rows, bool use_threads,
                                          arrow::MemoryPool* pool, SortedRows* out) {
  if (key.empty() || key.back() != kTimeColumnName) return false;
  std::vector<const UnifiedTag*> key_tags;
  std::vector<int> bits;
  int total_bits = 0;
  for (size_t k = 0; k + 1 < key.size(); ++k) {
    const auto it = std::find_if(tags.begin(), tags.end(),
                                 [&](const UnifiedTag& t) { return t.name == key[k]; });
    if (it == tags.end()) return false;  // `time` in the middle of the key
    const auto distinct = static_cast<uint32_t>(it->dictionary->length());
    bits.push_back(std::bit_width(distinct));
    total_bits += bits.back();
    key_tags.push_back(&*it);
  }
  if (total_bits > 64) return false;
  out->parts_.resize(key_tags.size());
  for (int k = static_cast<int>(key_tags.size()) - 1, shift = 0; k >= 0; --k) {
    out->parts_[k] = {key_tags[k]->name, shift, (uint64_t{1} << bits[k]) - 1,
                      static_cast<uint32_t>(key_tags[k]->dictionary->length())};
    shift += bits[k];
  }

  // Series key per row, tag by tag (each pass streams one index column per batch), in
  // parallel over ranges of batches.
  ARROW_ASSIGN_OR_RAISE(auto key_buffer, arrow::AllocateBuffer(rows * 8, pool));
  auto* keys = reinterpret_cast<uint64_t*>(key_buffer->mutable_data());
  std::vector<int64_t> batch_start(batches.size() + 1, 0);
  for (size_t b = 0; b < batches.size(); ++b) {
    batch_start[b + 1] = batch_start[b] + batches[b]->num_rows();
  }
  const int chunks = static_cast<int>(std::min<size_t>(batches.size(), 16));
  auto fill_keys = [&](int chunk) -> arrow::Status {
    const size_t first = batches.size() * chunk / chunks;
    const size_t last = batches.size() * (chunk + 1) / chunks;
    std::fill(keys + batch_start[first], keys + batch_start[last], 0);
    for (size_t k = 0; k < key_tags.size(); ++k) {
      const Part& part = out->parts_[k];
      for (size_t b = first; b < last; ++b) {
        const auto& indices = Indices(DictionaryColumn(*batches[b], key_tags[k]->column));
        const int32_t* mapping = key_tags[k]->rank_of_index[b].data();
        const int32_t* raw = indices.raw_values();
        const int64_t n = indices.length();
        uint64_t* row_keys = keys + batch_start[b];
        if (indices.null_count() == 0) {
          for (int64_t i = 0; i < n; ++i) {
            row_keys[i] |= uint64_t{static_cast<uint32_t>(mapping[raw[i]])} << part.shift;
          }
        } else {
          for (int64_t i = 0; i < n; ++i) {
            const uint64_t rank = indices.IsValid(i)
                                      ? uint64_t{static_cast<uint32_t>(mapping[raw[i]])}
                                      : uint64_t{part.null_rank};
            row_keys[i] |= rank << part.shift;
          }
        }
      }
    }
    return arrow::Status::OK();
  };
  ARROW_RETURN_NOT_OK(ParallelFor(use_threads, chunks, fill_keys));
  // Dense series ids, then their ranks in key order.
  ARROW_ASSIGN_OR_RAISE(auto series_buffer, arrow::AllocateBuffer(rows * 4, pool));
  auto* series_of_row = reinterpret_cast<uint32_t*>(series_buffer->mutable_data());
  SeriesIds ids;
  for (int64_t i = 0; i < rows; ++i) series_of_row[i] = ids.GetOrInsert(keys[i]);
  const auto& unique = ids.keys();
  std::vector<uint32_t> by_key(unique.size());
  for (uint32_t id = 0; id < by_key.size(); ++id) by_key[id] = id;
  std::sort(by_key.begin(), by_key.end(),
            [&](uint32_t a, uint32_t b) { return unique[a] < unique[b]; });
  std::vector<uint32_t> rank_of(unique.size());
  for (uint32_t r = 0; r < by_key.size(); ++r) rank_of[by_key[r]] = r;
  // Counting sort by series rank: `next[r]` is the next free position of series r.
  std::vector<int64_t> next(unique.size() + 1, 0);
  for (int64_t i = 0; i < rows; ++i) ++next[rank_of[series_of_row[i]] + 1];
  for (size_t r = 1; r < next.size(); ++r) next[r] += next[r - 1];
  out->series_start_ = next;
  const std::vector<int64_t>& series_start = out->series_start_;
  ARROW_ASSIGN_OR_RAISE(auto order_buffer, arrow::AllocateBuffer(rows * 8, pool));
  auto* order = reinterpret_cast<uint64_t*>(order_buffer->mutable_data());
  for (int64_t i = 0; i < rows; ++i) {
    order[next[rank_of[series_of_row[i]]]++] = static_cast<uint64_t>(i);
  }
  // Positions [series_start[r], series_start[r + 1]) hold series r: its key and where it
  // starts is all the later steps need (no key per position).
  out->series_keys_.resize(unique.size());
  out->series_start_bits_.assign(static_cast<size_t>((rows + 63) / 64), 0);
  for (size_t r = 0; r < by_key.size(); ++r) {
    out->series_keys_[r] = unique[by_key[r]];
    const auto start = static_cast<uint64_t>(series_start[r]);
    out->series_start_bits_[start >> 6] |= uint64_t{1} << (start & 63);
  }
  // Time order within each series.
  for (size_t r = 0; r + 1 < series_start.size(); ++r) {
    uint64_t* first = order + series_start[r];
    uint64_t* last = order + series_start[r + 1];
    bool ordered = true;
    for (uint64_t* p = first + 1; p < last && ordered; ++p) {
      ordered = times[p[-1]] <= times[*p];
    }
    if (!ordered) {
      std::stable_sort(first, last,
                       [&](uint64_t a, uint64_t b) { return times[a] < times[b]; });
    }
  }
  out->order_ = std::make_shared<arrow::UInt64Array>(rows, std::move(order_buffer));
  out->packed_ = true;
  return true;
}

arrow::Result<SortedRows> SortedRows::Sort(const Batches& batches,
                                           std::vector<UnifiedTag>* tags,
                                           const std::shared_ptr<arrow::Array>& time,
                                           const std::vector<std::string>& key,
                                           int64_t rows, bool use_threads,
                                           arrow::MemoryPool* pool,
                                           arrow::compute::ExecContext* ctx) {
  SortedRows sorted;
  sorted.times_ = time->data()->GetValues<int64_t>(1);
  ARROW_ASSIGN_OR_RAISE(const bool packed, TryPacked(batches, *tags, sorted.times_, key,
                                                     rows, use_threads, pool, &sorted));
  if (!packed) {
    arrow::FieldVector key_fields;
    arrow::ArrayVector key_arrays;
    std::vector<arrow::compute::SortKey> sort_keys;
    for (auto& tag : *tags) {
      ARROW_RETURN_NOT_OK(MaterializeRanks(batches, rows, pool, &tag));
      (tag.ranks->null_count() == 0 ? sorted.plain_ranks_ : sorted.nullable_ranks_)
          .push_back(tag.ranks.get());
    }
    for (const auto& name : key) {
      if (name == kTimeColumnName) {
        key_fields.push_back(arrow::field(name, time->type(), false));
        key_arrays.push_back(time);
      } else {
        const auto it = std::find_if(tags->begin(), tags->end(),
                                     [&](const UnifiedTag& t) { return t.name == name; });
        key_fields.push_back(arrow::field(name, arrow::int32()));
        key_arrays.push_back(it->ranks);
      }
      sort_keys.emplace_back(arrow::FieldRef(static_cast<int>(key_fields.size() - 1)),
                             arrow::compute::SortOrder::Ascending,
                             arrow::compute::NullPlacement::AtEnd);
    }
    auto key_batch =
        arrow::RecordBatch::Make(arrow::schema(key_fields), rows, key_arrays);
    ARROW_ASSIGN_OR_RAISE(sorted.order_,
                          arrow::compute::SortIndices(
                              key_batch, arrow::compute::SortOptions(sort_keys), ctx));
  }
  sorted.order_values_ =
      static_cast<const arrow::UInt64Array&>(*sorted.order_).raw_values();
  return sorted;
}

bool SortedRows::SameTags(uint64_t a, uint64_t b) const {
  for (const auto* ranks : plain_ranks_) {
    if (ranks->raw_values()[a] != ranks->raw_values()[b]) return false;
  }
  for (const auto* ranks : nullable_ranks_) {
    const bool valid = ranks->IsValid(static_cast<int64_t>(a));
    if (valid != ranks->IsValid(static_cast<int64_t>(b))) return false;
    if (valid && ranks->raw_values()[a] != ranks->raw_values()[b]) return false;
  }
  return true;
}

arrow::Result<std::shared_ptr<arrow::Array>> SortedRows::DecodeTag(
    const UnifiedTag& tag, const std::shared_ptr<arrow::DataType>& type,
    const std::vector<uint64_t>& keys, arrow::MemoryPool* pool) const {
  const auto part = std::find_if(parts_.begin(), parts_.end(),
                                 [&](const Part& p) { return p.name == tag.name; });
  if (part == parts_.end()) {
    return arrow::Status::Invalid("compaction: tag '", tag.name, "' not in the sort key");
  }
  const int64_t n = static_cast<int64_t>(keys.size());
  ARROW_ASSIGN_OR_RAISE(auto values, arrow::AllocateBuffer(n * 4, pool));
  auto* out = reinterpret_cast<int32_t*>(values->mutable_data());
  int64_t nulls = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto rank = static_cast<uint32_t>((keys[i] >> part->shift) & part->mask);
    const bool is_null = rank == part->null_rank;
    nulls += is_null ? 1 : 0;
    out[i] = is_null ? 0 : static_cast<int32_t>(rank);
  }
  std::shared_ptr<arrow::Buffer> validity;
  if (nulls > 0) {
    ARROW_ASSIGN_OR_RAISE(validity, arrow::AllocateBitmap(n, pool));
    for (int64_t i = 0; i < n; ++i) {
      const auto rank = static_cast<uint32_t>((keys[i] >> part->shift) & part->mask);
      arrow::bit_util::SetBitTo(validity->mutable_data(), i, rank != part->null_rank);
    }
  }
  auto indices = std::make_shared<arrow::Int32Array>(n, std::move(values),
                                                     std::move(validity), nulls);
  return std::make_shared<arrow::DictionaryArray>(type, indices, tag.dictionary);
}

}  // namespace ingester::persist::compaction_internal
