//===- CudaLibs.h - The CUDA libraries, loaded at run time ------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The CUDA backend reaches the driver (libcuda.so.1), NVRTC and cuBLAS through
// dlopen, so that librotor_runtime.so has no link-time CUDA dependency: the
// same build runs CPU artifacts on machines without a GPU or driver, and a
// CUDA artifact there fails to load with a message instead of the library
// failing to load at all. Only the CUDA headers are needed to build.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_CUDA_CUDALIBS_H
#define ROTOR_SRC_CUDA_CUDALIBS_H

#include "rotor/runtime.h"

#include <cublas_api.h>
#include <cuda.h>
#include <nvrtc.h>

#include <string>

namespace rotor::cuda {

// The driver entry points the backend uses; each is resolved by its versioned
// symbol name (cuda.h maps e.g. cuMemAlloc to cuMemAlloc_v2).
#define ROTOR_CUDA_DRIVER_FUNCTIONS(X)                                         \
  X(cuInit)                                                                    \
  X(cuGetErrorString)                                                          \
  X(cuDeviceGetCount)                                                          \
  X(cuDeviceGet)                                                               \
  X(cuDeviceGetName)                                                           \
  X(cuDeviceGetAttribute)                                                      \
  X(cuDevicePrimaryCtxRetain)                                                  \
  X(cuDevicePrimaryCtxRelease)                                                 \
  X(cuCtxSetCurrent)                                                           \
  X(cuCtxPushCurrent)                                                          \
  X(cuCtxPopCurrent)                                                           \
  X(cuModuleLoadData)                                                          \
  X(cuModuleUnload)                                                            \
  X(cuModuleGetFunction)                                                       \
  X(cuModuleGetGlobal)                                                         \
  X(cuFuncSetAttribute)                                                        \
  X(cuMemAlloc)                                                                \
  X(cuMemFree)                                                                 \
  X(cuMemcpyHtoDAsync)                                                         \
  X(cuMemcpyDtoHAsync)                                                         \
  X(cuMemcpyDtoH)                                                              \
  X(cuMemcpyHtoD)                                                              \
  X(cuMemcpyDtoDAsync)                                                         \
  X(cuMemcpy2DAsync)                                                           \
  X(cuMemsetD8Async)                                                           \
  X(cuMemHostRegister)                                                         \
  X(cuMemHostUnregister)                                                       \
  X(cuLaunchKernel)                                                            \
  X(cuStreamCreate)                                                            \
  X(cuStreamDestroy)                                                           \
  X(cuStreamSynchronize)                                                       \
  X(cuEventCreate)                                                             \
  X(cuEventDestroy)                                                            \
  X(cuEventRecord)                                                             \
  X(cuEventSynchronize)                                                        \
  X(cuEventElapsedTime)                                                        \
  X(cuStreamBeginCapture)                                                      \
  X(cuStreamEndCapture)                                                        \
  X(cuGraphInstantiate)                                                        \
  X(cuGraphLaunch)                                                             \
  X(cuGraphExecDestroy)                                                        \
  X(cuGraphDestroy)

#define ROTOR_NVRTC_FUNCTIONS(X)                                               \
  X(nvrtcGetErrorString)                                                       \
  X(nvrtcCreateProgram)                                                        \
  X(nvrtcCompileProgram)                                                       \
  X(nvrtcGetProgramLogSize)                                                    \
  X(nvrtcGetProgramLog)                                                        \
  X(nvrtcGetCUBINSize)                                                         \
  X(nvrtcGetCUBIN)                                                             \
  X(nvrtcDestroyProgram)

/// cuBLAS functions, declared here with their C ABI (cublas_api.h wraps some
/// of them in C++ overloads).
using CublasCreateFn = cublasStatus_t (*)(cublasHandle_t *);
using CublasDestroyFn = cublasStatus_t (*)(cublasHandle_t);
using CublasSetStreamFn = cublasStatus_t (*)(cublasHandle_t, CUstream);
using CublasSetWorkspaceFn = cublasStatus_t (*)(cublasHandle_t, void *, size_t);
using CublasGemmStridedBatchedExFn = cublasStatus_t (*)(
    cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
    const void *, const void *, cudaDataType, int, long long, const void *,
    cudaDataType, int, long long, const void *, void *, cudaDataType, int,
    long long, int, cublasComputeType_t, cublasGemmAlgo_t);

/// The loaded libraries. Driver functions are members named as in cuda.h.
struct CudaLibs {
#define ROTOR_DECLARE_MEMBER(name) decltype(&::name) name = nullptr;
  ROTOR_CUDA_DRIVER_FUNCTIONS(ROTOR_DECLARE_MEMBER)
  ROTOR_NVRTC_FUNCTIONS(ROTOR_DECLARE_MEMBER)
#undef ROTOR_DECLARE_MEMBER
  CublasCreateFn cublasCreate = nullptr;
  CublasDestroyFn cublasDestroy = nullptr;
  CublasSetStreamFn cublasSetStream = nullptr;
  CublasSetWorkspaceFn cublasSetWorkspace = nullptr;
  CublasGemmStridedBatchedExFn cublasGemmStridedBatchedEx = nullptr;

  bool hasNvrtc() const { return nvrtcCompileProgram != nullptr; }
};

/// Loads the driver (required) and cuBLAS (required), and NVRTC if it can
/// be found (needed only for artifacts without a cubin for the device),
/// once per process; later calls return the same result.
rotor_status loadCudaLibs(const CudaLibs *&out);

/// "CUDA_ERROR_...: message" for a driver result.
std::string describe(const CudaLibs &libs, CUresult result);

} // namespace rotor::cuda

#endif // ROTOR_SRC_CUDA_CUDALIBS_H
