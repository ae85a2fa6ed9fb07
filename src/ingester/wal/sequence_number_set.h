// A set of sequence numbers stored as disjoint ranges. Sequence numbers handed out by
// the TimestampOracle are mostly consecutive, so a WAL segment holding millions of
// writes usually needs a handful of ranges.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "ingester/common/ids.h"

namespace ingester::wal {

// Not thread-safe; a value type.
class SequenceNumberSet {
 public:
  // Adds `n`; returns false if it was already present.
  bool Add(SequenceNumber n);
  // Removes `n`; returns false if it was absent.
  bool Remove(SequenceNumber n);
  // Adds / removes [first, last], both inclusive (first <= last).
  void AddRange(SequenceNumber first, SequenceNumber last);
  void RemoveRange(SequenceNumber first, SequenceNumber last);
  // Adds every member of `other`.
  void Merge(const SequenceNumberSet& other);
  // Removes every member of `other` (absent ones are ignored).
  void Subtract(const SequenceNumberSet& other);

  bool Contains(SequenceNumber n) const;
  bool Intersects(const SequenceNumberSet& other) const;
  // Number of members (not of ranges).
  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::optional<SequenceNumber> min() const;
  std::optional<SequenceNumber> max() const;
  // first -> last, both inclusive; disjoint and never adjacent (adjacent ranges merge).
  const std::map<SequenceNumber, SequenceNumber>& ranges() const { return ranges_; }

  // "1-5,7,9-12"; "" when empty.
  std::string ToString() const;

  bool operator==(const SequenceNumberSet& other) const = default;

 private:
  std::map<SequenceNumber, SequenceNumber> ranges_;
  uint64_t size_ = 0;
};

}  // namespace ingester::wal
