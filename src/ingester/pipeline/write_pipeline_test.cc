#include "ingester/pipeline/write_pipeline.h"

#include <gtest/gtest.h>

#include <arrow/builder.h>

#include <atomic>
#include <set>

#include "ingester/buffer/buffer_tree.h"
#include "ingester/buffer/catalog_adapters.h"
#include "ingester/catalog/open.h"
#include "ingester/common/error.h"
#include "ingester/common/temp_dir.h"
#include "ingester/wal/file_system.h"
#include "ingester/wal/reference_tracker.h"
#include "ingester/wal/replay.h"
#include "ingester/wal/wal.h"
#include "ingester/wal/wal_sink.h"

namespace ingester {
namespace {

#define PIPELINE_ASSERT_OK(expr)             \
  do {                                       \
    arrow::Status _st = (expr);              \
    ASSERT_TRUE(_st.ok()) << _st.ToString(); \
  } while (false)

// A WalAppender in front of the real WAL that records each append's sync flag.
class RecordingAppender final : public wal::WalAppender {
 public:
  explicit RecordingAppender(std::shared_ptr<wal::Wal> wal) : wal_(std::move(wal)) {}
  arrow::Status Append(const WriteOp& op, bool sync) override {
    MutexLock lock(&mu_);
    syncs_.push_back(sync);
    return wal_->Append(op, sync);
  }
  std::vector<bool> syncs() {
    MutexLock lock(&mu_);
    return syncs_;
  }

 private:
  const std::shared_ptr<wal::Wal> wal_;
  Mutex mu_;
  std::vector<bool> syncs_ GUARDED_BY(mu_);
};

// A decorator in front of the WalSink: counts the ops and the no_sync ones it passes on.
class CountingDecorator final : public DmlSink {
 public:
  explicit CountingDecorator(std::shared_ptr<DmlSink> inner) : inner_(std::move(inner)) {}
  using DmlSink::Apply;
  arrow::Status Apply(const WriteOp& op, const ApplyOptions& options) override {
    ops.fetch_add(1);
    if (options.no_sync) no_sync_ops.fetch_add(1);
    return inner_->Apply(op, options);
  }
  std::atomic<int> ops{0};
  std::atomic<int> no_sync_ops{0};

 private:
  const std::shared_ptr<DmlSink> inner_;
};

// The catalog refusing to create partitions: every write fails to buffer.
class FailingPartitionProvider final : public PartitionProvider {
 public:
  arrow::Result<PartitionId> GetOrCreatePartitionId(TableId, std::string_view) override {
    return arrow::Status::IOError("catalog unreachable");
  }
};

// The real chain: SQLite catalog, schema cache, BufferTree, WAL with its reference
// tracker, WalSink; `decorate` may put a sink in front of the WalSink.
class WritePipelineTest : public ::testing::Test {
 protected:
  void Build(std::shared_ptr<PartitionProvider> provider = nullptr,
             std::function<std::shared_ptr<DmlSink>(std::shared_ptr<DmlSink>)> decorate =
                 nullptr,
             std::function<arrow::Status()> admission_check = nullptr) {
    catalog_ =
        *catalog::OpenCatalog("sqlite://" + (dir_.path() / "catalog.sqlite").string());
    schema_cache_ =
        std::make_unique<SchemaCache>(catalog_.get(), catalog::NamespaceLimits{});
    BufferTreeOptions tree_options;
    tree_options.partition_provider =
        provider ? provider : std::make_shared<CatalogPartitionProvider>(catalog_.get());
    tree_options.name_resolver = std::make_shared<CatalogNameResolver>(catalog_.get());
    tree_ = *BufferTree::Make(std::move(tree_options));
    wal::WalOptions wal_options;
    wal_options.dir = wal_dir();
    wal_ = *wal::Wal::Make(std::move(wal_options));
    tracker_ = *wal::ReferenceTracker::ForWal(wal_);
    appender_ = std::make_shared<RecordingAppender>(wal_);
    std::shared_ptr<DmlSink> head =
        std::make_shared<wal::WalSink>(appender_, tree_, tracker_);
    if (decorate) head = decorate(std::move(head));
    WritePipelineOptions options;
    options.schema_cache = schema_cache_.get();
    options.sink = std::move(head);
    options.admission_check = std::move(admission_check);
    options.metrics = &metrics_;
    auto made = WritePipeline::Make(std::move(options));
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    pipeline_ = std::move(*made);
  }
  std::string wal_dir() const { return (dir_.path() / "wal").string(); }

