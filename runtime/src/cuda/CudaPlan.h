//===- CudaPlan.h - The launch plan of a CUDA artifact ----------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// A CUDA artifact's `plan.json` (docs/cuda-backend.md) says, for each entry,
// how to run it: integer symbols computed from the input shapes (dimensions,
// grid sizes), the tensor values with their dtypes and symbolic shapes, and
// the steps (kernel launches, cuBLAS products, strided copies, views, fills,
// frees) in order. The compiler decides everything; the runtime evaluates
// symbols and executes steps. Parsing validates every index so that a
// malformed plan is an error naming the field, never an out-of-range access.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_CUDA_CUDAPLAN_H
#define ROTOR_SRC_CUDA_CUDAPLAN_H

#include "rotor/runtime.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rotor::cuda {

/// The kernel argument block every generated kernel takes by value
/// (`rotor::cuda::LaunchArgs` in the device library).
struct LaunchArgs {
  void *ptr[16];
  long long dim[24];
  float f[8];
};

enum class SymbolOp { Const, Dim, Add, Sub, Mul, CeilDiv, FloorDiv, Max, Min, Cfg };

/// An integer computed when an entry is called. Const: `a`. Dim: size `b`
/// of input `a`. Binary ops: of symbols `a` and `b` (earlier ones). Cfg:
/// slot `b` of kernel `a`'s configuration (block size, shared memory, tile
/// sizes), read from the loaded module.
struct Symbol {
  SymbolOp op = SymbolOp::Const;
  int64_t a = 0, b = 0;
};

/// A tensor value: dtype and a symbol per dimension.
struct ValueSpec {
  rotor_dtype dtype = ROTOR_F32;
  std::vector<int> shape;
};

enum class StepKind { Launch, Gemm, Copy2D, View, Fill, Free };

struct Step {
  StepKind kind = StepKind::Launch;
  // Launch: kernel index, grid (3 symbols), pointer values, dimension
  // symbols, float constants, and the values it writes (allocated first).
  int kernel = -1;
  int grid[3] = {-1, -1, -1};
  std::vector<int> ptrs, dims, writes;
  std::vector<float> floats;
  // Gemm (row-major, batched): c[i] = alpha · op(a[i]) · op(b[i]) + beta · c[i]
  // with op(a) M×K, op(b) K×N; offsets and strides in elements.
  int a = -1, b = -1, c = -1;
  int m = -1, n = -1, k = -1, batch = -1;
  int offsetA = -1, offsetB = -1, offsetC = -1;
  int strideA = -1, strideB = -1, strideC = -1;
  bool transA = false, transB = false;
  float alpha = 1.0f, beta = 0.0f;
  // Copy2D: `height` rows of `width` bytes from src (+srcOffset, srcPitch)
  // to dst (+dstOffset, dstPitch); all in bytes. View: dst aliases src at
  // byte offset srcOffset. Fill: dst set to zero bytes.
  int src = -1, dst = -1;
  int srcOffset = -1, dstOffset = -1, srcPitch = -1, dstPitch = -1;
  int width = -1, height = -1;
  // Free: values whose buffers are released.
  std::vector<int> values;
};

struct PlanEntry {
  std::string name;
  std::vector<Symbol> symbols;
  std::vector<ValueSpec> values;
  std::vector<int> inputs, outputs;
  /// Entry inputs (indices into `inputs`) whose buffer a step writes in
  /// place (a static KV cache): never bound to a shared device copy, such as
  /// the artifact's weights.
  std::vector<int> mutatedInputs;
  std::vector<Step> steps;
};

struct Plan {
  /// File names inside the artifact directory: the cubin (optional), the
  /// generated source and the include directory NVRTC compiles it with.
  std::string cubin, cubinArch, source, includeDir;
  std::vector<std::string> kernels;
  std::vector<PlanEntry> entries;
};

/// The number of configuration slots each kernel exports (`NAME_cfg`).
constexpr int kernelConfigSlots = 4;

/// Parses and validates plan text; `fileName` prefixes messages.
rotor_status parsePlan(std::string_view text, const std::string &fileName,
                       Plan &out);

} // namespace rotor::cuda

#endif // ROTOR_SRC_CUDA_CUDAPLAN_H
