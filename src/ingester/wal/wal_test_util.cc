#include "ingester/wal/wal_test_util.h"

#include <arrow/api.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>

namespace ingester::wal::testing {

namespace {
std::atomic<int> temp_counter{0};

template <typename Builder>
std::shared_ptr<arrow::Array> Finish(Builder& b) {
  std::shared_ptr<arrow::Array> out;
  EXPECT_TRUE(b.Finish(&out).ok());
  return out;
}

std::shared_ptr<arrow::DataType> TagType() {
  return arrow::dictionary(arrow::int32(), arrow::utf8());
}
}  // namespace

TempDir::TempDir() {
  path_ = (std::filesystem::temp_directory_path() /
           ("ingester-wal-test-" + std::to_string(::getpid()) + "-" +
            std::to_string(temp_counter.fetch_add(1))))
              .string();
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::shared_ptr<arrow::RecordBatch> MakeAllTypesBatch(int rows, int seed) {
  arrow::StringDictionary32Builder host, region;
  arrow::Int64Builder i64;
  arrow::UInt64Builder u64;
  arrow::DoubleBuilder f64;
  arrow::BooleanBuilder flag;
  arrow::StringBuilder message;
  arrow::TimestampBuilder time(arrow::timestamp(arrow::TimeUnit::NANO),
                               arrow::default_memory_pool());
  for (int i = 0; i < rows; ++i) {
    const int v = i + seed * 1000;
    EXPECT_TRUE(host.Append("host-" + std::to_string(v % 5)).ok());
    if (i % 4 == 3) {
      EXPECT_TRUE(region.AppendNull().ok());
    } else {
      EXPECT_TRUE(region.Append(v % 2 ? "eu-west" : "us-east \"quoted\" ✓").ok());
    }
    EXPECT_TRUE((i % 5 == 1 ? i64.AppendNull() : i64.Append(-1'000'000'007LL * v)).ok());
    EXPECT_TRUE(
        (i % 6 == 2 ? u64.AppendNull() : u64.Append(18'000'000'000'000'000'000ULL + v))
            .ok());
    EXPECT_TRUE((i % 7 == 3 ? f64.AppendNull() : f64.Append(v * 0.25 - 3.5)).ok());
    EXPECT_TRUE((i % 3 == 0 ? flag.AppendNull() : flag.Append(v % 2 == 0)).ok());
    EXPECT_TRUE((i % 8 == 5 ? message.AppendNull()
                            : message.Append(std::string(v % 17, 'x') + "é"))
                    .ok());
    EXPECT_TRUE(time.Append(1'700'000'000'000'000'000LL + v).ok());
  }
  auto schema = arrow::schema({
      arrow::field("host", TagType()),
      arrow::field("region", TagType()),
      arrow::field("count", arrow::int64()),
      arrow::field("bytes", arrow::uint64()),
      arrow::field("usage", arrow::float64()),
      arrow::field("up", arrow::boolean()),
      arrow::field("message", arrow::utf8()),
      arrow::field("time", arrow::timestamp(arrow::TimeUnit::NANO), /*nullable=*/false),
  });
  return arrow::RecordBatch::Make(
      schema, rows,
      {Finish(host), Finish(region), Finish(i64), Finish(u64), Finish(f64), Finish(flag),
       Finish(message), Finish(time)});
}

std::shared_ptr<arrow::RecordBatch> MakeCpuBatch(int rows, int seed) {
  static const char* const kTags[] = {
      "hostname", "region",          "datacenter",         "rack", "os", "arch", "team",
      "service",  "service_version", "service_environment"};
  static const char* const kFields[] = {
      "usage_user", "usage_system",  "usage_idle",  "usage_nice",  "usage_iowait",
      "usage_irq",  "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"};
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (int t = 0; t < 10; ++t) {
    arrow::StringDictionary32Builder b;
    for (int i = 0; i < rows; ++i) {
      EXPECT_TRUE(
          b.Append(std::string(kTags[t]) + "_" + std::to_string((i + seed) % (t + 3)))
              .ok());
    }
    fields.push_back(arrow::field(kTags[t], TagType()));
    columns.push_back(Finish(b));
  }
  for (int f = 0; f < 10; ++f) {
    arrow::Int64Builder b;
    for (int i = 0; i < rows; ++i) {
      EXPECT_TRUE(b.Append((static_cast<int64_t>(i) * 7919 + seed * 31 + f) % 100).ok());
    }
    fields.push_back(arrow::field(kFields[f], arrow::int64()));
    columns.push_back(Finish(b));
  }
  arrow::TimestampBuilder time(arrow::timestamp(arrow::TimeUnit::NANO),
                               arrow::default_memory_pool());
  for (int i = 0; i < rows; ++i) {
    EXPECT_TRUE(
        time.Append(1'700'000'000'000'000'000LL + seed * 1'000'000'000LL + i).ok());
  }
  fields.push_back(
      arrow::field("time", arrow::timestamp(arrow::TimeUnit::NANO), /*nullable=*/false));
  columns.push_back(Finish(time));
  return arrow::RecordBatch::Make(arrow::schema(fields), rows, columns);
}

WriteOp MakeOp(SequenceNumber first_sequence, int writes, int rows) {
  WriteOp op;
  op.namespace_id = NamespaceId(7);
  op.namespace_name = "bananas";
  for (int w = 0; w < writes; ++w) {
    PartitionWrite pw;
    pw.table_id = TableId(100 + w);
    pw.table_name = "table_" + std::to_string(w);
    pw.partition_key = "2023-11-14";
    pw.sequence_number = first_sequence + static_cast<SequenceNumber>(w);
    pw.batch = MakeAllTypesBatch(rows, static_cast<int>(pw.sequence_number % 1000));
    op.writes.push_back(std::move(pw));
  }
  return op;
}

void ExpectOpsEqual(const WriteOp& expected, const WriteOp& actual) {
  EXPECT_EQ(expected.namespace_id, actual.namespace_id);
  EXPECT_EQ(expected.namespace_name, actual.namespace_name);
  ASSERT_EQ(expected.writes.size(), actual.writes.size());
  for (size_t i = 0; i < expected.writes.size(); ++i) {
    const auto& e = expected.writes[i];
    const auto& a = actual.writes[i];
    EXPECT_EQ(e.table_id, a.table_id);
    EXPECT_EQ(e.table_name, a.table_name);
    EXPECT_EQ(e.partition_key, a.partition_key);
    EXPECT_EQ(e.sequence_number, a.sequence_number);
    ASSERT_NE(a.batch, nullptr);
    EXPECT_TRUE(e.batch->Equals(*a.batch, /*check_metadata=*/true))
        << "expected:\n"
        << e.batch->ToString() << "\nactual:\n"
        << a.batch->ToString();
    EXPECT_TRUE(a.batch->ValidateFull().ok());
  }
}

arrow::Status CollectingSink::Apply(const WriteOp& op, const ApplyOptions&) {
  MutexLock lock(&mu_);
  ops_.push_back(op);
  return arrow::Status::OK();
}

std::vector<WriteOp> CollectingSink::ops() const {
  MutexLock lock(&mu_);
  return ops_;
}

size_t CollectingSink::size() const {
  MutexLock lock(&mu_);
  return ops_.size();
}

std::vector<SequenceNumber> CollectingSink::sequence_numbers() const {
  MutexLock lock(&mu_);
  std::vector<SequenceNumber> out;
  for (const auto& op : ops_) {
    for (const auto& w : op.writes) out.push_back(w.sequence_number);
  }
  return out;
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

void WriteFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void AppendFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void FlipBit(const std::string& path, uint64_t offset, int bit) {
  std::string bytes = ReadFileBytes(path);
  ASSERT_LT(offset, bytes.size()) << path;
  bytes[offset] = static_cast<char>(bytes[offset] ^ (1 << bit));
  WriteFileBytes(path, bytes);
}

uint64_t FileSizeOf(const std::string& path) { return std::filesystem::file_size(path); }

}  // namespace ingester::wal::testing
