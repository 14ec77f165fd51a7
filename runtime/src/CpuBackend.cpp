//===- CpuBackend.cpp - Runs artifacts compiled for the host CPU ----------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Loads the artifact's native library with dlopen (RTLD_LOCAL | RTLD_NOW),
// resolves every entry symbol and rotor_free up front, and calls entries
// with memref descriptors: inputs are passed in place (dense, row-major),
// outputs are copied into owned dense tensors and their buffers released
// with the library's rotor_free.
//
//===----------------------------------------------------------------------===//

#include "Backend.h"
#include "Error.h"
#include "MemRef.h"
#include "Tensor.h"
#include "support/FileSystem.h"

#include <cstring>
#include <dlfcn.h>

using namespace rotor;

namespace {

using EntryFunction = void (*)(void **);
using FreeFunction = void (*)(void *);

/// Stands in for the data pointer of empty input tensors that have none, so
/// that entries never see a NULL buffer.
alignas(64) char emptyBuffer[64];

class CpuBackend final : public Backend {
public:
  CpuBackend(const Manifest &manifest, std::string libraryPath)
      : manifest(manifest), libraryPath(std::move(libraryPath)) {}

  ~CpuBackend() override {
    if (handle)
      ::dlclose(handle);
  }

  rotor_status load();

  rotor_device device() const override { return ROTOR_DEVICE_CPU; }

  rotor_status invoke(size_t entryIndex, const rotor_tensor *const *inputs,
                      std::vector<TensorPtr> &outputs) override;

private:
  /// Resolves `symbol` in the library.
  rotor_status resolve(const std::string &symbol, const std::string &purpose,
                       void *&out);

  /// Checks output `index` of `entry` as returned in `desc` and copies it.
  rotor_status copyOutput(const EntrySpec &entry, size_t index,
                          const MemRefDescriptor &desc, TensorPtr &out);

