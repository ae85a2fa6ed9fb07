// Splits the rows of one write into partitions under a template, on the write path:
// each row costs a period computation and a comparison with the previous row's group
// (usually equal), or one hash lookup; no string is built per row. Each group's key
// text is built once, by Key().
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ingester/partition/partition_template.h"

namespace ingester::partition {

class RowPartitioner {
 public:
  explicit RowPartitioner(PartitionTemplate partition_template);

  const PartitionTemplate& partition_template() const { return template_; }
  // The tags whose values Assign() takes, in this order.
  const std::vector<std::string>& tag_names() const { return template_.tag_names(); }

  // The group of a row at `time_ns` with `tag_values` (one per tag_names() entry;
  // nullopt where the row lacks the tag). Groups are numbered 0, 1, ... in order of
  // first appearance; rows get the same group exactly when their periods and tag values
  // are equal (so two groups share a key only when a value differs past the cut of
  // kMaxKeyValueBytes: see KeysInOrder). The viewed bytes must stay valid while this
  // partitioner is used.
  uint32_t Assign(int64_t time_ns,
                  std::span<const std::optional<std::string_view>> tag_values);

  // The times of the period of the group Assign() last returned, [start, end): a
  // following row with a time in it and the same tag values is in the same group, so
  // a caller can extend a run without calling Assign() per row.
  int64_t last_period_start() const { return last_start_; }
  int64_t last_period_end() const { return last_end_; }

  uint32_t group_count() const { return static_cast<uint32_t>(periods_.size()); }
  // The partition key of group `group`.
  std::string Key(uint32_t group) const;

  struct KeyGroups {
    std::string key;
    std::vector<uint32_t> groups;  // ascending
  };
  // Every distinct key, in key order, with the groups that have it.
  std::vector<KeyGroups> KeysInOrder() const;

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  uint32_t AssignSlow(int64_t time_ns,
                      std::span<const std::optional<std::string_view>> tag_values);
  bool TagsEqual(uint32_t group,
                 std::span<const std::optional<std::string_view>> tag_values) const {
    const auto* stored = values_.data() + static_cast<size_t>(group) * tag_count_;
    for (size_t i = 0; i < tag_count_; ++i) {
      if (stored[i] != tag_values[i]) return false;
    }
    return true;
  }
  bool GroupEquals(uint32_t group, int64_t period,
                   std::span<const std::optional<std::string_view>> tag_values) const {
    return periods_[group] == period && TagsEqual(group, tag_values);
  }
  // Makes `group` the previous row's group.
  uint32_t SetLast(uint32_t group);

  const PartitionTemplate template_;
  const size_t tag_count_;
  // Per group: its period and (tag_count_ per group) its tag values.
  std::vector<int64_t> periods_;
  std::vector<std::optional<std::string_view>> values_;
  // Groups by hash of (period, values); collisions chain through next_.
  std::unordered_map<uint64_t, uint32_t> by_hash_;
  std::vector<uint32_t> next_;
  // The previous row's group and the times of its period, [last_start_, last_end_)
  // (empty while there is none).
  uint32_t last_ = kNone;
  int64_t last_start_ = 0;
  int64_t last_end_ = 0;
};

}  // namespace ingester::partition
