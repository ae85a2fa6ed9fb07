// `ingester`: serve, write a line protocol file to a server, inspect a WAL directory.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "ingester/common/logging.h"
#include "ingester/common/units.h"
#include "ingester/query/query_client.h"
#include "ingester/server/commands.h"
#include "ingester/server/heap_tuning.h"
#include "ingester/server/options.h"

namespace {

// A flag holding a size ("10MiB") or duration ("300s"), parsed after CLI11 is done.
struct TextFlags {
  std::string wal_rotation_period = "300s";
  std::string shutdown_timeout = "300s";
  std::string persist_hot_partition_cost = "20MB";
  std::string max_buffer_bytes = "0";
  std::string exec_mem_limit = "0";
  std::string max_http_request_size = "10MiB";
  std::string max_flight_put_size = "64MiB";
  std::string max_http_header_bytes = "16KiB";
  std::string http_header_timeout = "10s";
  std::string http_body_timeout = "30s";
  std::string http_idle_timeout = "120s";
  std::string peer_timeout = "10s";
  std::string token_file;
};

void AddServeFlags(CLI::App* serve, ingester::IngesterOptions* o, TextFlags* t) {
  auto flag = [&](const char* name, auto* target, const char* env, const char* help) {
    serve->add_option(name, *target, help)->envname(env)->capture_default_str();
  };
  flag("--data-dir", &o->data_dir, "INGESTER_DATA_DIR",
       "Root of WAL, catalog and objects");
  flag("--wal-dir", &o->wal_dir, "INGESTER_WAL_DIR", "WAL directory [<data-dir>/wal]");
  flag("--catalog", &o->catalog_url, "INGESTER_CATALOG",
       "sqlite://PATH or postgres://... [sqlite://<data-dir>/catalog.sqlite]");
  flag("--object-store", &o->object_store_url, "INGESTER_OBJECT_STORE",
       "file://DIR or s3://bucket/prefix [file://<data-dir>/objects]");
  flag("--s3-endpoint", &o->s3_endpoint, "INGESTER_S3_ENDPOINT",
       "S3-compatible endpoint, e.g. http://127.0.0.1:8333 (empty: AWS)");
  flag("--s3-region", &o->s3_region, "INGESTER_S3_REGION", "S3 region");
  flag("--s3-access-key-id", &o->s3_access_key_id, "INGESTER_S3_ACCESS_KEY_ID",
       "S3 access key");
  serve->add_option("--s3-secret-access-key", o->s3_secret_access_key, "S3 secret key")
      ->envname("INGESTER_S3_SECRET_ACCESS_KEY");
  serve
      ->add_flag("--s3-create-bucket", o->s3_create_bucket,
                 "Create the bucket if missing")
      ->envname("INGESTER_S3_CREATE_BUCKET");
  flag("--shutdown-timeout", &t->shutdown_timeout, "INGESTER_SHUTDOWN_TIMEOUT",
       "On SIGTERM, the bound on the whole shutdown: requests under way may finish and "
       "buffers persist until then; later requests are cancelled (never acknowledged) "
       "and what is not persisted stays in the WAL for the next start");
  flag("--wal-rotation-period", &t->wal_rotation_period, "INGESTER_WAL_ROTATION_PERIOD",
       "Close the WAL segment and persist everything this often");
  flag("--persist-workers", &o->persist_workers, "INGESTER_PERSIST_WORKERS",
       "Persist workers");
  flag("--persist-queue-depth", &o->persist_queue_depth, "INGESTER_PERSIST_QUEUE_DEPTH",
       "Jobs queued per persist worker");
  flag("--persist-hot-partition-cost", &t->persist_hot_partition_cost,
       "INGESTER_PERSIST_HOT_PARTITION_COST",
       "Persist a partition buffering more than this");
  flag("--max-buffer-bytes", &t->max_buffer_bytes, "INGESTER_MAX_BUFFER_BYTES",
       "Persist when all buffers together hold more (0: no limit)");
  flag("--wal-disk-full-percent", &o->wal_disk_full_percent,
       "INGESTER_WAL_DISK_FULL_PERCENT",
       "Refuse writes (503) and persist everything while the WAL volume is this full "
       "(used / (used + available), as df shows it)");
  serve
      ->add_flag("--wal-allow-missing-segments", o->wal_allow_missing_segments,
                 "Start although WAL segments the ingester never deleted are missing "
                 "(accepting the loss of their unpersisted writes)")
      ->envname("INGESTER_WAL_ALLOW_MISSING_SEGMENTS");
  flag("--wal-compression", &o->wal_compression, "INGESTER_WAL_COMPRESSION",
       "Codec of new WAL entries: lz4, zstd or none (replay reads any)");
  flag("--wal-compression-level", &o->wal_compression_level,
       "INGESTER_WAL_COMPRESSION_LEVEL",
       "Level of the WAL codec (0: its default; zstd: -7..19)");
  flag("--exec-mem-limit", &t->exec_mem_limit, "INGESTER_EXEC_MEM_LIMIT",
       "Memory limit of sort/dedup jobs (0: no limit)");
  flag("--max-http-request-size", &t->max_http_request_size,
       "INGESTER_MAX_HTTP_REQUEST_SIZE", "Largest accepted request body");
  flag("--max-flight-put-size", &t->max_flight_put_size, "INGESTER_MAX_FLIGHT_PUT_SIZE",
       "Largest total of Arrow data accepted in one Flight DoPut call");
  flag("--concurrent-query-limit", &o->concurrent_query_limit,
       "INGESTER_CONCURRENT_QUERY_LIMIT",
       "Queries served at once, over Flight and HTTP together");
  flag("--http-bind", &o->http_bind, "INGESTER_HTTP_BIND", "HTTP API address");
  flag("--flight-bind", &o->flight_bind, "INGESTER_FLIGHT_BIND", "Arrow Flight address");
  flag("--ingester-id", &o->ingester_id, "INGESTER_ID",
       "Stable id of this ingester ([A-Za-z0-9_-], at most 64): names it in query "
       "responses and in the object paths it writes; kept in <data-dir>/ingester_id "
       "[the stored id, or a generated one on the first start]");
  serve
      ->add_option("--peer", o->peers,
                   "Flight address HOST:PORT of another ingester whose buffer a query "
                   "also reads (repeatable; comma-separated in the variable)")
      ->envname("INGESTER_PEERS")
      ->delimiter(',');
  flag("--peer-timeout", &t->peer_timeout, "INGESTER_PEER_TIMEOUT",
       "Bound on each peer's part of a query (connect and read)");
  flag("--http-threads", &o->http_threads, "INGESTER_HTTP_THREADS",
       "HTTP worker threads running requests (idle connections hold none)");
  flag("--http-io-threads", &o->http_io_threads, "INGESTER_HTTP_IO_THREADS",
       "HTTP I/O threads multiplexing the connections");
  flag("--max-http-connections", &o->max_http_connections,
       "INGESTER_MAX_HTTP_CONNECTIONS",
       "Open HTTP connections at most; one more is answered 503 and closed");
  flag("--max-http-header-bytes", &t->max_http_header_bytes,
       "INGESTER_MAX_HTTP_HEADER_BYTES",
       "Largest request line + header fields (414/431 over it)");
  flag("--max-http-headers", &o->max_http_headers, "INGESTER_MAX_HTTP_HEADERS",
       "Most header fields in a request (431 over it)");
  flag("--http-header-timeout", &t->http_header_timeout, "INGESTER_HTTP_HEADER_TIMEOUT",
       "A request header must arrive within this of its first byte (408)");
  flag("--http-body-timeout", &t->http_body_timeout, "INGESTER_HTTP_BODY_TIMEOUT",
       "Longest pause in a request body (408) or in reading a response");
  flag("--http-idle-timeout", &t->http_idle_timeout, "INGESTER_HTTP_IDLE_TIMEOUT",
       "Close a keep-alive connection idle this long");
  flag("--partition-template", &o->partition_template, "INGESTER_PARTITION_TEMPLATE",
       "Partition template (JSON) of databases created without one [daily: "
       "{\"parts\":[{\"time_format\":\"%Y-%m-%d\"}]}]");
  flag("--max-tables-per-namespace", &o->max_tables_per_namespace,
       "INGESTER_MAX_TABLES_PER_NAMESPACE", "Table limit of new namespaces");
  flag("--max-columns-per-table", &o->max_columns_per_table,
       "INGESTER_MAX_COLUMNS_PER_TABLE", "Column limit of new namespaces' tables");
  serve->add_option("--token", o->token, "Require this bearer token")
      ->envname("INGESTER_TOKEN");
  serve
      ->add_option("--token-file", t->token_file,
                   "Require the bearer token held in this file (its first line)")
      ->envname("INGESTER_TOKEN_FILE");
  serve
      ->add_option("--tls-cert", o->tls_cert,
                   "PEM certificate chain: serve HTTPS and grpc+tls (with --tls-key)")
      ->envname("INGESTER_TLS_CERT");
  serve
      ->add_option("--tls-key", o->tls_key, "PEM private key of --tls-cert (unencrypted)")
      ->envname("INGESTER_TLS_KEY");
  serve
      ->add_flag("--open-metrics", o->open_metrics,
                 "Serve /metrics without the token (for scrapers)")
      ->envname("INGESTER_OPEN_METRICS");
}

// The token of --token-file: its first line, without surrounding blanks.
arrow::Result<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return arrow::Status::IOError("--token-file: cannot read ", path);
  std::string line;
  std::getline(in, line);
  const auto first = line.find_first_not_of(" \t\r");
  const auto last = line.find_last_not_of(" \t\r");
  if (first == std::string::npos) {
    return arrow::Status::Invalid("--token-file: ", path,
                                  " holds no token on its first line");
  }
  return line.substr(first, last - first + 1);
}

