// What the WAL knows about a segment it no longer writes to.
#pragma once

#include <cstdint>

#include "ingester/wal/format.h"
#include "ingester/wal/sequence_number_set.h"

namespace ingester::wal {

struct ClosedSegment {
  SegmentId id = 0;
  // Every sequence number of every PartitionWrite of every entry in the segment.
  SequenceNumberSet sequence_numbers;
  int64_t entries = 0;
  int64_t rows = 0;
  // The file's size, header included.
  uint64_t bytes = 0;
};

}  // namespace ingester::wal
