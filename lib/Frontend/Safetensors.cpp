//===- Safetensors.cpp - Checking a weights file against a model ----------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Frontend/Safetensors.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::rotor;
namespace json = llvm::json;

namespace {

/// The header may not be larger than this (the format's own limit).
constexpr uint64_t kMaxHeaderSize = 100u << 20;

/// The safetensors dtype name of a model dtype.
llvm::StringRef safetensorsDType(ModelDType dtype) {
  switch (dtype) {
  case ModelDType::F32:
    return "F32";
  case ModelDType::BF16:
    return "BF16";
  case ModelDType::F16:
    return "F16";
  }
  return "F32";
}

/// The size in bytes of one element of a safetensors dtype, or 0 when the
/// dtype is unknown.
uint64_t elementSize(llvm::StringRef dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64")
    return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32")
    return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16")
    return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" ||
      dtype == "F8_E5M2")
    return 1;
  return 0;
}

std::string shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i)
      s += ", ";
    s += std::to_string(d);
  }
  return s + "]";
}

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// One tensor of the header.
struct HeaderEntry {
  std::string dtype;
  std::vector<int64_t> shape;
};

} // namespace

llvm::Error
mlir::rotor::checkSafetensorsWeights(llvm::StringRef path,
                                     llvm::ArrayRef<WeightSpec> weights) {
  // Read only the header: weight files can be many gigabytes.
  llvm::Expected<llvm::sys::fs::file_t> file =
      llvm::sys::fs::openNativeFileForRead(path);
  if (!file)
    return makeError("cannot open " + path + ": " +
                     llvm::toString(file.takeError()));
  llvm::scope_exit closeFile([&]() { llvm::sys::fs::closeFile(*file); });
  uint64_t fileSize = 0;
  if (std::error_code ec = llvm::sys::fs::file_size(path, fileSize))
    return makeError("cannot read " + path + ": " + ec.message());

  auto readExactly = [&](llvm::MutableArrayRef<char> buf) -> llvm::Error {
    size_t done = 0;
    while (done < buf.size()) {
      llvm::Expected<size_t> n =
          llvm::sys::fs::readNativeFile(*file, buf.drop_front(done));
      if (!n)
        return n.takeError();
      if (*n == 0)
        return makeError("unexpected end of file");
      done += *n;
    }
    return llvm::Error::success();
  };

  if (fileSize < 8)
    return makeError(path +
                     ": not a safetensors file: " + llvm::Twine(fileSize) +
                     " bytes, shorter than the 8-byte header length");
  char lengthBytes[8];
  if (llvm::Error err = readExactly(lengthBytes))
    return makeError(path + ": cannot read the header length: " +
                     llvm::toString(std::move(err)));
  uint64_t headerSize =
      llvm::support::endian::read64le(reinterpret_cast<uint8_t *>(lengthBytes));
  if (headerSize > kMaxHeaderSize)
    return makeError(path + ": not a safetensors file: the header length " +
                     llvm::Twine(headerSize) +
                     " exceeds the format's limit of 100 MiB");
  if (headerSize > fileSize - 8)
    return makeError(path + ": not a safetensors file: the header length " +
                     llvm::Twine(headerSize) + " exceeds the file (" +
                     llvm::Twine(fileSize) + " bytes)");
  std::string headerText(headerSize, '\0');
  if (llvm::Error err = readExactly(headerText))
    return makeError(
        path + ": cannot read the header: " + llvm::toString(std::move(err)));
  llvm::Expected<json::Value> header = json::parse(headerText);
  if (!header)
    return makeError(path + ": the header is not valid JSON: " +
                     llvm::toString(header.takeError()));
  const json::Object *tensors = header->getAsObject();
  if (!tensors)
    return makeError(path + ": the header is not a JSON object");

  // Parse every entry, checking its data range against the file.
  const uint64_t dataSize = fileSize - 8 - headerSize;
  llvm::StringMap<HeaderEntry> entries;
  std::vector<std::string> malformed;
  for (const auto &[key, value] : *tensors) {
    llvm::StringRef name = key;
    if (name == "__metadata__")
      continue;
    auto bad = [&](const llvm::Twine &what) {
      malformed.push_back(("tensor '" + name + "': " + what).str());
    };
    const json::Object *o = value.getAsObject();
    std::optional<llvm::StringRef> dtype =
        o ? o->getString("dtype") : std::nullopt;
    const json::Array *shapeJson = o ? o->getArray("shape") : nullptr;
    const json::Array *offsets = o ? o->getArray("data_offsets") : nullptr;
    if (!dtype || !shapeJson || !offsets || offsets->size() != 2) {
      bad("malformed header entry (needs dtype, shape and data_offsets)");
      continue;
    }
    HeaderEntry entry;
    entry.dtype = dtype->str();
    uint64_t numElements = 1;
    bool ok = true;
    for (const json::Value &d : *shapeJson) {
      std::optional<int64_t> n = d.getAsInteger();
      if (!n || *n < 0) {
        ok = false;
        break;
      }
      entry.shape.push_back(*n);
      if (*n != 0 && numElements > UINT64_MAX / static_cast<uint64_t>(*n)) {
        ok = false;
        break;
      }
      numElements *= static_cast<uint64_t>(*n);
    }
    std::optional<int64_t> begin = (*offsets)[0].getAsInteger();
    std::optional<int64_t> end = (*offsets)[1].getAsInteger();
    if (!ok) {
      bad("malformed shape");
      continue;
    }
    if (!begin || !end || *begin < 0 || *end < *begin ||
        static_cast<uint64_t>(*end) > dataSize) {
      bad("data_offsets lie outside the file's " + llvm::Twine(dataSize) +
          " data bytes");
      continue;
    }
    uint64_t size = elementSize(entry.dtype);
    if (size && numElements > UINT64_MAX / size) {
      bad("malformed shape");
      continue;
    }
    if (size && static_cast<uint64_t>(*end - *begin) != numElements * size) {
      bad("data_offsets span " + llvm::Twine(*end - *begin) +
          " bytes but shape " + shapeString(entry.shape) + " of " +
          entry.dtype + " needs " + llvm::Twine(numElements * size));
      continue;
    }
    entries[name] = std::move(entry);
  }

  // The header is a hash map: report in a stable order.
  llvm::sort(malformed);
  std::vector<std::string> problems = std::move(malformed);

  // Every weight present with its shape and dtype.
  llvm::StringMap<bool> expected;
  for (const WeightSpec &w : weights) {
    expected[w.name] = true;
    auto it = entries.find(w.name);
    if (it == entries.end()) {
      if (!tensors->get(w.name))
        problems.push_back("missing tensor '" + w.name + "' (expected shape " +
                           shapeString(w.shape) + ", " +
                           safetensorsDType(w.dtype).str() + ")");
      continue;
    }
    const HeaderEntry &e = it->second;
    if (!llvm::equal(e.shape, w.shape))
      problems.push_back("tensor '" + w.name + "' has shape " +
                         shapeString(e.shape) + " but the model expects " +
                         shapeString(w.shape));
    if (e.dtype != safetensorsDType(w.dtype))
      problems.push_back("tensor '" + w.name + "' has dtype " + e.dtype +
                         " but the model expects " +
                         safetensorsDType(w.dtype).str());
  }
  // No other tensor.
  std::vector<std::string> extra;
  for (const auto &[key, value] : *tensors)
    if (key != "__metadata__" && !expected.count(llvm::StringRef(key)))
      extra.push_back(llvm::StringRef(key).str());
  llvm::sort(extra);
  for (const std::string &name : extra)
    problems.push_back("unexpected tensor '" + name +
                       "': the model has no weight of that name");

  if (problems.empty())
    return llvm::Error::success();
  std::string message;
  llvm::raw_string_ostream os(message);
  os << path << ": the weights do not match the model (" << problems.size()
     << (problems.size() == 1 ? " problem" : " problems") << "):";
  constexpr size_t kMaxListed = 20;
  for (const std::string &p : llvm::ArrayRef(problems).take_front(kMaxListed))
    os << "\n  " << p;
  if (problems.size() > kMaxListed)
    os << "\n  ... and " << problems.size() - kMaxListed << " more";
  return makeError(message);
}
