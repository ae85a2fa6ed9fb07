// Configuration of one ingester process: every `ingester serve` flag (also settable as
// an INGESTER_* environment variable), with the defaults of DESIGN.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <arrow/status.h>

namespace ingester {

struct IngesterOptions {
  std::string data_dir = "./data";
  // Empty means derived from data_dir by Resolve(): <data-dir>/wal,
  // sqlite://<data-dir>/catalog.sqlite and file://<data-dir>/objects.
  std::string wal_dir;
  std::string catalog_url;
  std::string object_store_url;

  // S3 object stores (--object-store s3://bucket/prefix).
  std::string s3_endpoint;  // e.g. http://127.0.0.1:8333; empty: AWS
  std::string s3_region;
  std::string s3_access_key_id;
  std::string s3_secret_access_key;
  bool s3_create_bucket = false;

  // How long SIGTERM waits for every buffer to be persisted and the WAL to empty.
  std::chrono::nanoseconds shutdown_timeout = std::chrono::minutes(5);

  std::chrono::nanoseconds wal_rotation_period = std::chrono::seconds(300);
  int persist_workers = 5;
  int persist_queue_depth = 250;
  int64_t persist_hot_partition_cost = 20'000'000;
  int64_t max_buffer_bytes = 0;  // 0: no limit
  // Writes are refused (503) and everything is persisted while the WAL volume is this
  // full, in percent of its capacity.
  double wal_disk_full_percent = 90;
  // Start even though WAL segments the ingester never deleted are missing (their
  // unpersisted writes are lost); the default refuses to start and names them.
  bool wal_allow_missing_segments = false;
  // Codec of new WAL entries ("zstd", "lz4" or "none") and its level (0: the codec's
  // default; zstd takes -7..19). Replay reads entries of any codec.
  std::string wal_compression = "lz4";
  int wal_compression_level = 0;
  int64_t exec_mem_limit = 0;  // 0: no limit
  int64_t max_http_request_size = 10 * 1024 * 1024;
  // Bound on the Arrow bytes of the batches of one Flight DoPut call.
  int64_t max_flight_put_size = 64 * 1024 * 1024;
  int concurrent_query_limit = 20;
  std::string http_bind = "127.0.0.1:8080";
  std::string flight_bind = "127.0.0.1:8082";
  // HTTP: I/O threads multiplexing the connections, and worker threads running
  // requests (a write holds one while it waits for the WAL's fsync).
  int http_io_threads = 2;
  int http_threads = 64;
  // Open connections at most; one more is answered 503 and closed.
  int max_http_connections = 16'384;
  int64_t max_http_header_bytes = 16 * 1024;  // request line + header fields
  int max_http_headers = 100;
  // The whole request header must arrive within this of its first byte (else 408).
  std::chrono::nanoseconds http_header_timeout = std::chrono::seconds(10);
  // Longest pause in a request body (408), or in a client reading its response.
  std::chrono::nanoseconds http_body_timeout = std::chrono::seconds(30);
  // An idle keep-alive connection is closed after this.
  std::chrono::nanoseconds http_idle_timeout = std::chrono::seconds(120);
  std::string token;  // empty: no authentication
  // PEM files of the server's certificate chain and private key: both set, HTTPS on the
  // HTTP port and grpc+tls on the Flight port; both empty, plain (server/tls.h).
  std::string tls_cert;
  std::string tls_key;
  // /metrics answers without the token (for scrapers); /health always does.
  bool open_metrics = false;
  // This ingester's stable id (server/ingester_id.h): [A-Za-z0-9_-], at most 64
  // characters. Empty means the id stored in the data dir, or a generated one on the
  // first start; a value differing from the stored id is refused.
  std::string ingester_id;
  // Flight addresses (HOST:PORT) of the other ingesters of a cluster: a query also reads
  // their buffers (query/peer_query_exec.h). Empty: a single ingester.
  std::vector<std::string> peers;
  // Bound on each peer call of a query (connecting and reading its whole answer).
  std::chrono::nanoseconds peer_timeout = std::chrono::seconds(10);
  std::string log_level = "info";

  // The partition template (its JSON form, partition/partition_template.h) of a
  // namespace created without one; empty means the default, daily "%Y-%m-%d".
  std::string partition_template;

  // Namespace limits applied when a namespace is created on first write.
  int max_tables_per_namespace = 10'000;
  int max_columns_per_table = 200;

  // How many recent partitions to load into the partition cache at startup.
  int partition_cache_warm_count = 10'000;

  // Fills the derived paths.
  void Resolve();
  arrow::Status Validate() const;
};

}  // namespace ingester
