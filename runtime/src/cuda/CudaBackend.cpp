//===- CudaBackend.cpp - Runs CUDA artifacts on an NVIDIA GPU -------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Loads a CUDA artifact (docs/cuda-backend.md): the launch plan, and the
// kernels from the artifact's cubin when it was built for this device's
// architecture, else from the generated source compiled with NVRTC (the
// result is cached on disk). A call uploads the inputs (weights once, then
// kept on the device), evaluates the plan's symbols from the input shapes,
// runs the steps on one stream with buffers from a caching pool, and copies
// the outputs back. With ROTOR_CUDA_PROFILE=1 each call prints the time of
// every step kind and kernel, measured with events, to stderr.
//
//===----------------------------------------------------------------------===//

#include "Backend.h"
#include "DType.h"
#include "Error.h"
#include "Tensor.h"
#include "cuda/CudaLibs.h"
#include "cuda/CudaPlan.h"
#include "support/AtomicFile.h"
#include "support/FileSystem.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <unordered_map>

using namespace rotor;
using namespace rotor::cuda;

namespace {

/// Device memory handed out by the pool; returns itself to the pool.
class DevicePool;
struct DeviceBuffer {
  CUdeviceptr ptr = 0;
  size_t bytes = 0;
  DevicePool *pool = nullptr;
  ~DeviceBuffer();
};
using BufferPtr = std::shared_ptr<DeviceBuffer>;

/// Caches freed allocations by size, so that the steps of repeated calls
/// reuse memory instead of calling cuMemAlloc/cuMemFree each time.
class DevicePool {
public:
  explicit DevicePool(const CudaLibs &libs) : libs(libs) {}
  ~DevicePool() {
    for (auto &[size, ptrs] : cache)
      for (CUdeviceptr p : ptrs)
        libs.cuMemFree(p);
  }

  rotor_status allocate(size_t bytes, const std::string &what,
                        BufferPtr &out) {
    size_t rounded = std::max<size_t>(256, (bytes + 255) & ~size_t(255));
    auto buffer = std::make_shared<DeviceBuffer>();
    buffer->bytes = rounded;
    buffer->pool = this;
    auto it = cache.find(rounded);
    if (it != cache.end() && !it->second.empty()) {
      buffer->ptr = it->second.back();
      it->second.pop_back();
    } else {
      CUresult r = libs.cuMemAlloc(&buffer->ptr, rounded);
      if (r == CUDA_ERROR_OUT_OF_MEMORY) {
        trim();
        r = libs.cuMemAlloc(&buffer->ptr, rounded);
      }
      if (r != CUDA_SUCCESS) {
        buffer->pool = nullptr;
        return fail(r == CUDA_ERROR_OUT_OF_MEMORY ? ROTOR_ERR_OUT_OF_MEMORY
                                                  : ROTOR_ERR_BACKEND,
                    "cannot allocate ", bytes, " bytes of GPU memory for ",
                    what, ": ", describe(libs, r));
      }
    }
    out = std::move(buffer);
    return ROTOR_OK;
  }

  void release(CUdeviceptr ptr, size_t bytes) { cache[bytes].push_back(ptr); }

  /// Frees every cached allocation.
  void trim() {
    for (auto &[size, ptrs] : cache)
      for (CUdeviceptr p : ptrs)
        libs.cuMemFree(p);
    cache.clear();
  }

private:
  const CudaLibs &libs;
  std::map<size_t, std::vector<CUdeviceptr>> cache;
};

DeviceBuffer::~DeviceBuffer() {
  if (pool && ptr)
    pool->release(ptr, bytes);
}

/// A tensor value during a call: a buffer and a byte offset into it.
struct Slot {
  BufferPtr buffer;
  size_t offset = 0;
  CUdeviceptr address() const { return buffer ? buffer->ptr + offset : 0; }
};

/// Device buffers a call uses in place of uploading inputs, and outputs it
/// leaves on the device (the device-resident trainer).
struct CallBinding {
  /// Per entry input: a device buffer read in place of the host tensor
  /// (which still gives the shape); empty ones are uploaded as usual.
  std::vector<BufferPtr> inputs;
  /// Per entry output: leave it on the device (its slot in `kept`, its host
  /// tensor null) instead of downloading it.
  std::vector<bool> keep;
  /// The kept outputs, each in a buffer of its own (no two kept outputs and
  /// no bound input share memory).
  std::vector<Slot> kept;
};

class CudaResidentTrainer;

class CudaBackend final : public Backend {
  friend class CudaResidentTrainer;

public:
  CudaBackend(const Manifest &manifest, std::string dir)
      : manifest(manifest), dir(std::move(dir)) {}
  ~CudaBackend() override;

  rotor_status load();

  rotor_device device() const override { return ROTOR_DEVICE_CUDA; }

  rotor_status invoke(size_t entryIndex, const rotor_tensor *const *inputs,
                      std::vector<TensorPtr> &outputs) override;

  void setWeights(const std::vector<const rotor_tensor *> &tensors) override {
    weights.clear();
    for (const rotor_tensor *t : tensors)
      weights[t] = nullptr;
  }

private:
  rotor_status check(CUresult r, const std::string &what) {
    if (r == CUDA_SUCCESS)
      return ROTOR_OK;
    return fail(ROTOR_ERR_BACKEND, what, ": ", describe(*libs, r));
  }
  rotor_status loadModule();
  rotor_status compileWithNvrtc(const std::string &arch, std::string &cubin);
  rotor_status run(const PlanEntry &entry, const rotor_tensor *const *inputs,
                   std::vector<TensorPtr> &outputs,
                   CallBinding *binding = nullptr);

public:
  rotor_status
  createResidentTrainer(size_t entryIndex,
                        const std::vector<ResidentParam> &params,
                        size_t numSlots,
                        std::unique_ptr<ResidentTrainer> &out) override;

private:
  /// The module's kernel named `name` (a fixed-name kernel), or null.
  CUfunction kernelNamed(const std::string &name) const {
    for (size_t k = 0; k < plan.kernels.size(); ++k)
      if (plan.kernels[k] == name)
        return functions[k];
    return nullptr;
  }
  /// Launches a 256-thread grid-stride kernel over `n` elements.
  rotor_status launchElementwise(CUfunction f, const char *name, int64_t n,
                                 LaunchArgs &args);

