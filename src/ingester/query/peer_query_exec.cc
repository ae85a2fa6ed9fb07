#include "ingester/query/peer_query_exec.h"

#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <arrow/util/key_value_metadata.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <future>
#include <map>

#include "ingester/common/column_type.h"
#include "ingester/common/error.h"
#include "ingester/persist/compaction.h"

namespace ingester::query {

namespace {

using nlohmann::json;

// One ingester's buffered rows of one partition.
struct BufferSlice {
  std::string ingester_id;
  PartitionId partition_id;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t rows = 0;
};

// The columns of `batch` (under the wide schema) that `schema` names, under `schema`.
std::shared_ptr<arrow::RecordBatch> Project(const arrow::RecordBatch& batch,
                                            const std::shared_ptr<arrow::Schema>& schema,
                                            const std::vector<int>& projection) {
  arrow::ArrayVector columns;
  columns.reserve(projection.size());
  for (int i : projection) columns.push_back(batch.column(i));
  return arrow::RecordBatch::Make(schema, batch.num_rows(), std::move(columns));
}

// A partition of the inner response, projected onto the client's schema.
class ProjectedPartition final : public PartitionResponse {
 public:
  ProjectedPartition(std::unique_ptr<PartitionResponse> inner,
                     std::shared_ptr<arrow::Schema> schema, std::vector<int> projection)
      : inner_(std::move(inner)),
        schema_(std::move(schema)),
        projection_(std::move(projection)) {}
  const PartitionInfo& info() const override { return inner_->info(); }
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    ARROW_ASSIGN_OR_RAISE(auto batch, inner_->Next());
    if (batch == nullptr) return nullptr;
    return Project(*batch, schema_, projection_);
  }

 private:
  const std::unique_ptr<PartitionResponse> inner_;
  const std::shared_ptr<arrow::Schema> schema_;
  const std::vector<int> projection_;
};

// A merged partition: its batches, computed when the partition's turn came.
class MergedPartition final : public PartitionResponse {
 public:
  MergedPartition(PartitionInfo info, std::vector<std::shared_ptr<arrow::RecordBatch>> b)
      : info_(std::move(info)), batches_(std::move(b)) {}
  const PartitionInfo& info() const override { return info_; }
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    if (next_ == batches_.size()) return nullptr;
    return std::move(batches_[next_++]);
  }

 private:
  const PartitionInfo info_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_;
  size_t next_ = 0;
};

arrow::Status AppendAll(PartitionResponse* partition,
                        std::vector<std::shared_ptr<arrow::RecordBatch>>* out,
                        int64_t* rows) {
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto batch, partition->Next());
    if (batch == nullptr) return arrow::Status::OK();
    if (batch->num_rows() == 0) continue;
    *rows += batch->num_rows();
    out->push_back(std::move(batch));
  }
}

struct MergeContext {
  std::shared_ptr<QueryExec> inner;
  // The buffer-only request of this ingester's own buffer (under the wide columns).
  QueryRequest buffer_request;
  std::string self_id;
  std::shared_ptr<arrow::Schema> schema;  // the client's
  std::vector<int> projection;            // wide column index of each client column
  arrow::MemoryPool* pool = nullptr;
  int64_t max_batch_rows = 0;
};

class PeerMergeResponse final : public QueryResponse {
 public:
  PeerMergeResponse(MergeContext context, std::unique_ptr<QueryResponse> local,
                    std::map<std::string, std::vector<BufferSlice>> peer_partitions)
      : context_(std::move(context)),
        local_(std::move(local)),
        peer_partitions_(std::move(peer_partitions)) {}

  const std::shared_ptr<arrow::Schema>& schema() const override {
    return context_.schema;
  }

  arrow::Result<std::unique_ptr<PartitionResponse>> NextPartition() override {
    if (local_next_ == nullptr && !local_done_) {
      ARROW_ASSIGN_OR_RAISE(local_next_, local_->NextPartition());
      local_done_ = local_next_ == nullptr;
    }
    auto peers = peer_partitions_.begin();
    const bool has_peer = peers != peer_partitions_.end();
    if (local_next_ != nullptr &&
        (!has_peer || local_next_->info().partition_key < peers->first)) {
      return std::make_unique<ProjectedPartition>(std::move(local_next_), context_.schema,
                                                  context_.projection);
    }
    if (!has_peer) return nullptr;
    std::vector<BufferSlice> slices = std::move(peers->second);
    const std::string key = peers->first;
    peer_partitions_.erase(peers);
    std::unique_ptr<PartitionResponse> local;
    if (local_next_ != nullptr && local_next_->info().partition_key == key) {
      local = std::move(local_next_);
    }
    return Merge(key, std::move(local), std::move(slices));
  }

