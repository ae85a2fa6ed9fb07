#include "ingester/server/ingester.h"

#include <arrow/util/io_util.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

#include <unistd.h>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "ingester/buffer/buffer_tree.h"
#include "ingester/buffer/catalog_adapters.h"
#include "ingester/buffer/partition_cache.h"
#include "ingester/catalog/catalog_listing.h"
#include "ingester/catalog/open.h"
#include "ingester/common/build_info.h"
#include "ingester/common/clock.h"
#include "ingester/common/error.h"
#include "ingester/common/json.h"
#include "ingester/common/metrics.h"
#include "ingester/common/thread_annotations.h"
#include "ingester/persist/compaction.h"
#include "ingester/persist/ingest_state.h"
#include "ingester/persist/object_store.h"
#include "ingester/persist/persist_handle.h"
#include "ingester/persist/persist_triggers.h"
#include "ingester/pipeline/write_pipeline.h"
#include "ingester/query/buffer_tree_query_exec.h"
#include "ingester/query/catalog_table_resolver.h"
#include "ingester/query/flight_service.h"
#include "ingester/query/limited_query_exec.h"
#include "ingester/query/metrics_query_exec.h"
#include "ingester/query/peer_query_exec.h"
#include "ingester/query/read_metrics.h"
#include "ingester/query/tracing_query_exec.h"
#include "ingester/server/data_dir_lock.h"
#include "ingester/server/ingester_id.h"
#include "ingester/server/startup_checks.h"
#include "ingester/wal/payload_codec.h"
#include "ingester/wal/reference_tracker.h"
#include "ingester/wal/replay.h"
#include "ingester/wal/rotation_task.h"
#include "ingester/wal/wal.h"
#include "ingester/wal/wal_sink.h"
#include "ingester/write/schema_cache.h"

namespace ingester {

namespace {

// The write pipeline counts its own (ingester_write_*); these are the startup's and the
// buffer's.
struct WriteMetrics {
  explicit WriteMetrics(MetricsRegistry* r)
      : replayed_rows(r->AddCounter("ingester_wal_replayed_rows_total",
                                    "Rows replayed from the WAL at startup.")),
        replay_quarantined(r->AddCounter(
            "ingester_wal_replay_quarantined_entries_total",
            "WAL entries set aside at startup because their write failed validation "
            "(kept in <wal-dir>/quarantine).")),
        buffered_bytes(
            r->AddGauge("ingester_buffered_bytes", "Bytes held by the buffer tree.")),
        buffered_rows(
            r->AddGauge("ingester_buffered_rows", "Rows held by the buffer tree.")) {}
  Counter* replayed_rows;
  Counter* replay_quarantined;
  Gauge* buffered_bytes;
  Gauge* buffered_rows;
};

// Durations as Prometheus histograms, and what this binary is.
struct LatencyMetrics {
  explicit LatencyMetrics(MetricsRegistry* r)
      : wal_fsync_seconds(r->AddHistogram("ingester_wal_fsync_duration_seconds",
                                          "Seconds of each WAL group commit's fdatasync.",
                                          LatencyBuckets())) {
    r->AddGauge("ingester_build_info",
                "Always 1; the labels say which version and build this process is.",
                "version=\"" + std::string(BuildVersion()) + "\",build=\"" +
                    std::string(BuildName()) + "\"")
        ->Set(1);
  }
  Histogram* wal_fsync_seconds;
};

}  // namespace

struct Ingester::Impl {
  IngesterOptions options;
  MetricsRegistry metrics;
  WriteMetrics write_metrics{&metrics};
  LatencyMetrics latency_metrics{&metrics};

  // Construction order is dependency order; destruction runs backwards.
  std::unique_ptr<DataDirLock> data_dir_lock;  // released last
  std::unique_ptr<catalog::Catalog> catalog;
  std::unique_ptr<SchemaCache> schema_cache;
  std::shared_ptr<PartitionCache> partition_cache;
  std::shared_ptr<BufferTree> buffer;
  std::shared_ptr<wal::Wal> wal;
  std::shared_ptr<wal::WalSink> wal_sink;  // the head of the write chain
  // Admission, parse + validate, sequence, then `wal_sink`: every write's one path.
  std::unique_ptr<WritePipeline> pipeline;
  std::unique_ptr<wal::RotationTask> rotation;

