#include "ingester/catalog/names.h"

#include <gtest/gtest.h>

#include <string>

#include "ingester/common/error.h"

namespace ingester::catalog {
namespace {

TEST(NamesTest, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9"));           // é
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac"));       // €
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));   // emoji
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));   // U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc1\xbf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xbf\xbf"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
}

TEST(NamesTest, QuoteForMessage) {
  EXPECT_EQ(QuoteForMessage("cpu"), "\"cpu\"");
  EXPECT_EQ(QuoteForMessage(std::string("a\0b", 3)), "\"a\\x00b\"");
  EXPECT_EQ(QuoteForMessage("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(QuoteForMessage("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(QuoteForMessage("\xff"), "\"\\xFF\"");
  EXPECT_EQ(QuoteForMessage(std::string(100, 'x'), 10),
            "\"" + std::string(10, 'x') + "\"... (100 bytes)");
}

TEST(NamesTest, NamespaceRules) {
  EXPECT_TRUE(ValidateNamespaceName("a.b-c_D9").ok());
  EXPECT_TRUE(ValidateNamespaceName(std::string(64, 'a')).ok());
  EXPECT_FALSE(ValidateNamespaceName(std::string(65, 'a')).ok());
  EXPECT_FALSE(ValidateNamespaceName("").ok());
  EXPECT_FALSE(ValidateNamespaceName(".x").ok());
  EXPECT_FALSE(ValidateNamespaceName("../x").ok());
  EXPECT_FALSE(ValidateNamespaceName("a/b").ok());
  const arrow::Status st = ValidateNamespaceName("a/b");
  EXPECT_EQ(ErrorKindOf(st), ErrorKind::kInvalidInput);
  EXPECT_NE(st.message().find("\"a/b\""), std::string::npos) << st.message();
}

TEST(NamesTest, ColumnSpecTimeRule) {
  EXPECT_TRUE(ValidateColumnSpec({"time", ColumnType::kTime}).ok());
  EXPECT_TRUE(ValidateColumnSpec({"Time", ColumnType::kI64}).ok());
  EXPECT_FALSE(ValidateColumnSpec({"time", ColumnType::kTag}).ok());
  EXPECT_FALSE(ValidateColumnSpec({"timestamp", ColumnType::kTime}).ok());
}

TEST(NamesTest, PartitionKeys) {
  EXPECT_TRUE(ValidatePartitionKey("2024-01-01|host-a|!").ok());
  EXPECT_FALSE(ValidatePartitionKey("").ok());
  EXPECT_FALSE(ValidatePartitionKey(std::string(kMaxPartitionKeyBytes + 1, 'k')).ok());
  EXPECT_TRUE(ValidatePartitionKey(std::string(kMaxPartitionKeyBytes, 'k')).ok());
}

}  // namespace
}  // namespace ingester::catalog