  const Manifest &manifest;
  std::string dir;
  Plan plan;
  const CudaLibs *libs = nullptr;
  CUdevice dev = 0;
  CUcontext context = nullptr;
  CUstream stream = nullptr;
  cublasHandle_t cublas = nullptr;
  CUmodule module = nullptr;
  std::unique_ptr<DevicePool> pool;
  std::vector<CUfunction> functions;
  std::vector<std::array<int, kernelConfigSlots>> configs;
  /// The plan entry of each manifest entry.
  std::vector<const PlanEntry *> entryPlans;
  /// The artifact's weights and, once uploaded, their device copies.
  std::unordered_map<const rotor_tensor *, BufferPtr> weights;
  bool profile = false;
};

/// Makes the backend's context current for the scope.
class ContextScope {
public:
  ContextScope(const CudaLibs &libs, CUcontext context) : libs(libs) {
    libs.cuCtxPushCurrent(context);
  }
  ~ContextScope() {
    CUcontext popped;
    libs.cuCtxPopCurrent(&popped);
  }

private:
  const CudaLibs &libs;
};

CudaBackend::~CudaBackend() {
  if (!libs || !context)
    return;
  {
    ContextScope scope(*libs, context);
    weights.clear();
    pool.reset();
    if (cublas)
      libs->cublasDestroy(cublas);
    if (module)
      libs->cuModuleUnload(module);
    if (stream)
      libs->cuStreamDestroy(stream);
  }
  libs->cuDevicePrimaryCtxRelease(dev);
}

/// The architecture name of a device: sm_90a for compute capability 9.0
/// (the `a` features are what Hopper kernels use), sm_XY otherwise.
std::string archName(int major, int minor) {
  std::string name = strCat("sm_", major, minor);
  if (major == 9 && minor == 0)
    name += "a";
  return name;
}

/// FNV-1a, for the NVRTC cache key.
uint64_t hashBytes(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes)
    h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string cacheDirectory() {
  if (const char *d = std::getenv("ROTOR_CUDA_CACHE"))
    return d;
  if (const char *d = std::getenv("XDG_CACHE_HOME"))
    return joinPath(d, "rotor/cuda");
  if (const char *d = std::getenv("HOME"))
    return joinPath(d, ".cache/rotor/cuda");
  return "";
}

rotor_status CudaBackend::compileWithNvrtc(const std::string &arch,
                                           std::string &cubin) {
  std::string sourcePath = joinPath(dir, plan.source);
  std::string source;
  if (rotor_status s = readFile(sourcePath, size_t(256) << 20,
                                "generated CUDA source", source))
    return s;
  // The source includes the kernel library from the artifact; the key covers
  // the source, the architecture and the library version the source names.
  uint64_t key = hashBytes(1469598103934665603ull, source);
  key = hashBytes(key, arch);
  std::string cacheDir = cacheDirectory();
  std::string cachePath;
  if (!cacheDir.empty()) {
    char name[64];
    std::snprintf(name, sizeof(name), "%016llx-%s.cubin",
                  static_cast<unsigned long long>(key), arch.c_str());
    cachePath = joinPath(cacheDir, name);
    if (isRegularFile(cachePath) &&
        readFile(cachePath, size_t(512) << 20, "cached cubin", cubin) ==
            ROTOR_OK)
      return ROTOR_OK;
  }
  if (!libs->hasNvrtc())
    return fail(ROTOR_ERR_UNSUPPORTED, "artifact ", quote(dir),
                " has no cubin for this GPU (", arch,
                (plan.cubin.empty() ? std::string()
                                    : ", the artifact's is for " +
                                          plan.cubinArch),
                ") and NVRTC (libnvrtc.so) was not found to compile its "
                "source");
  nvrtcProgram program;
  if (nvrtcResult r = libs->nvrtcCreateProgram(&program, source.c_str(),
                                               plan.source.c_str(), 0, nullptr,
                                               nullptr);
      r != NVRTC_SUCCESS)
    return fail(ROTOR_ERR_BACKEND, "NVRTC cannot create a program: ",
                libs->nvrtcGetErrorString(r));
  std::string includeOption = "-I" + joinPath(dir, plan.includeDir);
  std::string archOption = "--gpu-architecture=" + arch;
  std::vector<std::string> options = {archOption, includeOption, "-std=c++17",
                                      "-default-device"};
  // The warpgroup (wgmma) kernels exist on sm_90a only.
  if (arch != "sm_90a")
    options.push_back("-DROTOR_CUDA_NO_WGMMA");
  const char *cudaHome = std::getenv("CUDA_HOME");
  for (std::string root : {std::string(cudaHome ? cudaHome : ""),
                           std::string("/usr/local/cuda")})
    if (!root.empty() && isDirectory(joinPath(root, "include")))
      options.push_back("-I" + joinPath(root, "include"));
  std::vector<const char *> optionPointers;
  for (const std::string &o : options)
    optionPointers.push_back(o.c_str());
  nvrtcResult compiled = libs->nvrtcCompileProgram(
      program, static_cast<int>(optionPointers.size()), optionPointers.data());
  size_t logSize = 0;
  libs->nvrtcGetProgramLogSize(program, &logSize);
  std::string log(logSize, '\0');
  if (logSize)
    libs->nvrtcGetProgramLog(program, log.data());
  rotor_status status = ROTOR_OK;
  if (compiled != NVRTC_SUCCESS) {
    status = fail(ROTOR_ERR_BACKEND, "NVRTC failed to compile ",
                  quote(sourcePath), " for ", arch, ": ",
                  libs->nvrtcGetErrorString(compiled), "\n", log);
  } else {
    size_t size = 0;
    libs->nvrtcGetCUBINSize(program, &size);
    cubin.assign(size, '\0');
    libs->nvrtcGetCUBIN(program, cubin.data());
  }
  libs->nvrtcDestroyProgram(&program);
  if (status == ROTOR_OK && !cachePath.empty()) {
    // Best effort: a cache that cannot be written only costs a recompile.
    std::string command = "mkdir -p '" + cacheDir + "' 2>/dev/null";
    if (std::system(command.c_str()) == 0) {
      AtomicFileWriter writer;
      if (writer.open(cachePath) == ROTOR_OK &&
          writer.write(cubin.data(), cubin.size()) == ROTOR_OK)
        writer.commit();
    }
    rotor_clear_error();
  }
  return status;
}

rotor_status CudaBackend::loadModule() {
  // A plan of copies, views and cuBLAS products needs no module.
  if (plan.kernels.empty())
    return ROTOR_OK;
  int major = 0, minor = 0;
  libs->cuDeviceGetAttribute(&major,
                             CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
  libs->cuDeviceGetAttribute(&minor,
                             CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
  std::string arch = archName(major, minor);
  std::string image;
  if (!plan.cubin.empty() && plan.cubinArch == arch) {
    if (rotor_status s = readFile(joinPath(dir, plan.cubin),
                                  size_t(512) << 20, "cubin", image))
      return s;
  } else if (rotor_status s = compileWithNvrtc(arch, image)) {
    return s;
  }
  if (rotor_status s = check(libs->cuModuleLoadData(&module, image.data()),
                             "cannot load the kernels of " + quote(dir)))
    return s;
  for (const std::string &name : plan.kernels) {
    CUfunction function;
    if (rotor_status s =
            check(libs->cuModuleGetFunction(&function, module, name.c_str()),
                  "kernel " + quote(name) + " of the plan is not in the module"))
      return s;
    CUdeviceptr cfgAddress;
    size_t cfgBytes = 0;
    std::string cfgName = name + "_cfg";
    if (rotor_status s = check(
            libs->cuModuleGetGlobal(&cfgAddress, &cfgBytes, module,
                                    cfgName.c_str()),
            "kernel " + quote(name) + " exports no configuration " +
                quote(cfgName)))
      return s;
    std::array<int, kernelConfigSlots> cfg{};
    if (cfgBytes != sizeof(cfg))
      return fail(ROTOR_ERR_BACKEND, "configuration ", quote(cfgName), " has ",
                  cfgBytes, " bytes, expected ", sizeof(cfg));
    if (rotor_status s = check(libs->cuMemcpyDtoH(cfg.data(), cfgAddress,
                                                  sizeof(cfg)),
                               "cannot read " + quote(cfgName)))
      return s;
    if (cfg[0] <= 0 || cfg[0] > 1024 || cfg[1] < 0)
      return fail(ROTOR_ERR_BACKEND, "kernel ", quote(name),
                  " has an invalid configuration (", cfg[0], " threads, ",
                  cfg[1], " bytes of shared memory)");
    if (cfg[1] > 48 * 1024)
      if (rotor_status s = check(
              libs->cuFuncSetAttribute(
                  function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                  cfg[1]),
              "kernel " + quote(name) + " needs " + std::to_string(cfg[1]) +
                  " bytes of shared memory"))
        return s;
    functions.push_back(function);
    configs.push_back(cfg);
  }
  return ROTOR_OK;
}

rotor_status CudaBackend::load() {
  if (rotor_status s = loadCudaLibs(libs))
    return s;
  std::string planPath = joinPath(dir, manifest.library);
  std::string text;
  if (rotor_status s = readFile(planPath, size_t(256) << 20, "CUDA plan", text))
    return s;
  if (rotor_status s = parsePlan(text, planPath, plan))
    return s;
  for (const EntrySpec &entry : manifest.entries) {
    const PlanEntry *found = nullptr;
    for (const PlanEntry &p : plan.entries)
      if (p.name == entry.symbol)
        found = &p;
    if (!found)
      return fail(ROTOR_ERR_FORMAT, planPath, ": has no entry ",
                  quote(entry.symbol), " for manifest entry ",
                  quote(entry.name));
    if (found->inputs.size() != entry.inputs.size() ||
        found->outputs.size() != entry.outputs.size())
      return fail(ROTOR_ERR_FORMAT, planPath, ": entry ", quote(entry.symbol),
                  " has ", found->inputs.size(), " inputs and ",
                  found->outputs.size(), " outputs; the manifest declares ",
                  entry.inputs.size(), " and ", entry.outputs.size());
    for (size_t i = 0; i < entry.inputs.size(); ++i)
      if (found->values[found->inputs[i]].dtype != entry.inputs[i].dtype ||
          found->values[found->inputs[i]].shape.size() !=
              entry.inputs[i].shape.size())
        return fail(ROTOR_ERR_FORMAT, planPath, ": entry ",
                    quote(entry.symbol), " input ", i,
                    " disagrees with the manifest in dtype or rank");
    for (size_t i = 0; i < entry.outputs.size(); ++i)
      if (found->values[found->outputs[i]].dtype != entry.outputs[i].dtype ||
          found->values[found->outputs[i]].shape.size() !=
              entry.outputs[i].shape.size())
        return fail(ROTOR_ERR_FORMAT, planPath, ": entry ",
                    quote(entry.symbol), " output ", i,
                    " disagrees with the manifest in dtype or rank");
    entryPlans.push_back(found);
  }

  int count = 0;
  if (rotor_status s = check(libs->cuDeviceGetCount(&count),
                             "cannot count CUDA devices"))
    return s;
  int ordinal = 0;
  if (const char *env = std::getenv("ROTOR_CUDA_DEVICE"))
    ordinal = std::atoi(env);
  if (count == 0 || ordinal < 0 || ordinal >= count)
    return fail(ROTOR_ERR_UNSUPPORTED, "no CUDA device ", ordinal, " (", count,
                " visible)");
  if (rotor_status s = check(libs->cuDeviceGet(&dev, ordinal),
                             "cannot open CUDA device"))
    return s;
  if (rotor_status s = check(libs->cuDevicePrimaryCtxRetain(&context, dev),
                             "cannot create a CUDA context"))
    return s;
  ContextScope scope(*libs, context);
  if (rotor_status s = check(libs->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING),
                             "cannot create a CUDA stream"))
    return s;
  if (libs->cublasCreate(&cublas) != CUBLAS_STATUS_SUCCESS)
    return fail(ROTOR_ERR_BACKEND, "cannot create a cuBLAS handle");
  libs->cublasSetStream(cublas, stream);
  pool = std::make_unique<DevicePool>(*libs);
  const char *profileEnv = std::getenv("ROTOR_CUDA_PROFILE");
  profile = profileEnv && *profileEnv && std::strcmp(profileEnv, "0") != 0;
  return loadModule();
}

cudaDataType cudaType(rotor_dtype t) {
  switch (t) {
  case ROTOR_F64:
    return CUDA_R_64F;
  case ROTOR_BF16:
    return CUDA_R_16BF;
  case ROTOR_F16:
    return CUDA_R_16F;
  default:
    return CUDA_R_32F;
  }
}

/// Evaluates the entry's symbols; fails on overflow or a negative size.
rotor_status evaluateSymbols(const PlanEntry &entry,
                             const rotor_tensor *const *inputs,
                             const std::vector<std::array<int, 4>> &configs,
                             std::vector<int64_t> &out) {
  out.assign(entry.symbols.size(), 0);
  for (size_t i = 0; i < entry.symbols.size(); ++i) {
    const Symbol &s = entry.symbols[i];
    int64_t x = s.op == SymbolOp::Const || s.op == SymbolOp::Dim ||
                        s.op == SymbolOp::Cfg
                    ? 0
                    : out[s.a];
    int64_t y = s.op == SymbolOp::Const || s.op == SymbolOp::Dim ||
                        s.op == SymbolOp::Cfg
                    ? 0
                    : out[s.b];
    int64_t v = 0;
    bool overflow = false;
    switch (s.op) {
    case SymbolOp::Const:
      v = s.a;
      break;
    case SymbolOp::Dim: {
      const rotor_tensor *t = inputs[s.a];
      if (size_t(s.b) >= t->rank)
        return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                    ": input ", s.a, " has rank ", t->rank,
                    " but the plan reads its dimension ", s.b);
      v = t->shape[s.b];
      break;
    }
    case SymbolOp::Cfg:
      v = configs[s.a][s.b];
      break;
    case SymbolOp::Add:
      overflow = __builtin_add_overflow(x, y, &v);
      break;
    case SymbolOp::Sub:
      overflow = __builtin_sub_overflow(x, y, &v);
      break;
    case SymbolOp::Mul:
      overflow = __builtin_mul_overflow(x, y, &v);
      break;
    case SymbolOp::CeilDiv:
    case SymbolOp::FloorDiv:
      if (y <= 0)
        return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                    ": symbol ", i, " divides by ", y);
      v = x / y;
      if (s.op == SymbolOp::CeilDiv && x % y > 0)
        ++v;
      if (s.op == SymbolOp::FloorDiv && x % y < 0)
        --v;
      break;
    case SymbolOp::Max:
      v = std::max(x, y);
      break;
    case SymbolOp::Min:
      v = std::min(x, y);
      break;
    }
    if (overflow)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                  ": sizes overflow 64 bits (symbol ", i, ")");
    out[i] = v;
  }
  return ROTOR_OK;
}