  // Persistence: WAL segments are deleted by `tracker` once every write in them is
  // persisted; `triggers` decide when partitions persist; `ingest_state` refuses writes
  // while persistence cannot keep up or the disk is full.
  std::shared_ptr<persist::IngestState> ingest_state;
  std::shared_ptr<wal::ReferenceTracker> tracker;
  std::unique_ptr<persist::ObjectStore> object_store;
  std::unique_ptr<persist::CompactionExecutor> compaction;
  std::optional<persist::PersistHandle> persist_handle;
  std::unique_ptr<persist::PersistTriggers> triggers;
  // The tree's PostWriteObserver; the triggers attach to it.
  std::shared_ptr<persist::PersistWriteObserver> persist_observer;

  // The query path of every reader (Flight and HTTP): the concurrent query limit around
  // tracing around metrics around the executor over the buffer tree and the catalog's
  // Parquet files. The limit is outermost so a refused query costs no span (a log line
  // per refusal would flood the log exactly when the server is busiest); refusals are
  // counted by the limit itself. `read_metrics` outlives the responses.
  std::unique_ptr<query::ReadMetrics> read_metrics;
  std::shared_ptr<query::QueryExec> query_exec;
  std::unique_ptr<query::BatchWriter> batch_writer;

  // CheckCatalog's state: when it last asked, and the answer while it is not OK.
  std::atomic<int64_t> catalog_checked_at_ns{std::numeric_limits<int64_t>::min() / 2};
  std::atomic<bool> catalog_lost{false};
  Mutex catalog_mu;
  arrow::Status catalog_error GUARDED_BY(catalog_mu);

  // Logs, at WARN, each partition that still holds data (left to the WAL).
  void LogLeftToWal();

  // Startup, phase by phase (docs/architecture.md, "Startup"); each phase builds on the
  // parts the ones before it made.
  arrow::Status Open();
  // Creates the data dir, locks it (data_dir_lock.h) and loads or creates the ingester
  // id (ingester_id.h).
  arrow::Status ClaimDataDir();
  // Opens the catalog (refusing an empty one next to a WAL that holds entries) and the
  // schema cache. Returns whether the catalog was empty.
  arrow::Result<bool> OpenCatalog();
  arrow::Status WarmPartitionCache();
  // The ingest state, the WAL reference tracker, the persist observer and the tree.
  arrow::Status BuildBuffer();
  // Replays the WAL into the tree, opens a new segment, hands the replayed segments to
  // the tracker.
  arrow::Result<wal::ReplayStats> ReplayAndOpenWal();
  // The WalSink over the tree and the write pipeline in front of it (its oracle seeded
  // past the replayed sequence numbers), and the DoPut adapter.
  arrow::Status OpenWritePipeline(const wal::ReplayStats& replay);
  // Object store, compaction executor, persist handle and triggers; persists the
  // replayed data in the background; starts the rotation task.
  arrow::Status StartPersistence(bool catalog_empty, const wal::ReplayStats& replay);
  // The query executor over the tree and the Parquet files, with its decorators.
  arrow::Status BuildQueryPath();
  // The pipeline's admission check: refuses writes while the ingest state blocks them
  // or the catalog is gone.
  arrow::Status CheckAdmission();
  // The catalog's CheckStorage(), asked at most once a second (a stat of its file):
  // writes are refused (503) and /health fails while the catalog is gone.
  arrow::Status CheckCatalog();
  arrow::Result<std::vector<query::NamespaceListing>> ListTables();

  // Flight DoPut: the write pipeline's Arrow entry, as the Flight service's interface.
  class DoPutWriter final : public query::BatchWriter {
   public:
    explicit DoPutWriter(WritePipeline* pipeline) : pipeline_(pipeline) {}
    arrow::Result<query::BatchWriteResult> WriteBatches(
        const std::string& namespace_name, const std::string& table_name,
        const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) override {
      ARROW_ASSIGN_OR_RAISE(int64_t rows,
                            pipeline_->WriteBatches(namespace_name, table_name, batches));
      return query::BatchWriteResult{rows};
    }

   private:
    WritePipeline* const pipeline_;
  };

