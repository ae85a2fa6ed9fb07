#include "ingester/testing/tsbs_generator.h"

#include <charconv>
#include <string_view>
#include <utility>

namespace ingester::tsbs {

namespace {

// The value sets of TSBS's cpu-only tags.
constexpr std::string_view kRegions[] = {
    "us-east-1",      "us-west-1",      "us-west-2",      "eu-west-1", "eu-central-1",
    "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"};
constexpr std::string_view kDatacenterSuffixes[] = {"a", "b", "c"};
constexpr std::string_view kOs[] = {"Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"};
constexpr std::string_view kArch[] = {"x64", "x86"};
constexpr std::string_view kTeams[] = {"SF", "NYC", "LON", "CHI"};
constexpr std::string_view kEnvironments[] = {"production", "staging", "test"};
constexpr std::string_view kFieldKeys[CpuGenerator::kFieldCount] = {
    "usage_user", "usage_system",  "usage_idle",  "usage_nice",  "usage_iowait",
    "usage_irq",  "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"};

template <size_t N>
std::string_view Pick(const std::string_view (&values)[N], uint64_t random) {
  return values[random % N];
}

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  const auto result = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, result.ptr);
}

}  // namespace

CpuGenerator::CpuGenerator(CpuOptions options)
    : options_(std::move(options)), state_(options_.seed) {
  if (options_.hosts == 0) options_.hosts = 1;
  series_.reserve(options_.hosts);
  values_.reserve(static_cast<size_t>(options_.hosts) * kFieldCount);
  for (uint32_t h = 0; h < options_.hosts; ++h) {
    std::string s = options_.measurement;
    s += ",hostname=host_";
    AppendInt(h, &s);
    const std::string_view region = Pick(kRegions, NextRandom());
    s += ",region=";
    s += region;
    s += ",datacenter=";
    s += region;
    s += Pick(kDatacenterSuffixes, NextRandom());
    s += ",rack=";
    AppendInt(static_cast<int64_t>(NextRandom() % 100), &s);
    s += ",os=";
    s += Pick(kOs, NextRandom());
    s += ",arch=";
    s += Pick(kArch, NextRandom());
    s += ",team=";
    s += Pick(kTeams, NextRandom());
    s += ",service=";
    AppendInt(static_cast<int64_t>(NextRandom() % 20), &s);
    s += ",service_version=";
    AppendInt(static_cast<int64_t>(NextRandom() % 2), &s);
    s += ",service_environment=";
    s += Pick(kEnvironments, NextRandom());
    s += ' ';
    series_.push_back(std::move(s));
    for (int f = 0; f < kFieldCount; ++f) {
      values_.push_back(static_cast<int32_t>(NextRandom() % 101));
    }
  }
}

uint64_t CpuGenerator::NextRandom() {
  // splitmix64: tiny, fast and the same on every platform.
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

int64_t CpuGenerator::next_timestamp_ns() const {
  return options_.start_ns +
         static_cast<int64_t>(row_ / options_.hosts) * options_.interval_ns;
}

void CpuGenerator::Append(uint64_t rows, std::string* out) {
  out->reserve(out->size() + rows * (series_.front().size() + 200));
  for (uint64_t i = 0; i < rows; ++i, ++row_) {
    const size_t host = row_ % options_.hosts;
    const int64_t timestamp = next_timestamp_ns();
    *out += series_[host];
    int32_t* values = &values_[host * kFieldCount];
    for (int f = 0; f < kFieldCount; ++f) {
      // A random walk in steps of -2..2, kept within 0..100.
      int32_t v = values[f] + static_cast<int32_t>(NextRandom() % 5) - 2;
      v = v < 0 ? 0 : (v > 100 ? 100 : v);
      values[f] = v;
      if (f > 0) *out += ',';
      *out += kFieldKeys[f];
      *out += '=';
      AppendInt(v, out);
      *out += 'i';
    }
    *out += ' ';
    AppendInt(timestamp, out);
    *out += '\n';
  }
}

std::string CpuGenerator::Generate(uint64_t rows) {
  std::string out;
  Append(rows, &out);
  return out;
}

}  // namespace ingester::tsbs
