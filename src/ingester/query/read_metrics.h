// What queries read, by source (Prometheus text at GET /metrics):
//
//   ingester_query_source_rows_total{source="buffer"|"file"}   rows read from each source
//                                                              (before filtering and
//                                                              de-duplication)
//   ingester_query_source_bytes_total{source="buffer"|"file"}  Arrow bytes of buffered
//                                                              batches scanned;
//                                                              compressed Parquet bytes
//                                                              read
//   ingester_query_files_total{outcome="read"|"pruned"}        Parquet files of queried
//                                                              partitions, read or
//                                                              skipped (time range,
//                                                              statistics)
//   ingester_query_row_groups_total{outcome="read"|"pruned"}   row groups of the files
//   read ingester_query_partition_merges_total                      partitions whose
//   sources
//                                                              overlapped (sort-merged)
//   ingester_query_buffer_dedup_sorts_total                    buffers sorted because
//   they
//                                                              held a key twice
#pragma once

#include "ingester/common/metrics.h"

namespace ingester::query {

struct ReadMetrics {
  // Registers the metrics above; call once per registry. Pointers live as long as it.
  explicit ReadMetrics(MetricsRegistry* registry);
  Counter* buffer_rows;
  Counter* file_rows;
  Counter* buffer_bytes;
  Counter* file_bytes;
  Counter* files_read;
  Counter* files_pruned;
  Counter* row_groups_read;
  Counter* row_groups_pruned;
  Counter* partition_merges;
  Counter* buffer_dedup_sorts;
};

}  // namespace ingester::query