  std::string ingester_id;
};

arrow::Status Ingester::Impl::Open() {
  ARROW_RETURN_NOT_OK(ClaimDataDir());
  ARROW_ASSIGN_OR_RAISE(const bool catalog_empty, OpenCatalog());
  ARROW_RETURN_NOT_OK(WarmPartitionCache());
  ARROW_RETURN_NOT_OK(BuildBuffer());
  ARROW_ASSIGN_OR_RAISE(wal::ReplayStats replay, ReplayAndOpenWal());
  ARROW_RETURN_NOT_OK(OpenWritePipeline(replay));
  ARROW_RETURN_NOT_OK(StartPersistence(catalog_empty, replay));
  ARROW_RETURN_NOT_OK(BuildQueryPath());
  return arrow::Status::OK();
}

arrow::Status Ingester::Impl::ClaimDataDir() {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec)
    return arrow::Status::IOError("cannot create ", options.data_dir, ": ", ec.message());
  ARROW_ASSIGN_OR_RAISE(data_dir_lock, DataDirLock::Acquire(options.data_dir));
  ARROW_ASSIGN_OR_RAISE(ingester_id,
                        LoadOrCreateIngesterId(options.data_dir, options.ingester_id));
  return arrow::Status::OK();
}

arrow::Result<bool> Ingester::Impl::OpenCatalog() {
  ARROW_ASSIGN_OR_RAISE(catalog, catalog::OpenCatalog(options.catalog_url));
  ARROW_ASSIGN_OR_RAISE(const bool catalog_empty, CatalogIsEmpty(*catalog));
  if (catalog_empty) {
    ARROW_RETURN_NOT_OK(
        CheckEmptyCatalogAgainstWal(options.catalog_url, options.wal_dir));
  }
  catalog::NamespaceLimits limits;
  limits.max_tables = options.max_tables_per_namespace;
  limits.max_columns_per_table = options.max_columns_per_table;
  partition::PartitionTemplate default_template;
  if (!options.partition_template.empty()) {
    ARROW_ASSIGN_OR_RAISE(default_template, partition::PartitionTemplate::FromJson(
                                                options.partition_template));
  }
  schema_cache = std::make_unique<SchemaCache>(catalog.get(), limits, default_template);
  return catalog_empty;
}

arrow::Status Ingester::Impl::WarmPartitionCache() {
  // Pre-warm the partition cache so that writes to recent partitions make no catalog
  // query.
  PartitionCacheOptions cache_options;
  cache_options.inner = std::make_shared<CatalogPartitionProvider>(catalog.get());
  ARROW_ASSIGN_OR_RAISE(
      auto recent, catalog->ListRecentPartitions(options.partition_cache_warm_count));
  for (const auto& p : recent) cache_options.entries.push_back({p.table_id, p.key, p.id});
  ARROW_ASSIGN_OR_RAISE(partition_cache, PartitionCache::Make(std::move(cache_options)));
  spdlog::info("partition cache warmed with {} partitions", recent.size());
  return arrow::Status::OK();
}

arrow::Status Ingester::Impl::BuildBuffer() {
  ingest_state = std::make_shared<persist::IngestState>(&metrics);
  // Deletes through the WAL opened after replay; no segment can empty before then,
  // since only persists (started after it) release writes.
  wal::ReferenceTrackerOptions tracker_options;
  tracker_options.delete_segment = [this](wal::SegmentId id) { return wal->Delete(id); };
  tracker_options.metrics = &metrics;
  ARROW_ASSIGN_OR_RAISE(tracker, wal::ReferenceTracker::Make(std::move(tracker_options)));

  // Persistence watches applied writes from downstream; it is attached to the observer
  // once the triggers exist (StartPersistence).
  persist_observer = std::make_shared<persist::PersistWriteObserver>();
  BufferTreeOptions tree_options;
  tree_options.partition_provider = partition_cache;
  tree_options.name_resolver = std::make_shared<CatalogNameResolver>(catalog.get());
  tree_options.post_write_observer = persist_observer;
  ARROW_ASSIGN_OR_RAISE(buffer, BufferTree::Make(std::move(tree_options)));
  return arrow::Status::OK();
}

arrow::Result<wal::ReplayStats> Ingester::Impl::ReplayAndOpenWal() {
  // Replay through the chain without the WalSink, then open a fresh segment.
  std::error_code ec;
  std::filesystem::create_directories(options.wal_dir, ec);
  if (ec)
    return arrow::Status::IOError("cannot create ", options.wal_dir, ": ", ec.message());
  auto fs = wal::PosixFileSystem();
  wal::ReplayOptions replay_options;
  replay_options.allow_missing_segments = options.wal_allow_missing_segments;
  ARROW_ASSIGN_OR_RAISE(auto replay,
                        wal::ReplayWal(*fs, options.wal_dir, *buffer, replay_options));
  write_metrics.replayed_rows->Add(replay.rows);
  write_metrics.replay_quarantined->Add(static_cast<int64_t>(replay.quarantined.size()));

  wal::WalOptions wal_options;
  wal_options.dir = options.wal_dir;
  wal_options.fs = fs;
  wal_options.allow_missing_segments = options.wal_allow_missing_segments;
  ARROW_ASSIGN_OR_RAISE(wal_options.compression,
                        wal::ParsePayloadCompression(options.wal_compression));
  wal_options.compression_level = options.wal_compression_level;
  wal_options.fsync_seconds = latency_metrics.wal_fsync_seconds;
  ARROW_ASSIGN_OR_RAISE(wal, wal::Wal::Make(std::move(wal_options)));
  for (auto& segment : replay.segments) {
    tracker->AddSegment(segment.id, std::move(segment.sequence_numbers));
  }
  return replay;
}

