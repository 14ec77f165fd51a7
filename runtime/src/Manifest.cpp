//===- Manifest.cpp - The artifact manifest (manifest.json) ---------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "Manifest.h"
#include "DType.h"
#include "Error.h"
#include "support/FileSystem.h"
#include "support/Json.h"

#include <initializer_list>
#include <unordered_map>

using namespace rotor;
using json::Value;

bool rotor::isValidArgName(std::string_view name) {
  if (name.empty() || name.size() > 256 || name[0] == '.' || name[0] == '-')
    return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

namespace {

constexpr std::string_view symbolPrefix = "rotor_entry_";

bool isCIdentifier(std::string_view name) {
  if (name.empty() || name.size() > 256 || (name[0] >= '0' && name[0] <= '9'))
    return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_';
    if (!ok)
      return false;
  }
  return true;
}

/// Checks the schema of a parsed manifest, producing path-named errors.
class ManifestChecker {
public:
  explicit ManifestChecker(const std::string &file) : file(file) {}

  rotor_status check(const Value &root, Manifest &out) {
    if (!root.isObject())
      return fail(ROTOR_ERR_FORMAT, file,
                  ": expected a JSON object at the top level, got ",
                  json::describeKind(root.kind()));
    // The format and its version come first: a newer manifest may have
    // fields this runtime does not know, and the version error says why.
    const Value *format;
    if (rotor_status s =
            getField(root, "", "format", Value::Kind::String, format))
      return s;
    if (format->getString() != "rotor-artifact")
      return error("format", "expected 'rotor-artifact', got ",
                   quote(format->getString()));
    const Value *version;
    if (rotor_status s =
            getField(root, "", "format_version", Value::Kind::Number, version))
      return s;
    if (!version->isInteger())
      return error("format_version", "expected an integer");
    if (version->getInteger() != ROTOR_ARTIFACT_FORMAT_VERSION)
      return fail(ROTOR_ERR_UNSUPPORTED, file, ": artifact format version ",
                  version->getInteger(),
                  " is not supported by this runtime (supports ",
                  ROTOR_ARTIFACT_FORMAT_VERSION, ")");
    if (rotor_status s = checkKeys(root, "",
                                   {"format", "format_version", "target",
                                    "library", "weights", "entries"}))
      return s;

    const Value *target;
    if (rotor_status s =
            getField(root, "", "target", Value::Kind::String, target))
      return s;
    if (target->getString() != "cpu" && target->getString() != "cuda")
      return error("target", "unknown target ", quote(target->getString()),
                   " (expected 'cpu' or 'cuda')");
    out.target = target->getString();

    const Value *library;
    if (rotor_status s =
            getField(root, "", "library", Value::Kind::String, library))
      return s;
    if (rotor_status s = checkFileName("library", library->getString()))
      return s;
    out.library = library->getString();

    // "weights" is optional (added within format version 1).
    if (const Value *weights = root.find("weights")) {
      if (!weights->isString())
        return error("weights", "expected ",
                     json::describeKind(Value::Kind::String), ", got ",
                     json::describeKind(weights->kind()));
      if (rotor_status s = checkFileName("weights", weights->getString()))
        return s;
      if (weights->getString() == out.library)
        return error("weights", quote(weights->getString()),
                     " is also the library; the weights are a separate "
                     ".safetensors file");
      if (weights->getString() == manifestFileName)
        return error("weights", quote(weights->getString()),
                     " is the manifest; the weights are a separate "
                     ".safetensors file");
      out.weights = weights->getString();
    }

    const Value *entries;
    if (rotor_status s =
            getField(root, "", "entries", Value::Kind::Array, entries))
      return s;
    if (entries->getArray().empty())
      return error("entries", "the artifact declares no entries");
    std::unordered_map<std::string, size_t> seen;
    for (size_t i = 0; i < entries->getArray().size(); ++i) {
      std::string path = strCat("entries[", i, "]");
      EntrySpec entry;
      if (rotor_status s = checkEntry(entries->getArray()[i], path, entry))
        return s;
      auto [it, inserted] = seen.emplace(entry.name, i);
      if (!inserted)
        return error(path + ".name", "duplicate entry name ", quote(entry.name),
                     " (also entries[", it->second, "])");
      out.entries.push_back(std::move(entry));
    }
    return ROTOR_OK;
  }

private:
  const std::string &file;

  template <typename... Ts>
  rotor_status error(const std::string &path, const Ts &...parts) {
    return fail(ROTOR_ERR_FORMAT, file, ": ", path, ": ", parts...);
  }

  /// Checks that field `key` names a plain file inside the artifact
  /// directory.
  rotor_status checkFileName(const char *key, const std::string &name) {
    bool badName = name.empty() || name == "." || name == ".." ||
                   name.find('/') != std::string::npos;
    for (unsigned char c : name)
      badName |= c < 0x20 || c == 0x7f;
    if (badName)
      return error(key, quote(name),
                   " must be a file name inside the artifact directory (no "
                   "'/', not '.' or '..')");
    return ROTOR_OK;
  }

  static std::string join(const std::string &path, const char *key) {
    return path.empty() ? std::string(key) : path + "." + key;
  }

  /// Finds required member `key` of `object` (at `path`) and checks its kind.
  rotor_status getField(const Value &object, const std::string &path,
                        const char *key, Value::Kind kind, const Value *&out) {
    out = object.find(key);
    if (!out) {
      if (path.empty())
        return fail(ROTOR_ERR_FORMAT, file, ": missing field '", key, "'");
      return error(path, "missing field '", key, "'");
    }
    if (out->kind() != kind)
      return error(join(path, key), "expected ", json::describeKind(kind),
                   ", got ", json::describeKind(out->kind()));
    return ROTOR_OK;
  }

  /// Rejects members of `object` not listed in `allowed`.
  rotor_status checkKeys(const Value &object, const std::string &path,
                         std::initializer_list<const char *> allowed) {
    for (const Value::Member &member : object.getObject()) {
      bool known = false;
      for (const char *key : allowed)
        known |= member.first == key;
      if (known)
        continue;
      std::string expected;
      for (const char *key : allowed)
        expected += (expected.empty() ? "" : ", ") + std::string(key);
      std::string message = strCat("unknown field ", quote(member.first),
                                   " (expected: ", expected, ")");
      if (path.empty())
        return fail(ROTOR_ERR_FORMAT, file, ": ", message);
      return error(path, message);
    }
    return ROTOR_OK;
  }

  rotor_status checkEntry(const Value &value, const std::string &path,
                          EntrySpec &entry) {
    if (!value.isObject())
      return error(path, "expected an object, got ",
                   json::describeKind(value.kind()));
    if (rotor_status s =
            checkKeys(value, path, {"name", "symbol", "inputs", "outputs"}))
      return s;
    const Value *name, *symbol, *inputs, *outputs;
    if (rotor_status s =
            getField(value, path, "name", Value::Kind::String, name))
      return s;
    if (!isValidArgName(name->getString()))
      return error(path + ".name", quote(name->getString()),
                   " is not a valid entry name (use letters, digits, '_', "
                   "'.' and '-', not starting with '.' or '-')");
    entry.name = name->getString();
    if (rotor_status s =
            getField(value, path, "symbol", Value::Kind::String, symbol))
      return s;
    const std::string &sym = symbol->getString();
    if (!isCIdentifier(sym) ||
        sym.compare(0, symbolPrefix.size(), symbolPrefix) != 0)
      return error(path + ".symbol", quote(sym),
                   " must be a C identifier starting with 'rotor_entry_'");
    entry.symbol = sym;
    if (rotor_status s =
            getField(value, path, "inputs", Value::Kind::Array, inputs))
      return s;
    if (rotor_status s =
            checkArgs(*inputs, path + ".inputs", "input", entry.inputs))
      return s;
    if (rotor_status s =
            getField(value, path, "outputs", Value::Kind::Array, outputs))
      return s;
    return checkArgs(*outputs, path + ".outputs", "output", entry.outputs);
  }

  rotor_status checkArgs(const Value &list, const std::string &path,
                         const char *kind, std::vector<ArgSpec> &out) {
    std::unordered_map<std::string, size_t> seen;
    for (size_t i = 0; i < list.getArray().size(); ++i) {
      std::string argPath = strCat(path, "[", i, "]");
      ArgSpec arg;
      if (rotor_status s = checkArg(list.getArray()[i], argPath, arg))
        return s;
      auto [it, inserted] = seen.emplace(arg.name, i);
      if (!inserted)
        return error(argPath + ".name", "duplicate ", kind, " name ",
                     quote(arg.name), " (also ", kind, "s[", it->second, "])");
      out.push_back(std::move(arg));
    }
    return ROTOR_OK;
  }

  rotor_status checkArg(const Value &value, const std::string &path,
                        ArgSpec &arg) {
    if (!value.isObject())
      return error(path, "expected an object, got ",
                   json::describeKind(value.kind()));
    if (rotor_status s = checkKeys(value, path, {"name", "dtype", "shape"}))
      return s;
    const Value *name, *dtype, *shape;
    if (rotor_status s =
            getField(value, path, "name", Value::Kind::String, name))
      return s;
    if (!isValidArgName(name->getString()))
      return error(path + ".name", quote(name->getString()),
                   " is not a valid argument name (use letters, digits, '_', "
                   "'.' and '-', not starting with '.' or '-')");
    arg.name = name->getString();
    if (rotor_status s =
            getField(value, path, "dtype", Value::Kind::String, dtype))
      return s;
    std::optional<rotor_dtype> parsed = parseDTypeName(dtype->getString());
    if (!parsed)
      return error(path + ".dtype", "unknown dtype ", quote(dtype->getString()),
                   " (expected one of ", dtypeNameList(), ")");
    arg.dtype = *parsed;
    if (rotor_status s =
            getField(value, path, "shape", Value::Kind::Array, shape))
      return s;
    const std::vector<Value> &dims = shape->getArray();
    if (dims.size() > ROTOR_MAX_RANK)
      return error(path + ".shape", "rank ", dims.size(),
                   " exceeds the maximum rank ", ROTOR_MAX_RANK);
    for (size_t d = 0; d < dims.size(); ++d) {
      std::string dimPath = strCat(path, ".shape[", d, "]");
      const Value &dim = dims[d];
      if (dim.isNull()) {
        arg.shape.push_back(ROTOR_DYNAMIC_DIM);
        continue;
      }
      if (!dim.isInteger())
        return error(dimPath, "expected a non-negative integer or null, got ",
                     dim.isNumber() ? "a non-integer number"
                                    : json::describeKind(dim.kind()));
      if (dim.getInteger() < 0)
        return error(dimPath, "dimension ", dim.getInteger(),
                     " is negative (use null for a dynamic dimension)");
      arg.shape.push_back(dim.getInteger());
    }
    return ROTOR_OK;
  }
};

} // namespace

rotor_status rotor::parseManifest(std::string_view text,
                                  const std::string &fileName, Manifest &out) {
  return guard([&] {
    json::Value root;
    if (rotor_status s = json::parse(text, fileName, root))
      return s;
    Manifest manifest;
    if (rotor_status s = ManifestChecker(fileName).check(root, manifest))
      return s;
    out = std::move(manifest);
    return ROTOR_OK;
  });
}

rotor_status rotor::readManifest(const std::string &dir, Manifest &out) {
  return guard([&] {
    if (!isDirectory(dir)) {
      if (isRegularFile(dir))
        return fail(ROTOR_ERR_INVALID_ARGUMENT, dir,
                    ": not a directory (an artifact is a directory holding "
                    "manifest.json)");
      return fail(ROTOR_ERR_NOT_FOUND, dir, ": no such artifact directory");
    }
    std::string path = joinPath(dir, manifestFileName);
    if (!isRegularFile(path))
      return fail(ROTOR_ERR_NOT_FOUND, dir,
                  ": no manifest.json (not a Rotor artifact directory?)");
    std::string text;
    if (rotor_status s = readFile(path, maxManifestBytes, "manifest", text))
      return s;
    return parseManifest(text, path, out);
  });
}