/// Per-step timing for ROTOR_CUDA_PROFILE.
struct Profiler {
  const CudaLibs &libs;
  CUstream stream;
  std::vector<std::pair<std::string, CUevent>> marks;
  ~Profiler() {
    for (auto &[name, event] : marks)
      libs.cuEventDestroy(event);
  }
  void mark(std::string name) {
    CUevent event;
    if (libs.cuEventCreate(&event, CU_EVENT_DEFAULT) != CUDA_SUCCESS)
      return;
    libs.cuEventRecord(event, stream);
    marks.emplace_back(std::move(name), event);
  }
  void report(const std::string &entry) {
    if (marks.size() < 2)
      return;
    libs.cuEventSynchronize(marks.back().second);
    std::map<std::string, std::pair<double, int>> totals;
    double all = 0;
    for (size_t i = 1; i < marks.size(); ++i) {
      float ms = 0;
      libs.cuEventElapsedTime(&ms, marks[i - 1].second, marks[i].second);
      auto &t = totals[marks[i].first];
      t.first += ms;
      t.second += 1;
      all += ms;
    }
    std::fprintf(stderr, "rotor-cuda-profile: entry %s: %.4f ms on the device\n",
                 entry.c_str(), all);
    std::vector<std::pair<std::string, std::pair<double, int>>> sorted(
        totals.begin(), totals.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto &a, const auto &b) {
      return a.second.first > b.second.first;
    });
    for (const auto &[name, t] : sorted)
      std::fprintf(stderr, "rotor-cuda-profile:   %-40s %5d x %10.4f ms\n",
                   name.c_str(), t.second, t.first);
  }
};