arrow::Status Ingester::Impl::OpenWritePipeline(const wal::ReplayStats& replay) {
  // Writes that never reach a buffer (no rows, failed) are released by the WalSink.
  wal_sink = std::make_shared<wal::WalSink>(wal, buffer, tracker);
  WritePipelineOptions pipeline_options;
  pipeline_options.schema_cache = schema_cache.get();
  pipeline_options.sink = wal_sink;
  pipeline_options.first_sequence_number = replay.max_sequence_number.value_or(0) + 1;
  pipeline_options.admission_check = [this] { return CheckAdmission(); };
  pipeline_options.metrics = &metrics;
  ARROW_ASSIGN_OR_RAISE(pipeline, WritePipeline::Make(std::move(pipeline_options)));
  batch_writer = std::make_unique<DoPutWriter>(pipeline.get());
  return arrow::Status::OK();
}

arrow::Status Ingester::Impl::StartPersistence(bool catalog_empty,
                                               const wal::ReplayStats& replay) {
  persist::ObjectStoreOptions store_options;
  store_options.url = options.object_store_url;
  store_options.s3_endpoint = options.s3_endpoint;
  store_options.s3_region = options.s3_region;
  store_options.s3_access_key_id = options.s3_access_key_id;
  store_options.s3_secret_access_key = options.s3_secret_access_key;
  store_options.s3_create_bucket = options.s3_create_bucket;
  ARROW_ASSIGN_OR_RAISE(object_store, persist::ObjectStore::Make(store_options));
  if (catalog_empty) {
    ARROW_RETURN_NOT_OK(
        CheckEmptyCatalogAgainstObjects(options.catalog_url, *object_store));
  }
  persist::CompactionExecutorOptions compaction_options;
  compaction_options.memory_limit_bytes = options.exec_mem_limit;
  ARROW_ASSIGN_OR_RAISE(compaction,
                        persist::CompactionExecutor::Make(compaction_options));

  persist::PersistJobContext job_context;
  job_context.catalog = catalog.get();
  job_context.object_store = object_store.get();
  job_context.executor = compaction.get();
  job_context.ingester_id = ingester_id;
  persist::PersistHandleOptions handle_options;
  handle_options.workers = static_cast<size_t>(options.persist_workers);
  handle_options.queue_depth = static_cast<size_t>(options.persist_queue_depth);
  handle_options.job = persist::MakePersistJobFn(job_context);
  // Completion: persisted writes leave the WAL (segments left with none are deleted).
  handle_options.on_persisted =
      [tracker = tracker](const std::vector<SequenceNumber>& n) { tracker->Release(n); };
  handle_options.ingest_state = ingest_state;
  handle_options.metrics = &metrics;
  ARROW_ASSIGN_OR_RAISE(persist_handle,
                        persist::PersistHandle::Make(std::move(handle_options)));

  persist::PersistTriggersOptions trigger_options;
  trigger_options.tree = buffer;
  trigger_options.handle = *persist_handle;
  trigger_options.observer = persist_observer;
  // The WAL's side of rotation and drain: closed segments go to the tracker, which
  // deletes them once their writes are persisted.
  trigger_options.segment_closed = [tracker = tracker](const wal::ClosedSegment& s) {
    tracker->AddSegment(s);
  };
  trigger_options.wait_segments_deleted = [tracker =
                                               tracker](std::chrono::nanoseconds t) {
    if (tracker->WaitUntilEmpty(t)) return arrow::Status::OK();
    const auto s = tracker->stats();
    return arrow::Status::IOError(s.segments, " WAL segments not deleted (", s.referenced,
                                  " writes still referenced)");
  };
  trigger_options.ingest_state = ingest_state;
  trigger_options.metrics = &metrics;
  trigger_options.hot_partition_cost = options.persist_hot_partition_cost;
  trigger_options.max_buffer_bytes = options.max_buffer_bytes;
  trigger_options.rotate = [this]() { return wal->Rotate(); };
  trigger_options.disk_space = [this]() { return wal->GetDiskSpace(); };
  trigger_options.disk_full_ratio = options.wal_disk_full_percent / 100;
  ARROW_ASSIGN_OR_RAISE(triggers,
                        persist::PersistTriggers::Make(std::move(trigger_options)));

  // Everything replayed is persisted in the background; its segments are deleted as the
  // persists complete. Writes are served meanwhile.
  if (replay.rows > 0) {
    ARROW_ASSIGN_OR_RAISE(auto enqueued, triggers->PersistAll());
    spdlog::info("persisting {} replayed partitions in the background", enqueued);
  }

  wal::RotationTaskOptions rotation_options;
  rotation_options.period = options.wal_rotation_period;
  ARROW_ASSIGN_OR_RAISE(
      rotation,
      wal::RotationTask::Make(wal, rotation_options, [this](wal::ClosedSegment segment) {
        triggers->OnWalRotated(std::move(segment));
      }));
  return arrow::Status::OK();
}