  // The sequence numbers the WAL holds, read back by replay (after Close()).
  std::multiset<SequenceNumber> WalSequenceNumbers() {
    EXPECT_TRUE(wal_->Close().ok());
    struct Collect final : DmlSink {
      using DmlSink::Apply;
      arrow::Status Apply(const WriteOp& op, const ApplyOptions&) override {
        for (const auto& w : op.writes) numbers.insert(w.sequence_number);
        return arrow::Status::OK();
      }
      std::multiset<SequenceNumber> numbers;
    } collect;
    auto replayed = wal::ReplayWal(*wal::PosixFileSystem(), wal_dir(), collect);
    EXPECT_TRUE(replayed.ok()) << replayed.status().ToString();
    return collect.numbers;
  }

  TempDir dir_{"pipeline"};
  MetricsRegistry metrics_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<SchemaCache> schema_cache_;
  std::shared_ptr<BufferTree> tree_;
  std::shared_ptr<wal::Wal> wal_;
  std::shared_ptr<wal::ReferenceTracker> tracker_;
  std::shared_ptr<RecordingAppender> appender_;
  std::unique_ptr<WritePipeline> pipeline_;
};

// A DoPut-shaped batch: a tag, a float field and `time` (ns).
std::shared_ptr<arrow::RecordBatch> MemBatch() {
  arrow::StringDictionary32Builder host;
  arrow::DoubleBuilder used;
  arrow::Int64Builder time;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(host.Append(i % 2 ? "a" : "b").ok());
    EXPECT_TRUE(used.Append(0.5 * i).ok());
    EXPECT_TRUE(time.Append(1'000 + i).ok());
  }
  std::shared_ptr<arrow::Array> h, u, t;
  EXPECT_TRUE(host.Finish(&h).ok());
  EXPECT_TRUE(used.Finish(&u).ok());
  EXPECT_TRUE(time.Finish(&t).ok());
  auto schema = arrow::schema({arrow::field("host", h->type()),
                               arrow::field("used", arrow::float64()),
                               arrow::field("time", arrow::int64(), false)});
  return arrow::RecordBatch::Make(schema, 3, {h, u, t});
}

TEST_F(WritePipelineTest, HttpAndDoPutWritesTakeTheSameStagesIntoWalAndBuffer) {
  Build();
  LineProtocolWrite http;
  http.namespace_name = "db";
  http.body = "cpu,host=a usage=1 1000\ncpu,host=b usage=2 2000\nnot line protocol\n";
  auto summary = pipeline_->WriteLineProtocol(http);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->lines_written, 2);
  EXPECT_EQ(summary->rows_written, 2);
  ASSERT_EQ(summary->rejected.size(), 1u);
  EXPECT_EQ(summary->rejected[0].line_number, 3u);
  EXPECT_EQ(summary->rejected[0].original_line, "not line protocol");

  auto rows = pipeline_->WriteBatches("db", "mem", {MemBatch()});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(*rows, 3);

  // Both validated against one catalog, both buffered, both in the WAL with their own
  // sequence numbers from one oracle.
  ASSERT_TRUE(catalog_->GetNamespaceByName("db").ok());
  auto ns = *catalog_->GetNamespaceByName("db");
  ASSERT_TRUE(ns.has_value());
  EXPECT_EQ(catalog_->ListTables(ns->id)->size(), 2u);
  EXPECT_EQ(tree_->BufferedRows(), 5);
  EXPECT_EQ(pipeline_->next_sequence_number(), 3u);
  EXPECT_EQ(appender_->syncs(), (std::vector<bool>{true, true}));
  EXPECT_EQ(WalSequenceNumbers(), (std::multiset<SequenceNumber>{1, 2}));
  const std::string text = metrics_.RenderText();
  EXPECT_NE(text.find("ingester_write_requests_total 1"), std::string::npos) << text;
  EXPECT_NE(text.find("ingester_write_rows_total 5"), std::string::npos) << text;
  EXPECT_NE(text.find("ingester_write_lines_rejected_total 1"), std::string::npos);
}

TEST_F(WritePipelineTest, NoSyncReachesTheWalThroughADecoratorInFrontOfIt) {
  std::shared_ptr<CountingDecorator> decorator;
  Build(nullptr, [&](std::shared_ptr<DmlSink> wal_sink) {
    decorator = std::make_shared<CountingDecorator>(std::move(wal_sink));
    return decorator;
  });
  LineProtocolWrite write;
  write.namespace_name = "db";
  write.body = "cpu,host=a usage=1 1000";
  write.sync = false;
  ASSERT_TRUE(pipeline_->WriteLineProtocol(write).ok());
  write.sync = true;
  ASSERT_TRUE(pipeline_->WriteLineProtocol(write).ok());
  ASSERT_TRUE(pipeline_->WriteBatches("db", "mem", {MemBatch()}).ok());
  EXPECT_EQ(decorator->ops.load(), 3);
  EXPECT_EQ(decorator->no_sync_ops.load(), 1);
  EXPECT_EQ(appender_->syncs(), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(tree_->BufferedRows(), 5);
}

TEST_F(WritePipelineTest, AWriteThatFailsToBufferReleasesItsWalReference) {
  Build(std::make_shared<FailingPartitionProvider>());
  LineProtocolWrite write;
  write.namespace_name = "db";
  write.body = "cpu,host=a usage=1 1000\nmem,host=a used=2 1000";
  auto failed = pipeline_->WriteLineProtocol(write);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("catalog unreachable"), std::string::npos);
  EXPECT_EQ(tree_->BufferedRows(), 0);
  // The write is in the WAL (it was appended before the buffer refused it) but its
  // references were released at once: the segment goes as soon as it is closed.
  auto closed = wal_->Rotate();
  ASSERT_TRUE(closed.ok()) << closed.status().ToString();
  EXPECT_EQ(closed->sequence_numbers.size(), 2u);
  tracker_->AddSegment(*closed);
  EXPECT_EQ(tracker_->stats().segments, 0u);
  EXPECT_EQ(tracker_->stats().deleted, 1);
  EXPECT_TRUE(wal_->ClosedSegmentIds().empty());
}

TEST_F(WritePipelineTest, BufferedWritesKeepTheirSegment) {
  Build();
  LineProtocolWrite write;
  write.namespace_name = "db";
  write.body = "cpu,host=a usage=1 1000";
  ASSERT_TRUE(pipeline_->WriteLineProtocol(write).ok());
  auto closed = wal_->Rotate();
  ASSERT_TRUE(closed.ok());
  tracker_->AddSegment(*closed);
  EXPECT_EQ(tracker_->stats().segments, 1u);
  EXPECT_EQ(tracker_->stats().referenced, 1u);
}

TEST_F(WritePipelineTest, AllOrNothingWritesNothingAndTakesNoSequenceNumber) {
  Build();
  LineProtocolWrite write;
  write.namespace_name = "db";
  write.body = "cpu,host=a usage=1 1000\ncpu,host=a usage=\n";
  write.accept_partial = false;
  auto summary = pipeline_->WriteLineProtocol(write);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->lines_written, 0);
  EXPECT_EQ(summary->rejected.size(), 1u);
  EXPECT_EQ(pipeline_->next_sequence_number(), 1u);
  EXPECT_TRUE(appender_->syncs().empty());
  // The catalog never learnt of the namespace.
  EXPECT_FALSE(catalog_->GetNamespaceByName("db")->has_value());
}

TEST_F(WritePipelineTest, AdmissionRefusesBeforeAnythingIsParsedOrApplied) {
  std::atomic<bool> refuse{true};
  Build(nullptr, nullptr, [&]() -> arrow::Status {
    if (refuse.load()) return Backpressure("persist saturated");
    return arrow::Status::OK();
  });
  LineProtocolWrite write;
  write.namespace_name = "db";
  write.body = "cpu,host=a usage=1 1000";
  auto refused = pipeline_->WriteLineProtocol(write);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(ErrorKindOf(refused.status()), ErrorKind::kBackpressure);
  EXPECT_NE(refused.status().message().find("persist saturated"), std::string::npos);
  EXPECT_FALSE(pipeline_->WriteBatches("db", "mem", {MemBatch()}).ok());
  EXPECT_FALSE(catalog_->GetNamespaceByName("db")->has_value());
  EXPECT_TRUE(appender_->syncs().empty());
  EXPECT_NE(metrics_.RenderText().find("ingester_write_requests_failed_total 1"),
            std::string::npos);

  refuse.store(false);
  ASSERT_TRUE(pipeline_->WriteLineProtocol(write).ok());
  EXPECT_FALSE(pipeline_->Close());
  EXPECT_TRUE(pipeline_->closed());
  auto closed = pipeline_->WriteLineProtocol(write);
  ASSERT_FALSE(closed.ok());
  EXPECT_NE(closed.status().message().find("shutting down"), std::string::npos);
  EXPECT_TRUE(pipeline_->Drain(std::chrono::steady_clock::now()));
  EXPECT_EQ(appender_->syncs().size(), 1u);
}

TEST(WritePipelineOptionsTest, RequiresTheSchemaCacheAndTheSink) {
  WritePipelineOptions options;
  EXPECT_TRUE(options.Validate().IsInvalid());
  EXPECT_FALSE(WritePipeline::Make(options).ok());
}

}  // namespace
}  // namespace ingester
