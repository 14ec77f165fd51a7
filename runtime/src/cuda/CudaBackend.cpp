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
// every step kind and kernel, measured with events, to stderr (the stream is
// held by a short spin kernel while the steps are queued, so that the times
// are the device's, not the host's launch gaps). Sessions keep
// their states on the device and replay CUDA graphs of their calls
// (docs/cuda-backend.md, "CUDA graphs").
//
//===----------------------------------------------------------------------===//

#include "Backend.h"
#include "DType.h"
#include "Error.h"
#include "Tensor.h"
#include "cuda/CudaLibs.h"
#include "cuda/CudaPlan.h"
#include "cuda/ProfileHold.h"
#include "support/AtomicFile.h"
#include "support/FileSystem.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <unistd.h>
#include <unordered_map>

using namespace rotor;
using namespace rotor::cuda;

namespace {

/// Device memory handed out by the pool; returns itself to the pool.
class DevicePool;
struct GraphMemory;
struct DeviceBuffer {
  CUdeviceptr ptr = 0;
  size_t bytes = 0;
  DevicePool *pool = nullptr;
  /// The captured graph that uses this memory, when it was allocated while
  /// capturing: it returns to that graph, not to the pool, until the graph
  /// is destroyed.
  std::shared_ptr<GraphMemory> graph;
  ~DeviceBuffer();
};
using BufferPtr = std::shared_ptr<DeviceBuffer>;

/// The device memory of a captured CUDA graph: every buffer allocated or
/// released while capturing. The graph's kernels and copies use these
/// addresses at every replay, so the pool must not hand them to anyone else
/// while the graph lives; the capture itself may reuse what it released (a
/// captured stream runs its work in order, as the plain run would).
struct GraphMemory {
  /// Memory no live buffer holds, by size.
  std::map<size_t, std::vector<CUdeviceptr>> idle;
  /// Set when the graph is destroyed: its memory went back to the pool.
  bool closed = false;
};

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
    buffer->graph = capture;
    if (capture && takeFrom(capture->idle, rounded, buffer->ptr)) {
      out = std::move(buffer);
      return ROTOR_OK;
    }
    if (!takeFrom(cache, rounded, buffer->ptr)) {
      CUresult r = libs.cuMemAlloc(&buffer->ptr, rounded);
      // Not while capturing: cuMemFree synchronizes, which would end the
      // capture (the session then runs the call plainly, trimming here).
      if (r == CUDA_ERROR_OUT_OF_MEMORY && !capture) {
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

  /// Takes back `ptr`: to the graph that uses it while that graph lives, to
  /// the graph being captured if there is one (memory released during a
  /// capture may be read by the graph's earlier steps), else to the cache.
  void release(CUdeviceptr ptr, size_t bytes,
               const std::shared_ptr<GraphMemory> &graph) {
    GraphMemory *owner = graph && !graph->closed ? graph.get() : capture.get();
    (owner ? owner->idle : cache)[bytes].push_back(ptr);
  }

  /// Until endCapture(), every buffer allocated or released belongs to
  /// `memory` (a graph being captured).
  void beginCapture(std::shared_ptr<GraphMemory> memory) {
    capture = std::move(memory);
  }
  void endCapture() { capture.reset(); }

  /// Returns the memory of a destroyed graph to the pool; buffers of it
  /// that are still held return when they are released.
  void close(GraphMemory &memory) {
    for (auto &[size, ptrs] : memory.idle)
      cache[size].insert(cache[size].end(), ptrs.begin(), ptrs.end());
    memory.idle.clear();
    memory.closed = true;
  }

  /// Frees every cached allocation.
  void trim() {
    for (auto &[size, ptrs] : cache)
      for (CUdeviceptr p : ptrs)
        libs.cuMemFree(p);
    cache.clear();
  }

private:
  static bool takeFrom(std::map<size_t, std::vector<CUdeviceptr>> &from,
                       size_t bytes, CUdeviceptr &out) {
    auto it = from.find(bytes);
    if (it == from.end() || it->second.empty())
      return false;
    out = it->second.back();
    it->second.pop_back();
    return true;
  }

  const CudaLibs &libs;
  std::map<size_t, std::vector<CUdeviceptr>> cache;
  /// The memory of the graph being captured, or null.
  std::shared_ptr<GraphMemory> capture;
};

DeviceBuffer::~DeviceBuffer() {
  if (pool && ptr)
    pool->release(ptr, bytes, graph);
}

/// A tensor value during a call: a buffer and a byte offset into it.
struct Slot {
  BufferPtr buffer;
  size_t offset = 0;
  CUdeviceptr address() const { return buffer ? buffer->ptr + offset : 0; }
};

/// Device buffers a call uses in place of uploading inputs, and outputs it
/// leaves on the device (the device-resident trainer, sessions).
struct CallBinding {
  /// Per entry input: a device buffer read in place of the host tensor
  /// (which still gives the shape); empty ones are uploaded as usual.
  std::vector<BufferPtr> inputs;
  /// Per entry output: leave it on the device (its slot in `kept`, its host
  /// tensor null) instead of downloading it.
  std::vector<bool> keep;
  /// Per kept output: the input whose bound buffer it may stay in when it
  /// is that buffer at offset 0 (a session's state updated in place: the
  /// compiler writes a cache row through a view of the cache input), or -1.
  /// May be empty (no such input).
  std::vector<int> inPlace;
  /// The kept outputs, each in a buffer of its own (no two kept outputs
  /// share memory, none shares a weight's, and none shares a bound input's
  /// but its `inPlace` one).
  std::vector<Slot> kept;
  /// Per entry input that is uploaded, and per output that is downloaded:
  /// pinned host memory to copy from or into instead of the host tensor's
  /// data (a downloaded output so staged gets a null host tensor). A
  /// captured graph bakes these addresses in: a session's staging buffers.
  /// May be empty.
  std::vector<const void *> stagedInputs;
  std::vector<void *> stagedOutputs;
  /// The call is being captured into a CUDA graph: the run must neither
  /// synchronize the stream nor record profiling events.
  bool capturing = false;
};

class CudaResidentTrainer;
class CudaSession;

/// How long the hold kernel holds the stream: more than the host needs to
/// queue one call's steps once its buffers are pooled.
constexpr unsigned long long profileHoldNs = 2'000'000;

class CudaBackend final : public Backend {
  friend class CudaResidentTrainer;
  friend class CudaSession;

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

  rotor_status createSession(size_t entryIndex,
                             const std::vector<SessionState> &states,
                             std::unique_ptr<BackendSession> &out) override;

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
  /// cuBLAS's workspace (cublasSetWorkspace), 32 MiB as cuBLAS recommends
  /// for Hopper.
  static constexpr size_t cublasWorkspaceBytes = size_t(32) << 20;
  BufferPtr cublasWorkspace;
  bool profile = false;
  /// ROTOR_CUDA_PROFILE: a one-thread kernel that spins for a given number
  /// of nanoseconds (PTX, compiled by the driver); null when it failed to
  /// load (the times then include the host's launch gaps).
  CUmodule holdModule = nullptr;
  CUfunction holdKernel = nullptr;
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
    if (cublas)
      libs->cublasDestroy(cublas);
    cublasWorkspace.reset();
    pool.reset();
    if (module)
      libs->cuModuleUnload(module);
    if (holdModule)
      libs->cuModuleUnload(holdModule);
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
  // cuBLAS's own workspace would be allocated on demand, which a stream
  // being captured into a graph does not allow; this one is held for the
  // backend's life (after cublasSetStream, which resets the workspace).
  if (rotor_status s = pool->allocate(cublasWorkspaceBytes,
                                      "the cuBLAS workspace", cublasWorkspace))
    return s;
  if (libs->cublasSetWorkspace(cublas,
                               reinterpret_cast<void *>(cublasWorkspace->ptr),
                               cublasWorkspace->bytes) != CUBLAS_STATUS_SUCCESS)
    return fail(ROTOR_ERR_BACKEND, "cannot give cuBLAS its workspace");
  const char *profileEnv = std::getenv("ROTOR_CUDA_PROFILE");
  profile = profileEnv && *profileEnv && std::strcmp(profileEnv, "0") != 0;
  if (profile &&
      libs->cuModuleLoadData(&holdModule, profileHoldPtx) == CUDA_SUCCESS &&
      libs->cuModuleGetFunction(&holdKernel, holdModule, "rotor_profile_hold") !=
          CUDA_SUCCESS)
    holdKernel = nullptr;
  if (profile && !holdKernel)
    std::fprintf(stderr, "rotor-cuda-profile: the hold kernel did not load; "
                         "times include the host's launch gaps\n");
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
  std::vector<BufferPtr> weightBuffers;
  for (size_t i = 0; i < entry.inputs.size(); ++i) {
    const rotor_tensor *t = inputs[i];
    int v = entry.inputs[i];
    if (binding && i < binding->inputs.size() && binding->inputs[i]) {
      slots[v].buffer = binding->inputs[i];
      continue;
    }
    // An input the entry writes in place (a static cache) never shares the
    // device copy of a weight bound to it: it gets a copy of its own.
    bool mutated = std::find(entry.mutatedInputs.begin(),
                             entry.mutatedInputs.end(),
                             int(i)) != entry.mutatedInputs.end();
    auto weight = mutated ? weights.end() : weights.find(t);
    if (weight != weights.end() && weight->second) {
      slots[v].buffer = weight->second;
      weightBuffers.push_back(weight->second);
      continue;
    }
    if (rotor_status s = pool->allocate(t->nbytes, strCat("input ", i),
                                        slots[v].buffer))
      return s;
    const void *source = t->data;
    if (binding && i < binding->stagedInputs.size() && binding->stagedInputs[i])
      source = binding->stagedInputs[i];
    if (t->nbytes)
      if (rotor_status s =
              check(libs->cuMemcpyHtoDAsync(slots[v].address(), source,
                                            t->nbytes, stream),
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
      weightBuffers.push_back(owned);
    }
  }

  // A capture records no events: reporting them would synchronize.
  bool capturing = binding && binding->capturing;
  bool profiling = profile && !capturing;
  Profiler profiler{*libs, stream, {}};
  if (profiling && holdKernel) {
    unsigned long long ns = profileHoldNs;
    void *holdArgs[] = {&ns};
    libs->cuLaunchKernel(holdKernel, 1, 1, 1, 1, 1, 1, 0, stream, holdArgs,
                         nullptr);
  }
  if (profiling)
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
      if (profiling)
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
      if (profiling)
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
      if (profiling)
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
  if (profiling)
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
      // place, which must not touch another output or a bound input, and
      // a session copies it into its state's buffer, which must not
      // overwrite what another state output still holds. The exception is
      // a state updated in place: the output is its input's buffer itself.
      CUdeviceptr at = slots[v].address();
      int ownInput = j < binding->inPlace.size() ? binding->inPlace[j] : -1;
      bool shared = false;
      for (size_t i = 0; i < j; ++i)
        shared |= binding->kept[i].buffer &&
                  binding->kept[i].buffer == slots[v].buffer;
      for (size_t i = 0; i < binding->inputs.size(); ++i) {
        const BufferPtr &b = binding->inputs[i];
        bool inPlace = int(i) == ownInput && slots[v].offset == 0;
        shared |= b && b == slots[v].buffer && !inPlace;
      }
      for (const BufferPtr &b : weightBuffers)
        shared |= b == slots[v].buffer;
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
    void *staged = binding && j < binding->stagedOutputs.size()
                       ? binding->stagedOutputs[j]
                       : nullptr;
    std::vector<int64_t> shape;
    for (int d : entry.values[v].shape)
      shape.push_back(sym[d]);
    TensorPtr tensor;
    size_t bytes;
    if (staged) {
      if (rotor_status s = valueBytes(v, bytes))
        return s;
    } else {
      if (rotor_status s = createTensor(entry.values[v].dtype, shape, tensor))
        return s;
      bytes = tensor->nbytes;
    }
    if (bytes) {
      if (rotor_status s = need(v))
        return s;
      if (rotor_status s =
              check(libs->cuMemcpyDtoHAsync(staged ? staged : tensor->data,
                                            slots[v].address(), bytes, stream),
                    strCat("cannot copy output ", j, " back")))
        return s;
    }
    results.push_back(std::move(tensor));
  }
  if (capturing) {
    outputs = std::move(results);
    return ROTOR_OK;
  }
  if (rotor_status s = check(libs->cuStreamSynchronize(stream),
                             "entry " + quote(entry.name) + " failed on the GPU"))
    return s;
  if (profiling)
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

//===----------------------------------------------------------------------===//
// Sessions and CUDA graphs
//===----------------------------------------------------------------------===//

/// Page-aligned host memory pinned with cuMemHostRegister: the host end of
/// the copies of a captured graph, which bakes its address in (a graph
/// cannot copy from or to pageable memory).
class PinnedBuffer {
public:
  explicit PinnedBuffer(const CudaLibs &libs) : libs(libs) {}
  PinnedBuffer(const PinnedBuffer &) = delete;
  PinnedBuffer &operator=(const PinnedBuffer &) = delete;
  ~PinnedBuffer() {
    if (registered)
      libs.cuMemHostUnregister(data);
    std::free(data);
  }

  /// Allocates and pins `bytes` (> 0) for `what`; the context must be
  /// current.
  rotor_status allocate(size_t bytes, const std::string &what) {
    long pageSize = ::sysconf(_SC_PAGESIZE);
    size_t page = pageSize > 0 ? size_t(pageSize) : 4096;
    size_t rounded = (bytes + page - 1) / page * page;
    data = std::aligned_alloc(page, rounded);
    if (!data)
      return fail(ROTOR_ERR_OUT_OF_MEMORY, "cannot allocate ", bytes,
                  " bytes of host memory to stage ", what);
    if (CUresult r = libs.cuMemHostRegister(data, rounded, 0))
      return fail(ROTOR_ERR_BACKEND, "cannot pin the host memory staging ",
                  what, ": ", describe(libs, r));
    registered = true;
    return ROTOR_OK;
  }

  void *data = nullptr;

private:
  const CudaLibs &libs;
  bool registered = false;
};

/// A session's states in device memory, run with CallBinding (bound as
/// inputs, kept as outputs), and the CUDA graph of its latest input shapes
/// (docs/cuda-backend.md, "CUDA graphs"): the first call with new shapes
/// runs plainly (a warm-up: weights uploaded, the pool and cuBLAS
/// populated), the second is captured into a graph and launches it, later
/// ones copy their inputs into pinned staging buffers and replay it.
class CudaSession final : public BackendSession {
public:
  CudaSession(CudaBackend &backend, size_t entryIndex,
              std::vector<SessionState> states, bool graphs)
      : backend(backend), plan(*backend.entryPlans[entryIndex]),
        spec(backend.manifest.entries[entryIndex]), states(std::move(states)),
        values(this->states.size()), graphs(graphs) {
    isStateInput.assign(plan.inputs.size(), false);
    isStateOutput.assign(plan.outputs.size(), false);
    for (const SessionState &state : this->states) {
      isStateInput[state.input] = true;
      isStateOutput[state.output] = true;
    }
  }

  ~CudaSession() override {
    ContextScope scope(*backend.libs, backend.context);
    backend.libs->cuStreamSynchronize(backend.stream);
    dropGraph();
    values.clear();
  }

  rotor_status setState(size_t k, const rotor_tensor *value) override {
    ContextScope scope(*backend.libs, backend.context);
    Value &state = values[k];
    if (!state.buffer || tensorShape(&state.shape) != tensorShape(value)) {
      // The graph bakes the old buffer in, and nothing may still use it.
      backend.libs->cuStreamSynchronize(backend.stream);
      dropGraph();
      BufferPtr buffer;
      if (rotor_status s = backend.pool->allocate(
              value->nbytes, "state " + quote(stateName(k)), buffer))
        return s;
      state.shape.dtype = value->dtype;
      if (rotor_status s = setShape(state.shape, tensorShape(value)))
        return s;
      state.buffer = std::move(buffer);
    }
    if (value->nbytes)
      if (rotor_status s = backend.check(
              backend.libs->cuMemcpyHtoDAsync(state.buffer->ptr, value->data,
                                              value->nbytes, backend.stream),
              "cannot copy state " + quote(stateName(k)) + " to the GPU"))
        return s;
    return backend.check(backend.libs->cuStreamSynchronize(backend.stream),
                         "cannot copy state " + quote(stateName(k)) +
                             " to the GPU");
  }

  rotor_status getState(size_t k, TensorPtr &out) override {
    ContextScope scope(*backend.libs, backend.context);
    const Value &state = values[k];
    TensorPtr tensor;
    if (rotor_status s =
            createTensor(state.shape.dtype, tensorShape(&state.shape), tensor))
      return s;
    if (tensor->nbytes)
      if (rotor_status s = backend.check(
              backend.libs->cuMemcpyDtoHAsync(tensor->data, state.buffer->ptr,
                                              tensor->nbytes, backend.stream),
              "cannot copy state " + quote(stateName(k)) + " from the GPU"))
        return s;
    if (rotor_status s = backend.check(
            backend.libs->cuStreamSynchronize(backend.stream),
            "cannot copy state " + quote(stateName(k)) + " from the GPU"))
      return s;
    out = std::move(tensor);
    return ROTOR_OK;
  }

  rotor_status call(const std::vector<const rotor_tensor *> &inputs,
                    std::vector<TensorPtr> &outputs) override {
    ContextScope scope(*backend.libs, backend.context);
    outputs.clear();
    std::vector<const rotor_tensor *> all = inputs;
    for (size_t k = 0; k < states.size(); ++k)
      all[states[k].input] = &values[k].shape;
    std::vector<int64_t> sym;
    if (rotor_status s =
            evaluateSymbols(plan, all.data(), backend.configs, sym))
      return s;

    std::vector<int64_t> key = graphKey(all);
    if (key != currentKey) {
      dropGraph();
      currentKey = std::move(key);
      callsWithKey = 0;
      captureFailed = false;
    }
    // A graph needs every state to keep its shape (and so its buffer).
    bool stable = true;
    for (size_t k = 0; k < states.size(); ++k) {
      std::vector<int64_t> shape;
      stable &= valueShape(plan.outputs[states[k].output], sym, shape) &&
                shape == tensorShape(&values[k].shape);
    }
    rotor_status s;
    if (exec) {
      s = launch(all, outputs);
      if (s == ROTOR_OK)
        ++replays;
    } else if (graphs && stable && !captureFailed && callsWithKey > 0 &&
               weightsUploaded(all)) {
      s = captureAndLaunch(all, sym, outputs);
    } else {
      s = runPlain(all, sym, outputs);
    }
    ++callsWithKey;
    if (s != ROTOR_OK) {
      // Start over: the states are unset and the buffers released below
      // must be idle.
      backend.libs->cuStreamSynchronize(backend.stream);
      outputs.clear();
      dropGraph();
      callsWithKey = 0;
    }
    return s;
  }

  uint64_t graphReplays() const override { return replays; }

private:
  /// A state's value: its buffer, and its shape as a tensor without data
  /// (run() reads the shapes of bound inputs from their host tensors).
  struct Value {
    BufferPtr buffer;
    rotor_tensor shape;
  };

  const std::string &stateName(size_t k) const {
    return spec.inputs[states[k].input].name;
  }

  static rotor_status setShape(rotor_tensor &tensor,
                               const std::vector<int64_t> &shape) {
    if (rotor_status s =
            checkTensorShape("state", tensor.dtype, shape.size(), shape.data(),
                             tensor.numel, tensor.nbytes))
      return s;
    tensor.rank = shape.size();
    std::copy(shape.begin(), shape.end(), tensor.shape);
    return ROTOR_OK;
  }

  /// The shape of plan value `v`; false if a size is negative or the byte
  /// size overflows (run() reports those).
  bool valueShape(int v, const std::vector<int64_t> &sym,
                  std::vector<int64_t> &shape) const {
    shape.clear();
    int64_t bytes = int64_t(rotor_dtype_size(plan.values[v].dtype));
    for (int d : plan.values[v].shape) {
      if (sym[d] < 0 || __builtin_mul_overflow(bytes, sym[d], &bytes))
        return false;
      shape.push_back(sym[d]);
    }
    return true;
  }

  /// The shapes of the inputs, a weight counting as -1 (a graph reads the
  /// weights' device copies, the other inputs from staging).
  std::vector<int64_t> graphKey(const std::vector<const rotor_tensor *> &all) {
    std::vector<int64_t> key;
    for (const rotor_tensor *t : all) {
      if (backend.weights.count(t)) {
        key.push_back(-1);
        continue;
      }
      key.push_back(int64_t(t->rank));
      key.insert(key.end(), t->shape, t->shape + t->rank);
    }
    return key;
  }

  /// Whether every weight among the inputs has its device copy (a capture
  /// cannot upload from the pageable weights file).
  bool weightsUploaded(const std::vector<const rotor_tensor *> &all) const {
    for (const rotor_tensor *t : all) {
      auto it = backend.weights.find(t);
      if (it != backend.weights.end() && !it->second)
        return false;
    }
    return true;
  }

  /// Binds every state's buffer as its input and keeps its output.
  CallBinding bindStates() const {
    CallBinding binding;
    binding.inputs.assign(plan.inputs.size(), nullptr);
    binding.keep.assign(plan.outputs.size(), false);
    binding.inPlace.assign(plan.outputs.size(), -1);
    for (size_t k = 0; k < states.size(); ++k) {
      binding.inputs[states[k].input] = values[k].buffer;
      binding.keep[states[k].output] = true;
      binding.inPlace[states[k].output] = int(states[k].input);
    }
    return binding;
  }

  /// Makes every state hold its kept output: nothing to do for one updated
  /// in place, a copy into the state's buffer for one of the same shape
  /// elsewhere (the buffer stays, as a graph needs), and the output's
  /// buffer for one of another shape.
  rotor_status adoptStates(CallBinding &binding,
                           const std::vector<int64_t> &sym) {
    for (size_t k = 0; k < states.size(); ++k) {
      Value &state = values[k];
      const Slot &slot = binding.kept[states[k].output];
      bool inPlace = slot.buffer == state.buffer && slot.offset == 0;
      std::vector<int64_t> shape;
      if (!valueShape(plan.outputs[states[k].output], sym, shape))
        return fail(ROTOR_ERR_BACKEND, "entry ", quote(spec.name), ": state ",
                    quote(stateName(k)), " has an invalid output shape");
      if (shape == tensorShape(&state.shape)) {
        if (!inPlace && state.shape.nbytes)
          if (rotor_status s =
                  backend.check(backend.libs->cuMemcpyDtoDAsync(
                                    state.buffer->ptr, slot.address(),
                                    state.shape.nbytes, backend.stream),
                                "cannot update state " + quote(stateName(k))))
            return s;
        continue;
      }
      // The state changes shape (e.g. a cache that grows): the output
      // replaces it, and must fit the next call.
      const ArgSpec &input = spec.inputs[states[k].input];
      for (size_t d = 0; d < shape.size(); ++d)
        if (input.shape[d] != ROTOR_DYNAMIC_DIM && input.shape[d] != shape[d])
          return fail(ROTOR_ERR_BACKEND, "entry ", quote(spec.name),
                      " returned state ", quote(stateName(k)), " of shape ",
                      formatShapeList(shape), ", which does not fit its input ",
                      formatShapeList(input.shape));
      dropGraph();
      BufferPtr buffer = slot.buffer;
      if (slot.offset != 0) {
        size_t bytes = size_t(rotor_dtype_size(state.shape.dtype));
        for (int64_t n : shape)
          bytes *= size_t(n);
        if (rotor_status s = backend.pool->allocate(
                bytes, "state " + quote(stateName(k)), buffer))
          return s;
        if (bytes)
          if (rotor_status s = backend.check(
                  backend.libs->cuMemcpyDtoDAsync(buffer->ptr, slot.address(),
                                                  bytes, backend.stream),
                  "cannot update state " + quote(stateName(k))))
            return s;
      }
      if (rotor_status s = setShape(state.shape, shape))
        return s;
      state.buffer = std::move(buffer);
    }
    return ROTOR_OK;
  }

  /// The outputs that are not state, in manifest order.
  void collectOutputs(std::vector<TensorPtr> &results,
                      std::vector<TensorPtr> &outputs) const {
    for (size_t j = 0; j < results.size(); ++j)
      if (!isStateOutput[j])
        outputs.push_back(std::move(results[j]));
  }

  /// A call without a graph.
  rotor_status runPlain(const std::vector<const rotor_tensor *> &all,
                        const std::vector<int64_t> &sym,
                        std::vector<TensorPtr> &outputs) {
    CallBinding binding = bindStates();
    std::vector<TensorPtr> results;
    if (rotor_status s = backend.run(plan, all.data(), results, &binding))
      return s;
    if (rotor_status s = adoptStates(binding, sym))
      return s;
    binding.kept.clear();
    if (rotor_status s =
            backend.check(backend.libs->cuStreamSynchronize(backend.stream),
                          "entry " + quote(spec.name) + " failed on the GPU"))
      return s;
    collectOutputs(results, outputs);
    return ROTOR_OK;
  }

  /// Allocates the pinned staging buffers of the current key: one per input
  /// that is neither a state nor a weight and one per output that is not a
  /// state (none for empty ones), and points `binding` at them.
  rotor_status stage(const std::vector<const rotor_tensor *> &all,
                     const std::vector<int64_t> &sym, CallBinding &binding) {
    stagedInputs.clear();
    stagedOutputs.clear();
    outputShapes.assign(plan.outputs.size(), {});
    binding.stagedInputs.assign(plan.inputs.size(), nullptr);
    binding.stagedOutputs.assign(plan.outputs.size(), nullptr);
    for (size_t i = 0; i < plan.inputs.size(); ++i) {
      stagedInputs.emplace_back();
      if (isStateInput[i] || backend.weights.count(all[i]) ||
          all[i]->nbytes == 0)
        continue;
      stagedInputs[i] = std::make_unique<PinnedBuffer>(*backend.libs);
      if (rotor_status s = stagedInputs[i]->allocate(
              all[i]->nbytes, "input " + quote(spec.inputs[i].name)))
        return s;
      binding.stagedInputs[i] = stagedInputs[i]->data;
    }
    for (size_t j = 0; j < plan.outputs.size(); ++j) {
      stagedOutputs.emplace_back();
      if (isStateOutput[j])
        continue;
      if (!valueShape(plan.outputs[j], sym, outputShapes[j]))
        return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(spec.name),
                    ": output ", quote(spec.outputs[j].name),
                    " has an invalid shape");
      size_t bytes = rotor_dtype_size(plan.values[plan.outputs[j]].dtype);
      for (int64_t n : outputShapes[j])
        bytes *= size_t(n);
      if (bytes == 0)
        continue;
      stagedOutputs[j] = std::make_unique<PinnedBuffer>(*backend.libs);
      if (rotor_status s = stagedOutputs[j]->allocate(
              bytes, "output " + quote(spec.outputs[j].name)))
        return s;
      binding.stagedOutputs[j] = stagedOutputs[j]->data;
    }
    return ROTOR_OK;
  }

  /// Captures a run into a graph and launches it; if capturing or
  /// instantiating fails, runs plainly instead (and for this key from now
  /// on), reporting nothing unless that fails too.
  rotor_status captureAndLaunch(const std::vector<const rotor_tensor *> &all,
                                const std::vector<int64_t> &sym,
                                std::vector<TensorPtr> &outputs) {
    const CudaLibs &libs = *backend.libs;
    std::string previousError = rotor_last_error();
    CallBinding binding = bindStates();
    binding.capturing = true;
    rotor_status s = stage(all, sym, binding);
    auto memory = std::make_shared<GraphMemory>();
    CUresult began = CUDA_ERROR_UNKNOWN;
    if (s == ROTOR_OK) {
      backend.pool->beginCapture(memory);
      began = libs.cuStreamBeginCapture(backend.stream,
                                        CU_STREAM_CAPTURE_MODE_RELAXED);
      s = backend.check(began, "cannot begin capturing a CUDA graph");
    }
    std::vector<TensorPtr> results;
    if (s == ROTOR_OK)
      s = backend.run(plan, all.data(), results, &binding);
    if (s == ROTOR_OK)
      s = adoptStates(binding, sym);
    // Release the kept outputs while capturing: their memory stays the
    // graph's.
    binding.kept.clear();
    CUgraph graph = nullptr;
    if (began == CUDA_SUCCESS) {
      // Always end the capture, so that the stream leaves capture mode.
      CUresult ended = libs.cuStreamEndCapture(backend.stream, &graph);
      if (s == ROTOR_OK)
        s = backend.check(ended, "cannot capture a CUDA graph");
    }
    backend.pool->endCapture();
    CUgraphExec instance = nullptr;
    if (s == ROTOR_OK)
      s = backend.check(libs.cuGraphInstantiate(&instance, graph, 0),
                        "cannot instantiate a CUDA graph");
    if (graph)
      libs.cuGraphDestroy(graph);
    if (s != ROTOR_OK) {
      if (backend.profile)
        std::fprintf(stderr,
                     "rotor-cuda-profile: entry %s: no CUDA graph (%s); "
                     "plain runs for these shapes\n",
                     plan.name.c_str(), rotor_last_error());
      // A capture records work without running it: the memory is idle.
      backend.pool->close(*memory);
      stagedInputs.clear();
      stagedOutputs.clear();
      captureFailed = true;
      setLastError(previousError);
      return runPlain(all, sym, outputs);
    }
    exec = instance;
    graphMemory = std::move(memory);
    return launch(all, outputs);
  }

  /// Copies the inputs into staging, launches the graph, waits for it and
  /// copies the staged outputs into new host tensors.
  rotor_status launch(const std::vector<const rotor_tensor *> &all,
                      std::vector<TensorPtr> &outputs) {
    const CudaLibs &libs = *backend.libs;
    for (size_t i = 0; i < all.size(); ++i)
      if (stagedInputs[i])
        std::memcpy(stagedInputs[i]->data, all[i]->data, all[i]->nbytes);
    CUevent events[2] = {nullptr, nullptr};
    bool timed =
        backend.profile &&
        libs.cuEventCreate(&events[0], CU_EVENT_DEFAULT) == CUDA_SUCCESS &&
        libs.cuEventCreate(&events[1], CU_EVENT_DEFAULT) == CUDA_SUCCESS;
    if (timed)
      libs.cuEventRecord(events[0], backend.stream);
    rotor_status s = backend.check(libs.cuGraphLaunch(exec, backend.stream),
                                   "cannot launch the CUDA graph of entry " +
                                       quote(spec.name));
    if (timed)
      libs.cuEventRecord(events[1], backend.stream);
    if (s == ROTOR_OK)
      s = backend.check(libs.cuStreamSynchronize(backend.stream),
                        "entry " + quote(spec.name) +
                            " failed on the GPU (CUDA graph)");
    if (timed && s == ROTOR_OK) {
      float ms = 0;
      libs.cuEventElapsedTime(&ms, events[0], events[1]);
      std::fprintf(stderr,
                   "rotor-cuda-profile: entry %s: %.4f ms on the device "
                   "(CUDA graph)\n",
                   plan.name.c_str(), ms);
    }
    for (CUevent event : events)
      if (event)
        libs.cuEventDestroy(event);
    if (s != ROTOR_OK)
      return s;
    for (size_t j = 0; j < plan.outputs.size(); ++j) {
      if (isStateOutput[j])
        continue;
      TensorPtr tensor;
      if (rotor_status st = createTensor(plan.values[plan.outputs[j]].dtype,
                                         outputShapes[j], tensor))
        return st;
      if (tensor->nbytes)
        std::memcpy(tensor->data, stagedOutputs[j]->data, tensor->nbytes);
      outputs.push_back(std::move(tensor));
    }
    return ROTOR_OK;
  }

  /// Destroys the graph and returns its memory to the pool; the stream
  /// must be idle.
  void dropGraph() {
    if (exec) {
      backend.libs->cuGraphExecDestroy(exec);
      exec = nullptr;
    }
    if (graphMemory) {
      backend.pool->close(*graphMemory);
      graphMemory.reset();
    }
    stagedInputs.clear();
    stagedOutputs.clear();
    outputShapes.clear();
  }

  CudaBackend &backend;
  const PlanEntry &plan;
  const EntrySpec &spec;
  std::vector<SessionState> states;
  std::vector<Value> values;
  std::vector<bool> isStateInput, isStateOutput;
  /// ROTOR_CUDA_GRAPHS is not 0.
  bool graphs;
  /// The input shapes of the latest call (graphKey), how many calls had
  /// them, and whether capturing their graph failed.
  std::vector<int64_t> currentKey;
  uint64_t callsWithKey = 0;
  bool captureFailed = false;
  /// The graph of `currentKey`, its memory, and its staging buffers (per
  /// input and output; null where none) and output shapes.
  CUgraphExec exec = nullptr;
  std::shared_ptr<GraphMemory> graphMemory;
  std::vector<std::unique_ptr<PinnedBuffer>> stagedInputs, stagedOutputs;
  std::vector<std::vector<int64_t>> outputShapes;
  uint64_t replays = 0;
};

rotor_status CudaBackend::createSession(size_t entryIndex,
                                        const std::vector<SessionState> &states,
                                        std::unique_ptr<BackendSession> &out) {
  const char *env = std::getenv("ROTOR_CUDA_GRAPHS");
  bool graphs = !(env && std::strcmp(env, "0") == 0);
  out = std::make_unique<CudaSession>(*this, entryIndex, states, graphs);
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
