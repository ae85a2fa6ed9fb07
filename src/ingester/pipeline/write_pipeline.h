// The write pipeline: the one path every write takes, HTTP line protocol and Flight
// DoPut alike. It reads top to bottom:
//
//   LineProtocolWrite ─┐                 parse (lp/) + validate and build against the
//                      ├─> admission ──> catalog schema (write/: creates namespaces,
//   Arrow batches ─────┘   (WriteGate,   tables, columns on first write) ──> sequence
//                          checks)       (TimestampOracle) ──> DmlSink chain
//                                                               (WalSink ──> BufferTree)
//
// The pipeline knows the chain only as a DmlSink: what sits in it (the WAL, the buffer,
// decorators in front of either) is the wiring's business, and the per-write options
// (no_sync) travel down through DmlSink::Apply. Persistence is not in it: it observes
// applied writes downstream (the buffer's PostWriteObserver) and releases WAL
// references from its completion callback.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ingester/common/clock.h"
#include "ingester/common/ids.h"
#include "ingester/common/metrics.h"
#include "ingester/dml/dml_sink.h"
#include "ingester/dml/timestamp_oracle.h"
#include "ingester/pipeline/parsed_body_pool.h"
#include "ingester/pipeline/write_gate.h"
#include "ingester/pipeline/write_request.h"
#include "ingester/write/schema_cache.h"
#include "ingester/write/write_builder.h"

namespace ingester {

struct WritePipelineOptions {
  // Required; must outlive the pipeline. Validation reads the catalog schema through it
  // and creates namespaces, tables and columns on first write.
  SchemaCache* schema_cache = nullptr;
  // Required: the head of the DmlSink chain (the WalSink, or a decorator in front of it).
  std::shared_ptr<DmlSink> sink;
  // The first sequence number handed out: one past the highest a WAL replay saw.
  SequenceNumber first_sequence_number = 1;
  // Optional: asked at admission, after the shutdown check; a non-OK status refuses the
  // write and is returned as it is (e.g. the ingest state's backpressure, a lost
  // catalog). Called concurrently by writers.
  std::function<arrow::Status()> admission_check;
  // The time of lines without a timestamp. Must outlive the pipeline.
  const Clock* clock = SystemClock::Get();
  // Optional; must outlive the pipeline. ingester_write_* counters and
  // ingester_write_duration_seconds; without it the pipeline keeps them to itself.
  MetricsRegistry* metrics = nullptr;

  arrow::Status Validate() const;
};

class WritePipeline {
 public:
  static arrow::Result<std::unique_ptr<WritePipeline>> Make(WritePipelineOptions options);
  WritePipeline(const WritePipeline&) = delete;
  WritePipeline& operator=(const WritePipeline&) = delete;

  // An HTTP write. Returns OK with the rejected lines when some were bad; an error when
  // nothing was written for a reason that is not a line's fault (unknown precision,
  // backpressure, a WAL failure). Thread-safe.
  arrow::Result<WriteSummary> WriteLineProtocol(const LineProtocolWrite& write);

  // A Flight DoPut: Arrow record batches for one table, through the same admission,
  // validation, sequencing and chain, always synced. Returns the rows written.
  // Thread-safe.
  arrow::Result<int64_t> WriteBatches(
      const std::string& namespace_name, const std::string& table_name,
      const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches);

  // Shutdown: Close() refuses new writes (returns whether it was already closed);
  // Drain() then lets admitted ones finish until `deadline` (WriteGate::Drain).
  bool Close() { return gate_.Close(); }
  bool closed() const { return gate_.closed(); }
  bool Drain(std::chrono::steady_clock::time_point deadline) {
    return gate_.Drain(deadline);
  }

  // The number the next write gets.
  SequenceNumber next_sequence_number() const { return oracle_.Peek(); }

 private:
  struct Metrics {
    explicit Metrics(MetricsRegistry* r);
    Counter* requests;
    Counter* failed;
    Counter* lines;
    Counter* rejected;
    Counter* rows;
    Counter* bytes;
    Histogram* write_seconds;
  };

  explicit WritePipeline(WritePipelineOptions options);

  // Stage 1: the gate, then the admission check.
  arrow::Result<WriteGate::Ticket> Admit();
  // Stage 2 (line protocol): parse into `parsed`, validate against the catalog and
  // build the op; rejected lines go to `summary`. Nullopt when nothing is to be written
  // (all or nothing, and a line was bad). The op may refer to `parsed`: keep it until
  // the op is applied.
  arrow::Result<std::optional<BuiltWrite>> ParseAndBuild(const LineProtocolWrite& write,
                                                         lp::ParsedBody* parsed,
                                                         WriteSummary* summary);
  // Stages 3 and 4: numbers the op's writes and sends it down the chain.
  arrow::Status SequenceAndApply(WriteOp* op, const ApplyOptions& options);

  const WritePipelineOptions options_;
  std::unique_ptr<MetricsRegistry> own_metrics_;  // when options_.metrics is null
  Metrics metrics_;
  WriteGate gate_;
  TimestampOracle oracle_;
  ParsedBodyPool parsed_bodies_;
};

}  // namespace ingester
