// The DoGet stream: a QueryResponse encoded as Arrow Flight data, pulled by gRPC one
// message at a time (so a slow client holds back the query instead of buffering it).
//
//   FlightData messages of one DoGet
//   ┌──────────────────────────────────────────────────────────────────────────────┐
//   │ schema            the response schema; the only schema message of the stream │
//   ├─ partition 1 ────────────────────────────────────────────────────────────────┤
//   │ [dictionary]*     tag dictionaries not sent before (first frame only)        │
//   │ record batch      0 rows, app_metadata = partition frame JSON (below)        │
//   │ [dictionary]*     replacement dictionaries of the next batch, when changed   │
//   │ record batch      rows, no app_metadata                                      │
//   │ ...                                                                          │
//   ├─ partition 2 ... ────────────────────────────────────────────────────────────┤
//   └─ end of stream (gRPC status OK, or the error that stopped the query) ────────┘
//
//   partition frame JSON:
//     {"partition_id": 12, "partition_key": "2023-11-14",
//      "completed_persist_count": 0, "ingester_id": "ingester-1",
//      "files": 2, "file_rows": 1000, "buffer_rows": 20}
//   files / file_rows: the Parquet files the partition is read from (after pruning by
//   time range) and the rows the catalog lists for them; buffer_rows: the buffered rows
//   read. Both before filtering and de-duplication.
//
// Two deliberate choices, both verified against the Arrow C++ 26 Flight client that
// pyarrow wraps:
//  - The schema is sent once and never changes. DESIGN.md asks for the schema to be sent
//    again whenever it changes, but that client fails on a second schema message
//    ("Header-type of flatbuffer-encoded Message is not RecordBatch"). The response
//    schema is therefore fixed when the query starts (the requested columns over the
//    table's columns at that moment), every batch is conformed to it (missing columns
//    as nulls), and columns created after the query started are not returned, the same
//    snapshot rule as for partitions.
//  - The partition frame is a zero-row record batch carrying app_metadata, not a
//    metadata-only message: pyarrow's read_all() (and every reader built on
//    MetadataRecordBatchReader::ToTable) stops at the first message without data and
//    would return an empty table, while read_chunk() sees the zero-row batch with its
//    metadata and read_all() ignores it.
// One step ahead: while gRPC writes a message, the stream computes the next ones (pulls
// the response, encodes the batch) on a worker thread of the stream, so reading and
// merging overlap with sending. Memory: one more batch. The response is used by one
// thread at a time (the task, or the gRPC thread once it has waited for the task).
// Dictionaries: each buffered batch may carry its own tag dictionaries; a dictionary
// message (a replacement, which the IPC stream format allows) precedes a batch whose
// dictionary differs from the last one sent for that column.
#pragma once

#include <arrow/flight/server.h>
#include <arrow/result.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ingester/query/query_exec.h"

namespace ingester::query {

// The app_metadata of a partition frame.
struct PartitionFrame {
  int64_t partition_id = 0;
  std::string partition_key;
  uint64_t completed_persist_count = 0;
  std::string ingester_id;
  int64_t files = 0;
  int64_t file_rows = 0;
  int64_t buffer_rows = 0;

  std::string ToJson() const;
  // InvalidInput when `json` is not a partition frame.
  static arrow::Result<PartitionFrame> Parse(std::string_view json);
  bool operator==(const PartitionFrame&) const = default;
};

// Encodes `response` as above. `on_done` (may be empty) runs once, when the stream ends,
// fails, or is destroyed (the client went away). The response is dropped at that moment
// too, which releases whatever it holds (the query's slot of the concurrency limit).
// Errors of the response reach the client as they are; the caller maps kinds to Flight
// codes (`map_error`).
arrow::Result<std::unique_ptr<arrow::flight::FlightDataStream>> MakeQueryFlightStream(
    std::unique_ptr<QueryResponse> response, std::string ingester_id,
    std::function<void()> on_done,
    std::function<arrow::Status(const arrow::Status&)> map_error);

}  // namespace ingester::query