rotor_status CudaBackend::run(const PlanEntry &entry,
                              const rotor_tensor *const *inputs,
                              std::vector<TensorPtr> &outputs,
                              CallBinding *binding) {
  std::vector<int64_t> sym;
  if (rotor_status s = evaluateSymbols(entry, inputs, configs, sym))
    return s;
  auto valueBytes = [&](int v, size_t &bytes) -> rotor_status {
    const ValueSpec &spec = entry.values[v];
    int64_t n = 1;
    for (int d : spec.shape) {
      if (sym[d] < 0)
        return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                    ": value ", v, " would have negative size ", sym[d]);
      if (__builtin_mul_overflow(n, sym[d], &n))
        return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                    ": value ", v, " is too large");
    }
    bytes = size_t(n) * rotor_dtype_size(spec.dtype);
    return ROTOR_OK;
  };
  std::vector<Slot> slots(entry.values.size());
  auto ensure = [&](int v, const char *why) -> rotor_status {
    if (slots[v].buffer)
      return ROTOR_OK;
    size_t bytes;
    if (rotor_status s = valueBytes(v, bytes))
      return s;
    return pool->allocate(bytes, strCat("value ", v, " (", why, ")"),
                          slots[v].buffer);
  };
  auto need = [&](int v) -> rotor_status {
    if (slots[v].buffer)
      return ROTOR_OK;
    return fail(ROTOR_ERR_BACKEND, "entry ", quote(entry.name), ": value ", v,
                " is read before any step wrote it (a malformed plan)");
  };

  // Inputs: weights are uploaded once and stay on the device.
  for (size_t i = 0; i < entry.inputs.size(); ++i) {
    const rotor_tensor *t = inputs[i];
    int v = entry.inputs[i];
    if (binding && i < binding->inputs.size() && binding->inputs[i]) {
      slots[v].buffer = binding->inputs[i];
      continue;
    }
    auto weight = weights.find(t);
    if (weight != weights.end() && weight->second) {
      slots[v].buffer = weight->second;
      continue;
    }
    if (rotor_status s = pool->allocate(t->nbytes, strCat("input ", i),
                                        slots[v].buffer))
      return s;
    if (t->nbytes)
      if (rotor_status s = check(libs->cuMemcpyHtoDAsync(slots[v].address(),
                                                         t->data, t->nbytes,
                                                         stream),
                                 strCat("cannot copy input ", i, " to the GPU")))
        return s;
    if (weight != weights.end()) {
      // A weight buffer must not return to the pool at the end of the call.
      auto owned = std::make_shared<DeviceBuffer>();
      owned->ptr = slots[v].buffer->ptr;
      owned->bytes = slots[v].buffer->bytes;
      owned->pool = pool.get();
      slots[v].buffer->pool = nullptr;
      slots[v].buffer = owned;
      weight->second = owned;
    }
  }

  Profiler profiler{*libs, stream, {}};
  if (profile)
    profiler.mark("start");
  for (const Step &step : entry.steps) {
    switch (step.kind) {
    case StepKind::Launch: {
      for (int w : step.writes)
        if (rotor_status s = ensure(w, "kernel output"))
          return s;
      LaunchArgs args{};
      for (size_t i = 0; i < step.ptrs.size(); ++i) {
        if (rotor_status s = need(step.ptrs[i]))
          return s;
        args.ptr[i] = reinterpret_cast<void *>(slots[step.ptrs[i]].address());
      }
      for (size_t i = 0; i < step.dims.size(); ++i)
        args.dim[i] = sym[step.dims[i]];
      for (size_t i = 0; i < step.floats.size(); ++i)
        args.f[i] = step.floats[i];
      int64_t g[3] = {sym[step.grid[0]], sym[step.grid[1]], sym[step.grid[2]]};
      if (g[0] <= 0 || g[1] <= 0 || g[2] <= 0)
        break; // Nothing to compute (an empty tensor).
      if (g[0] > INT32_MAX || g[1] > 65535 || g[2] > 65535)
        return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                    ": kernel ", quote(plan.kernels[step.kernel]),
                    " would need a grid of ", g[0], " x ", g[1], " x ", g[2],
                    " blocks, beyond CUDA's limits");
      void *params[] = {&args};
      const auto &cfg = configs[step.kernel];
      if (rotor_status s = check(
              libs->cuLaunchKernel(functions[step.kernel], unsigned(g[0]),
                                   unsigned(g[1]), unsigned(g[2]),
                                   unsigned(cfg[0]), 1, 1, unsigned(cfg[1]),
                                   stream, params, nullptr),
              "cannot launch kernel " + quote(plan.kernels[step.kernel])))
        return s;
      if (profile)
        profiler.mark(plan.kernels[step.kernel]);
      break;
    }
    case StepKind::Gemm: {
      if (rotor_status s = need(step.a))
        return s;
      if (rotor_status s = need(step.b))
        return s;
      if (step.beta != 0.0f) {
        if (rotor_status s = need(step.c))
          return s;
      } else if (rotor_status s = ensure(step.c, "gemm output")) {
        return s;
      }
      int64_t m = sym[step.m], n = sym[step.n], k = sym[step.k];
      int64_t batch = sym[step.batch];
      if (m <= 0 || n <= 0 || batch <= 0)
        break;
      if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || batch > INT32_MAX)
        return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                    ": a matrix product of ", m, " x ", n, " x ", k,
                    " exceeds cuBLAS's 32-bit sizes");
      rotor_dtype t = entry.values[step.c].dtype;
      size_t es = rotor_dtype_size(t);
      CUdeviceptr pa = slots[step.a].address() + sym[step.offsetA] * es;
      CUdeviceptr pb = slots[step.b].address() + sym[step.offsetB] * es;
      CUdeviceptr pc = slots[step.c].address() + sym[step.offsetC] * es;
      if (k == 0) {
        if (step.beta == 0.0f)
          libs->cuMemsetD8Async(pc, 0, size_t(m * n * batch) * es, stream);
        break;
      }
      // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ.
      double alpha64 = step.alpha, beta64 = step.beta;
      float alpha32 = step.alpha, beta32 = step.beta;
      bool f64 = t == ROTOR_F64;
      cublasStatus_t st = libs->cublasGemmStridedBatchedEx(
          cublas, step.transB ? CUBLAS_OP_T : CUBLAS_OP_N,
          step.transA ? CUBLAS_OP_T : CUBLAS_OP_N, int(n), int(m), int(k),
          f64 ? static_cast<const void *>(&alpha64) : &alpha32,
          reinterpret_cast<const void *>(pb), cudaType(t),
          int(step.transB ? k : n), sym[step.strideB],
          reinterpret_cast<const void *>(pa), cudaType(t),
          int(step.transA ? m : k), sym[step.strideA],
          f64 ? static_cast<const void *>(&beta64) : &beta32,
          reinterpret_cast<void *>(pc), cudaType(t), int(n), sym[step.strideC],
          int(batch), f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F,
          CUBLAS_GEMM_DEFAULT);
      if (st != CUBLAS_STATUS_SUCCESS)
        return fail(ROTOR_ERR_BACKEND, "entry ", quote(entry.name),
                    ": cuBLAS matrix product (", m, " x ", n, " x ", k,
                    ", batch ", batch, ") failed with status ", int(st));
      if (profile)
        profiler.mark("cublas gemm");
      break;
    }
    case StepKind::Copy2D: {
      if (rotor_status s = need(step.src))
        return s;
      if (rotor_status s = ensure(step.dst, "copy destination"))
        return s;
      int64_t width = sym[step.width], height = sym[step.height];
      if (width <= 0 || height <= 0)
        break;
      CUDA_MEMCPY2D copy{};
      copy.srcMemoryType = CU_MEMORYTYPE_DEVICE;
      copy.srcDevice = slots[step.src].address() + sym[step.srcOffset];
      copy.srcPitch = size_t(sym[step.srcPitch]);
      copy.dstMemoryType = CU_MEMORYTYPE_DEVICE;
      copy.dstDevice = slots[step.dst].address() + sym[step.dstOffset];
      copy.dstPitch = size_t(sym[step.dstPitch]);
      copy.WidthInBytes = size_t(width);
      copy.Height = size_t(height);
      if (rotor_status s = check(libs->cuMemcpy2DAsync(&copy, stream),
                                 "strided device copy failed"))
        return s;
      if (profile)
        profiler.mark("copy");
      break;
    }
    case StepKind::View:
      if (rotor_status s = need(step.src))
        return s;
      slots[step.dst].buffer = slots[step.src].buffer;
      slots[step.dst].offset =
          slots[step.src].offset + size_t(sym[step.srcOffset]);
      break;
    case StepKind::Fill: {
      if (rotor_status s = ensure(step.dst, "filled value"))
        return s;
      size_t bytes;
      if (rotor_status s = valueBytes(step.dst, bytes))
        return s;
      if (bytes)
        libs->cuMemsetD8Async(slots[step.dst].address(), 0, bytes, stream);
      break;
    }
    case StepKind::Free:
      for (int v : step.values)
        slots[v].buffer.reset();
      break;
    }
  }
  if (profile)
    profiler.mark("end");

  std::vector<TensorPtr> results;
  if (binding)
    binding->kept.assign(entry.outputs.size(), Slot());
  for (size_t j = 0; j < entry.outputs.size(); ++j) {
    int v = entry.outputs[j];
    if (binding && j < binding->keep.size() && binding->keep[j]) {
      if (rotor_status s = need(v))
        return s;
      // A kept output gets memory of its own: the trainer updates it in
      // place, which must not touch another output or a bound input.
      CUdeviceptr at = slots[v].address();
      bool shared = false;
      for (size_t i = 0; i < j; ++i)
        shared |= binding->kept[i].buffer &&
                  binding->kept[i].buffer == slots[v].buffer;
      for (const BufferPtr &b : binding->inputs)
        shared |= b && b == slots[v].buffer;
      size_t bytes;
      if (rotor_status s = valueBytes(v, bytes))
        return s;
      if (shared) {
        Slot own;
        if (rotor_status s = pool->allocate(bytes, strCat("output ", j),
                                            own.buffer))
          return s;
        if (bytes)
          if (rotor_status s = check(
                  libs->cuMemcpyDtoDAsync(own.address(), at, bytes, stream),
                  strCat("cannot copy output ", j)))
            return s;
        binding->kept[j] = own;
      } else {
        binding->kept[j] = slots[v];
      }
      results.emplace_back();
      continue;
    }
    std::vector<int64_t> shape;
    for (int d : entry.values[v].shape)
      shape.push_back(sym[d]);
    TensorPtr tensor;
    if (rotor_status s = createTensor(entry.values[v].dtype, shape, tensor))
      return s;
    if (tensor->nbytes) {
      if (rotor_status s = need(v))
        return s;
      if (rotor_status s = check(libs->cuMemcpyDtoHAsync(tensor->data,
                                                         slots[v].address(),
                                                         tensor->nbytes, stream),
                                 strCat("cannot copy output ", j, " back")))
        return s;
    }
    results.push_back(std::move(tensor));
  }
  if (rotor_status s = check(libs->cuStreamSynchronize(stream),
                             "entry " + quote(entry.name) + " failed on the GPU"))
    return s;
  if (profile)
    profiler.report(entry.name);
  outputs = std::move(results);
  return ROTOR_OK;
}

