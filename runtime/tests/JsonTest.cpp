//===- JsonTest.cpp - Tests of the strict JSON parser ---------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "support/Json.h"

#include <gtest/gtest.h>

#include <gmock/gmock.h>

using namespace rotor;
using json::Value;
using ::testing::HasSubstr;

namespace {

/// Parses `text`, expecting success.
Value parseOk(const std::string &text) {
  Value value;
  EXPECT_EQ(json::parse(text, "t.json", value), ROTOR_OK) << rotor_last_error();
  return value;
}

/// Parses `text`, expecting failure; returns the message.
std::string parseError(const std::string &text, unsigned depth = 64) {
  Value value;
  EXPECT_EQ(json::parse(text, "t.json", value, depth), ROTOR_ERR_FORMAT)
      << text;
  return rotor_last_error();
}

} // namespace

TEST(Json, Scalars) {
  EXPECT_TRUE(parseOk("null").isNull());
  EXPECT_TRUE(parseOk(" true ").getBool());
  EXPECT_FALSE(parseOk("false").getBool());
  Value integer = parseOk("-42");
  EXPECT_TRUE(integer.isInteger());
  EXPECT_EQ(integer.getInteger(), -42);
  Value real = parseOk("2.5e3");
  EXPECT_TRUE(real.isNumber());
  EXPECT_FALSE(real.isInteger());
  EXPECT_EQ(real.getNumber(), 2500.0);
  EXPECT_FALSE(parseOk("1.0").isInteger());
  EXPECT_EQ(parseOk("9223372036854775807").getInteger(), INT64_MAX);
  Value big = parseOk("9223372036854775808");
  EXPECT_FALSE(big.isInteger());
  EXPECT_EQ(big.getNumber(), 9223372036854775808.0);
  EXPECT_EQ(parseOk("-0").getInteger(), 0);
}

