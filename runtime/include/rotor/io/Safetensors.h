//===- Safetensors.h - Reading and writing .safetensors files ---*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// A .safetensors file is an 8-byte little-endian header length N, N bytes of
// JSON describing each tensor ({"name": {"dtype": "F32", "shape": [2, 3],
// "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}), then the
// data, with offsets relative to the byte after the header.
//
// SafetensorsFile maps the file and validates the whole header up front:
// the length against the file size, the JSON, every field, offsets inside
// the data, no two tensors overlapping, and each byte range matching shape
// times dtype size. Tensors are then views of the mapping (no copy). Every
// dtype of the format is accepted in the header; only F32, F64, F16, BF16,
// I32 and I64 tensors can be viewed or loaded.
//
// Writing puts tensors in order of decreasing element size, pads the header
// with spaces to a multiple of 8 bytes, so that every tensor is naturally
// aligned in the file, and is atomic.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_IO_SAFETENSORS_H
#define ROTOR_IO_SAFETENSORS_H

#include "rotor/Handles.h"
#include "rotor/runtime.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rotor {
class MappedFile;
} // namespace rotor

namespace rotor::io {

/// One tensor described by a .safetensors header.
struct SafetensorsTensorInfo {
  std::string name;
  /// The format's dtype name ("F32", "BF16", "U8", ...).
  std::string dtypeName;
  /// Whether the runtime has this dtype; `dtype` is only meaningful if so.
  bool supported = false;
  rotor_dtype dtype = ROTOR_F32;
  std::vector<int64_t> shape;
  /// Byte range relative to the start of the data section.
  uint64_t begin = 0;
  uint64_t end = 0;
};

/// A validated .safetensors file image (mapped or borrowed).
class SafetensorsFile {
public:
  SafetensorsFile(const SafetensorsFile &) = delete;
  SafetensorsFile &operator=(const SafetensorsFile &) = delete;
  ~SafetensorsFile();

  /// Maps and validates the file at `path`.
  static rotor_status open(const std::string &path,
                           std::unique_ptr<SafetensorsFile> &out);

  /// Validates a file image in memory; `data` must outlive the result.
  /// `name` prefixes messages.
  static rotor_status parse(const void *data, size_t size,
                            const std::string &name,
                            std::unique_ptr<SafetensorsFile> &out);

  /// The file name messages use.
  const std::string &name() const { return fileName; }

  /// The tensors in header order.
  const std::vector<SafetensorsTensorInfo> &tensors() const {
    return tensorInfos;
  }

  /// The "__metadata__" entries in header order.
  const std::vector<std::pair<std::string, std::string>> &metadata() const {
    return metadataEntries;
  }

  /// The tensor named `name`, or nullptr.
  const SafetensorsTensorInfo *find(const std::string &name) const;

  /// A tensor viewing the file's bytes: not owned, read-only, valid while
  /// this object lives, and not necessarily aligned to its element size.
  rotor_status view(const std::string &name, TensorPtr &out) const;

  /// An owned, aligned copy of tensor `name`.
  rotor_status load(const std::string &name, TensorPtr &out) const;

private:
  SafetensorsFile() = default;
  rotor_status validate();
  rotor_status lookup(const std::string &name,
                      const SafetensorsTensorInfo *&out) const;

  std::string fileName;
  std::unique_ptr<MappedFile> mapping;
  const unsigned char *bytes = nullptr;
  size_t size = 0;
  /// The start of the data section within `bytes`.
  size_t dataStart = 0;
  std::vector<SafetensorsTensorInfo> tensorInfos;
  /// Index of each tensor in `tensorInfos` by name.
  std::unordered_map<std::string, size_t> byName;
  std::vector<std::pair<std::string, std::string>> metadataEntries;
};

/// A tensor to write, by name.
struct NamedTensor {
  std::string name;
  const rotor_tensor *tensor = nullptr;
};

/// The largest header accepted, in bytes (as the reference implementation).
constexpr uint64_t maxSafetensorsHeaderBytes = 100000000;

/// Encodes `tensors` (and optional "__metadata__" entries) as a complete
/// .safetensors file image.
rotor_status encodeSafetensors(
    const std::vector<NamedTensor> &tensors, std::string &out,
    const std::vector<std::pair<std::string, std::string>> &metadata = {});

/// Writes a .safetensors file atomically (temporary file, fsync, rename).
rotor_status writeSafetensors(
    const std::string &path, const std::vector<NamedTensor> &tensors,
    const std::vector<std::pair<std::string, std::string>> &metadata = {});

} // namespace rotor::io

#endif // ROTOR_IO_SAFETENSORS_H
