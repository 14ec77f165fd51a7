//===- Json.cpp - A small strict JSON parser ------------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "Json.h"
#include "../Error.h"

#include <charconv>
#include <cstdio>
#include <unordered_set>

using namespace rotor;
using namespace rotor::json;

const Value *Value::find(std::string_view key) const {
  for (const Member &member : object)
    if (member.first == key)
      return &member.second;
  return nullptr;
}

const char *json::describeKind(Value::Kind kind) {
  switch (kind) {
  case Value::Kind::Null:
    return "null";
  case Value::Kind::Bool:
    return "a boolean";
  case Value::Kind::Number:
    return "a number";
  case Value::Kind::String:
    return "a string";
  case Value::Kind::Array:
    return "an array";
  case Value::Kind::Object:
    return "an object";
  }
  return "an unknown value";
}

namespace rotor::json {

/// A recursive-descent parser. Recursion depth is bounded by `maxDepth`.
class Parser {
public:
  Parser(std::string_view text, const std::string &name, unsigned maxDepth)
      : text(text), name(name), maxDepth(maxDepth) {}

  rotor_status parseDocument(Value &out) {
    if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF")
      return error("a byte order mark is not allowed in JSON");
    skipWhitespace();
    if (rotor_status s = parseValue(out, 0))
      return s;
    skipWhitespace();
    if (pos != text.size())
      return error("unexpected ", describeByte(), " after the JSON value");
    return ROTOR_OK;
  }

private:
  std::string_view text;
  const std::string &name;
  unsigned maxDepth;
  size_t pos = 0;

  bool atEnd() const { return pos >= text.size(); }
  unsigned char peek() const {
    return atEnd() ? 0 : static_cast<unsigned char>(text[pos]);
  }

  /// Describes the byte at `pos` for messages.
  std::string describeByte() const {
    if (atEnd())
      return "end of input";
    unsigned char c = peek();
    if (c >= 0x20 && c < 0x7f)
      return strCat("character '", static_cast<char>(c), "'");
    char buf[16];
    std::snprintf(buf, sizeof(buf), "byte 0x%02x", c);
    return buf;
  }

  /// Fails with "NAME:LINE:COL: message", locating `pos`.
  template <typename... Ts> rotor_status error(const Ts &...parts) {
    return errorAt(pos, parts...);
  }

  template <typename... Ts>
  rotor_status errorAt(size_t at, const Ts &...parts) {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < at && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return fail(ROTOR_ERR_FORMAT, name, ":", line, ":", column, ": ", parts...);
  }

  void skipWhitespace() {
    while (!atEnd()) {
      char c = text[pos];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
        return;
      ++pos;
    }
  }

  rotor_status parseValue(Value &out, unsigned depth) {
    if (atEnd())
      return error("unexpected end of input, expected a JSON value");
    switch (peek()) {
    case '{':
      return parseObject(out, depth + 1);
    case '[':
      return parseArray(out, depth + 1);
    case '"':
      out.valueKind = Value::Kind::String;
      return parseString(out.string);
    case 't':
      return parseLiteral("true", out, Value::Kind::Bool, true);
    case 'f':
      return parseLiteral("false", out, Value::Kind::Bool, false);
    case 'n':
      return parseLiteral("null", out, Value::Kind::Null, false);
    default:
      if (peek() == '-' || (peek() >= '0' && peek() <= '9'))
        return parseNumber(out);
      return error("unexpected ", describeByte(), ", expected a JSON value");
    }
  }

  rotor_status parseLiteral(std::string_view word, Value &out, Value::Kind kind,
                            bool boolean) {
    if (text.substr(pos, word.size()) != word)
      return error("invalid literal, expected '", word, "'");
    pos += word.size();
    out.valueKind = kind;
    out.boolean = boolean;
    return ROTOR_OK;
  }

  bool isDigit(unsigned char c) const { return c >= '0' && c <= '9'; }

  rotor_status parseNumber(Value &out) {
    size_t start = pos;
    if (peek() == '-')
      ++pos;
    if (!isDigit(peek()))
      return error("invalid number: expected a digit");
    if (peek() == '0') {
      ++pos;
      if (isDigit(peek()))
        return error("invalid number: leading zeros are not allowed");
    } else {
      while (isDigit(peek()))
        ++pos;
    }
    bool integral = true;
    if (peek() == '.') {
      integral = false;
      ++pos;
      if (!isDigit(peek()))
        return error("invalid number: expected a digit after '.'");
      while (isDigit(peek()))
        ++pos;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos;
      if (peek() == '+' || peek() == '-')
        ++pos;
      if (!isDigit(peek()))
        return error("invalid number: expected a digit in the exponent");
      while (isDigit(peek()))
        ++pos;
    }
    const char *first = text.data() + start;
    const char *last = text.data() + pos;
    out.valueKind = Value::Kind::Number;
    if (integral) {
      int64_t value;
      auto [ptr, ec] = std::from_chars(first, last, value);
      if (ec == std::errc() && ptr == last) {
        out.integral = true;
        out.integer = value;
        out.number = static_cast<double>(value);
        return ROTOR_OK;
      }
    }
    double value;
    auto [ptr, ec] = std::from_chars(first, last, value);
    if (ec != std::errc() || ptr != last)
      return errorAt(start, "number ", std::string(first, last),
                     " is out of range");
    out.number = value;
    return ROTOR_OK;
  }

  static int hexValue(unsigned char c) {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  }