rotor_status CudaBackend::invoke(size_t entryIndex,
                                 const rotor_tensor *const *inputs,
                                 std::vector<TensorPtr> &outputs) {
  outputs.clear();
  ContextScope scope(*libs, context);
  rotor_status s = run(*entryPlans[entryIndex], inputs, outputs);
  if (s != ROTOR_OK) {
    // Leave the stream idle so that buffers released below are not in use.
    libs->cuStreamSynchronize(stream);
    outputs.clear();
  }
  return s;
}

//===----------------------------------------------------------------------===//
// Device-resident training
//===----------------------------------------------------------------------===//

rotor_status CudaBackend::launchElementwise(CUfunction f, const char *name,
                                            int64_t n, LaunchArgs &args) {
  if (n <= 0)
    return ROTOR_OK;
  int64_t blocks = std::min<int64_t>((n + 1023) / 1024, 65535 * 8);
  void *params[] = {&args};
  return check(libs->cuLaunchKernel(f, unsigned(blocks), 1, 1, 256, 1, 1, 0,
                                    stream, params, nullptr),
               strCat("cannot launch the trainer's kernel ", quote(name)));
}

/// The parameters, gradients and optimizer state of a training step on the
/// GPU; the kernels are the artifact's fixed-name rotor_train_* wrappers of
/// rotor/cuda/optim.cuh.
class CudaResidentTrainer final : public ResidentTrainer {
public:
  CudaResidentTrainer(CudaBackend &backend, const PlanEntry &entry,
                      std::vector<ResidentParam> params)
      : backend(backend), entry(entry), params(std::move(params)) {}
  ~CudaResidentTrainer() override {
    ContextScope scope(*backend.libs, backend.context);
    backend.libs->cuStreamSynchronize(backend.stream);
    state.clear();
    expValues.clear();
    binding = CallBinding();
  }

