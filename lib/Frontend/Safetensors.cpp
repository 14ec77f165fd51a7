//===- Safetensors.cpp - Checking a weights file against a model ----------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Frontend/Safetensors.h"
#include "rotor/Frontend/JsonDuplicateKeys.h"

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
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

/// Checks the 8-byte header length against the file size and returns it.
llvm::Expected<uint64_t> checkHeaderLength(llvm::StringRef name,
                                           const char lengthBytes[8],
                                           uint64_t fileSize) {
  uint64_t headerSize = llvm::support::endian::read64le(
      reinterpret_cast<const uint8_t *>(lengthBytes));
  if (headerSize > kMaxHeaderSize)
    return makeError(name + ": not a safetensors file: the header length " +
                     llvm::Twine(headerSize) +
                     " exceeds the format's limit of 100 MiB");
  if (headerSize > fileSize - 8)
    return makeError(name + ": not a safetensors file: the header length " +
                     llvm::Twine(headerSize) + " exceeds the file (" +
                     llvm::Twine(fileSize) + " bytes)");
  return headerSize;
}

llvm::Error shorterThanLength(llvm::StringRef name, uint64_t fileSize) {
  return makeError(name + ": not a safetensors file: " + llvm::Twine(fileSize) +
                   " bytes, shorter than the 8-byte header length");
}

