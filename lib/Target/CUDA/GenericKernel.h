//===- GenericKernel.h - linalg.generic as a CUDA kernel ---------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Translates a linalg.generic on tensors (the rules of rotor-autodiff and
// of the CPU pipeline's lowerings produce them: row and column sums, the
// layer-norm and l2-normalize backward, the convolution's cotangents) into
// the text of a CUDA kernel of the CudaEmitter's launch convention.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_LIB_TARGET_CUDA_GENERICKERNEL_H
#define ROTOR_LIB_TARGET_CUDA_GENERICKERNEL_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "llvm/ADT/SmallVector.h"

#include <string>
#include <utility>

namespace mlir::rotor {

/// A generated kernel for one linalg.generic. One thread per point of the
/// parallel loops (a grid-stride loop over their product, in loop order);
/// the reduction loops run in order inside it, so that sums are
/// deterministic. Every operand is a dense row-major buffer.
///
/// Launch convention (rotor::cuda::LaunchArgs):
///   ptr: the inputs, then the inits (read where the body uses them), then
///        the results (one per init, each of its init's shape);
///   dim: the loop bounds, then the sizes of every input and every init, in
///        operand order.
/// The kernel text names itself @NAME@ (KernelTable).
struct GenericKernel {
  std::string body;
  /// Each loop's bound, as (operand number, dimension) of the generic's
  /// operands (inputs then inits).
  llvm::SmallVector<std::pair<unsigned, unsigned>> loopBounds;
  /// The parallel loops, whose product is the number of threads' units.
  llvm::SmallVector<unsigned> parallelLoops;
};

/// The kernel of `op`, or failure after a diagnostic at `op` that names
/// what is not supported (an op of the body, an indexing map, too many
/// operands for LaunchArgs).
FailureOr<GenericKernel> buildGenericKernel(linalg::GenericOp op);

} // namespace mlir::rotor

#endif // ROTOR_LIB_TARGET_CUDA_GENERICKERNEL_H
