// The parts of a query predicate that more than the query module needs: a time range
// and tag IN lists. Partition templates (partition/) prune partitions with them, the
// query module (query/) filters rows with them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ingester {

// [start, end) in nanoseconds since the epoch; either bound may be absent.
struct TimeRange {
  std::optional<int64_t> start;  // inclusive
  std::optional<int64_t> end;    // exclusive

  bool unbounded() const { return !start && !end; }
  bool Contains(int64_t t) const { return (!start || t >= *start) && (!end || t < *end); }
  // True when some t in [min, max] (both inclusive) is in the range.
  bool Overlaps(int64_t min, int64_t max) const {
    return (!start || max >= *start) && (!end || min < *end);
  }
  // True when every t in [min, max] is in the range.
  bool Covers(int64_t min, int64_t max) const {
    return (!start || min >= *start) && (!end || max < *end);
  }
  bool operator==(const TimeRange&) const = default;
};

// A row matches when its value of tag `tag` is one of `values` (IN); one value is an
// equality. A row without the tag (null) never matches; an empty list matches nothing.
struct TagPredicate {
  std::string tag;
  std::vector<std::string> values;
  bool operator==(const TagPredicate&) const = default;
};

}  // namespace ingester
