// Encoding of one WriteOp as a WAL entry payload (the payload layout is in format.h).
//
// Body (little-endian; version 1), compressed as a whole by the payload:
//
//   +------------------+---------------------+--------------------------+------------+
//   | version u8 (1)   | namespace id i64    | namespace name (str)     | writes u32 |
//   +------------------+---------------------+--------------------------+------------+
//   then `writes` times:
//   +--------------+-------------------+--------------------+----------------+
//   | table id i64 | table name (str)  | partition key (str)| sequence u64   |
//   +--------------+-------------------+--------------------+----------------+
//   | rows i64     | ipc length u32    | zero padding to a multiple of 8 from the
//   |              |                   | body start | Arrow IPC stream (ipc length) |
//   +--------------+-------------------+---------------------------------------------+
//   str = u32 length + bytes (UTF-8, no terminator).
//
// The Arrow IPC stream holds the schema, any dictionaries (tags) and exactly one record
// batch, uncompressed (the payload compresses the whole body). Replay reads the batch
// back zero-copy from the decompressed body, which is why streams start 8-aligned. The
// row count is repeated outside the IPC stream so `wal inspect` need not parse Arrow.
#pragma once

#include <arrow/buffer.h>
#include <arrow/result.h>

#include <memory>
#include <string>
#include <vector>

#include "ingester/dml/write_op.h"
#include "ingester/wal/format.h"

namespace ingester::wal {

inline constexpr uint8_t kBodyVersion = 1;
// Bodies above this are refused when encoding and treated as corrupt when decoding.
inline constexpr uint64_t kMaxBodySize = 0x7fffffff;

struct EncodeOptions {
  PayloadCompression compression = PayloadCompression::kLz4;
  // Zero bytes reserved before the payload in the returned string, so a caller can put
  // the entry framing there without copying the payload.
  size_t headroom = 0;
  // The codec's level; 0 for its default (payload_codec.h).
  int level = 0;
};

// Encodes `op` as a payload, preceded by `options.headroom` zero bytes. Thread-safe.
arrow::Result<std::string> EncodeWriteOp(const WriteOp& op,
                                         const EncodeOptions& options = {});

// Decodes a payload. The batches may reference memory owned by a buffer the decoder
// allocated (never `payload`'s, which the caller may reuse). Errors are Invalid /
// IOError statuses describing what is wrong; callers add the file and offset.
arrow::Result<WriteOp> DecodeWriteOp(const uint8_t* payload, size_t size);

// What `wal inspect` needs: the op without its record batches.
struct PartitionWriteSummary {
  TableId table_id;
  std::string table_name;
  std::string partition_key;
  SequenceNumber sequence_number = 0;
  int64_t rows = 0;
};
struct WriteOpSummary {
  NamespaceId namespace_id;
  std::string namespace_name;
  std::vector<PartitionWriteSummary> writes;
  int64_t RowCount() const;
};
arrow::Result<WriteOpSummary> DecodeWriteOpSummary(const uint8_t* payload, size_t size);

}  // namespace ingester::wal