 private:
  // This ingester's buffered rows of partition `key`, read now (after the inner
  // response read the partition), or an empty slice.
  arrow::Result<BufferSlice> OwnBuffer(const std::string& key) {
    BufferSlice slice{context_.self_id, PartitionId(), {}, 0};
    if (own_ == nullptr) {
      ARROW_ASSIGN_OR_RAISE(own_, context_.inner->Query(context_.buffer_request));
    }
    while (!own_done_ &&
           (own_next_ == nullptr || own_next_->info().partition_key < key)) {
      ARROW_ASSIGN_OR_RAISE(own_next_, own_->NextPartition());
      own_done_ = own_next_ == nullptr;
    }
    if (own_next_ != nullptr && own_next_->info().partition_key == key) {
      slice.partition_id = own_next_->info().partition_id;
      ARROW_RETURN_NOT_OK(AppendAll(own_next_.get(), &slice.batches, &slice.rows));
      own_next_.reset();
    }
    return slice;
  }

  arrow::Result<std::unique_ptr<PartitionResponse>> Merge(
      const std::string& key, std::unique_ptr<PartitionResponse> local,
      std::vector<BufferSlice> slices) {
    std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
    PartitionInfo info;
    int64_t rows = 0;
    if (local != nullptr) {
      info = local->info();
      ARROW_RETURN_NOT_OK(AppendAll(local.get(), &batches, &rows));
      local.reset();
    } else {
      info.partition_id = slices.front().partition_id;
      info.partition_key = key;
    }
    // Oldest first: the persisted and own rows above, then every buffer by ingester id,
    // so the greatest id wins (field by field). The rows above already put this
    // ingester's buffer before every peer's; only a peer with a smaller id needs it read
    // again, to come after that peer's.
    const bool own_after_a_peer = std::any_of(
        slices.begin(), slices.end(),
        [&](const BufferSlice& slice) { return slice.ingester_id < context_.self_id; });
    if (own_after_a_peer) {
      ARROW_ASSIGN_OR_RAISE(BufferSlice own, OwnBuffer(key));
      if (own.rows > 0) slices.push_back(std::move(own));
    }
    std::sort(slices.begin(), slices.end(),
              [](const BufferSlice& a, const BufferSlice& b) {
                return a.ingester_id < b.ingester_id;
              });
    for (auto& slice : slices) {
      if (slice.ingester_id != context_.self_id) info.buffer_rows += slice.rows;
      rows += slice.rows;
      for (auto& b : slice.batches) batches.push_back(std::move(b));
    }
    std::vector<std::shared_ptr<arrow::RecordBatch>> out;
    if (rows > 0) {
      persist::CompactOptions compact_options;
      ARROW_ASSIGN_OR_RAISE(
          auto merged,
          persist::CompactBatches(batches, {}, context_.pool, compact_options));
      batches.clear();
      ARROW_ASSIGN_OR_RAISE(auto table, merged.table->CombineChunks(context_.pool));
      arrow::ArrayVector columns;
      for (const auto& field : context_.schema->fields()) {
        auto column = table->GetColumnByName(field->name());
        if (column == nullptr || column->num_chunks() != 1) {
          return arrow::Status::Invalid("merging peer buffers: column '", field->name(),
                                        "' is missing from the merged rows");
        }
        columns.push_back(column->chunk(0));
      }
      auto whole = arrow::RecordBatch::Make(context_.schema, table->num_rows(),
                                            std::move(columns));
      for (int64_t offset = 0; offset < whole->num_rows();
           offset += context_.max_batch_rows) {
        out.push_back(whole->Slice(offset, context_.max_batch_rows));
      }
    }
    return std::make_unique<MergedPartition>(std::move(info), std::move(out));
  }

