#include "ingester/server/ingester_id.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "ingester/common/temp_dir.h"

namespace ingester {
namespace {

using ::testing::HasSubstr;

std::string FileContent(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(IngesterId, ValidatesCharactersAndLength) {
  EXPECT_TRUE(ValidateIngesterId("ingester-1_A", "--ingester-id").ok());
  EXPECT_TRUE(ValidateIngesterId(std::string(64, 'a'), "--ingester-id").ok());
  auto too_long = ValidateIngesterId(std::string(65, 'a'), "--ingester-id");
  EXPECT_THAT(too_long.message(), HasSubstr("longer than 64"));
  auto empty = ValidateIngesterId("", "--ingester-id");
  EXPECT_THAT(empty.message(), HasSubstr("empty"));
  for (std::string bad : {"a/b", "a b", "a.b", "..", "é"}) {
    auto st = ValidateIngesterId(bad, "--ingester-id");
    EXPECT_TRUE(st.IsInvalid()) << bad;
    EXPECT_THAT(st.message(), HasSubstr("--ingester-id")) << bad;
    EXPECT_THAT(st.message(), HasSubstr("letters, digits, '_' and '-'")) << bad;
  }
}

TEST(IngesterId, AGeneratedIdIsKeptInTheDataDir) {
  TempDir dir("ingester-id");
  auto first = LoadOrCreateIngesterId(dir.path().string(), "");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_THAT(*first, ::testing::MatchesRegex("ingester-[0-9a-f]{12}"));
  EXPECT_EQ(FileContent(dir.path() / "ingester_id"), *first + "\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "ingester_id.tmp"));

  auto again = LoadOrCreateIngesterId(dir.path().string(), "");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *first);
  // Naming the stored id explicitly is fine too.
  auto explicit_same = LoadOrCreateIngesterId(dir.path().string(), *first);
  ASSERT_TRUE(explicit_same.ok()) << explicit_same.status().ToString();
  EXPECT_EQ(*explicit_same, *first);

  // Another data dir gets another id.
  TempDir other("ingester-id");
  auto second = LoadOrCreateIngesterId(other.path().string(), "");
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*second, *first);
}

TEST(IngesterId, AnExplicitIdIsStoredAndADifferentOneRefused) {
  TempDir dir("ingester-id");
  auto first = LoadOrCreateIngesterId(dir.path().string(), "ingester-a");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, "ingester-a");
  EXPECT_EQ(FileContent(dir.path() / "ingester_id"), "ingester-a\n");

  auto without_flag = LoadOrCreateIngesterId(dir.path().string(), "");
  ASSERT_TRUE(without_flag.ok());
  EXPECT_EQ(*without_flag, "ingester-a");

  auto other = LoadOrCreateIngesterId(dir.path().string(), "ingester-b");
  ASSERT_FALSE(other.ok());
  EXPECT_TRUE(other.status().IsInvalid());
  EXPECT_THAT(other.status().message(), HasSubstr("--ingester-id ingester-b differs"));
  EXPECT_THAT(other.status().message(), HasSubstr("'ingester-a'"));
  EXPECT_THAT(other.status().message(), HasSubstr("ingester_id"));
  EXPECT_EQ(FileContent(dir.path() / "ingester_id"), "ingester-a\n");
}

TEST(IngesterId, ABadStoredIdOrFlagIsRefused) {
  TempDir dir("ingester-id");
  auto bad_flag = LoadOrCreateIngesterId(dir.path().string(), "a/b");
  EXPECT_TRUE(bad_flag.status().IsInvalid());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "ingester_id"));

  {
    std::ofstream out(dir.path() / "ingester_id");
    out << "not valid!\n";
  }
  auto bad_file = LoadOrCreateIngesterId(dir.path().string(), "");
  ASSERT_FALSE(bad_file.ok());
  EXPECT_THAT(bad_file.status().message(), HasSubstr("ingester_id"));
  EXPECT_THAT(bad_file.status().message(), HasSubstr("contains ' '"));

  { std::ofstream out(dir.path() / "ingester_id", std::ios::trunc); }
  auto empty_file = LoadOrCreateIngesterId(dir.path().string(), "");
  ASSERT_FALSE(empty_file.ok());
  EXPECT_THAT(empty_file.status().message(), HasSubstr("is empty"));
}

}  // namespace
}  // namespace ingester
