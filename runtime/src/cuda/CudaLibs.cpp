//===- CudaLibs.cpp - The CUDA libraries, loaded at run time --------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "cuda/CudaLibs.h"
#include "Error.h"

#include <cstring>
#include <dlfcn.h>

using namespace rotor;
using namespace rotor::cuda;

namespace {

#define ROTOR_STRINGIFY_IMPL(x) #x
#define ROTOR_STRINGIFY(x) ROTOR_STRINGIFY_IMPL(x)

/// dlopens the first of `names` that loads; `tried` lists them for messages.
void *openFirst(std::initializer_list<const char *> names, std::string &tried) {
  for (const char *name : names) {
    if (void *handle = ::dlopen(name, RTLD_NOW | RTLD_LOCAL))
      return handle;
    tried += tried.empty() ? "" : ", ";
    tried += name;
  }
  return nullptr;
}

template <typename Fn>
bool resolve(void *handle, const char *symbol, Fn &out) {
  void *address = ::dlsym(handle, symbol);
  if (!address)
    return false;
  std::memcpy(&out, &address, sizeof(out));
  return true;
}

struct LoadResult {
  CudaLibs libs;
  rotor_status status = ROTOR_OK;
  std::string message;
};

LoadResult load() {
  LoadResult result;
  CudaLibs &libs = result.libs;
  auto failWith = [&](rotor_status status, std::string message) {
    result.status = status;
    result.message = std::move(message);
    return result;
  };

  std::string tried;
  void *driver = openFirst({"libcuda.so.1", "libcuda.so"}, tried);
  if (!driver)
    return failWith(ROTOR_ERR_UNSUPPORTED,
                    "no CUDA driver on this machine (could not load " + tried +
                        "): CUDA artifacts need an NVIDIA GPU and its driver");
#define ROTOR_RESOLVE_DRIVER(name)                                             \
  if (!resolve(driver, ROTOR_STRINGIFY(name), libs.name))                      \
    return failWith(ROTOR_ERR_UNSUPPORTED,                                     \
                    "the CUDA driver lacks " ROTOR_STRINGIFY(                  \
                        name) " (the driver is older than the runtime's "      \
                              "CUDA headers)");
  ROTOR_CUDA_DRIVER_FUNCTIONS(ROTOR_RESOLVE_DRIVER)
#undef ROTOR_RESOLVE_DRIVER

  tried.clear();
  void *cublas = openFirst({"libcublas.so.13", "libcublas.so.12", "libcublas.so",
                            "/usr/local/cuda/lib64/libcublas.so"},
                           tried);
  if (!cublas)
    return failWith(ROTOR_ERR_UNSUPPORTED,
                    "cuBLAS not found (tried " + tried +
                        "): install the CUDA toolkit's libraries or add "
                        "them to LD_LIBRARY_PATH");
  const char *missing = nullptr;
  if (!resolve(cublas, "cublasCreate_v2", libs.cublasCreate))
    missing = "cublasCreate_v2";
  else if (!resolve(cublas, "cublasDestroy_v2", libs.cublasDestroy))
    missing = "cublasDestroy_v2";
  else if (!resolve(cublas, "cublasSetStream_v2", libs.cublasSetStream))
    missing = "cublasSetStream_v2";
  // The backend gives cuBLAS its workspace, so that products captured into
  // a CUDA graph never allocate.
  else if (!resolve(cublas, "cublasSetWorkspace_v2", libs.cublasSetWorkspace))
    missing = "cublasSetWorkspace_v2";
  else if (!resolve(cublas, "cublasGemmStridedBatchedEx",
                    libs.cublasGemmStridedBatchedEx))
    missing = "cublasGemmStridedBatchedEx";
  if (missing)
    return failWith(ROTOR_ERR_UNSUPPORTED,
                    std::string("the cuBLAS library found lacks a function "
                                "the runtime needs (") +
                        missing + "; cuBLAS 12 and newer have it)");

  // NVRTC is optional: artifacts with a cubin for the device do not need it.
  tried.clear();
  if (void *nvrtc = openFirst({"libnvrtc.so.13", "libnvrtc.so.12",
                               "libnvrtc.so",
                               "/usr/local/cuda/lib64/libnvrtc.so"},
                              tried)) {
    CudaLibs withNvrtc = libs;
    bool complete = true;
#define ROTOR_RESOLVE_NVRTC(name)                                              \
  complete = complete && resolve(nvrtc, #name, withNvrtc.name);
    ROTOR_NVRTC_FUNCTIONS(ROTOR_RESOLVE_NVRTC)
#undef ROTOR_RESOLVE_NVRTC
    if (complete)
      libs = withNvrtc;
  }

  if (CUresult r = libs.cuInit(0); r != CUDA_SUCCESS)
    return failWith(ROTOR_ERR_UNSUPPORTED,
                    "cuInit failed: " + describe(libs, r) +
                        " (is a GPU visible to this process?)");
  return result;
}

} // namespace

rotor_status rotor::cuda::loadCudaLibs(const CudaLibs *&out) {
  static LoadResult loaded = load();
  if (loaded.status != ROTOR_OK)
    return fail(loaded.status, loaded.message);
  out = &loaded.libs;
  return ROTOR_OK;
}

std::string rotor::cuda::describe(const CudaLibs &libs, CUresult result) {
  const char *text = nullptr;
  if (libs.cuGetErrorString)
    libs.cuGetErrorString(result, &text);
  return strCat("CUDA error ", static_cast<int>(result), text ? ": " : "",
                text ? text : "");
}
