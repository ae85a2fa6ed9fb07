#include "ingester/pipeline/write_pipeline.h"

#include <string_view>

#include "ingester/common/error.h"
#include "ingester/lp/parser.h"
#include "ingester/write/arrow_write_builder.h"
#include "ingester/write/line_index.h"

namespace ingester {

namespace {

constexpr size_t kMaxOriginalLineBytes = 256;

}  // namespace

arrow::Status WritePipelineOptions::Validate() const {
  if (schema_cache == nullptr) {
    return arrow::Status::Invalid("WritePipelineOptions: schema_cache is required");
  }
  if (sink == nullptr) {
    return arrow::Status::Invalid("WritePipelineOptions: sink is required");
  }
  if (clock == nullptr) {
    return arrow::Status::Invalid("WritePipelineOptions: clock is required");
  }
  if (first_sequence_number == 0) {
    return arrow::Status::Invalid(
        "WritePipelineOptions: first_sequence_number starts at 1");
  }
  return arrow::Status::OK();
}

WritePipeline::Metrics::Metrics(MetricsRegistry* r)
    : requests(
          r->AddCounter("ingester_write_requests_total", "Write requests received.")),
      failed(r->AddCounter("ingester_write_requests_failed_total",
                           "Write requests that wrote nothing because of an error.")),
      lines(r->AddCounter("ingester_write_lines_total", "Lines written.")),
      rejected(r->AddCounter("ingester_write_lines_rejected_total", "Lines rejected.")),
      rows(r->AddCounter("ingester_write_rows_total", "Rows written.")),
      bytes(r->AddCounter("ingester_write_bytes_total", "Request body bytes received.")),
      write_seconds(r->AddHistogram(
          "ingester_write_duration_seconds",
          "Seconds to handle a line protocol write request, from parsing to the WAL "
          "acknowledgement (refused and failed requests included).",
          LatencyBuckets())) {}

arrow::Result<std::unique_ptr<WritePipeline>> WritePipeline::Make(
    WritePipelineOptions options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  return std::unique_ptr<WritePipeline>(new WritePipeline(std::move(options)));
}

WritePipeline::WritePipeline(WritePipelineOptions options)
    : options_(std::move(options)),
      own_metrics_(options_.metrics == nullptr ? std::make_unique<MetricsRegistry>()
                                               : nullptr),
      metrics_(options_.metrics != nullptr ? options_.metrics : own_metrics_.get()),
      oracle_(options_.first_sequence_number) {}

arrow::Result<WriteSummary> WritePipeline::WriteLineProtocol(
    const LineProtocolWrite& write) {
  ScopedHistogramTimer timer(metrics_.write_seconds);
  metrics_.requests->Add();
  metrics_.bytes->Add(static_cast<int64_t>(write.body.size()));
  auto written = [&]() -> arrow::Result<WriteSummary> {
    ARROW_ASSIGN_OR_RAISE(auto admitted, Admit());
    WriteSummary summary;
    // Parsed bodies come from a small pool so that their vectors keep their capacity.
    auto parsed = parsed_bodies_.Acquire();
    ARROW_ASSIGN_OR_RAISE(auto built, ParseAndBuild(write, parsed.get(), &summary));
    if (!built.has_value()) return summary;
    ARROW_RETURN_NOT_OK(SequenceAndApply(&built->op, {.no_sync = !write.sync}));
    summary.lines_written = built->lines_accepted;
    summary.rows_written = built->op.RowCount();
    metrics_.lines->Add(summary.lines_written);
    metrics_.rows->Add(summary.rows_written);
    return summary;
  }();
  if (!written.ok()) metrics_.failed->Add();
  return written;
}

arrow::Result<int64_t> WritePipeline::WriteBatches(
    const std::string& namespace_name, const std::string& table_name,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
  ARROW_ASSIGN_OR_RAISE(auto admitted, Admit());
  SchemaCache* cache = options_.schema_cache;
  ARROW_ASSIGN_OR_RAISE(auto ns, cache->GetOrCreateNamespace(namespace_name));
  ARROW_ASSIGN_OR_RAISE(auto op, BuildArrowWrite(ns, table_name, batches, cache));
  ARROW_RETURN_NOT_OK(SequenceAndApply(&op, ApplyOptions{}));
  metrics_.rows->Add(op.RowCount());
  return op.RowCount();
}

arrow::Result<WriteGate::Ticket> WritePipeline::Admit() {
  ARROW_ASSIGN_OR_RAISE(auto ticket, gate_.Admit());
  if (options_.admission_check) ARROW_RETURN_NOT_OK(options_.admission_check());
  return ticket;
}

arrow::Result<std::optional<BuiltWrite>> WritePipeline::ParseAndBuild(
    const LineProtocolWrite& write, lp::ParsedBody* body, WriteSummary* summary) {
  ARROW_ASSIGN_OR_RAISE(auto precision, lp::ParsePrecision(write.precision));
  lp::ParseOptions parse_options;
  parse_options.precision = precision;
  parse_options.default_time_ns = options_.clock->NowNanos();
  // One parser per thread: it keeps scratch space between the bodies it parses.
  thread_local lp::Parser parser;
  parser.Parse(write.body, parse_options, body);
  const lp::ParsedBody& parsed = *body;

  auto report = [&](std::vector<LineRejection> rejections) {
    LineIndex index(write.body);
    for (auto& r : rejections) {
      std::string_view text = index.Line(r.line_number);
      summary->rejected.push_back({r.line_number, r.column, std::move(r.message),
                                   std::string(text.substr(0, kMaxOriginalLineBytes))});
    }
    metrics_.rejected->Add(static_cast<int64_t>(summary->rejected.size()));
  };

  // All or nothing: a bad line stops the request before the catalog learns of it.
  if (!write.accept_partial && parsed.has_errors()) {
    std::vector<LineRejection> rejections;
    for (const auto& e : parsed.errors())
      rejections.push_back({e.line, e.column, e.message});
    report(std::move(rejections));
    return std::nullopt;
  }

  SchemaCache* cache = options_.schema_cache;
  ARROW_ASSIGN_OR_RAISE(auto ns,
                        cache->GetOrCreateNamespace(std::string(write.namespace_name)));
  ARROW_ASSIGN_OR_RAISE(auto built, BuildWrite(ns, write.body, parsed, cache));
  if (!built.rejected.empty()) {
    report(std::move(built.rejected));
    if (!write.accept_partial) return std::nullopt;
  }
  return built;
}

arrow::Status WritePipeline::SequenceAndApply(WriteOp* op, const ApplyOptions& options) {
  if (op->writes.empty()) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto applying, gate_.BeginApply());
  SequenceNumber first = oracle_.Next(op->writes.size());
  for (size_t i = 0; i < op->writes.size(); ++i)
    op->writes[i].sequence_number = first + i;
  return options_.sink->Apply(*op, options);
}

}  // namespace ingester
