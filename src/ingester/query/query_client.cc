#include "ingester/query/query_client.h"

#include <arrow/array.h>
#include <arrow/compute/api.h>
#include <arrow/flight/api.h>
#include <arrow/scalar.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <CLI/CLI.hpp>

#include <charconv>
#include <iostream>
#include <map>

#include "ingester/common/column_type.h"
#include "ingester/common/error.h"
#include "ingester/common/json.h"
#include "ingester/common/text_file.h"
#include "ingester/query/peer_client.h"
#include "ingester/query/peer_query_exec.h"
#include "ingester/query/ticket.h"
#include "ingester/query/time_format.h"
#include "ingester/query/value_format.h"

namespace ingester::query {

namespace flight = arrow::flight;

namespace {

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string part = text.substr(start, comma - start);
    // Trim spaces around names ("host, usage").
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    if (!part.empty()) out.push_back(std::move(part));
    start = comma + 1;
  }
  return out;
}

// The code point at text[*i] (advancing *i past it), or -1 for a byte that is not UTF-8.
int32_t NextCodePoint(std::string_view text, size_t* i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t b0 = b(*i);
  int len = b0 < 0x80         ? 1
            : (b0 >> 5) == 6  ? 2
            : (b0 >> 4) == 14 ? 3
            : (b0 >> 3) == 30 ? 4
                              : 0;
  if (len == 0 || *i + len > text.size()) {
    ++*i;
    return -1;
  }
  int32_t cp = len == 1 ? b0 : b0 & (0x7F >> len);
  for (int k = 1; k < len; ++k) {
    if ((b(*i + k) & 0xC0) != 0x80) {
      ++*i;
      return -1;
    }
    cp = (cp << 6) | (b(*i + k) & 0x3F);
  }
  *i += len;
  return cp;
}

int CodePointWidth(int32_t cp) {
  if (cp < 0) return 1;
  // Combining marks and zero-width characters.
  if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
      (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) ||
      (cp >= 0xFE20 && cp <= 0xFE2F) || cp == 0x200B || cp == 0x200C || cp == 0x200D ||
      (cp >= 0xFE00 && cp <= 0xFE0F)) {
    return 0;
  }
  // East Asian Wide and Fullwidth ranges, and emoji.
  if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) ||
      (cp >= 0x3041 && cp <= 0x33FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
      (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xA000 && cp <= 0xA4CF) ||
      (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
      (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
      (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
      (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD)) {
    return 2;
  }
  return 1;
}

void PrintTable(const arrow::Schema& schema,
                const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
                std::ostream& out) {
  const int columns = schema.num_fields();
  std::vector<size_t> width(columns);
  std::vector<bool> right(columns);
  for (int c = 0; c < columns; ++c) {
    width[c] = DisplayWidth(schema.field(c)->name());
    right[c] = IsNumericType(*schema.field(c)->type());
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& batch : batches) {
    for (int64_t r = 0; r < batch->num_rows(); ++r) {
      std::vector<std::string> row(columns);
      for (int c = 0; c < columns; ++c) {
        row[c] = CellText(*batch->column(c), r).value_or("");
        width[c] = std::max(width[c], DisplayWidth(row[c]));
      }
      rows.push_back(std::move(row));
    }
  }
  auto rule = [&] {
    out << '+';
    for (int c = 0; c < columns; ++c) out << std::string(width[c] + 2, '-') << '+';
    out << '\n';
  };
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    out << '|';
    for (int c = 0; c < columns; ++c) {
      const std::string pad(width[c] - DisplayWidth(cells[c]), ' ');
      out << ' ' << (right[c] && !header ? pad + cells[c] : cells[c] + pad) << " |";
    }
    out << '\n';
  };
  std::vector<std::string> names;
  for (const auto& f : schema.fields()) names.push_back(f->name());
  rule();
  line(names, true);
  rule();
  for (const auto& row : rows) line(row, false);
  rule();
  out << rows.size() << (rows.size() == 1 ? " row" : " rows") << '\n';
}

void PrintCsv(const arrow::Schema& schema,
              const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
              std::ostream& out) {
  std::string text;
  AppendCsvHeader(schema, &text);
  out << text;
  for (const auto& batch : batches) {
    text.clear();
    AppendCsvRows(*batch, &text);
    out << text;
  }
}

void PrintJson(const arrow::Schema& schema,
               const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
               std::ostream& out) {
  out << '[';
  bool first = true;
  for (const auto& batch : batches) {
    for (int64_t r = 0; r < batch->num_rows(); ++r) {
      out << (first ? "\n" : ",\n") << '{';
      first = false;
      for (int c = 0; c < batch->num_columns(); ++c) {
        out << (c ? "," : "") << json::Quote(schema.field(c)->name()) << ':'
            << CellJson(*batch->column(c), r).value_or("null");
      }
      out << '}';
    }
  }
  out << (first ? "]\n" : "\n]\n");
}

arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> Fetch(
    const QueryCommand& command, const QueryRequest& request,
    std::shared_ptr<arrow::Schema>* schema) {
  const auto colon = command.host.rfind(':');
  if (colon == std::string::npos) {
    return InvalidInput("--host must be HOST:PORT, got '" + command.host + "'");
  }
  int port = 0;
  const std::string port_text = command.host.substr(colon + 1);
  auto [ptr, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port <= 0) {
    return InvalidInput("--host must be HOST:PORT, got '" + command.host + "'");
  }
  const std::string host = command.host.substr(0, colon);
  const bool tls = command.tls || !command.tls_ca.empty();
  flight::FlightClientOptions client_options = flight::FlightClientOptions::Defaults();
  if (!command.tls_ca.empty()) {
    ARROW_ASSIGN_OR_RAISE(client_options.tls_root_certs,
                          ReadFlagFile("--tls-ca", command.tls_ca));
  }
  ARROW_ASSIGN_OR_RAISE(auto location, tls ? flight::Location::ForGrpcTls(host, port)
                                           : flight::Location::ForGrpcTcp(host, port));
  ARROW_ASSIGN_OR_RAISE(auto client,
                        flight::FlightClient::Connect(location, client_options));
  flight::FlightCallOptions call;
  // Received buffers may be unaligned (they wrap gRPC's); values are read from them.
  call.read_options.ensure_alignment = arrow::ipc::Alignment::kDataTypeSpecificAlignment;
  if (!command.token.empty()) {
    call.headers.emplace_back("authorization", "Bearer " + command.token);
  }
  ARROW_ASSIGN_OR_RAISE(auto reader,
                        client->DoGet(call, flight::Ticket{TicketJson(request)}));
  ARROW_ASSIGN_OR_RAISE(*schema, reader->GetSchema());
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, reader->Next());
    if (chunk.data == nullptr && chunk.app_metadata == nullptr) break;
    // Partition frames (zero rows with app_metadata) carry no rows to print.
    if (chunk.data != nullptr && chunk.data->num_rows() > 0) {
      batches.push_back(std::move(chunk.data));
    }
  }
  return batches;
}

}  // namespace

