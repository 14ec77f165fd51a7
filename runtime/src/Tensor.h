//===- Tensor.h - The rotor_tensor object -----------------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// A dense row-major host tensor, owning a 64-byte aligned buffer or viewing
// external memory, and the shape checks shared by everything that makes one.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_TENSOR_H
#define ROTOR_SRC_TENSOR_H

#include "rotor/Handles.h"
#include "rotor/runtime.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

struct rotor_tensor {
  rotor_dtype dtype = ROTOR_F32;
  size_t rank = 0;
  int64_t shape[ROTOR_MAX_RANK] = {};
  int64_t numel = 1;
  size_t nbytes = 0;
  void *data = nullptr;
  bool owned = false;
};

namespace rotor {

/// The alignment of owned tensor buffers.
constexpr size_t tensorAlignment = 64;

/// The largest buffer, in bytes, that a tensor may describe.
constexpr uint64_t maxTensorBytes = uint64_t(1) << 60;

/// Checks that `dtype` is valid, `rank` at most ROTOR_MAX_RANK, the sizes
/// non-negative and the byte size representable; computes the element count
/// and byte size. `what` names the tensor in messages ("tensor", "x.npy").
rotor_status checkTensorShape(const std::string &what, rotor_dtype dtype,
                              size_t rank, const int64_t *shape, int64_t &numel,
                              size_t &nbytes);

/// Creates an owned zero-initialized tensor.
rotor_status createTensor(rotor_dtype dtype, const std::vector<int64_t> &shape,
                          TensorPtr &out);

/// Creates a tensor viewing `data`.
rotor_status wrapTensor(rotor_dtype dtype, const std::vector<int64_t> &shape,
                        void *data, TensorPtr &out);

} // namespace rotor

#endif // ROTOR_SRC_TENSOR_H
