#include "ingester/query/flight_stream.h"

#include <arrow/array.h>
#include <arrow/array/util.h>
#include <arrow/buffer.h>
#include <arrow/ipc/dictionary.h>
#include <arrow/ipc/writer.h>
#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include "ingester/common/error.h"
#include "ingester/common/sanitizers.h"
#include "ingester/common/thread_annotations.h"

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

// The thread that computes a stream's next messages while gRPC writes the current ones:
// one per stream, started by its first step ahead, joined when the stream ends. A thread
// of its own rather than a task on a shared Arrow pool, because a pool task still runs
// the pool's epilogue after its future completes (it restores the submitter's tracing
// context): a stream ending at process exit then let that epilogue touch statics being
// destroyed (a crash seen in flight_stream_test). Joining leaves nothing running.
class StepAheadWorker {
 public:
  StepAheadWorker() = default;
  StepAheadWorker(const StepAheadWorker&) = delete;
  StepAheadWorker& operator=(const StepAheadWorker&) = delete;
  ~StepAheadWorker() { Stop(); }

  // Runs `task` on the worker thread; Wait() returns its status. One task at a time, and
  // none after Stop.
  void Start(std::function<arrow::Status()> task) {
    {
      MutexLock lock(&mu_);
      task_ = std::move(task);
      result_.reset();
    }
    if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
    cv_.NotifyAll();
    busy_ = true;
  }

  // Whether a task was started and not yet waited for (the owner's view).
  bool busy() const { return busy_; }

  arrow::Status Wait() {
    MutexLock lock(&mu_);
    cv_.Wait(&mu_, [this]() REQUIRES(mu_) { return result_.has_value(); });
    busy_ = false;
    return *std::exchange(result_, std::nullopt);
  }

  void Stop() {
    if (!thread_.joinable()) return;
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    cv_.NotifyAll();
    thread_.join();
  }

 private:
  void Run() {
    while (true) {
      std::function<arrow::Status()> task;
      {
        MutexLock lock(&mu_);
        cv_.Wait(&mu_, [this]() REQUIRES(mu_) { return stop_ || task_ != nullptr; });
        if (task_ == nullptr) return;  // stopped with nothing to do
        task = std::exchange(task_, nullptr);
      }
      arrow::Status status = task();
      {
        MutexLock lock(&mu_);
        result_ = std::move(status);
      }
      cv_.NotifyAll();
    }
  }

  Mutex mu_;
  CondVar cv_;
  std::function<arrow::Status()> task_ GUARDED_BY(mu_);
  std::optional<arrow::Status> result_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  // Owner-thread state (the stream's Next and Done run on one gRPC thread at a time).
  bool busy_ = false;
  std::thread thread_;
};

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
      if (ahead_.busy()) {
        status = ahead_.Wait();
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
  // Runs Fill(&ahead_pending_) on the step-ahead worker. The task is the only user of
  // the stream's state but pending_ while it runs; Next waits for it before touching
  // more.
  void StartAhead() {
    if (kThreadSanitizer) return;
    ahead_.Start([this] { return Fill(&ahead_pending_); });
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
    // The step-ahead task uses the response.
    if (ahead_.busy()) (void)ahead_.Wait();
    ahead_.Stop();
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
  // The next messages, being computed by ahead_ while it is busy.
  std::deque<flight::FlightPayload> ahead_pending_;
  StepAheadWorker ahead_;
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