size_t DisplayWidth(std::string_view text) {
  size_t width = 0;
  for (size_t i = 0; i < text.size();) width += CodePointWidth(NextCodePoint(text, &i));
  return width;
}

arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> InTimeOrder(
    const std::shared_ptr<arrow::Schema>& schema,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches, int64_t limit) {
  if (schema->GetFieldIndex(std::string(kTimeColumnName)) < 0) {
    if (limit <= 0) return batches;
    ARROW_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatches(schema, batches));
    table = table->Slice(0, limit);
    arrow::TableBatchReader reader(*table);
    return reader.ToRecordBatches();
  }
  // The compute kernels register once per process; the client may run without a server.
  static const arrow::Status kComputeReady = arrow::compute::Initialize();
  ARROW_RETURN_NOT_OK(kComputeReady);
  ARROW_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatches(schema, batches));
  // Table sorts are stable.
  arrow::compute::SortOptions options(
      {arrow::compute::SortKey(std::string(kTimeColumnName))});
  ARROW_ASSIGN_OR_RAISE(auto indices, arrow::compute::SortIndices(table, options));
  if (limit > 0 && limit < indices->length()) indices = indices->Slice(0, limit);
  ARROW_ASSIGN_OR_RAISE(arrow::Datum sorted, arrow::compute::Take(table, indices));
  arrow::TableBatchReader reader(*sorted.table());
  return reader.ToRecordBatches();
}

arrow::Result<TimeRange> ParseTimeRange(std::string_view text) {
  const size_t dots = text.find("..");
  if (dots == std::string_view::npos) {
    return InvalidInput(
        "--where-time must be START..END (either side may be empty), got '" +
        std::string(text) + "'");
  }
  TimeRange range;
  const std::string_view start = text.substr(0, dots);
  const std::string_view end = text.substr(dots + 2);
  if (!start.empty()) {
    ARROW_ASSIGN_OR_RAISE(range.start, ParseTimestamp(start));
  }
  if (!end.empty()) {
    ARROW_ASSIGN_OR_RAISE(range.end, ParseTimestamp(end));
  }
  return range;
}

