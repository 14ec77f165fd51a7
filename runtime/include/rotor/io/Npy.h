//===- Npy.h - Reading and writing NumPy .npy files -------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Reads .npy format versions 1.0 and 2.0 and writes version 1.0, for C-order
// little-endian arrays of '<f4' (f32), '<f8' (f64), '<f2' (f16), '<i4' (i32)
// and '<i8' (i64).
//
// NumPy has no bfloat16. By default a bf16 tensor is written as a '<f4'
// array (exact widening) so that np.load reads the values; with
// NpyWriteOptions::bf16AsU2 it is written as '<u2' holding the bit patterns,
// and NpyReadOptions::u2AsBF16 reads a '<u2' array back as bf16. '<u2' is
// rejected otherwise.
//
// Like the rest of the runtime, functions return a rotor_status and set
// rotor_last_error() on failure; messages start with the file name.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_IO_NPY_H
#define ROTOR_IO_NPY_H

#include "rotor/Handles.h"
#include "rotor/runtime.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rotor::io {

struct NpyReadOptions {
  /// Read a '<u2' array as bf16 bit patterns.
  bool u2AsBF16 = false;
};

struct NpyWriteOptions {
  /// Write bf16 tensors as '<u2' bit patterns instead of widening to '<f4'.
  bool bf16AsU2 = false;
};

/// A parsed .npy header.
struct NpyHeader {
  rotor_dtype dtype = ROTOR_F32;
  std::vector<int64_t> shape;
  /// The byte offset of the array data from the start of the file.
  uint64_t dataOffset = 0;
  /// The element count times the element size.
  uint64_t dataBytes = 0;
};

/// The largest header accepted, in bytes (NumPy itself limits it to 10000
/// by default).
constexpr size_t maxNpyHeaderBytes = size_t(1) << 20;

/// Parses the header at the start of `data` (`size` bytes, possibly only a
/// prefix of the file). `name` prefixes messages.
rotor_status parseNpyHeader(const void *data, size_t size,
                            const std::string &name,
                            const NpyReadOptions &options, NpyHeader &out);

/// Reads the .npy file at `path` into a new owned tensor.
rotor_status readNpy(const std::string &path, TensorPtr &out,
                     const NpyReadOptions &options = {});

/// Reads a complete .npy file image held in memory.
rotor_status readNpyFromMemory(const void *data, size_t size,
                               const std::string &name, TensorPtr &out,
                               const NpyReadOptions &options = {});

/// Encodes `tensor` as a complete .npy (version 1.0) file image.
rotor_status encodeNpy(const rotor_tensor *tensor, std::string &out,
                       const NpyWriteOptions &options = {});

/// Writes `tensor` to `path` atomically (temporary file, fsync, rename).
rotor_status writeNpy(const std::string &path, const rotor_tensor *tensor,
                      const NpyWriteOptions &options = {});

} // namespace rotor::io

#endif // ROTOR_IO_NPY_H
