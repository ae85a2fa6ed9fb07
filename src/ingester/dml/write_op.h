// The unit of the write path: what HTTP and Flight writes become after validation,
// what the WAL stores and replays, and what the BufferTree applies.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <arrow/record_batch.h>

#include "ingester/common/ids.h"

namespace ingester {

// One table's rows that all fall in one partition, with the sequence number that
// identifies them. The batch follows the data model of common/column_type.h: tags as
// dictionary<int32, utf8>, fields as their Arrow types, and a non-null `time` column
// (timestamp[ns]). Columns are nullable except `time`; a row lacking a field is null.
struct PartitionWrite {
  TableId table_id;
  std::string table_name;
  std::string partition_key;
  SequenceNumber sequence_number = 0;
  std::shared_ptr<arrow::RecordBatch> batch;
};

// One acknowledged write request for one namespace. Each PartitionWrite carries its own
// sequence number so that persisting one partition can release exactly its share of the
// WAL (a request may touch many partitions that persist at different times).
struct WriteOp {
  NamespaceId namespace_id;
  std::string namespace_name;
  std::vector<PartitionWrite> writes;

  int64_t RowCount() const;
};

}  // namespace ingester
