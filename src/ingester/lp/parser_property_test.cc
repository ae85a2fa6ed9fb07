#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ingester/lp/format.h"
#include "ingester/lp/parser.h"
#include "ingester/lp/parser_test_util.h"
#include "ingester/testing/tsbs_generator.h"

namespace ingester::lp {
namespace {

// Property: random lines (names full of characters that need escaping, multi-byte
// UTF-8, every field type over its whole range), formatted with lp/format.h into one
// body with random line endings, comments and blank lines, parse back to the same lines.
class RandomLines {
 public:
  explicit RandomLines(uint64_t seed) : state_(seed) {}

  struct OwnedField {
    std::string key;
    Field value;  // str points into `text`
    std::string text;
  };
  struct OwnedLine {
    std::string measurement;
    std::vector<std::pair<std::string, std::string>> tags;
    std::vector<OwnedField> fields;
    int64_t timestamp_ns;
  };

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }

  // A non-empty name without newlines that does not end in a backslash.
  std::string Name(bool measurement) {
    static const char* const kPieces[] = {"a",
                                          "b",
                                          "z",
                                          "Q",
                                          "0",
                                          "9",
                                          "_",
                                          "-",
                                          ".",
                                          ",",
                                          "=",
                                          " ",
                                          "\\",
                                          "\\\\",
                                          "\"",
                                          "#",
                                          "'",
                                          "\t",
                                          "\r",
                                          "\\,",
                                          "\\ ",
                                          "\\=",
                                          "\\\"",
                                          "\xC3\xA9",
                                          "\xE2\x82\xAC",
                                          "\xF0\x9F\x98\x80",
                                          "time",
                                          "i",
                                          "u",
                                          "t"};
    std::string out;
    const size_t n = 1 + Below(8);
    while (out.size() < n) {
      std::string piece = kPieces[Below(std::size(kPieces))];
      if (out.empty() && measurement &&
          (piece[0] == '#' || piece[0] == '\t' || piece[0] == '\r')) {
        continue;  // no line protocol spelling starts a line with these
      }
      out += piece;
    }
    // The parser refuses a name ending in a backslash (InfluxDB 3 does too).
    if (out.back() == '\\') out += 'a';
    return out;
  }

  std::string StringValue() {
    static const char* const kPieces[] = {"x",    " ",  ",",        "=",
                                          "\"",   "\\", "\\\\",     "\n",
                                          "\r\n", "#",  "\xC3\xA9", "\xF0\x9F\x98\x80"};
    std::string out;
    const size_t n = Below(10);
    for (size_t i = 0; i < n; ++i) out += kPieces[Below(std::size(kPieces))];
    return out;
  }

  double Float() {
    for (;;) {
      double v;
      switch (Below(3)) {
        case 0: {
          const uint64_t bits = Next();
          std::memcpy(&v, &bits, sizeof(v));
          break;
        }
        case 1:
          v = static_cast<double>(static_cast<int64_t>(Next()) >> Below(64));
          break;
        default:
          v = static_cast<double>(Below(2000)) / 8.0 - 100.0;
          break;
      }
      if (std::isfinite(v)) return v;
    }
  }

  OwnedLine Line() {
    OwnedLine line;
    line.measurement = Name(true);
    std::vector<std::string> keys;
    auto fresh_key = [&] {
      for (;;) {
        std::string key = Name(false);
        if (key == "time" || std::find(keys.begin(), keys.end(), key) != keys.end())
          continue;
        keys.push_back(key);
        return key;
      }
    };
    const size_t tags = Below(4);
    for (size_t i = 0; i < tags; ++i) {
      std::string key = fresh_key();
      line.tags.emplace_back(std::move(key), Name(false));
    }
    const size_t fields = 1 + Below(5);
    line.fields.resize(fields);
    for (OwnedField& f : line.fields) {
      f.key = fresh_key();
      switch (Below(5)) {
        case 0:
          f.value = Field::Float("", Float());
          break;
        case 1:
          f.value = Field::Integer("", static_cast<int64_t>(Next()) >> Below(64));
          break;
        case 2:
          f.value = Field::Unsigned("", Next() >> Below(64));
          break;
        case 3:
          f.value = Field::Boolean("", Below(2) == 1);
          break;
        default:
          f.text = StringValue();
          f.value = Field::String("", "");
          break;
      }
    }
    line.timestamp_ns = static_cast<int64_t>(Next()) >> Below(64);
    return line;
  }