  rotor_status init(size_t numSlots) {
    static const char *names[] = {"rotor_train_unscale_sumsq",
                                  "rotor_train_exp", "rotor_train_scale_by",
                                  "rotor_train_adamw", "rotor_train_sgd"};
    for (size_t k = 0; k < 5; ++k) {
      kernels[k] = backend.kernelNamed(names[k]);
      if (!kernels[k])
        return fail(ROTOR_ERR_NOT_FOUND, "the artifact has no kernel ",
                    quote(names[k]),
                    " of the device-resident trainer; recompile it with this "
                    "rotorc");
    }
    ContextScope scope(*backend.libs, backend.context);
    state.assign(params.size(), {});
    expValues.assign(params.size(), nullptr);
    for (size_t p = 0; p < params.size(); ++p) {
      size_t bytes = params[p].numel * sizeof(float);
      for (size_t slot = 0; slot <= numSlots; ++slot) {
        BufferPtr buffer;
        if (rotor_status s = backend.pool->allocate(
                bytes, strCat("training state of parameter ", p), buffer))
          return s;
        if (bytes)
          backend.libs->cuMemsetD8Async(buffer->ptr, 0, bytes, backend.stream);
        state[p].push_back(std::move(buffer));
      }
      if (params[p].logSpace)
        if (rotor_status s = backend.pool->allocate(
                bytes, strCat("exp of parameter ", p), expValues[p]))
          return s;
    }
    if (rotor_status s = backend.pool->allocate(
            std::max<size_t>(1, params.size()) * sizeof(double),
            "gradient norms", sums))
      return s;
    return backend.check(backend.libs->cuStreamSynchronize(backend.stream),
                         "cannot initialize the training state");
  }

