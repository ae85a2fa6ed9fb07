#include "ingester/partition/row_partitioner.h"

#include <functional>
#include <limits>

#include "ingester/partition/partition_key.h"

namespace ingester::partition {

RowPartitioner::RowPartitioner(PartitionTemplate partition_template)
    : template_(std::move(partition_template)),
      tag_count_(template_.tag_names().size()) {}

uint32_t RowPartitioner::SetLast(uint32_t group) {
  last_ = group;
  const TimeRange range = template_.time_format().PeriodRange(periods_[group]);
  last_start_ = range.start.value_or(std::numeric_limits<int64_t>::min());
  // A period reaching the int64 end: its last instant takes the slow path, which is
  // still right.
  last_end_ = range.end.value_or(std::numeric_limits<int64_t>::max());
  return group;
}

uint32_t RowPartitioner::Assign(
    int64_t time_ns, std::span<const std::optional<std::string_view>> tag_values) {
  const int64_t period = template_.time_format().PeriodOf(time_ns);
  if (last_ != kNone && GroupEquals(last_, period, tag_values)) return last_;

  uint64_t hash = std::hash<int64_t>{}(period);
  for (size_t i = 0; i < tag_count_; ++i) {
    const uint64_t h = tag_values[i] ? std::hash<std::string_view>{}(*tag_values[i])
                                     : 0x9e3779b97f4a7c15ULL;
    hash ^= h + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
  }
  auto [it, fresh] = by_hash_.try_emplace(hash, kNone);
  for (uint32_t g = it->second; g != kNone; g = next_[g]) {
    if (GroupEquals(g, period, tag_values)) return SetLast(g);
  }
  const auto group = static_cast<uint32_t>(periods_.size());
  periods_.push_back(period);
  values_.insert(values_.end(), tag_values.begin(), tag_values.begin() + tag_count_);
  next_.push_back(it->second);
  it->second = group;
  return SetLast(group);
}

std::string RowPartitioner::Key(uint32_t group) const {
  std::string out;
  const auto* values = values_.data() + static_cast<size_t>(group) * tag_count_;
  size_t tag = 0;
  for (size_t i = 0; i < template_.parts().size(); ++i) {
    if (i > 0) out.push_back(kKeyDelimiter);
    if (i == template_.time_part_index()) {
      template_.time_format().AppendPeriod(periods_[group], &out);
    } else {
      AppendKeyValue(values[tag++], &out);
    }
  }
  return out;
}

std::vector<RowPartitioner::KeyGroups> RowPartitioner::KeysInOrder() const {
  std::map<std::string, std::vector<uint32_t>> by_key;
  for (uint32_t g = 0; g < group_count(); ++g) by_key[Key(g)].push_back(g);
  std::vector<KeyGroups> out;
  out.reserve(by_key.size());
  for (auto& [key, groups] : by_key) out.push_back({key, std::move(groups)});
  return out;
}

}  // namespace ingester::partition
