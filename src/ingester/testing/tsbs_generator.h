// A deterministic generator of TSBS "cpu-only" line protocol, the shape of the Time
// Series Benchmark Suite's DevOps cpu workload:
//
//   cpu,hostname=host_0,region=eu-west-1,datacenter=eu-west-1b,rack=41,os=Ubuntu16.04LTS,
//   arch=x64,team=LON,service=6,service_version=0,service_environment=test
//   usage_user=58i,usage_system=2i,usage_idle=24i,...,usage_guest_nice=38i
//   1451606400000000000
//
// (one line; wrapped here). Each host has fixed tags drawn from the TSBS value sets; its
// ten integer fields (0..100) take a bounded random walk. Rows go host by host through
// one interval, then the next interval: row r is host r % hosts at
// start + (r / hosts) * interval. The same options always give the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ingester::tsbs {

struct CpuOptions {
  uint32_t hosts = 100;
  int64_t start_ns = 1'451'606'400'000'000'000;  // 2016-01-01T00:00:00Z, as TSBS
  int64_t interval_ns = 10'000'000'000;          // 10 s, as TSBS
  uint64_t seed = 1;
  std::string measurement = "cpu";
};

// Not thread-safe; each instance is an independent stream.
class CpuGenerator {
 public:
  // `options.hosts` of 0 is treated as 1.
  explicit CpuGenerator(CpuOptions options);

  // Appends the next `rows` lines, each ending in '\n', to `*out`.
  void Append(uint64_t rows, std::string* out);
  // The next `rows` lines as one body.
  std::string Generate(uint64_t rows);

  uint64_t rows_generated() const { return row_; }
  // The timestamp of the next row.
  int64_t next_timestamp_ns() const;

  static constexpr int kFieldCount = 10;

 private:
  uint64_t NextRandom();

  CpuOptions options_;
  uint64_t state_;  // PRNG state (splitmix64)
  uint64_t row_ = 0;
  std::vector<std::string>
      series_;                   // per host: "cpu,hostname=...,service_environment=x "
  std::vector<int32_t> values_;  // per host, kFieldCount current field values
};

}  // namespace ingester::tsbs
