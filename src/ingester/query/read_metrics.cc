#include "ingester/query/read_metrics.h"

namespace ingester::query {

namespace {
constexpr char kRows[] = "ingester_query_source_rows_total";
constexpr char kRowsHelp[] = "Rows queries read, by source, before filtering";
constexpr char kBytes[] = "ingester_query_source_bytes_total";
constexpr char kBytesHelp[] =
    "Bytes queries read: Arrow bytes of buffered batches, compressed Parquet bytes";
constexpr char kFiles[] = "ingester_query_files_total";
constexpr char kFilesHelp[] = "Parquet files of queried partitions, read or pruned";
constexpr char kGroups[] = "ingester_query_row_groups_total";
constexpr char kGroupsHelp[] = "Row groups of the Parquet files queries opened";
}  // namespace

ReadMetrics::ReadMetrics(MetricsRegistry* registry)
    : buffer_rows(registry->AddCounter(kRows, kRowsHelp, "source=\"buffer\"")),
      file_rows(registry->AddCounter(kRows, kRowsHelp, "source=\"file\"")),
      buffer_bytes(registry->AddCounter(kBytes, kBytesHelp, "source=\"buffer\"")),
      file_bytes(registry->AddCounter(kBytes, kBytesHelp, "source=\"file\"")),
      files_read(registry->AddCounter(kFiles, kFilesHelp, "outcome=\"read\"")),
      files_pruned(registry->AddCounter(kFiles, kFilesHelp, "outcome=\"pruned\"")),
      row_groups_read(registry->AddCounter(kGroups, kGroupsHelp, "outcome=\"read\"")),
      row_groups_pruned(registry->AddCounter(kGroups, kGroupsHelp, "outcome=\"pruned\"")),
      partition_merges(registry->AddCounter(
          "ingester_query_partition_merges_total",
          "Partitions whose sources overlapped in time and were sort-merged")),
      buffer_dedup_sorts(registry->AddCounter(
          "ingester_query_buffer_dedup_sorts_total",
          "Partition buffers sorted by a query because they held a primary key twice")) {}

}  // namespace ingester::query