arrow::Status Ingester::Impl::BuildQueryPath() {
  query::BufferTreeQueryExecOptions exec_options;
  exec_options.buffer = buffer;
  auto resolver = std::make_shared<query::CatalogTableResolver>(catalog.get());
  exec_options.resolver = resolver;
  exec_options.catalog = catalog.get();
  exec_options.files = object_store->filesystem();
  read_metrics = std::make_unique<query::ReadMetrics>(&metrics);
  exec_options.metrics = read_metrics.get();
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<query::QueryExec> exec,
                        query::BufferTreeQueryExec::Make(std::move(exec_options)));
  if (!options.peers.empty()) {
    query::PeerQueryExecOptions peer_options;
    peer_options.ingester_id = ingester_id;
    peer_options.peers = options.peers;
    peer_options.token = options.token;
    peer_options.timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(options.peer_timeout);
    peer_options.resolver = std::move(resolver);
    peer_options.metrics = &metrics;
    ARROW_ASSIGN_OR_RAISE(exec,
                          query::PeerQueryExec::Make(std::move(exec), peer_options));
  }
  auto measured = std::make_shared<query::MetricsQueryExec>(std::move(exec), &metrics);
  auto traced = std::make_shared<query::TracingQueryExec>(
      std::move(measured), query::TracingQueryExecOptions{});
  query::LimitedQueryExecOptions limit_options;
  limit_options.concurrent_query_limit = options.concurrent_query_limit;
  limit_options.metrics = &metrics;
  ARROW_ASSIGN_OR_RAISE(query_exec,
                        query::LimitedQueryExec::Make(std::move(traced), limit_options));
  return arrow::Status::OK();
}

void Ingester::Impl::LogLeftToWal() {
  constexpr size_t kNamed = 20;  // one line each; the rest are counted
  size_t partitions = 0;
  int64_t rows = 0;
  for (const auto& p : buffer->Partitions()) {
    const PartitionStats stats = p->Stats();
    if (stats.rows() == 0) continue;
    rows += stats.rows();
    if (++partitions > kNamed) continue;
    spdlog::warn(
        "shutdown: partition {} ({}.{} '{}') not persisted: {} rows left to the WAL "
        "(replayed at the next start)",
        p->partition_id().value(),
        p->namespace_name().Peek().value_or(std::to_string(p->namespace_id().value())),
        p->table_name().Peek().value_or(std::to_string(p->table_id().value())),
        p->partition_key(), stats.rows());
  }
  if (partitions > kNamed) {
    spdlog::warn("shutdown: {} partitions ({} rows) left to the WAL in all", partitions,
                 rows);
  }
}

arrow::Status Ingester::Impl::CheckAdmission() {
  ARROW_RETURN_NOT_OK(ingest_state->Check());
  if (auto catalog_ok = CheckCatalog(); !catalog_ok.ok()) {
    return Backpressure("writes are refused: " + catalog_ok.message());
  }
  return arrow::Status::OK();
}