arrow::Result<QueryRequest> BuildQueryRequest(const QueryCommand& command) {
  if (command.namespace_name.empty()) return InvalidInput("--namespace is required");
  if (command.table.empty()) return InvalidInput("--table is required");
  QueryRequest request;
  request.namespace_name = command.namespace_name;
  request.table_name = command.table;
  request.partial = command.partial;
  for (const auto& entry : command.columns) {
    for (auto& name : SplitCommas(entry)) request.columns.push_back(std::move(name));
  }
  if (!command.where_time.empty()) {
    ARROW_ASSIGN_OR_RAISE(request.predicate.time, ParseTimeRange(command.where_time));
  }
  std::map<std::string, std::vector<std::string>> tags;  // by name: a stable ticket
  for (const auto& tag : command.tags) {
    const size_t eq = tag.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidInput("--tag must be KEY=VALUE, got '" + tag + "'");
    }
    tags[tag.substr(0, eq)].push_back(tag.substr(eq + 1));
  }
  for (auto& [name, values] : tags)
    request.predicate.tags.push_back({name, std::move(values)});
  if (command.limit < 0) return InvalidInput("--limit must be 0 (all) or more");
  if (command.format != "table" && command.format != "csv" && command.format != "json") {
    return InvalidInput("--format must be table, csv or json, got '" + command.format +
                        "'");
  }
  return request;
}

arrow::Status PrintResult(const arrow::Schema& schema,
                          const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
                          std::string_view format, std::ostream& out) {
  if (format == "table") {
    PrintTable(schema, batches, out);
  } else if (format == "csv") {
    PrintCsv(schema, batches, out);
  } else if (format == "json") {
    PrintJson(schema, batches, out);
  } else {
    return InvalidInput("unknown format '" + std::string(format) + "'");
  }
  return arrow::Status::OK();
}

std::string CommandErrorMessage(const arrow::Status& status, std::string_view host) {
  const std::string message = FlightMessageText(status.message());
  const std::string where(host);
  if (message.find("Trying to connect an http1.x server") != std::string::npos) {
    return where +
           " answers HTTP/1.x, not Arrow Flight: it looks like the ingester's HTTP port; "
           "--host takes its Flight address (--flight-bind, 127.0.0.1:8082 by default)";
  }
  // Not the server's own message about a peer it could not reach ("peer ... failed:").
  if (message.starts_with("failed to connect to all addresses")) {
    const bool refused = message.find("Connection refused") != std::string::npos;
    return "cannot connect to the Flight server at " + where +
           (refused ? ": connection refused" : ": " + message) +
           " (is `ingester serve` running, and is this its --flight-bind address?)";
  }
  return message;
}

int RunQueryCommand(const QueryCommand& command, std::ostream& out, std::ostream& err) {
  auto run = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(QueryRequest request, BuildQueryRequest(command));
    std::shared_ptr<arrow::Schema> schema;
    ARROW_ASSIGN_OR_RAISE(auto batches, Fetch(command, request, &schema));
    if (auto missing = MissingPeers(*schema); missing && !missing->empty()) {
      std::string list;
      for (const auto& peer : *missing) list += (list.empty() ? "" : ", ") + peer;
      err << "warning: partial result: the buffers of these peers are missing: " << list
          << '\n';
    }
    ARROW_ASSIGN_OR_RAISE(batches, InTimeOrder(schema, batches, command.limit));
    return PrintResult(*schema, batches, command.format, out);
  };
  auto status = run();
  if (!status.ok()) {
    err << "error: " << CommandErrorMessage(status, command.host) << '\n';
    return 1;
  }
  out.flush();
  return 0;
}

int RunQueryCommand(const QueryCommand& command) {
  return RunQueryCommand(command, std::cout, std::cerr);
}

CLI::App* AddQuerySubcommand(CLI::App* app, QueryCommand* command) {
  auto* query = app->add_subcommand(
      "query", "Read a table from a running ingester over Arrow Flight");
  query->add_option("--namespace,--db", command->namespace_name, "Namespace")->required();
  query->add_option("--table", command->table, "Table")->required();
  query->add_option("--columns", command->columns,
                    "Columns to return, comma-separated (default: all)");
  query->add_option(
      "--where-time", command->where_time,
      "START..END: [start, end) as ns integers or RFC 3339; either side may be "
      "empty");
  query->add_option("--tag", command->tags,
                    "KEY=VALUE; repeat a key to match any of its values");
  query
      ->add_option("--limit", command->limit,
                   "At most this many rows, the earliest by time (0: all)")
      ->capture_default_str();
  query->add_option("--format", command->format, "table, csv or json")
      ->capture_default_str();
  query->add_flag("--partial", command->partial,
                  "With peers: leave out a peer that fails (named on stderr) instead of "
                  "failing");
  query->add_option("--host", command->host, "Flight address of the ingester")
      ->capture_default_str();
  query->add_option("--token", command->token, "Bearer token")->envname("INGESTER_TOKEN");
  query->add_flag("--tls", command->tls, "grpc+tls, trusting the system's CAs");
  query
      ->add_option("--tls-ca", command->tls_ca,
                   "grpc+tls, trusting the CA certificates of this PEM file")
      ->envname("INGESTER_TLS_CA");
  return query;
}

}  // namespace ingester::query
