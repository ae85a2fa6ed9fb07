// `ingester query`: reads a table from a running ingester over Arrow Flight and prints it
// like a database CLI would.
//
//   ingester query --namespace db --table cpu [--columns host,usage,time]
//       [--where-time 2023-11-14T00:00:00Z..2023-11-15] [--tag host=a --tag host=b]
//       [--format table|csv|json] [--host 127.0.0.1:8082] [--token T]
//       [--tls | --tls-ca CA.pem] [--partial]
//
//   +------+-------+--------------------------------+
//   | host | usage | time                           |
//   +------+-------+--------------------------------+
//   | a    |   0.5 | 2023-11-14T22:13:20Z           |
//   | b    |       | 2023-11-14T22:13:20.000000001Z |
//   +------+-------+--------------------------------+
//   2 rows
//
// Rows print in time order (InTimeOrder), at most --limit of them; table cells are
// padded by display width (DisplayWidth), so non-ASCII text lines up.
// Values print as value_format.h says (shared with POST /api/v3/query): times as RFC 3339
// in UTC with as many fractional digits as they need, floats with a decimal point; nulls
// are empty cells (CSV: empty fields, JSON: null). JSON is an array of row objects; CSV
// has a header line and RFC 4180 quoting.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingester/query/query_exec.h"

namespace CLI {
class App;
}  // namespace CLI

namespace ingester::query {

struct QueryCommand {
  std::string host = "127.0.0.1:8082";
  std::string token;  // empty: no authorization header
  // grpc+tls: `tls` trusts the system's CAs, `tls_ca` (implies tls) the CA
  // certificates of that PEM file.
  bool tls = false;
  std::string tls_ca;
  std::string namespace_name;
  std::string table;
  // Output columns; each entry may itself be a comma-separated list. Empty: all.
  std::vector<std::string> columns;
  // "START..END" ([start, end)); either side may be empty. Each side an integer of
  // nanoseconds or an RFC 3339 time ("2023-11-14T22:13:20.5Z", "...+01:00", or a date).
  std::string where_time;
  // "key=value"; a key given several times matches any of its values (IN).
  std::vector<std::string> tags;
  std::string format = "table";  // table, csv or json
  // At most this many rows, the earliest by time (0: all). The whole result is fetched
  // and sorted first.
  int64_t limit = 0;
  // The ticket's "partial": with peers, leave out a failing peer (named on `err`)
  // instead of failing.
  bool partial = false;
};

// Registers the `query` subcommand and its flags on `app`, filling `*command` when
// parsed. Returns the subcommand (test `->parsed()` after CLI11_PARSE).
CLI::App* AddQuerySubcommand(CLI::App* app, QueryCommand* command);

// Runs the query and prints the result to `out`, errors to `err`. Returns the exit code:
// 0 on success, 1 on any error (bad flags, connection, the server's refusal).
int RunQueryCommand(const QueryCommand& command, std::ostream& out, std::ostream& err);
int RunQueryCommand(const QueryCommand& command);

// --- building blocks, exposed for tests -------------------------------------------

// The request a command describes. InvalidInput for bad flags.
arrow::Result<QueryRequest> BuildQueryRequest(const QueryCommand& command);

// What the CLI prints for `status`: a Flight error's message without gRPC's debug
// context, and for a connection that fails, what to check (the server running, the
// Flight rather than the HTTP port).
std::string CommandErrorMessage(const arrow::Status& status, std::string_view host);

// "START..END" with either side optional; each side as ParseTimestamp (time_format.h).
arrow::Result<TimeRange> ParseTimeRange(std::string_view text);

// The rows of `batches` in time order (a stable sort on the `time` column, so rows of one
// timestamp keep the server's order: by partition, then by tags), at most `limit` of
// them (0: all). Unchanged when there is no `time` column.
arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> InTimeOrder(
    const std::shared_ptr<arrow::Schema>& schema,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches, int64_t limit);

// The columns `text` takes in a terminal: a wide (East Asian, emoji) character counts
// two, a combining mark none, any other character one; a byte that is not UTF-8 one.
size_t DisplayWidth(std::string_view text);

// Prints `batches` (all under `schema`) in `format`.
arrow::Status PrintResult(const arrow::Schema& schema,
                          const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
                          std::string_view format, std::ostream& out);

}  // namespace ingester::query