arrow::Result<std::vector<query::NamespaceListing>> Ingester::Impl::ListTables() {
  std::vector<query::NamespaceListing> out;
  ARROW_ASSIGN_OR_RAISE(auto namespaces, catalog->ListNamespaces());
  for (const auto& ns : namespaces) {
    query::NamespaceListing listing{ns.name, {}};
    ARROW_ASSIGN_OR_RAISE(auto tables, catalog->ListTables(ns.id));
    for (const auto& t : tables) listing.tables.push_back(t.name);
    out.push_back(std::move(listing));
  }
  return out;
}

Ingester::Ingester(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

query::QueryExec* Ingester::query_exec() const { return impl_->query_exec.get(); }

FlightHandlers Ingester::flight_handlers() const {
  Impl* impl = impl_.get();
  return {impl->query_exec.get(), impl->batch_writer.get(),
          [impl] { return impl->ListTables(); }};
}

const std::string& Ingester::ingester_id() const { return impl_->ingester_id; }

Ingester::~Ingester() { (void)Shutdown(); }

arrow::Result<std::unique_ptr<Ingester>> Ingester::Make(IngesterOptions options) {
  options.Resolve();
  ARROW_RETURN_NOT_OK(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  ARROW_RETURN_NOT_OK(impl->Open());
  return std::unique_ptr<Ingester>(new Ingester(std::move(impl)));
}

arrow::Result<WriteSummary> Ingester::WriteLineProtocol(const LineProtocolWrite& write) {
  return impl_->pipeline->WriteLineProtocol(write);
}

namespace {

// The template `json` asks for, or `fallback` when it is empty.
arrow::Result<partition::PartitionTemplate> RequestedTemplate(
    std::string_view json, const partition::PartitionTemplate& fallback) {
  if (json.empty()) return fallback;
  return partition::PartitionTemplate::FromJson(json);
}

}  // namespace

arrow::Result<ConfigureOutcome> Ingester::CreateDatabase(const std::string& name,
                                                         std::string_view template_json) {
  ARROW_ASSIGN_OR_RAISE(
      auto wanted,
      RequestedTemplate(template_json, impl_->schema_cache->default_template()));
  ARROW_ASSIGN_OR_RAISE(auto existing, impl_->catalog->GetNamespaceByName(name));
  ConfigureOutcome outcome = ConfigureOutcome::kAlreadyExists;
  if (!existing) {
    ARROW_ASSIGN_OR_RAISE(existing,
                          impl_->schema_cache->GetOrCreateNamespace(name, wanted));
    outcome = ConfigureOutcome::kCreated;
  }
  if (existing->partition_template != wanted) {
    // Also when a concurrent request created it first with another template.
    return Conflict("database '" + name + "' exists with partition template " +
                    existing->partition_template.ToJson() + ", not " + wanted.ToJson() +
                    " (a template is fixed when its database is created)");
  }
  return outcome;
}

arrow::Result<ConfigureOutcome> Ingester::CreateTable(
    const std::string& db, const std::string& table, std::string_view template_json,
    const std::vector<std::string>& tags) {
  ARROW_ASSIGN_OR_RAISE(auto ns, impl_->catalog->GetNamespaceByName(db));
  if (!ns) return NotFound("database '" + db + "' not found");
  ARROW_ASSIGN_OR_RAISE(auto wanted,
                        RequestedTemplate(template_json, ns->partition_template));
  ARROW_ASSIGN_OR_RAISE(auto existing, impl_->catalog->GetTableByName(ns->id, table));
  const ConfigureOutcome outcome =
      existing ? ConfigureOutcome::kAlreadyExists : ConfigureOutcome::kCreated;
  ARROW_ASSIGN_OR_RAISE(auto schema,
                        impl_->schema_cache->GetOrCreateTable(*ns, table, wanted));
  if (schema->table.partition_template != wanted) {
    return Conflict("table '" + table + "' of database '" + db +
                    "' exists with partition template " +
                    schema->table.partition_template.ToJson() + ", not " +
                    wanted.ToJson() + " (a template is fixed when its table is created)");
  }
  std::vector<catalog::ColumnSpec> columns;
  for (const auto& tag : wanted.tag_names()) columns.push_back({tag, ColumnType::kTag});
  for (const auto& tag : tags) columns.push_back({tag, ColumnType::kTag});
  bool missing = false;
  for (const auto& column : columns)
    missing = missing || schema->FindColumn(column.name) == nullptr;
  if (missing) {
    ARROW_RETURN_NOT_OK(
        impl_->schema_cache->AddColumns(*ns, schema->table.id, columns).status());
  }
  return outcome;
}

arrow::Result<std::string> Ingester::DatabasesJson() const {
  return catalog::DatabasesJson(*impl_->catalog);
}

arrow::Result<std::vector<std::string>> Ingester::DatabaseNames() const {
  ARROW_ASSIGN_OR_RAISE(auto namespaces, impl_->catalog->ListNamespaces());
  std::vector<std::string> names;
  for (const auto& ns : namespaces) names.push_back(ns.name);
  std::sort(names.begin(), names.end());
  return names;
}

arrow::Result<std::vector<TableDescription>> Ingester::DescribeDatabase(
    const std::string& db) const {
  auto& catalog = *impl_->catalog;
  ARROW_ASSIGN_OR_RAISE(auto ns, catalog.GetNamespaceByName(db));
  if (!ns) return NotFound("database not found: " + db);
  ARROW_ASSIGN_OR_RAISE(auto tables, catalog.ListTables(ns->id));
  std::vector<TableDescription> out;
  for (const auto& table : tables) {
    ARROW_ASSIGN_OR_RAISE(auto schema, catalog.GetTableSchema(table.id));
    TableDescription& d = out.emplace_back();
    d.name = schema.table.name;
    for (const auto& column : schema.columns)
      d.columns.emplace_back(column.name, column.type);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

arrow::Status Ingester::Impl::CheckCatalog() {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = catalog_checked_at_ns.load(std::memory_order_relaxed);
  constexpr int64_t kEvery = 1'000'000'000;
  if (now - last >= kEvery && catalog_checked_at_ns.compare_exchange_strong(last, now)) {
    arrow::Status status = catalog->CheckStorage();
    MutexLock lock(&catalog_mu);
    if (!status.ok() && !catalog_lost.load()) {
      spdlog::error("{} (catalog {}); writes are refused and /health fails",
                    status.message(), options.catalog_url);
    }
    catalog_error = status;
    catalog_lost.store(!status.ok());
    return status;
  }
  if (!catalog_lost.load()) return arrow::Status::OK();
  MutexLock lock(&catalog_mu);
  return catalog_error;
}

std::string Ingester::ClientMessage(const arrow::Status& status) const {
  std::string message = status.message();
  // An I/O error's message names the call and the file; the reason (EIO, ENOSPC,
  // EROFS...) is in its errno, which the client and /health must see too.
  if (int err = arrow::internal::ErrnoFromStatus(status); err > 0) {
    message += ": ";
    message += std::strerror(err);
  }
  const IngesterOptions& o = impl_->options;
  // Longest first, so that the WAL dir inside the data dir is named as the WAL dir.
  std::vector<std::pair<std::string, std::string>> dirs;
  auto add = [&](const std::string& path, const std::string& name) {
    if (path.empty()) return;
    std::error_code ec;
    const std::string absolute = std::filesystem::absolute(path, ec).lexically_normal();
    if (!ec) dirs.emplace_back(absolute, name);
    dirs.emplace_back(path, name);
  };
  add(o.wal_dir, "<wal-dir>");
  add(o.data_dir, "<data-dir>");
  std::sort(dirs.begin(), dirs.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const auto& [dir, name] : dirs) {
    if (dir.size() < 2) continue;  // "/" or "." would mangle the message
    for (size_t at = message.find(dir); at != std::string::npos;
         at = message.find(dir, at + name.size())) {
      message.replace(at, dir.size(), name);
    }
  }
  return message;
}

arrow::Status Ingester::CheckHealth() const {
  if (impl_->pipeline->closed()) return Backpressure("the ingester is shutting down");
  if (impl_->ingest_state->IsSet(persist::IngestBlock::kDiskFull)) {
    // Writes are refused until persists free WAL space; say so where an operator (and a
    // load balancer) looks, with what to do if it does not clear.
    return Backpressure(
        "the WAL volume is over --wal-disk-full-percent: writes are refused until "
        "persists free space; if it does not clear, free space on the volume or move "
        "--object-store or --wal-dir to another one");
  }
  ARROW_RETURN_NOT_OK(impl_->CheckCatalog());
  ARROW_RETURN_NOT_OK(impl_->wal->sticky_error());
  if (impl_->rotation != nullptr) {
    // Writes are still acknowledged (the current segment takes them), but that segment
    // cannot be closed, so it is never deleted and the WAL only grows: say so.
    if (arrow::Status rotation = impl_->rotation->last_error(); !rotation.ok()) {
      return arrow::Status(
          rotation.code(),
          "the WAL cannot rotate (writes go on into the current segment, which cannot "
          "be closed and deleted until a rotation succeeds): " +
              rotation.message(),
          rotation.detail());
    }
  }
  return arrow::Status::OK();
}

std::string Ingester::HealthWarning() const {
  if (!impl_->persist_handle) return "";
  const auto failures = impl_->persist_handle->PermanentFailures();
  if (failures.empty()) return "";
  constexpr size_t kNamed = 5;
  std::string message = std::to_string(failures.size()) +
                        " partition(s) cannot be persisted (permanent error, not "
                        "retried); their data stays buffered and in the WAL: ";
  std::vector<std::string> remedies;
  for (size_t i = 0; i < failures.size() && i < kNamed; ++i) {
    const auto& f = failures[i];
    message += (i ? "; " : "") + f.partition + ": " + f.reason + ": " + f.error;
    if (std::find(remedies.begin(), remedies.end(), f.remedy) == remedies.end()) {
      remedies.push_back(f.remedy);
    }
  }
  if (failures.size() > kNamed) {
    message += "; and " + std::to_string(failures.size() - kNamed) + " more";
  }
  message += ". To persist them: ";
  for (size_t i = 0; i < remedies.size(); ++i) message += (i ? "; " : "") + remedies[i];
  message += "; then restart the ingester (the WAL is replayed and persisted)";
  return ClientMessage(arrow::Status::IOError(message));
}

arrow::Result<std::string> Ingester::CatalogJson(bool with_files) const {
  // Buffered rows by partition id, from one walk of the tree.
  std::unordered_map<PartitionId, catalog::BufferedPartition> buffered;
  for (const auto& p : impl_->buffer->Partitions()) {
    const PartitionStats stats = p->Stats();
    buffered[p->partition_id()] = {stats.rows(), stats.bytes(), stats.completed_persists};
  }
  return catalog::CatalogListingJson(*impl_->catalog, buffered, with_files);
}

std::string Ingester::MetricsText() const {
  impl_->write_metrics.buffered_bytes->Set(impl_->buffer->BufferedBytes());
  impl_->write_metrics.buffered_rows->Set(impl_->buffer->BufferedRows());
  return impl_->metrics.RenderText();
}

const IngesterOptions& Ingester::options() const { return impl_->options; }

arrow::Status Ingester::Shutdown() {
  return Shutdown(std::chrono::steady_clock::now() + impl_->options.shutdown_timeout);
}

arrow::Status Ingester::Shutdown(std::chrono::steady_clock::time_point deadline) {
  if (impl_->pipeline->Close()) return arrow::Status::OK();
  using Clock = std::chrono::steady_clock;
  // At the deadline, whatever is still persisting is abandoned (a persist that keeps
  // failing, or a worker queue too full to take the last snapshots): the handle stops,
  // which ends retry waits and every wait for queue room, so Drain returns.
  std::jthread watchdog([this, deadline](std::stop_token stop) {
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_until(lock, stop, deadline, [] { return false; });
    if (!stop.stop_requested() && impl_->persist_handle) {
      spdlog::warn("shutdown: --shutdown-timeout reached, abandoning the persists left");
      impl_->persist_handle->Stop();
    }
  });
  // Writes admitted before the flag may finish until the deadline; later ones are not
  // applied (their clients get 503, never a 204).
  if (!impl_->pipeline->Drain(deadline)) {
    spdlog::warn(
        "shutdown: writes still in flight at --shutdown-timeout; they are refused "
        "(503) and not applied");
  }
  if (impl_->rotation) impl_->rotation->Stop();
  // Persist every buffer and wait until the WAL holds nothing unpersisted; on failure
  // (object store down, a permanent persist error) the data stays in the WAL and is
  // replayed at the next start.
  arrow::Status drained = arrow::Status::OK();
  if (impl_->triggers) {
    drained = impl_->triggers->Drain(
        std::max(Clock::duration::zero(), deadline - Clock::now()));
    impl_->triggers->Stop();
  }
  if (impl_->persist_handle) impl_->persist_handle->Stop();
  watchdog.request_stop();
  if (!drained.ok()) {
    impl_->LogLeftToWal();
    drained = drained.WithMessage(
        "shutdown: not everything was persisted (", drained.message(),
        "); the rest is in the WAL and is replayed and persisted at the next start");
  }
  // Always: acknowledged writes made with no_sync=true are only durable once synced.
  arrow::Status closed = impl_->wal->Close();
  if (!drained.ok()) return drained;
  return closed;
}

}  // namespace ingester
