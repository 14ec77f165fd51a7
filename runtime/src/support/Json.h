//===- Json.h - A small strict JSON parser ----------------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Parses RFC 8259 JSON into a tree of json::Value, strictly: no comments, no
// trailing commas, no byte order mark, no duplicate object keys, strings
// must be valid UTF-8 (escaped surrogates must pair up), numbers must fit a
// double. Nesting is limited so that no input can exhaust the stack. Syntax
// errors carry the 1-based line and column (in bytes) of the offending byte.
//
// Used for manifest.json and .safetensors headers; written to be fuzzed.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_SUPPORT_JSON_H
#define ROTOR_SRC_SUPPORT_JSON_H

#include "rotor/runtime.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rotor::json {

/// One JSON value. Objects keep their members in document order.
class Value {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };
  using Member = std::pair<std::string, Value>;

  Kind kind() const { return valueKind; }
  bool isNull() const { return valueKind == Kind::Null; }
  bool isBool() const { return valueKind == Kind::Bool; }
  bool isNumber() const { return valueKind == Kind::Number; }
  bool isString() const { return valueKind == Kind::String; }
  bool isArray() const { return valueKind == Kind::Array; }
  bool isObject() const { return valueKind == Kind::Object; }

  /// True for a number written without fraction or exponent that fits in
  /// int64_t.
  bool isInteger() const { return valueKind == Kind::Number && integral; }

  bool getBool() const { return boolean; }
  /// The value of an integer (isInteger()).
  int64_t getInteger() const { return integer; }
  /// The value of any number.
  double getNumber() const { return number; }
  const std::string &getString() const { return string; }
  const std::vector<Value> &getArray() const { return array; }
  const std::vector<Member> &getObject() const { return object; }

  /// The member named `key` of an object, or nullptr.
  const Value *find(std::string_view key) const;

private:
  friend class Parser;
  Kind valueKind = Kind::Null;
  bool boolean = false;
  bool integral = false;
  int64_t integer = 0;
  double number = 0;
  std::string string;
  std::vector<Value> array;
  std::vector<Member> object;
};

/// "null", "a boolean", "a number", "a string", "an array" or "an object",
/// for messages such as "expected an integer, got a string".
const char *describeKind(Value::Kind kind);

/// The default nesting limit (arrays and objects).
constexpr unsigned defaultMaxDepth = 64;

/// Parses `text` as one JSON document into `out`. On failure returns
/// ROTOR_ERR_FORMAT with the message "NAME:LINE:COLUMN: what is wrong".
rotor_status parse(std::string_view text, const std::string &name, Value &out,
                   unsigned maxDepth = defaultMaxDepth);

/// Appends `text` to `out` as a JSON string literal (quotes included),
/// escaping quotes, backslashes and control characters.
void appendString(std::string &out, std::string_view text);

} // namespace rotor::json

#endif // ROTOR_SRC_SUPPORT_JSON_H
