//===- Safetensors.cpp - Reading and writing .safetensors files -----------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/io/Safetensors.h"
#include "../Error.h"
#include "../Tensor.h"
#include "../support/AtomicFile.h"
#include "../support/Json.h"
#include "../support/MappedFile.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

using namespace rotor;
using namespace rotor::io;
using json::Value;

namespace {

struct FormatDType {
  const char *name;
  size_t size;
  bool supported;
  rotor_dtype dtype;
};

/// Every dtype of the format with a whole-byte element size.
constexpr FormatDType formatDTypes[] = {
    {"F32", 4, true, ROTOR_F32},      {"F64", 8, true, ROTOR_F64},
    {"F16", 2, true, ROTOR_F16},      {"BF16", 2, true, ROTOR_BF16},
    {"I32", 4, true, ROTOR_I32},      {"I64", 8, true, ROTOR_I64},
    {"BOOL", 1, false, ROTOR_F32},    {"U8", 1, false, ROTOR_F32},
    {"I8", 1, false, ROTOR_F32},      {"F8_E5M2", 1, false, ROTOR_F32},
    {"F8_E4M3", 1, false, ROTOR_F32}, {"F8_E8M0", 1, false, ROTOR_F32},
    {"I16", 2, false, ROTOR_F32},     {"U16", 2, false, ROTOR_F32},
    {"U32", 4, false, ROTOR_F32},     {"U64", 8, false, ROTOR_F32},
};

const FormatDType *findFormatDType(const std::string &name) {
  for (const FormatDType &info : formatDTypes)
    if (name == info.name)
      return &info;
  return nullptr;
}

const char *formatNameOf(rotor_dtype dtype) {
  for (const FormatDType &info : formatDTypes)
    if (info.supported && info.dtype == dtype)
      return info.name;
  return nullptr;
}

const char *metadataKey = "__metadata__";

uint64_t readU64LE(const unsigned char *p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i)
    value = (value << 8) | p[i];
  return value;
}

/// Reads a JSON array of non-negative integers.
bool readIndexArray(const Value &value, std::vector<uint64_t> &out) {
  if (!value.isArray())
    return false;
  for (const Value &item : value.getArray()) {
    if (!item.isInteger() || item.getInteger() < 0)
      return false;
    out.push_back(static_cast<uint64_t>(item.getInteger()));
  }
  return true;
}

} // namespace

SafetensorsFile::~SafetensorsFile() = default;

rotor_status SafetensorsFile::open(const std::string &path,
                                   std::unique_ptr<SafetensorsFile> &out) {
  return guard([&] {
    std::unique_ptr<MappedFile> mapping;
    if (rotor_status s = MappedFile::open(path, mapping))
      return s;
    std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
    file->fileName = path;
    file->bytes = mapping->data();
    file->size = mapping->size();
    file->mapping = std::move(mapping);
    if (rotor_status s = file->validate())
      return s;
    out = std::move(file);
    return ROTOR_OK;
  });
}

rotor_status SafetensorsFile::parse(const void *data, size_t size,
                                    const std::string &name,
                                    std::unique_ptr<SafetensorsFile> &out) {
  return guard([&] {
    std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
    file->fileName = name;
    file->bytes = static_cast<const unsigned char *>(data);
    file->size = data ? size : 0;
    if (rotor_status s = file->validate())
      return s;
    out = std::move(file);
    return ROTOR_OK;
  });
}