  rotor_status upload(size_t param, size_t slot, const float *data) override {
    return copy(param, slot, const_cast<float *>(data), true);
  }
  rotor_status download(size_t param, size_t slot, float *data) override {
    return copy(param, slot, data, false);
  }

  rotor_status run(const rotor_tensor *const *hostInputs, size_t lossOutput,
                   bool unscale, float inverse, float &loss,
                   std::vector<double> &sumSquares) override {
    ContextScope scope(*backend.libs, backend.context);
    binding.inputs.assign(entry.inputs.size(), nullptr);
    binding.keep.assign(entry.outputs.size(), false);
    binding.kept.clear();
    for (size_t p = 0; p < params.size(); ++p) {
      const ResidentParam &param = params[p];
      if (param.logSpace) {
        LaunchArgs args{};
        args.ptr[0] = reinterpret_cast<void *>(state[p][0]->ptr);
        args.ptr[1] = reinterpret_cast<void *>(expValues[p]->ptr);
        args.dim[0] = static_cast<long long>(param.numel);
        if (rotor_status s = backend.launchElementwise(
                kernels[1], "rotor_train_exp", param.numel, args))
          return s;
      }
      binding.inputs[param.input] =
          param.logSpace ? expValues[p] : state[p][0];
      binding.keep[param.gradOutput] = true;
    }
    std::vector<TensorPtr> outputs;
    if (rotor_status s = backend.run(entry, hostInputs, outputs, &binding)) {
      backend.libs->cuStreamSynchronize(backend.stream);
      return s;
    }
    std::memcpy(&loss, outputs[lossOutput]->data, sizeof(float));
    backend.libs->cuMemsetD8Async(sums->ptr, 0, params.size() * sizeof(double),
                                  backend.stream);
    for (size_t p = 0; p < params.size(); ++p) {
      const ResidentParam &param = params[p];
      void *grad = reinterpret_cast<void *>(
          binding.kept[param.gradOutput].address());
      if (param.logSpace) {
        LaunchArgs args{};
        args.ptr[0] = grad;
        args.ptr[1] = reinterpret_cast<void *>(expValues[p]->ptr);
        args.dim[0] = static_cast<long long>(param.numel);
        if (rotor_status s = backend.launchElementwise(
                kernels[2], "rotor_train_scale_by", param.numel, args))
          return s;
      }
      LaunchArgs args{};
      args.ptr[0] = grad;
      args.ptr[1] = reinterpret_cast<void *>(sums->ptr + p * sizeof(double));
      args.dim[0] = static_cast<long long>(param.numel);
      args.dim[1] = unscale ? 1 : 0;
      args.f[0] = inverse;
      if (rotor_status s = backend.launchElementwise(
              kernels[0], "rotor_train_unscale_sumsq", param.numel, args))
        return s;
    }
    // On the trainer's stream: the stream does not synchronize with the
    // legacy default stream, so a plain cuMemcpyDtoH could read the sums
    // before the kernels above wrote them.
    sumSquares.assign(params.size(), 0.0);
    if (!params.empty())
      if (rotor_status s = backend.check(
              backend.libs->cuMemcpyDtoHAsync(sumSquares.data(), sums->ptr,
                                              params.size() * sizeof(double),
                                              backend.stream),
              "cannot read the gradient norms"))
        return s;
    return backend.check(backend.libs->cuStreamSynchronize(backend.stream),
                         "the training step failed on the GPU");
  }

