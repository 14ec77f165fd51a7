//===- JsonDuplicateKeys.cpp - Finding repeated keys in JSON --------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Frontend/JsonDuplicateKeys.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace mlir::rotor;

namespace {

/// An object or array being scanned.
struct Frame {
  bool isObject;
  /// The path of this container ("" for the top level).
  std::string path;
  /// Objects: the keys seen so far, and whether the next string is a key.
  llvm::StringSet<> keys;
  bool expectKey = true;
  /// The key (objects) or index (arrays) of the value being scanned.
  std::string currentKey;
  size_t index = 0;

  /// The path of the value being scanned in this container.
  std::string childPath() const {
    if (!isObject)
      return (path + "[" + llvm::Twine(index) + "]").str();
    return path.empty() ? currentKey : path + "." + currentKey;
  }
};

/// The decoded value of the string literal starting at text[pos]; `pos`
/// moves past its closing quote.
std::string readString(llvm::StringRef text, size_t &pos) {
  size_t start = pos++;
  while (pos < text.size() && text[pos] != '"')
    pos += text[pos] == '\\' ? 2 : 1;
  ++pos;
  llvm::StringRef literal = text.slice(start, pos);
  // The text is valid JSON, so the literal parses; decoding it makes
  // "a" and "\u0061" the same key.
  llvm::Expected<llvm::json::Value> v = llvm::json::parse(literal);
  if (!v) {
    llvm::consumeError(v.takeError());
    return literal.drop_front().drop_back().str();
  }
  return v->getAsString().value_or("").str();
}

} // namespace

std::optional<std::string>
mlir::rotor::findDuplicateJsonKey(llvm::StringRef text) {
  llvm::SmallVector<Frame> stack;
  for (size_t pos = 0; pos < text.size();) {
    char c = text[pos];
    if (c == '"') {
      std::string s = readString(text, pos);
      if (!stack.empty() && stack.back().isObject && stack.back().expectKey) {
        Frame &f = stack.back();
        f.currentKey = s;
        if (!f.keys.insert(s).second)
          return f.childPath();
        f.expectKey = false;
      }
      continue;
    }
    ++pos;
    if (c == '{' || c == '[') {
      std::string path = stack.empty() ? "" : stack.back().childPath();
      stack.push_back(Frame{c == '{', std::move(path), {}, true, {}, 0});
    } else if (c == '}' || c == ']') {
      if (!stack.empty())
        stack.pop_back();
    } else if (c == ',' && !stack.empty()) {
      Frame &f = stack.back();
      if (f.isObject)
        f.expectKey = true;
      else
        ++f.index;
    }
  }
  return std::nullopt;
}