  MergeContext context_;
  const std::unique_ptr<QueryResponse> local_;
  std::unique_ptr<PartitionResponse> local_next_;
  bool local_done_ = false;
  // Peer rows by partition key, the smallest key first; a key leaves when it is merged.
  std::map<std::string, std::vector<BufferSlice>> peer_partitions_;
  // This ingester's buffer, opened at the first merged partition.
  std::unique_ptr<QueryResponse> own_;
  std::unique_ptr<PartitionResponse> own_next_;
  bool own_done_ = false;
};

std::string SchemaText(const arrow::Schema& schema) {
  std::string text;
  for (const auto& field : schema.fields()) {
    text += (text.empty() ? "" : ", ") + field->name() + " " + field->type()->ToString();
  }
  return text;
}

arrow::Status PeerFailure(const std::string& address, const arrow::Status& status) {
  return MakeError(ErrorKind::kRetryable, arrow::StatusCode::IOError,
                   "peer " + address + " failed: " + status.message() +
                       " (a query reads the buffers of every --peer; ask with "
                       "\"partial\": true for the rows of the ingesters that answer)");
}

}  // namespace

std::optional<std::vector<std::string>> MissingPeers(const arrow::Schema& schema) {
  const auto& metadata = schema.metadata();
  if (metadata == nullptr) return std::nullopt;
  const int index = metadata->FindKey(kMissingPeersMetadataKey);
  if (index < 0) return std::nullopt;
  std::vector<std::string> peers;
  try {
    for (const auto& peer : json::parse(metadata->value(index))) {
      peers.push_back(peer.get<std::string>());
    }
  } catch (const json::exception&) {
    return std::nullopt;
  }
  return peers;
}

arrow::Status PeerQueryExecOptions::Validate() const {
  if (ingester_id.empty()) {
    return arrow::Status::Invalid("peer query exec: no ingester id");
  }
  if (peers.empty()) return arrow::Status::Invalid("peer query exec: no peers");
  if (resolver == nullptr) {
    return arrow::Status::Invalid("peer query exec: no table resolver");
  }
  if (pool == nullptr) return arrow::Status::Invalid("peer query exec: no memory pool");
  if (max_batch_rows < 1) {
    return arrow::Status::Invalid("peer query exec: max_batch_rows < 1");
  }
  if (timeout.count() < 1) {
    return arrow::Status::Invalid("peer query exec: timeout must be positive");
  }
  return arrow::Status::OK();
}

PeerQueryExec::PeerQueryExec(std::shared_ptr<QueryExec> inner,
                             PeerQueryExecOptions options, std::vector<Peer> peers)
    : inner_(std::move(inner)), options_(std::move(options)), peers_(std::move(peers)) {}

PeerQueryExec::~PeerQueryExec() = default;

arrow::Result<std::unique_ptr<PeerQueryExec>> PeerQueryExec::Make(
    std::shared_ptr<QueryExec> inner, PeerQueryExecOptions options) {
  if (inner == nullptr) return arrow::Status::Invalid("peer query exec: no inner exec");
  ARROW_RETURN_NOT_OK(options.Validate());
  std::vector<Peer> peers;
  for (const auto& address : options.peers) {
    PeerClientOptions client_options;
    client_options.address = address;
    client_options.token = options.token;
    client_options.timeout = options.timeout;
    Peer peer;
    ARROW_ASSIGN_OR_RAISE(peer.client, PeerClient::Make(std::move(client_options)));
    if (options.metrics != nullptr) {
      constexpr const char* kName = "ingester_query_peer_requests_total";
      constexpr const char* kHelp =
          "Requests of a query for a peer's buffer, by peer and outcome";
      const std::string peer_label = "peer=" + json(address).dump();
      peer.ok = options.metrics->AddCounter(kName, kHelp, peer_label + ",outcome=\"ok\"");
      peer.failed =
          options.metrics->AddCounter(kName, kHelp, peer_label + ",outcome=\"error\"");
    }
    peers.push_back(std::move(peer));
  }
  return std::unique_ptr<PeerQueryExec>(
      new PeerQueryExec(std::move(inner), std::move(options), std::move(peers)));
}