/// Checks the JSON header (`dataSize` bytes of tensor data follow it) and
/// that it describes exactly `weights`.
llvm::Error checkHeader(llvm::StringRef fileName, llvm::StringRef headerText,
                        uint64_t dataSize,
                        llvm::ArrayRef<WeightSpec> weights) {
  llvm::Expected<json::Value> header = json::parse(headerText);
  if (!header)
    return makeError(fileName + ": the header is not valid JSON: " +
                     llvm::toString(header.takeError()));
  const json::Object *tensors = header->getAsObject();
  if (!tensors)
    return makeError(fileName + ": the header is not a JSON object");
  if (std::optional<std::string> dup = findDuplicateJsonKey(headerText))
    return makeError(fileName + ": the header names '" + *dup +
                     "' twice; every tensor name must be unique");

  // Parse every entry, checking its data range against the file.
  llvm::StringMap<HeaderEntry> entries;
  std::vector<std::string> malformed;
  for (const auto &[key, value] : *tensors) {
    llvm::StringRef name = key;
    auto bad = [&](const llvm::Twine &what) {
      malformed.push_back(("tensor '" + name + "': " + what).str());
    };
    if (name == "__metadata__") {
      const json::Object *o = value.getAsObject();
      if (!o) {
        malformed.push_back("__metadata__ must be an object of strings");
        continue;
      }
      for (const auto &[k, v] : *o)
        if (!v.getAsString())
          malformed.push_back(("__metadata__: the value of '" +
                               llvm::StringRef(k) + "' must be a string")
                                  .str());
      continue;
    }
    const json::Object *o = value.getAsObject();
    std::optional<llvm::StringRef> dtype =
        o ? o->getString("dtype") : std::nullopt;
    const json::Array *shapeJson = o ? o->getArray("shape") : nullptr;
    const json::Array *offsets = o ? o->getArray("data_offsets") : nullptr;
    if (!dtype || !shapeJson || !offsets || offsets->size() != 2) {
      bad("malformed header entry (needs dtype, shape and data_offsets)");
      continue;
    }
    if (o->size() != 3) {
      for (const auto &[field, unused] : *o) {
        llvm::StringRef f = field;
        if (f != "dtype" && f != "shape" && f != "data_offsets") {
          bad("unknown field '" + f + "' (expected dtype, shape, data_offsets)");
          break;
        }
      }
      continue;
    }
    HeaderEntry entry;
    entry.name = name.str();
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
    if (!ok) {
      bad("malformed shape (needs non-negative integers whose product fits "
          "64 bits)");
      continue;
    }
    uint64_t size = elementSize(entry.dtype);
    if (!size) {
      bad("unknown dtype '" + entry.dtype + "'");
      continue;
    }
    std::optional<int64_t> begin = (*offsets)[0].getAsInteger();
    std::optional<int64_t> end = (*offsets)[1].getAsInteger();
    if (!begin || !end || *begin < 0 || *end < *begin) {
      bad("data_offsets must be two integers [begin, end] with 0 <= begin "
          "<= end");
      continue;
    }
    if (static_cast<uint64_t>(*end) > dataSize) {
      bad("data_offsets [" + llvm::Twine(*begin) + ", " + llvm::Twine(*end) +
          "] run past the file's " + llvm::Twine(dataSize) + " data bytes");
      continue;
    }
    entry.begin = static_cast<uint64_t>(*begin);
    entry.end = static_cast<uint64_t>(*end);
    if (numElements > UINT64_MAX / size ||
        entry.end - entry.begin != numElements * size) {
      bad("data_offsets span " + llvm::Twine(entry.end - entry.begin) +
          " bytes but shape " + shapeString(entry.shape) + " of " +
          entry.dtype + " needs " +
          (numElements > UINT64_MAX / size
               ? std::string("more than 2^64")
               : std::to_string(numElements * size)));
      continue;
    }
    entries[name] = std::move(entry);
  }

  // The data of the well-formed entries, in file order, must tile the data
  // section: no overlap, no gap, nothing after the last tensor (the format's
  // reference implementation rejects all three).
  if (malformed.empty()) {
    std::vector<const HeaderEntry *> order;
    for (const auto &it : entries)
      if (it.second.begin != it.second.end)
        order.push_back(&it.second);
    llvm::sort(order, [](const HeaderEntry *a, const HeaderEntry *b) {
      return std::tie(a->begin, a->name) < std::tie(b->begin, b->name);
    });
    uint64_t covered = 0;
    const HeaderEntry *prev = nullptr;
    for (const HeaderEntry *e : order) {
      if (e->begin < covered)
        malformed.push_back(("tensors '" + prev->name + "' and '" + e->name +
                             "' overlap (bytes [" + llvm::Twine(prev->begin) +
                             ", " + llvm::Twine(prev->end) + ") and [" +
                             llvm::Twine(e->begin) + ", " +
                             llvm::Twine(e->end) + "))")
                                .str());
      else if (e->begin > covered)
        malformed.push_back(("data bytes [" + llvm::Twine(covered) + ", " +
                             llvm::Twine(e->begin) +
                             ") belong to no tensor (the data must be "
                             "contiguous)")
                                .str());
      if (e->end > covered) {
        covered = e->end;
        prev = e;
      }
    }
    if (covered < dataSize)
      malformed.push_back(("data bytes [" + llvm::Twine(covered) + ", " +
                           llvm::Twine(dataSize) +
                           ") after the last tensor belong to no tensor")
                              .str());
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
  for (const std::string &extraName : extra)
    problems.push_back("unexpected tensor '" + extraName +
                       "': the model has no weight of that name");

  if (problems.empty())
    return llvm::Error::success();
  std::string message;
  llvm::raw_string_ostream os(message);
  os << fileName << ": the weights do not match the model (" << problems.size()
     << (problems.size() == 1 ? " problem" : " problems") << "):";
  constexpr size_t kMaxListed = 20;
  for (const std::string &p : llvm::ArrayRef(problems).take_front(kMaxListed))
    os << "\n  " << p;
  if (problems.size() > kMaxListed)
    os << "\n  ... and " << problems.size() - kMaxListed << " more";
  return makeError(message);
}

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
  llvm::sys::fs::file_status status;
  if (std::error_code ec = llvm::sys::fs::status(*file, status))
    return makeError("cannot read " + path + ": " + ec.message());
  if (status.type() != llvm::sys::fs::file_type::regular_file)
    return makeError(path + ": not a regular file");
  uint64_t fileSize = status.getSize();

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
    return shorterThanLength(path, fileSize);
  char lengthBytes[8];
  if (llvm::Error err = readExactly(lengthBytes))
    return makeError(path + ": cannot read the header length: " +
                     llvm::toString(std::move(err)));
  llvm::Expected<uint64_t> headerSize =
      checkHeaderLength(path, lengthBytes, fileSize);
  if (!headerSize)
    return headerSize.takeError();
  std::string headerText(*headerSize, '\0');
  if (llvm::Error err = readExactly(headerText))
    return makeError(path + ": cannot read the header: " +
                     llvm::toString(std::move(err)));
  return checkHeader(path, headerText, fileSize - 8 - *headerSize, weights);
}

llvm::Error
mlir::rotor::checkSafetensorsImage(llvm::StringRef name, llvm::StringRef image,
                                   llvm::ArrayRef<WeightSpec> weights) {
  if (image.size() < 8)
    return shorterThanLength(name, image.size());
  llvm::Expected<uint64_t> headerSize =
      checkHeaderLength(name, image.data(), image.size());
  if (!headerSize)
    return headerSize.takeError();
  return checkHeader(name, image.substr(8, *headerSize),
                     image.size() - 8 - *headerSize, weights);
}