  rotor_status update(const std::vector<ResidentUpdate> &updates, bool clip,
                      float coef) override {
    ContextScope scope(*backend.libs, backend.context);
    if (binding.kept.size() != entry.outputs.size())
      return fail(ROTOR_ERR_BACKEND, "update() before run()");
    for (size_t p = 0; p < params.size(); ++p) {
      const ResidentUpdate &u = updates[p];
      LaunchArgs args{};
      args.ptr[0] = reinterpret_cast<void *>(state[p][0]->ptr);
      args.ptr[1] = reinterpret_cast<void *>(
          binding.kept[params[p].gradOutput].address());
      for (size_t slot = 1; slot < state[p].size() && slot < 3; ++slot)
        args.ptr[1 + slot] = reinterpret_cast<void *>(state[p][slot]->ptr);
      args.dim[0] = static_cast<long long>(params[p].numel);
      for (int k = 0; k < 7; ++k)
        args.f[k] = u.scalars[k];
      if (u.adamw) {
        if (state[p].size() < 3)
          return fail(ROTOR_ERR_BACKEND, "AdamW needs two state vectors");
        args.dim[1] = u.flags[0];
        args.dim[2] = u.flags[1];
        args.dim[3] = clip;
        args.f[7] = coef;
      } else {
        for (int k = 0; k < 4; ++k)
          args.dim[1 + k] = u.flags[k];
        args.dim[5] = clip;
        args.f[4] = coef;
      }
      if (rotor_status s = backend.launchElementwise(
              kernels[u.adamw ? 3 : 4],
              u.adamw ? "rotor_train_adamw" : "rotor_train_sgd",
              params[p].numel, args))
        return s;
    }
    return ROTOR_OK;
  }

private:
  rotor_status copy(size_t param, size_t slot, float *host, bool toDevice) {
    if (param >= params.size() || slot >= state[param].size())
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "no training state ", slot,
                  " of parameter ", param);
    ContextScope scope(*backend.libs, backend.context);
    size_t bytes = params[param].numel * sizeof(float);
    if (!bytes)
      return ROTOR_OK;
    backend.libs->cuStreamSynchronize(backend.stream);
    CUdeviceptr at = state[param][slot]->ptr;
    return backend.check(toDevice ? backend.libs->cuMemcpyHtoD(at, host, bytes)
                                  : backend.libs->cuMemcpyDtoH(host, at, bytes),
                         strCat("cannot copy training state ", slot,
                                " of parameter ", param,
                                toDevice ? " to" : " from", " the GPU"));
  }

  CudaBackend &backend;
  const PlanEntry &entry;
  std::vector<ResidentParam> params;
  CUfunction kernels[5] = {};
  /// state[p] = {value, optimizer slots...}.
  std::vector<std::vector<BufferPtr>> state;
  std::vector<BufferPtr> expValues;
  BufferPtr sums;
  CallBinding binding;
};

rotor_status CudaBackend::createResidentTrainer(
    size_t entryIndex, const std::vector<ResidentParam> &params,
    size_t numSlots, std::unique_ptr<ResidentTrainer> &out) {
  const PlanEntry &entry = *entryPlans[entryIndex];
  for (const ResidentParam &p : params)
    if (p.input >= entry.inputs.size() || p.gradOutput >= entry.outputs.size())
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                  " has no input ", p.input, " or output ", p.gradOutput);
  auto trainer = std::make_unique<CudaResidentTrainer>(*this, entry, params);
  if (rotor_status s = trainer->init(numSlots))
    return s;
  out = std::move(trainer);
  return ROTOR_OK;
}

} // namespace

rotor_status rotor::createCudaBackend(const std::string &dir,
                                      const Manifest &manifest,
                                      std::unique_ptr<Backend> &out) {
  auto backend = std::make_unique<CudaBackend>(manifest, dir);
  if (rotor_status s = backend->load())
    return s;
  out = std::move(backend);
  return ROTOR_OK;
}