arrow::Result<std::unique_ptr<QueryResponse>> PeerQueryExec::Query(
    const QueryRequest& request) {
  if (request.scope == QueryScope::kBuffer) return inner_->Query(request);

  // The request with the de-duplication key (every tag, `time`) added to its columns.
  ARROW_ASSIGN_OR_RAISE(
      ResolvedTable table,
      options_.resolver->Resolve(request.namespace_name, request.table_name));
  QueryRequest wide = request;
  wide.partial = false;
  if (!wide.columns.empty()) {
    for (const auto& column : table.columns) {
      const bool key =
          column.type == ColumnType::kTag || column.type == ColumnType::kTime;
      if (key && std::find(wide.columns.begin(), wide.columns.end(), column.name) ==
                     wide.columns.end()) {
        wide.columns.push_back(column.name);
      }
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto local, inner_->Query(wide));
  const std::shared_ptr<arrow::Schema> wide_schema = local->schema();

  MergeContext context;
  context.inner = inner_;
  context.buffer_request = wide;
  context.buffer_request.scope = QueryScope::kBuffer;
  context.buffer_request.columns = wide_schema->field_names();
  context.self_id = options_.ingester_id;
  context.pool = options_.pool;
  context.max_batch_rows = options_.max_batch_rows;
  // The client's columns: the requested ones (the first of the wide schema), or all.
  const int client_columns = request.columns.empty()
                                 ? wide_schema->num_fields()
                                 : static_cast<int>(request.columns.size());
  arrow::FieldVector fields;
  for (int i = 0; i < client_columns; ++i) {
    context.projection.push_back(i);
    fields.push_back(wide_schema->field(i));
  }

  // Every peer at once, each bounded by the client's timeout.
  std::vector<std::future<arrow::Result<PeerAnswer>>> calls;
  for (const auto& peer : peers_) {
    calls.push_back(
        std::async(std::launch::async,
                   [client = peer.client, peer_request = context.buffer_request] {
                     return client->FetchBuffer(peer_request);
                   }));
  }
  std::vector<std::string> missing;
  std::map<std::string, std::vector<BufferSlice>> peer_partitions;
  arrow::Status failure;
  for (size_t i = 0; i < calls.size(); ++i) {
    const std::string& address = peers_[i].client->address();
    auto answer = calls[i].get();
    arrow::Status status = answer.status();
    auto count = [&peer = peers_[i]](bool ok) {
      if (Counter* counter = ok ? peer.ok : peer.failed) counter->Add(1);
    };
    if (status.IsKeyError()) {  // the peer does not know the table
      count(true);
      continue;
    }
    if (status.ok() && !answer->schema->Equals(*wide_schema, /*check_metadata=*/false)) {
      status = arrow::Status::Invalid(
          "it answered with the columns [", SchemaText(*answer->schema), "], not [",
          SchemaText(*wide_schema), "] (do the ingesters share one catalog?)");
    }
    if (status.ok() && answer->ingester_id == options_.ingester_id) {
      return InvalidInput("peer " + address + " has this ingester's own id '" +
                          options_.ingester_id +
                          "': every ingester needs an id of its own (is --peer this "
                          "ingester's own address?)");
    }
    count(status.ok());
    if (!status.ok()) {
      if (!request.partial) {
        if (failure.ok()) failure = PeerFailure(address, status);
        continue;
      }
      spdlog::warn("query of '{}'.'{}': peer {} left out (partial): {}",
                   request.namespace_name, request.table_name, address,
                   status.ToString());
      missing.push_back(address);
      continue;
    }
    for (auto& partition : answer->partitions) {
      if (partition.rows == 0) continue;
      peer_partitions[partition.partition_key].push_back(
          BufferSlice{answer->ingester_id, partition.partition_id,
                      std::move(partition.batches), partition.rows});
    }
  }
  ARROW_RETURN_NOT_OK(failure);

  std::shared_ptr<arrow::KeyValueMetadata> metadata;
  if (request.partial) {
    metadata =
        arrow::key_value_metadata({kMissingPeersMetadataKey}, {json(missing).dump()});
  }
  context.schema = arrow::schema(std::move(fields), std::move(metadata));
  return std::make_unique<PeerMergeResponse>(std::move(context), std::move(local),
                                             std::move(peer_partitions));
}

}  // namespace ingester::query
