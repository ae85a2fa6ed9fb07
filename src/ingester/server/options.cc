#include "ingester/server/options.h"

#include <utility>

#include "ingester/common/host_port.h"
#include "ingester/partition/partition_template.h"
#include "ingester/server/ingester_id.h"
#include "ingester/wal/payload_codec.h"

namespace ingester {

void IngesterOptions::Resolve() {
  if (wal_dir.empty()) wal_dir = data_dir + "/wal";
  if (catalog_url.empty()) catalog_url = "sqlite://" + data_dir + "/catalog.sqlite";
  if (object_store_url.empty()) object_store_url = "file://" + data_dir + "/objects";
}

arrow::Status IngesterOptions::Validate() const {
  if (data_dir.empty()) return arrow::Status::Invalid("--data-dir must not be empty");
  if (wal_rotation_period < std::chrono::milliseconds(10)) {
    return arrow::Status::Invalid("--wal-rotation-period must be at least 10ms");
  }
  if (shutdown_timeout < std::chrono::nanoseconds(0)) {
    return arrow::Status::Invalid("--shutdown-timeout must not be negative");
  }
  if (persist_workers < 1)
    return arrow::Status::Invalid("--persist-workers must be >= 1");
  if (persist_queue_depth < 1) {
    return arrow::Status::Invalid("--persist-queue-depth must be >= 1");
  }
  if (persist_hot_partition_cost < 1) {
    return arrow::Status::Invalid("--persist-hot-partition-cost must be positive");
  }
  if (!(wal_disk_full_percent > 0 && wal_disk_full_percent <= 100)) {
    return arrow::Status::Invalid("--wal-disk-full-percent must be in (0, 100]");
  }
  {
    auto codec = wal::ParsePayloadCompression(wal_compression);
    if (!codec.ok())
      return arrow::Status::Invalid("--wal-compression: ", codec.status().message());
    auto level = wal::ValidateCompressionLevel(*codec, wal_compression_level);
    if (!level.ok())
      return arrow::Status::Invalid("--wal-compression-level: ", level.message());
  }
  if (max_http_request_size < 1) {
    return arrow::Status::Invalid("--max-http-request-size must be positive");
  }
  if (max_flight_put_size < 1) {
    return arrow::Status::Invalid("--max-flight-put-size must be positive");
  }
  if (concurrent_query_limit < 1) {
    return arrow::Status::Invalid("--concurrent-query-limit must be >= 1");
  }
  if (http_threads < 1) return arrow::Status::Invalid("--http-threads must be >= 1");
  if (http_io_threads < 1)
    return arrow::Status::Invalid("--http-io-threads must be >= 1");
  if (max_http_connections < 1) {
    return arrow::Status::Invalid("--max-http-connections must be >= 1");
  }
  if (max_http_header_bytes < 1024 || max_http_header_bytes > 1024 * 1024) {
    return arrow::Status::Invalid("--max-http-header-bytes must be in [1KiB, 1MiB]");
  }
  if (max_http_headers < 8)
    return arrow::Status::Invalid("--max-http-headers must be >= 8");
  for (auto [flag, value] : {std::pair{"--http-header-timeout", http_header_timeout},
                             std::pair{"--http-body-timeout", http_body_timeout},
                             std::pair{"--http-idle-timeout", http_idle_timeout}}) {
    if (value < std::chrono::milliseconds(100)) {
      return arrow::Status::Invalid(flag, " must be at least 100ms");
    }
  }
  if (max_tables_per_namespace < 1 || max_columns_per_table < 2) {
    return arrow::Status::Invalid(
        "namespace limits must allow at least one table of two columns");
  }
  if (!partition_template.empty()) {
    auto parsed = partition::PartitionTemplate::FromJson(partition_template);
    if (!parsed.ok()) {
      return arrow::Status::Invalid("--partition-template: ", parsed.status().message());
    }
  }
  if (tls_cert.empty() != tls_key.empty()) {
    return arrow::Status::Invalid(tls_cert.empty() ? "--tls-key" : "--tls-cert",
                                  " needs ",
                                  tls_cert.empty() ? "--tls-cert" : "--tls-key",
                                  " too: TLS takes a certificate and its private key");
  }
  if (!ingester_id.empty()) {
    ARROW_RETURN_NOT_OK(ValidateIngesterId(ingester_id, "--ingester-id"));
  }
  for (size_t i = 0; i < peers.size(); ++i) {
    std::string peer_host;
    int peer_port = 0;
    auto split = SplitHostPort("--peer", peers[i], &peer_host, &peer_port);
    if (!split.ok() || peer_host.empty() || peer_port == 0) {
      return arrow::Status::Invalid("--peer ", peers[i],
                                    ": expected HOST:PORT, the Flight address of another "
                                    "ingester (port not 0)");
    }
    for (size_t j = 0; j < i; ++j) {
      if (peers[j] == peers[i]) {
        return arrow::Status::Invalid("--peer ", peers[i], " is given twice");
      }
    }
  }
  if (!peers.empty() && !tls_cert.empty()) {
    return arrow::Status::Invalid(
        "--peer with --tls-cert is not supported yet: peers are read over plain gRPC");
  }
  if (peer_timeout < std::chrono::milliseconds(10)) {
    return arrow::Status::Invalid("--peer-timeout must be at least 10ms");
  }
  std::string host;
  int port;
  ARROW_RETURN_NOT_OK(SplitHostPort("bind address", http_bind, &host, &port));
  ARROW_RETURN_NOT_OK(SplitHostPort("bind address", flight_bind, &host, &port));
  return arrow::Status::OK();
}

}  // namespace ingester