 private:
  uint64_t state_;
};

TEST(ParserProperty, FormattedRandomLinesParseBackEqual) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    RandomLines random(seed);
    std::vector<RandomLines::OwnedLine> expected;
    std::string body;
    std::vector<uint32_t> line_numbers;
    uint32_t physical = 1;
    for (int i = 0; i < 20; ++i) {
      if (random.Below(4) == 0) {
        body += random.Below(2) ? "# comment, \"unbalanced\n" : "  \t\n";
        ++physical;
      }
      RandomLines::OwnedLine line = random.Line();
      // Views for the formatter.
      std::vector<Tag> tags;
      for (const auto& [k, v] : line.tags) tags.push_back({k, v});
      std::vector<Field> fields;
      for (RandomLines::OwnedField& f : line.fields) {
        f.value.key = f.key;
        if (f.value.type == FieldType::kString) f.value.str = f.text;
        fields.push_back(f.value);
      }
      ParsedLine view{0, line.measurement, tags, fields, line.timestamp_ns};
      std::string text = FormatLine(view);
      line_numbers.push_back(physical);
      physical += 1 + static_cast<uint32_t>(std::count(text.begin(), text.end(), '\n'));
      body += text;
      body += random.Below(3) == 0 ? "\r\n" : "\n";
      expected.push_back(std::move(line));
    }
    const ParsedBody parsed = Parse(body, {});
    ASSERT_FALSE(parsed.has_errors())
        << "seed " << seed << ": " << parsed.ErrorStatus().ToString() << "\n"
        << body;
    ASSERT_EQ(parsed.lines().size(), expected.size()) << "seed " << seed;
    for (size_t i = 0; i < expected.size(); ++i) {
      const ParsedLine& got = parsed.lines()[i];
      const RandomLines::OwnedLine& want = expected[i];
      SCOPED_TRACE("seed " + std::to_string(seed) + " line " + std::to_string(i));
      EXPECT_EQ(got.line_number, line_numbers[i]);
      EXPECT_EQ(got.measurement, want.measurement);
      ASSERT_EQ(got.tags.size(), want.tags.size());
      for (size_t t = 0; t < want.tags.size(); ++t) {
        EXPECT_EQ(got.tags[t].key, want.tags[t].first);
        EXPECT_EQ(got.tags[t].value, want.tags[t].second);
      }
      ASSERT_EQ(got.fields.size(), want.fields.size());
      for (size_t f = 0; f < want.fields.size(); ++f) {
        EXPECT_EQ(got.fields[f], want.fields[f].value) << got.fields[f].ToString();
        if (want.fields[f].value.type == FieldType::kFloat) {
          EXPECT_EQ(std::signbit(got.fields[f].f64),
                    std::signbit(want.fields[f].value.f64));
        }
      }
      EXPECT_EQ(got.timestamp_ns, want.timestamp_ns);
    }
  }
}

TEST(Parser, TsbsBodies) {
  tsbs::CpuOptions options;
  options.hosts = 7;
  tsbs::CpuGenerator generator(options);
  const std::string body = generator.Generate(100);
  const ParsedBody parsed = ParseNs(body);
  ASSERT_FALSE(parsed.has_errors()) << parsed.ErrorStatus().ToString();
  ASSERT_EQ(parsed.lines().size(), 100u);
  for (size_t i = 0; i < 100; ++i) {
    const ParsedLine& line = parsed.lines()[i];
    EXPECT_EQ(line.measurement, "cpu");
    ASSERT_EQ(line.tags.size(), 10u);
    EXPECT_EQ(line.tags[0].key, "hostname");
    EXPECT_EQ(line.tags[0].value, "host_" + std::to_string(i % 7));
    EXPECT_EQ(line.tags[9].key, "service_environment");
    ASSERT_EQ(line.fields.size(), 10u);
    EXPECT_EQ(line.fields[0].key, "usage_user");
    EXPECT_EQ(line.fields[9].key, "usage_guest_nice");
    for (const Field& f : line.fields) {
      EXPECT_EQ(f.type, FieldType::kInteger);
      EXPECT_GE(f.i64, 0);
      EXPECT_LE(f.i64, 100);
    }
    EXPECT_EQ(line.timestamp_ns,
              options.start_ns + static_cast<int64_t>(i / 7) * options.interval_ns);
  }
}

TEST(TsbsGenerator, DeterministicAndResumable) {
  tsbs::CpuOptions options;
  options.hosts = 3;
  options.seed = 9;
  const std::string whole = tsbs::CpuGenerator(options).Generate(10);
  tsbs::CpuGenerator pieces(options);
  std::string appended = pieces.Generate(4);
  pieces.Append(6, &appended);
  EXPECT_EQ(appended, whole);
  EXPECT_EQ(pieces.rows_generated(), 10u);
  EXPECT_EQ(pieces.next_timestamp_ns(), options.start_ns + 3 * options.interval_ns);
  options.seed = 10;
  EXPECT_NE(tsbs::CpuGenerator(options).Generate(10), whole);
  EXPECT_EQ(std::count(whole.begin(), whole.end(), '\n'), 10);
}

}  // namespace
}  // namespace ingester::lp