TEST(Json, StringsAndEscapes) {
  EXPECT_EQ(parseOk(R"("a\"b\\c\/d\b\f\n\r\t")").getString(),
            "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(parseOk(R"("\u00e9\u20ac")").getString(), "\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(parseOk(R"("\ud83d\ude00")").getString(), "\xf0\x9f\x98\x80");
  EXPECT_EQ(parseOk("\"caf\xc3\xa9\"").getString(), "caf\xc3\xa9");
  EXPECT_EQ(parseOk(R"("\u0000")").getString(), std::string(1, '\0'));
}

TEST(Json, ContainersKeepOrder) {
  Value value = parseOk(R"({"b": [1, 2, {"c": null}], "a": {}})");
  ASSERT_TRUE(value.isObject());
  ASSERT_EQ(value.getObject().size(), 2u);
  EXPECT_EQ(value.getObject()[0].first, "b");
  EXPECT_EQ(value.getObject()[1].first, "a");
  const Value *b = value.find("b");
  ASSERT_TRUE(b && b->isArray());
  EXPECT_EQ(b->getArray().size(), 3u);
  EXPECT_TRUE(b->getArray()[2].find("c")->isNull());
  EXPECT_EQ(value.find("missing"), nullptr);
  EXPECT_TRUE(parseOk("[]").getArray().empty());
}

TEST(Json, ErrorsCarryLineAndColumn) {
  EXPECT_THAT(parseError("{\n  \"a\": 1,\n  \"b\" 2\n}"),
              HasSubstr("t.json:3:7: expected ':' after object key"));
  EXPECT_THAT(parseError("[1, 2"), HasSubstr("t.json:1:6:"));
  EXPECT_THAT(parseError("{\"a\": 1,}"), HasSubstr("trailing comma in object"));
  EXPECT_THAT(parseError("[1,]"), HasSubstr("trailing comma in array"));
  EXPECT_THAT(parseError("{\"a\": 1, \"a\": 2}"),
              HasSubstr("t.json:1:10: duplicate key 'a'"));
  EXPECT_THAT(parseError("1 2"), HasSubstr("after the JSON value"));
  EXPECT_THAT(parseError(""), HasSubstr("unexpected end of input"));
}

TEST(Json, RejectsNonStandardSyntax) {
  EXPECT_THAT(parseError("// c\n1"), HasSubstr("expected a JSON value"));
  EXPECT_THAT(parseError("'a'"), HasSubstr("expected a JSON value"));
  EXPECT_THAT(parseError("01"), HasSubstr("leading zeros"));
  EXPECT_THAT(parseError("1."), HasSubstr("digit after '.'"));
  EXPECT_THAT(parseError("1e"), HasSubstr("exponent"));
  EXPECT_THAT(parseError("+1"), HasSubstr("expected a JSON value"));
  EXPECT_THAT(parseError("NaN"), HasSubstr("expected a JSON value"));
  EXPECT_THAT(parseError("tru"), HasSubstr("invalid literal"));
  EXPECT_THAT(parseError("1e999"), HasSubstr("out of range"));
  EXPECT_THAT(parseError("\xEF\xBB\xBF{}"), HasSubstr("byte order mark"));
  EXPECT_THAT(parseError("{a: 1}"), HasSubstr("expected a string key"));
}

TEST(Json, RejectsBadStrings) {
  EXPECT_THAT(parseError("\"abc"), HasSubstr("t.json:1:1: unterminated"));
  EXPECT_THAT(parseError("\"a\nb\""), HasSubstr("control character"));
  EXPECT_THAT(parseError(R"("\x")"), HasSubstr("invalid escape '\\x'"));
  EXPECT_THAT(parseError(R"("\u12")"), HasSubstr("4 hex digits"));
  EXPECT_THAT(parseError(R"("\ud83d")"), HasSubstr("unpaired high"));
  EXPECT_THAT(parseError(R"("\ude00")"), HasSubstr("unpaired low"));
  EXPECT_THAT(parseError(R"("\ud83d\u0041")"), HasSubstr("unpaired high"));
  EXPECT_THAT(parseError("\"\xff\""), HasSubstr("invalid UTF-8"));
  EXPECT_THAT(parseError("\"\xc0\xaf\""), HasSubstr("invalid UTF-8"));
  EXPECT_THAT(parseError("\"\xed\xa0\x80\""), HasSubstr("invalid UTF-8"));
  EXPECT_THAT(parseError("\"\xe2\x82\""), HasSubstr("UTF-8"));
}

TEST(Json, LimitsNesting) {
  std::string deep(10000, '[');
  EXPECT_THAT(parseError(deep), HasSubstr("nesting is deeper than 64"));
  std::string ok = std::string(64, '[') + std::string(64, ']');
  Value value;
  EXPECT_EQ(json::parse(ok, "t.json", value), ROTOR_OK);
  std::string tooDeep = std::string(65, '[') + std::string(65, ']');
  EXPECT_THAT(parseError(tooDeep), HasSubstr("nesting"));
  EXPECT_THAT(parseError("[[[]]]", 2), HasSubstr("deeper than 2"));
}

TEST(Json, AppendStringEscapes) {
  std::string out;
  json::appendString(out, std::string("a\"b\\c\n\x01", 7));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001\"");
  Value value = parseOk(out);
  EXPECT_EQ(value.getString(), std::string("a\"b\\c\n\x01", 7));
}

TEST(Json, NeverCrashesOnTruncations) {
  // Every prefix of a valid document is either valid or a clean error.
  std::string doc =
      R"({"a": [1, -2.5e-3, true, false, null, "x\u00e9\ud83d\ude00"], "b": {}})";
  for (size_t n = 0; n <= doc.size(); ++n) {
    Value value;
    rotor_status status = json::parse(doc.substr(0, n), "t.json", value);
    EXPECT_TRUE(status == ROTOR_OK || status == ROTOR_ERR_FORMAT);
  }
}
