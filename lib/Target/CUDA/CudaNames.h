//===- CudaNames.h - C++ spellings for generated CUDA source ----*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The C++ names of element types and float constants in the CUDA source the
// emitter (CudaEmitter.cpp) and the linalg.generic kernels (GenericKernel.cpp)
// generate.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_LIB_TARGET_CUDA_CUDANAMES_H
#define ROTOR_LIB_TARGET_CUDA_CUDANAMES_H

#include "mlir/IR/Types.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <string>

namespace mlir::rotor::cudagen {

/// The C++ type of a tensor element type of a kernel's buffers, or "" if
/// unsupported.
inline std::string cType(Type t) {
  if (t.isF32())
    return "float";
  if (t.isF64())
    return "double";
  if (t.isBF16())
    return "__nv_bfloat16";
  if (t.isF16())
    return "__half";
  if (t.isSignlessInteger(32))
    return "int";
  if (t.isSignlessInteger(64))
    return "long long";
  return "";
}

/// A double literal that round-trips through the C++ parser (infinities and
/// NaN as bit patterns).
inline std::string floatLiteral(double v) {
  if (std::isnan(v))
    return "__longlong_as_double(0x7ff8000000000000ULL)";
  if (std::isinf(v))
    return v > 0 ? "__longlong_as_double(0x7ff0000000000000ULL)"
                 : "__longlong_as_double(0xfff0000000000000ULL)";
  return llvm::formatv("{0:e17}", v).str();
}

} // namespace mlir::rotor::cudagen

#endif // ROTOR_LIB_TARGET_CUDA_CUDANAMES_H
