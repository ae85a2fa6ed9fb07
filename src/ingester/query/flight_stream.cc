#include "ingester/query/flight_stream.h"

#include <arrow/array.h>
#include <arrow/array/util.h>
#include <arrow/buffer.h>
#include <arrow/ipc/dictionary.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/future.h>
#include <arrow/util/thread_pool.h>
#include <nlohmann/json.hpp>

#include <deque>
#include <map>

#include "ingester/common/error.h"
#include "ingester/common/sanitizers.h"

namespace ingester::query {

namespace flight = arrow::flight;
using nlohmann::json;

std::string PartitionFrame::ToJson() const {
  json doc = {{"partition_id", partition_id},
              {"partition_key", partition_key},
              {"completed_persist_count", completed_persist_count},
              {"ingester_id", ingester_id},
              {"files", files},
              {"file_rows", file_rows},
              {"buffer_rows", buffer_rows}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

arrow::Result<PartitionFrame> PartitionFrame::Parse(std::string_view text) {
  // nlohmann/json throws on malformed input and on type mismatches; both stop here.
  try {
    json doc = json::parse(text.begin(), text.end());
    PartitionFrame frame;
    frame.partition_id = doc.at("partition_id").get<int64_t>();
    frame.partition_key = doc.at("partition_key").get<std::string>();
    frame.completed_persist_count = doc.at("completed_persist_count").get<uint64_t>();
    frame.ingester_id = doc.at("ingester_id").get<std::string>();
    frame.files = doc.value("files", int64_t{0});
    frame.file_rows = doc.value("file_rows", int64_t{0});
    frame.buffer_rows = doc.value("buffer_rows", int64_t{0});
    return frame;
  } catch (const json::exception& e) {
    return InvalidInput(std::string("not a partition frame: ") + e.what());
  }
}

namespace {

// The threads that compute a stream's next messages while gRPC writes the current ones.
// Their tasks wait on the file scans' read-ahead pool and Arrow's pools, whose tasks
// never wait on this one, so no cycle of waits can form however many streams run (more
// streams than threads queue). Leaked: streams may outlive statics.
arrow::internal::ThreadPool* PrefetchPool() {
  static std::shared_ptr<arrow::internal::ThreadPool>* pool = [] {
    auto made = arrow::internal::ThreadPool::Make(4);
    return made.ok() ? new std::shared_ptr<arrow::internal::ThreadPool>(*made) : nullptr;
  }();
  return pool == nullptr ? nullptr : pool->get();
}

class QueryFlightStream final : public flight::FlightDataStream {
 public:
  QueryFlightStream(std::unique_ptr<QueryResponse> response, std::string ingester_id,
                    std::function<void()> on_done,
                    std::function<arrow::Status(const arrow::Status&)> map_error,
                    std::shared_ptr<arrow::RecordBatch> empty)
      : response_(std::move(response)),
        schema_(response_->schema()),
        mapper_(*schema_),
        ingester_id_(std::move(ingester_id)),
        on_done_(std::move(on_done)),
        map_error_(std::move(map_error)),
        empty_(std::move(empty)) {}

  ~QueryFlightStream() override { Done(); }

  std::shared_ptr<arrow::Schema> schema() override { return schema_; }

  arrow::Result<flight::FlightPayload> GetSchemaPayload() override {
    flight::FlightPayload payload;
    ARROW_RETURN_NOT_OK(
        arrow::ipc::GetSchemaPayload(*schema_, options_, mapper_, &payload.ipc_message));
    return payload;
  }

  arrow::Result<flight::FlightPayload> Next() override {
    if (pending_.empty()) {
      arrow::Status status;
      if (ahead_.is_valid()) {
        status = ahead_.status();
        ahead_ = {};
        pending_.swap(ahead_pending_);
      } else {
        status = Fill(&pending_);
      }
      if (!status.ok()) {
        Done();
        return map_error_(status);
      }
      if (pending_.empty()) {
        // The end: a payload without IPC metadata tells the server so.
        Done();
        return flight::FlightPayload{};
      }
      // While gRPC writes these messages, the next ones are computed.
      if (response_ != nullptr) StartAhead();
    }
    flight::FlightPayload payload = std::move(pending_.front());
    pending_.pop_front();
    return payload;
  }

 private:
  // Runs Fill(&ahead_pending_) on the prefetch pool; synchronously later (Next) when it
  // cannot be submitted. The task is the only user of the stream's state but pending_
  // while it runs.
  void StartAhead() {
    if (kThreadSanitizer) return;
    arrow::internal::ThreadPool* pool = PrefetchPool();
    if (pool == nullptr) return;
    auto submitted = pool->Submit([this] { return Fill(&ahead_pending_); });
    if (submitted.ok()) ahead_ = *std::move(submitted);
  }

  // Pulls from the response until a message is ready in `out` or the response is
  // exhausted.
  arrow::Status Fill(std::deque<flight::FlightPayload>* out) {
    while (out->empty() && response_ != nullptr) {
      if (partition_ == nullptr) {
        ARROW_ASSIGN_OR_RAISE(partition_, response_->NextPartition());
        if (partition_ == nullptr) {
          response_.reset();
          break;
        }
        const PartitionInfo& info = partition_->info();
        PartitionFrame frame{info.partition_id.value(),
                             info.partition_key,
                             info.completed_persist_count,
                             ingester_id_,
                             info.files,
                             info.file_rows,
                             info.buffer_rows};
        ARROW_RETURN_NOT_OK(Enqueue(*empty_, arrow::Buffer::FromString(frame.ToJson()),
                                    /*any_dictionary=*/true, out));
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(auto batch, partition_->Next());
      if (batch == nullptr) {
        partition_.reset();
        continue;
      }
      ARROW_RETURN_NOT_OK(Enqueue(*batch, nullptr, /*any_dictionary=*/false, out));
    }
    return arrow::Status::OK();
  }

  // Queues the dictionaries `batch` needs that the client lacks, then the batch. With
  // `any_dictionary` (a zero-row batch), whatever dictionary was sent last will do.
  arrow::Status Enqueue(const arrow::RecordBatch& batch,
                        std::shared_ptr<arrow::Buffer> app_metadata, bool any_dictionary,
                        std::deque<flight::FlightPayload>* out) {
    ARROW_ASSIGN_OR_RAISE(auto dictionaries,
                          arrow::ipc::CollectDictionaries(batch, mapper_));
    for (auto& [id, dictionary] : dictionaries) {
      auto& last = sent_dictionaries_[id];
      if (last != nullptr &&
          (any_dictionary || last == dictionary || last->Equals(*dictionary))) {
        continue;
      }
      flight::FlightPayload payload;
      ARROW_RETURN_NOT_OK(arrow::ipc::GetDictionaryPayload(id, dictionary, options_,
                                                           &payload.ipc_message));
      out->push_back(std::move(payload));
      last = std::move(dictionary);
    }
    flight::FlightPayload payload;
    ARROW_RETURN_NOT_OK(
        arrow::ipc::GetRecordBatchPayload(batch, options_, &payload.ipc_message));
    payload.app_metadata = std::move(app_metadata);
    out->push_back(std::move(payload));
    return arrow::Status::OK();
  }

  void Done() {
    // The prefetch task uses the response.
    if (ahead_.is_valid()) {
      ahead_.Wait();
      ahead_ = {};
    }
    partition_.reset();
    response_.reset();
    if (on_done_) {
      auto done = std::move(on_done_);
      on_done_ = nullptr;
      done();
    }
  }

  std::unique_ptr<QueryResponse> response_;
  std::unique_ptr<PartitionResponse> partition_;
  const std::shared_ptr<arrow::Schema> schema_;
  const arrow::ipc::DictionaryFieldMapper mapper_;
  const arrow::ipc::IpcWriteOptions options_ = arrow::ipc::IpcWriteOptions::Defaults();
  const std::string ingester_id_;
  std::function<void()> on_done_;
  const std::function<arrow::Status(const arrow::Status&)> map_error_;
  // A zero-row batch under the schema: the body of partition frames.
  const std::shared_ptr<arrow::RecordBatch> empty_;
  // Messages ready to send: at most one batch and the dictionaries it needs.
  std::deque<flight::FlightPayload> pending_;
  // The next messages, being computed on the prefetch pool while ahead_ is valid.
  std::deque<flight::FlightPayload> ahead_pending_;
  arrow::Future<> ahead_;
  // The dictionary the client holds for each dictionary id.
  std::map<int64_t, std::shared_ptr<arrow::Array>> sent_dictionaries_;
};

}  // namespace

arrow::Result<std::unique_ptr<flight::FlightDataStream>> MakeQueryFlightStream(
    std::unique_ptr<QueryResponse> response, std::string ingester_id,
    std::function<void()> on_done,
    std::function<arrow::Status(const arrow::Status&)> map_error) {
  if (!map_error) map_error = [](const arrow::Status& s) { return s; };
  const auto& schema = response->schema();
  arrow::ArrayVector columns;
  for (const auto& field : schema->fields()) {
    auto column = arrow::MakeEmptyArray(field->type());
    if (!column.ok()) {
      if (on_done) on_done();
      return column.status();
    }
    columns.push_back(std::move(*column));
  }
  auto empty = arrow::RecordBatch::Make(schema, 0, std::move(columns));
  return std::make_unique<QueryFlightStream>(std::move(response), std::move(ingester_id),
                                             std::move(on_done), std::move(map_error),
                                             std::move(empty));
}

}  // namespace ingester::query