arrow::Status ApplyTextFlags(const TextFlags& t, ingester::IngesterOptions* o) {
  if (!t.token_file.empty()) {
    if (!o->token.empty()) {
      return arrow::Status::Invalid("--token and --token-file exclude each other");
    }
    ARROW_ASSIGN_OR_RAISE(o->token, ReadTokenFile(t.token_file));
  }
  ARROW_ASSIGN_OR_RAISE(o->wal_rotation_period,
                        ingester::ParseDuration(t.wal_rotation_period));
  ARROW_ASSIGN_OR_RAISE(o->shutdown_timeout, ingester::ParseDuration(t.shutdown_timeout));
  ARROW_ASSIGN_OR_RAISE(o->persist_hot_partition_cost,
                        ingester::ParseByteSize(t.persist_hot_partition_cost));
  ARROW_ASSIGN_OR_RAISE(o->max_buffer_bytes, ingester::ParseByteSize(t.max_buffer_bytes));
  ARROW_ASSIGN_OR_RAISE(o->exec_mem_limit, ingester::ParseByteSize(t.exec_mem_limit));
  ARROW_ASSIGN_OR_RAISE(o->max_http_request_size,
                        ingester::ParseByteSize(t.max_http_request_size));
  ARROW_ASSIGN_OR_RAISE(o->max_flight_put_size,
                        ingester::ParseByteSize(t.max_flight_put_size));
  ARROW_ASSIGN_OR_RAISE(o->max_http_header_bytes,
                        ingester::ParseByteSize(t.max_http_header_bytes));
  ARROW_ASSIGN_OR_RAISE(o->http_header_timeout,
                        ingester::ParseDuration(t.http_header_timeout));
  ARROW_ASSIGN_OR_RAISE(o->http_body_timeout,
                        ingester::ParseDuration(t.http_body_timeout));
  ARROW_ASSIGN_OR_RAISE(o->http_idle_timeout,
                        ingester::ParseDuration(t.http_idle_timeout));
  ARROW_ASSIGN_OR_RAISE(o->peer_timeout, ingester::ParseDuration(t.peer_timeout));
  return arrow::Status::OK();
}