rotor_status SafetensorsFile::validate() {
  const std::string &name = fileName;
  if (size < 8)
    return fail(ROTOR_ERR_FORMAT, name,
                ": truncated: a .safetensors file starts with an 8-byte "
                "header length, but the file has ",
                size, " bytes");
  uint64_t headerLength = readU64LE(bytes);
  if (headerLength > maxSafetensorsHeaderBytes)
    return fail(ROTOR_ERR_FORMAT, name, ": header length ", headerLength,
                " exceeds the limit of ", maxSafetensorsHeaderBytes, " bytes");
  if (headerLength > size - 8)
    return fail(ROTOR_ERR_FORMAT, name, ": header length ", headerLength,
                " runs past the end of the file (", size - 8,
                " bytes follow the length)");
  dataStart = 8 + static_cast<size_t>(headerLength);
  uint64_t dataSize = size - dataStart;

  std::string_view text(reinterpret_cast<const char *>(bytes + 8),
                        static_cast<size_t>(headerLength));
  Value root;
  if (rotor_status s = json::parse(text, name + " (header)", root))
    return s;
  if (!root.isObject())
    return fail(ROTOR_ERR_FORMAT, name,
                ": the header must be a JSON object, got ",
                json::describeKind(root.kind()));

  for (const Value::Member &member : root.getObject()) {
    const std::string &key = member.first;
    const Value &value = member.second;
    if (key == metadataKey) {
      if (!value.isObject())
        return fail(ROTOR_ERR_FORMAT, name,
                    ": __metadata__ must be an object of strings, got ",
                    json::describeKind(value.kind()));
      for (const Value::Member &item : value.getObject()) {
        if (!item.second.isString())
          return fail(ROTOR_ERR_FORMAT, name, ": __metadata__: value of ",
                      quote(item.first), " must be a string, got ",
                      json::describeKind(item.second.kind()));
        metadataEntries.emplace_back(item.first, item.second.getString());
      }
      continue;
    }

    std::string what = strCat(name, ": tensor ", quote(key));
    if (!value.isObject())
      return fail(ROTOR_ERR_FORMAT, what, ": expected an object, got ",
                  json::describeKind(value.kind()));
    for (const Value::Member &field : value.getObject())
      if (field.first != "dtype" && field.first != "shape" &&
          field.first != "data_offsets")
        return fail(ROTOR_ERR_FORMAT, what, ": unknown field ",
                    quote(field.first),
                    " (expected: dtype, shape, data_offsets)");
    const Value *dtype = value.find("dtype");
    const Value *shape = value.find("shape");
    const Value *offsets = value.find("data_offsets");
    if (!dtype || !shape || !offsets)
      return fail(ROTOR_ERR_FORMAT, what, ": missing field '",
                  !dtype   ? "dtype"
                  : !shape ? "shape"
                           : "data_offsets",
                  "'");
    if (!dtype->isString())
      return fail(ROTOR_ERR_FORMAT, what, ": dtype must be a string, got ",
                  json::describeKind(dtype->kind()));
    const FormatDType *format = findFormatDType(dtype->getString());
    if (!format)
      return fail(ROTOR_ERR_UNSUPPORTED, what, ": unknown dtype ",
                  quote(dtype->getString()));

    SafetensorsTensorInfo info;
    info.name = key;
    info.dtypeName = format->name;
    info.supported = format->supported;
    info.dtype = format->dtype;
    std::vector<uint64_t> dims, range;
    if (!readIndexArray(*shape, dims))
      return fail(ROTOR_ERR_FORMAT, what,
                  ": shape must be an array of non-negative integers");
    if (dims.size() > ROTOR_MAX_RANK)
      return fail(ROTOR_ERR_FORMAT, what, ": rank ", dims.size(),
                  " exceeds the maximum rank ", ROTOR_MAX_RANK);
    if (!readIndexArray(*offsets, range) || range.size() != 2)
      return fail(ROTOR_ERR_FORMAT, what,
                  ": data_offsets must be two non-negative integers "
                  "[begin, end]");
    info.begin = range[0];
    info.end = range[1];
    if (info.begin > info.end)
      return fail(ROTOR_ERR_FORMAT, what, ": data_offsets [", info.begin, ", ",
                  info.end, "] has begin after end");
    if (info.end > dataSize)
      return fail(ROTOR_ERR_FORMAT, what, ": data_offsets [", info.begin, ", ",
                  info.end, "] run past the end of the data (", dataSize,
                  " bytes)");
    uint64_t expected = format->size;
    bool overflow = false;
    for (uint64_t dim : dims) {
      overflow |= __builtin_mul_overflow(expected, dim, &expected);
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    if (overflow || expected != info.end - info.begin)
      return fail(
          ROTOR_ERR_FORMAT, what, ": data_offsets [", info.begin, ", ",
          info.end, "] hold ", info.end - info.begin, " bytes but shape ",
          formatShapeList(info.shape), " of ", info.dtypeName, " needs ",
          overflow ? std::string("more than 2^64") : std::to_string(expected));
    byName.emplace(info.name, tensorInfos.size());
    tensorInfos.push_back(std::move(info));
  }

  // The tensors' data must tile the data section, as the format's reference
  // implementation requires: no two tensors share bytes, and no byte lies
  // between tensors or after the last one.
  std::vector<const SafetensorsTensorInfo *> order;
  for (const SafetensorsTensorInfo &info : tensorInfos)
    if (info.begin != info.end)
      order.push_back(&info);
  std::sort(order.begin(), order.end(),
            [](const SafetensorsTensorInfo *a, const SafetensorsTensorInfo *b) {
              return a->begin < b->begin;
            });
  uint64_t covered = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const SafetensorsTensorInfo &next = *order[i];
    if (i > 0 && next.begin < covered) {
      const SafetensorsTensorInfo &prev = *order[i - 1];
      return fail(ROTOR_ERR_FORMAT, name, ": tensors ", quote(prev.name),
                  " and ", quote(next.name), " overlap (bytes [", prev.begin,
                  ", ", prev.end, ") and [", next.begin, ", ", next.end, "))");
    }
    if (next.begin > covered)
      return fail(ROTOR_ERR_FORMAT, name, ": data bytes [", covered, ", ",
                  next.begin, ") before tensor ", quote(next.name),
                  " belong to no tensor (the data must be contiguous)");
    covered = next.end;
  }
  if (covered != dataSize)
    return fail(ROTOR_ERR_FORMAT, name, ": data bytes [", covered, ", ",
                dataSize, ") after the last tensor belong to no tensor");
  return ROTOR_OK;
}

