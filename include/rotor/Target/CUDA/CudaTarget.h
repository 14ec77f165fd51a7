//===- CudaTarget.h - Compiling rotor IR for NVIDIA GPUs --------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The CUDA target turns each entry function of a rotor-level module into a
// launch plan (plan.json) over generated kernels (kernels.cu): every rotor op
// becomes a kernel that instantiates a template of the device library
// (runtime/cuda/kernels, `rotor/cuda/kernels.cuh`) with the op's static
// parameters (dtypes, head dim, mask, rope layout, ...) taken from the IR, or
// a cuBLAS product; chains of elementwise ops become one generated kernel.
// Sizes that the IR leaves dynamic (batch, sequence) are symbols of the plan,
// evaluated by the runtime from the input shapes, so one artifact serves
// every length. See docs/cuda-backend.md.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_TARGET_CUDA_CUDATARGET_H
#define ROTOR_TARGET_CUDA_CUDATARGET_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Error.h"

#include <string>

namespace mlir::rotor {

/// The generated program of a module.
struct CudaProgram {
  /// kernels.cu: the generated kernels.
  std::string source;
  /// plan.json: the launch plan of every entry (docs/cuda-backend.md).
  std::string plan;
  /// The number of distinct kernels.
  size_t numKernels = 0;
};

struct CudaPipelineOptions {
  /// Run the rotor-level fusion passes.
  bool fuse = true;
  /// rotor-compose-rotations (see CpuPipelineOptions::composeRotations).
  bool composeRotations = true;
  bool fusionReport = false;
};

/// The rotor-level passes that prepare a module for emitCudaProgram:
/// canonicalization, fusion, inlining of private functions, CSE.
void buildCudaPipeline(OpPassManager &pm, const CudaPipelineOptions &options);

/// Generates the kernels and the launch plan of every public function of
/// `module`, which holds rotor ops and the few tensor/arith ops the frontend
/// emits. Unsupported ops are errors at their location.
FailureOr<CudaProgram> emitCudaProgram(ModuleOp module);

/// Writes a CUDA artifact's files into `dir`: kernels.cu, plan.json, the
/// device library headers under include/, and, when `nvcc` is not empty,
/// kernels.cubin compiled for `arch` (e.g. sm_90a).
llvm::Error writeCudaFiles(llvm::StringRef dir, const CudaProgram &program,
                           llvm::StringRef nvcc, llvm::StringRef arch,
                           llvm::function_ref<void(llvm::StringRef)> progress);

/// The nvcc to use: $ROTOR_NVCC, nvcc on PATH, or /usr/local/cuda/bin/nvcc;
/// empty if none exists.
std::string findNvcc();

} // namespace mlir::rotor

#endif // ROTOR_TARGET_CUDA_CUDATARGET_H