int Fail(const arrow::Status& status) {
  std::fprintf(stderr, "error: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Arrow's default pool in the pyarrow wheel is mimalloc, which here returned memory
  // so eagerly that every request faulted in fresh zeroed huge pages (17% of server
  // time). jemalloc gave ~20-40% more ingest throughput and half the p99 latency in
  // ingest_load runs (docs/benchmarks.md). A value set by the user wins.
  ::setenv("ARROW_DEFAULT_MEMORY_POOL", "jemalloc", /*overwrite=*/0);
  // The same for the C library's heap (request bodies, parsed lines): heap_tuning.h.
  if (!ingester::TuneHeap()) {
    std::fprintf(stderr,
                 "warning: the C library refused the heap tuning (heap_tuning.h)\n");
  }

  CLI::App app{
      "ingester: durable line protocol ingest, queryable at once, persisted as Parquet"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->envname("INGESTER_LOG_LEVEL")
      ->capture_default_str();

  ingester::IngesterOptions options;
  TextFlags text_flags;
  auto* serve = app.add_subcommand("serve", "Run the ingester (HTTP and Flight servers)");
  AddServeFlags(serve, &options, &text_flags);

  ingester::WriteFileCommand write_cmd;
  auto* write =
      app.add_subcommand("write", "Write a line protocol file to a running ingester");
  write->add_option("file", write_cmd.file, "Line protocol file ('-' for stdin)")
      ->required();
  write->add_option("--db,--namespace", write_cmd.namespace_name, "Target namespace")
      ->required();
  write->add_option("--host", write_cmd.host, "Server address")->capture_default_str();
  write->add_option("--precision", write_cmd.precision, "auto, s, ms, us or ns")
      ->capture_default_str();
  write->add_option("--batch-lines", write_cmd.batch_lines, "Lines per request")
      ->capture_default_str();
  write->add_option("--token", write_cmd.token, "Bearer token")
      ->envname("INGESTER_TOKEN");
  write->add_flag("--tls", write_cmd.tls, "HTTPS, trusting the system's CAs");
  write
      ->add_option("--tls-ca", write_cmd.tls_ca,
                   "HTTPS, trusting the CA certificates of this PEM file")
      ->envname("INGESTER_TLS_CA");

  ingester::query::QueryCommand query_cmd;
  auto* query = ingester::query::AddQuerySubcommand(&app, &query_cmd);

  auto* wal = app.add_subcommand("wal", "Write-ahead log tools");
  wal->require_subcommand(1);
  std::string inspect_dir;
  bool inspect_json = false;
  auto* inspect =
      wal->add_subcommand("inspect", "List segments, entries, rows and checksums");
  inspect->add_option("dir", inspect_dir, "WAL directory")->required();
  inspect->add_flag("--json", inspect_json, "Print JSON");

  CLI11_PARSE(app, argc, argv);

  if (auto st = ingester::SetLogLevel(log_level); !st.ok()) return Fail(st);

  if (serve->parsed()) {
    if (auto st = ApplyTextFlags(text_flags, &options); !st.ok()) return Fail(st);
    options.log_level = log_level;
    return ingester::RunServe(std::move(options));
  }
  if (write->parsed()) return ingester::RunWriteFile(write_cmd);
  if (query->parsed()) return ingester::query::RunQueryCommand(query_cmd);
  if (inspect->parsed()) return ingester::RunWalInspect(inspect_dir, inspect_json);
  return 0;
}