const SafetensorsTensorInfo *
SafetensorsFile::find(const std::string &name) const {
  auto it = byName.find(name);
  return it == byName.end() ? nullptr : &tensorInfos[it->second];
}

rotor_status SafetensorsFile::lookup(const std::string &name,
                                     const SafetensorsTensorInfo *&out) const {
  out = find(name);
  if (!out) {
    std::string known;
    for (size_t i = 0; i < tensorInfos.size() && i < 10; ++i)
      known += (i ? ", " : "") + tensorInfos[i].name;
    if (tensorInfos.size() > 10)
      known += ", ...";
    return fail(
        ROTOR_ERR_NOT_FOUND, fileName, ": no tensor named ", quote(name),
        known.empty() ? " (the file has none)" : " (has: " + known + ")");
  }
  if (!out->supported)
    return fail(ROTOR_ERR_UNSUPPORTED, fileName, ": tensor ", quote(name),
                " has dtype ", out->dtypeName,
                ", which the runtime does not support (supported: F32, F64, "
                "F16, BF16, I32, I64)");
  return ROTOR_OK;
}

rotor_status SafetensorsFile::view(const std::string &name,
                                   TensorPtr &out) const {
  return guard([&] {
    const SafetensorsTensorInfo *info;
    if (rotor_status s = lookup(name, info))
      return s;
    void *data = const_cast<unsigned char *>(bytes + dataStart + info->begin);
    return wrapTensor(info->dtype, info->shape, data, out);
  });
}

rotor_status SafetensorsFile::load(const std::string &name,
                                   TensorPtr &out) const {
  return guard([&] {
    const SafetensorsTensorInfo *info;
    if (rotor_status s = lookup(name, info))
      return s;
    TensorPtr tensor;
    if (rotor_status s = createTensor(info->dtype, info->shape, tensor))
      return s;
    std::memcpy(tensor->data, bytes + dataStart + info->begin, tensor->nbytes);
    out = std::move(tensor);
    return ROTOR_OK;
  });
}

