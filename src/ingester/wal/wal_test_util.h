// Helpers for the WAL tests: temporary directories, write ops covering every column
// type, a sink that collects what it is given, and byte-level file surgery.
// Test only.
#pragma once

#include <arrow/record_batch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ingester/common/thread_annotations.h"
#include "ingester/dml/dml_sink.h"
#include "ingester/dml/write_op.h"

namespace ingester::wal::testing {

// A fresh directory under the system temp dir, unique per process and instance;
// removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// `rows` rows of every column type of the data model: two tags (dictionary<int32,
// utf8>), i64, u64, f64, bool and string fields, and `time`. Every nullable column has
// some nulls; `seed` varies the values.
std::shared_ptr<arrow::RecordBatch> MakeAllTypesBatch(int rows, int seed);

// A TSBS-like cpu batch: 10 tags, 10 i64 fields, time.
std::shared_ptr<arrow::RecordBatch> MakeCpuBatch(int rows, int seed);

// An op of `writes` partition writes of `rows` rows each, with sequence numbers
// `first_sequence`, `first_sequence + 1`, ...
WriteOp MakeOp(SequenceNumber first_sequence, int writes = 1, int rows = 10);

// Expects equal namespace, writes, sequence numbers and batches.
void ExpectOpsEqual(const WriteOp& expected, const WriteOp& actual);

// A DmlSink that keeps every op it is given. Thread-safe.
class CollectingSink : public DmlSink {
 public:
  using DmlSink::Apply;
  arrow::Status Apply(const WriteOp& op, const ApplyOptions& options) override;
  std::vector<WriteOp> ops() const;
  size_t size() const;
  // Sequence numbers of every write of every op, in arrival order.
  std::vector<SequenceNumber> sequence_numbers() const;

 private:
  mutable Mutex mu_;
  std::vector<WriteOp> ops_ GUARDED_BY(mu_);
};

std::string ReadFileBytes(const std::string& path);
void WriteFileBytes(const std::string& path, const std::string& bytes);
void AppendFileBytes(const std::string& path, const std::string& bytes);
// Flips one bit of the byte at `offset`.
void FlipBit(const std::string& path, uint64_t offset, int bit = 0);
uint64_t FileSizeOf(const std::string& path);

}  // namespace ingester::wal::testing
