// Strongly typed catalog identifiers and the write sequence number.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>

namespace ingester {

// An integer id that cannot be confused with another kind of id.
template <typename Tag>
class StrongId {
 public:
  constexpr StrongId() = default;
  constexpr explicit StrongId(int64_t value) : value_(value) {}
  constexpr int64_t value() const { return value_; }
  constexpr auto operator<=>(const StrongId&) const = default;

 private:
  int64_t value_ = 0;
};

template <typename Tag>
std::ostream& operator<<(std::ostream& os, StrongId<Tag> id) {
  return os << id.value();
}

using NamespaceId = StrongId<struct NamespaceIdTag>;
using TableId = StrongId<struct TableIdTag>;
using ColumnId = StrongId<struct ColumnIdTag>;
using PartitionId = StrongId<struct PartitionIdTag>;
using ParquetFileId = StrongId<struct ParquetFileIdTag>;

// Identifies one write (one table's rows for one partition). Sequence numbers identify
// writes; they do not order them: concurrent writes may be applied to the buffer in a
// different order than they were numbered or appended to the WAL.
using SequenceNumber = uint64_t;

}  // namespace ingester

template <typename Tag>
struct std::hash<ingester::StrongId<Tag>> {
  size_t operator()(ingester::StrongId<Tag> id) const noexcept {
    return std::hash<int64_t>{}(id.value());
  }
};