namespace {

/// The 8-byte length and padded JSON header for `tensors`, and the order in
/// which their data follows.
rotor_status
buildHeader(const std::string &name, const std::vector<NamedTensor> &tensors,
            const std::vector<std::pair<std::string, std::string>> &metadata,
            std::string &prefix, std::vector<const NamedTensor *> &order) {
  std::unordered_set<std::string> names;
  for (const NamedTensor &named : tensors) {
    if (!named.tensor)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, name, ": tensor ",
                  quote(named.name), " is NULL");
    if (named.name == metadataKey)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, name,
                  ": a tensor cannot be named '__metadata__'");
    if (!names.insert(named.name).second)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, name, ": duplicate tensor name ",
                  quote(named.name));
    if (!formatNameOf(named.tensor->dtype))
      return fail(ROTOR_ERR_INVALID_ARGUMENT, name, ": tensor ",
                  quote(named.name), " has an invalid dtype value");
    if (named.tensor->nbytes > 0 && !named.tensor->data)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, name, ": tensor ",
                  quote(named.name), " has NULL data");
    order.push_back(&named);
  }
  // Larger elements first keeps every tensor aligned to its element size.
  std::stable_sort(order.begin(), order.end(),
                   [](const NamedTensor *a, const NamedTensor *b) {
                     return rotor_dtype_size(a->tensor->dtype) >
                            rotor_dtype_size(b->tensor->dtype);
                   });

  std::string header = "{";
  if (!metadata.empty()) {
    std::unordered_set<std::string> keys;
    header += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i) {
      if (!keys.insert(metadata[i].first).second)
        return fail(ROTOR_ERR_INVALID_ARGUMENT, name,
                    ": duplicate metadata key ", quote(metadata[i].first));
      if (i)
        header += ',';
      json::appendString(header, metadata[i].first);
      header += ':';
      json::appendString(header, metadata[i].second);
    }
    header += '}';
  }
  uint64_t offset = 0;
  for (const NamedTensor *named : order) {
    if (header.size() > 1)
      header += ',';
    json::appendString(header, named->name);
    header += strCat(":{\"dtype\":\"", formatNameOf(named->tensor->dtype),
                     "\",\"shape\":[");
    for (size_t d = 0; d < named->tensor->rank; ++d)
      header += strCat(d ? "," : "", named->tensor->shape[d]);
    uint64_t end = offset + named->tensor->nbytes;
    header += strCat("],\"data_offsets\":[", offset, ",", end, "]}");
    offset = end;
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');
  prefix.clear();
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i)
    prefix += static_cast<char>((length >> (8 * i)) & 0xff);
  prefix += header;
  return ROTOR_OK;
}

} // namespace

rotor_status io::encodeSafetensors(
    const std::vector<NamedTensor> &tensors, std::string &out,
    const std::vector<std::pair<std::string, std::string>> &metadata) {
  return guard([&] {
    std::string image;
    std::vector<const NamedTensor *> order;
    if (rotor_status s =
            buildHeader("safetensors", tensors, metadata, image, order))
      return s;
    for (const NamedTensor *named : order)
      image.append(static_cast<const char *>(named->tensor->data),
                   named->tensor->nbytes);
    out = std::move(image);
    return ROTOR_OK;
  });
}

rotor_status io::writeSafetensors(
    const std::string &path, const std::vector<NamedTensor> &tensors,
    const std::vector<std::pair<std::string, std::string>> &metadata) {
  return guard([&] {
    std::string prefix;
    std::vector<const NamedTensor *> order;
    if (rotor_status s = buildHeader(path, tensors, metadata, prefix, order))
      return s;
    AtomicFileWriter file;
    if (rotor_status s = file.open(path))
      return s;
    if (rotor_status s = file.write(prefix.data(), prefix.size()))
      return s;
    for (const NamedTensor *named : order)
      if (rotor_status s =
              file.write(named->tensor->data, named->tensor->nbytes))
        return s;
    return file.commit();
  });
}