  /// Parses the 4 hex digits of a \u escape at `pos`.
  rotor_status parseHex4(uint32_t &out) {
    out = 0;
    for (int i = 0; i < 4; ++i) {
      int digit = hexValue(peek());
      if (atEnd() || digit < 0)
        return error("invalid \\u escape: expected 4 hex digits");
      out = out * 16 + static_cast<uint32_t>(digit);
      ++pos;
    }
    return ROTOR_OK;
  }

  static void appendUtf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  /// Checks the UTF-8 sequence starting at `pos` (a byte >= 0x80), copies it
  /// to `out` and advances past it.
  rotor_status copyUtf8Sequence(std::string &out) {
    unsigned char lead = peek();
    size_t length;
    uint32_t cp, min;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2, cp = lead & 0x1F, min = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3, cp = lead & 0x0F, min = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4, cp = lead & 0x07, min = 0x10000;
    } else {
      return error("invalid UTF-8 ", describeByte(), " in string");
    }
    if (text.size() - pos < length)
      return error("truncated UTF-8 sequence in string");
    for (size_t i = 1; i < length; ++i) {
      unsigned char c = static_cast<unsigned char>(text[pos + i]);
      if ((c & 0xC0) != 0x80)
        return error("invalid UTF-8 sequence in string");
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return error("invalid UTF-8 sequence in string");
    out.append(text.data() + pos, length);
    pos += length;
    return ROTOR_OK;
  }

  rotor_status parseString(std::string &out) {
    size_t start = pos;
    ++pos; // Opening quote.
    while (true) {
      if (atEnd())
        return errorAt(start, "unterminated string");
      unsigned char c = peek();
      if (c == '"') {
        ++pos;
        return ROTOR_OK;
      }
      if (c < 0x20)
        return error("control character ", describeByte(),
                     " in string (escape it)");
      if (c >= 0x80) {
        if (rotor_status s = copyUtf8Sequence(out))
          return s;
        continue;
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos;
        continue;
      }
      ++pos; // Backslash.
      if (atEnd())
        return errorAt(start, "unterminated string");
      char escape = text[pos++];
      switch (escape) {
      case '"':
      case '\\':
      case '/':
        out += escape;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp;
        if (rotor_status s = parseHex4(cp))
          return s;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
          return error("unpaired low surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (text.substr(pos, 2) != "\\u")
            return error("unpaired high surrogate in \\u escape");
          pos += 2;
          uint32_t low;
          if (rotor_status s = parseHex4(low))
            return s;
          if (low < 0xDC00 || low > 0xDFFF)
            return error("unpaired high surrogate in \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        appendUtf8(out, cp);
        break;
      }
      default:
        --pos;
        if (escape >= 0x20 && escape < 0x7f)
          return error("invalid escape '\\", escape, "' in string");
        return error("invalid escape sequence in string");
      }
    }
  }

  rotor_status checkDepth(unsigned depth) {
    if (depth > maxDepth)
      return error("nesting is deeper than ", maxDepth, " levels");
    return ROTOR_OK;
  }

  rotor_status parseArray(Value &out, unsigned depth) {
    if (rotor_status s = checkDepth(depth))
      return s;
    out.valueKind = Value::Kind::Array;
    ++pos; // '['
    skipWhitespace();
    if (peek() == ']') {
      ++pos;
      return ROTOR_OK;
    }
    while (true) {
      out.array.emplace_back();
      if (rotor_status s = parseValue(out.array.back(), depth))
        return s;
      skipWhitespace();
      if (peek() == ',') {
        ++pos;
        skipWhitespace();
        if (peek() == ']')
          return error("trailing comma in array");
        continue;
      }
      if (peek() == ']') {
        ++pos;
        return ROTOR_OK;
      }
      return error("expected ',' or ']' in array, got ", describeByte());
    }
  }

  rotor_status parseObject(Value &out, unsigned depth) {
    if (rotor_status s = checkDepth(depth))
      return s;
    out.valueKind = Value::Kind::Object;
    ++pos; // '{'
    skipWhitespace();
    if (peek() == '}') {
      ++pos;
      return ROTOR_OK;
    }
    std::unordered_set<std::string> keys;
    while (true) {
      if (peek() != '"')
        return error("expected a string key in object, got ", describeByte());
      size_t keyPos = pos;
      std::string key;
      if (rotor_status s = parseString(key))
        return s;
      if (!keys.insert(key).second)
        return errorAt(keyPos, "duplicate key ", quote(key), " in object");
      skipWhitespace();
      if (peek() != ':')
        return error("expected ':' after object key, got ", describeByte());
      ++pos;
      skipWhitespace();
      out.object.emplace_back(std::move(key), Value());
      if (rotor_status s = parseValue(out.object.back().second, depth))
        return s;
      skipWhitespace();
      if (peek() == ',') {
        ++pos;
        skipWhitespace();
        if (peek() == '}')
          return error("trailing comma in object");
        continue;
      }
      if (peek() == '}') {
        ++pos;
        return ROTOR_OK;
      }
      return error("expected ',' or '}' in object, got ", describeByte());
    }
  }
};

} // namespace rotor::json

rotor_status json::parse(std::string_view text, const std::string &name,
                         Value &out, unsigned maxDepth) {
  return guard([&] {
    out = Value();
    return Parser(text, name, maxDepth).parseDocument(out);
  });
}

void json::appendString(std::string &out, std::string_view text) {
  out += '"';
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        out += buf;
      } else {
        out += ch;
      }
    }
  }
  out += '"';
}