  const Manifest &manifest;
  std::string libraryPath;
  void *handle = nullptr;
  std::vector<EntryFunction> entryFunctions;
  FreeFunction freeFunction = nullptr;
};

rotor_status CpuBackend::resolve(const std::string &symbol,
                                 const std::string &purpose, void *&out) {
  ::dlerror(); // Clear any stale error.
  out = ::dlsym(handle, symbol.c_str());
  if (!out)
    return fail(ROTOR_ERR_NOT_FOUND, "library ", quote(libraryPath),
                " does not export symbol ", quote(symbol), " (", purpose, ")");
  return ROTOR_OK;
}

rotor_status CpuBackend::load() {
  if (!isRegularFile(libraryPath))
    return fail(ROTOR_ERR_NOT_FOUND, "library ", quote(libraryPath),
                " named by the manifest does not exist");
  handle = ::dlopen(libraryPath.c_str(), RTLD_LOCAL | RTLD_NOW);
  if (!handle) {
    const char *reason = ::dlerror();
    return fail(ROTOR_ERR_BACKEND, "cannot load library ", quote(libraryPath),
                ": ", reason ? reason : "unknown dlopen error");
  }
  for (const EntrySpec &entry : manifest.entries) {
    void *symbol;
    if (rotor_status s =
            resolve(entry.symbol, strCat("entry ", quote(entry.name)), symbol))
      return s;
    EntryFunction function;
    std::memcpy(&function, &symbol, sizeof(function));
    entryFunctions.push_back(function);
  }
  void *symbol;
  if (rotor_status s =
          resolve("rotor_free",
                  "the artifact ABI requires it to release outputs", symbol))
    return s;
  std::memcpy(&freeFunction, &symbol, sizeof(freeFunction));
  return ROTOR_OK;
}

rotor_status CpuBackend::copyOutput(const EntrySpec &entry, size_t index,
                                    const MemRefDescriptor &desc,
                                    TensorPtr &out) {
  const ArgSpec &spec = entry.outputs[index];
  std::string what = strCat("entry ", quote(entry.name), " output ", index,
                            " (", quote(spec.name), ")");
  std::vector<int64_t> shape(spec.shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    shape[d] = desc.size(d);
    if (shape[d] < 0)
      return fail(ROTOR_ERR_BACKEND, what, ": the entry returned size ",
                  shape[d], " for dimension ", d);
    if (spec.shape[d] != ROTOR_DYNAMIC_DIM && spec.shape[d] != shape[d])
      return fail(ROTOR_ERR_BACKEND, what, ": the entry returned size ",
                  shape[d], " for dimension ", d, " but the manifest declares ",
                  spec.shape[d]);
  }
  TensorPtr tensor;
  if (rotor_status s = createTensor(spec.dtype, shape, tensor))
    return fail(s, what, ": ", rotor_last_error());
  if (tensor->numel > 0 && !desc.aligned())
    return fail(ROTOR_ERR_BACKEND, what,
                ": the entry returned a NULL data pointer for ", tensor->numel,
                " elements");
  copyStridedToDense(desc, rotor_dtype_size(spec.dtype), tensor->data);
  out = std::move(tensor);
  return ROTOR_OK;
}

rotor_status CpuBackend::invoke(size_t entryIndex,
                                const rotor_tensor *const *inputs,
                                std::vector<TensorPtr> &outputs) {
  const EntrySpec &entry = manifest.entries[entryIndex];
  size_t numInputs = entry.inputs.size();
  size_t numOutputs = entry.outputs.size();
  outputs.clear();

  // Inputs go in place; a buffer that is not aligned to its element size
  // (e.g. a view into a .safetensors file) is copied to aligned scratch
  // first, since compiled code may assume natural alignment.
  std::vector<TensorPtr> scratch;
  std::vector<const void *> inputBuffers;
  std::vector<MemRefDescriptor> descriptors;
  descriptors.reserve(numInputs + numOutputs);
  for (size_t i = 0; i < numInputs; ++i) {
    const rotor_tensor *input = inputs[i];
    void *data = input->data ? input->data : emptyBuffer;
    size_t elementSize = rotor_dtype_size(input->dtype);
    if (reinterpret_cast<uintptr_t>(data) % elementSize != 0) {
      TensorPtr copy;
      if (rotor_status s = createTensor(input->dtype, tensorShape(input), copy))
        return s;
      std::memcpy(copy->data, data, input->nbytes);
      data = copy->data;
      scratch.push_back(std::move(copy));
    }
    inputBuffers.push_back(data);
    descriptors.push_back(
        MemRefDescriptor::dense(data, input->shape, input->rank));
  }
  for (const ArgSpec &output : entry.outputs)
    descriptors.emplace_back(output.shape.size());
  std::vector<void *> args;
  args.reserve(descriptors.size());
  for (MemRefDescriptor &desc : descriptors)
    args.push_back(desc.address());

  entryFunctions[entryIndex](args.data());

  // Release each distinct returned buffer once, whatever happens below, and
  // never one the runtime passed in (an entry may return an input as an
  // output).
  struct ReleaseOutputs {
    CpuBackend &backend;
    const std::vector<MemRefDescriptor> &descriptors;
    const std::vector<const void *> &inputBuffers;
    size_t numInputs;
    ~ReleaseOutputs() {
      for (size_t j = numInputs; j < descriptors.size(); ++j) {
        void *allocated = descriptors[j].allocated();
        if (!allocated)
          continue;
        bool skip = false;
        for (const void *buffer : inputBuffers)
          skip |= buffer == allocated;
        for (size_t k = numInputs; k < j; ++k)
          skip |= descriptors[k].allocated() == allocated;
        if (!skip)
          backend.freeFunction(allocated);
      }
    }
  } releaseOutputs{*this, descriptors, inputBuffers, numInputs};

  rotor_status status = ROTOR_OK;
  std::vector<TensorPtr> results(numOutputs);
  for (size_t j = 0; j < numOutputs && status == ROTOR_OK; ++j)
    status = copyOutput(entry, j, descriptors[numInputs + j], results[j]);
  if (status == ROTOR_OK)
    outputs = std::move(results);
  return status;
}

} // namespace

rotor_status rotor::createCpuBackend(const std::string &dir,
                                     const Manifest &manifest,
                                     std::unique_ptr<Backend> &out) {
  auto backend =
      std::make_unique<CpuBackend>(manifest, joinPath(dir, manifest.library));
  if (rotor_status s = backend->load())
    return s;
  out = std::move(backend);
  return ROTOR_OK;
}
