//===- Backend.cpp - Backend selection and the generic session ------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "Backend.h"
#include "DType.h"
#include "Error.h"
#include "Tensor.h"

#include <cstring>

using namespace rotor;

Backend::~Backend() = default;
ResidentTrainer::~ResidentTrainer() = default;
BackendSession::~BackendSession() = default;

namespace {

/// An owned dense copy of `tensor`.
rotor_status copyTensor(const rotor_tensor *tensor, TensorPtr &out) {
  TensorPtr copy;
  if (rotor_status s = createTensor(tensor->dtype, tensorShape(tensor), copy))
    return s;
  if (tensor->nbytes)
    std::memcpy(copy->data, tensor->data, tensor->nbytes);
  out = std::move(copy);
  return ROTOR_OK;
}

/// The generic session: states are owned host tensors passed in place to
/// Backend::invoke, whose state outputs (new owned tensors) replace them.
class HostSession final : public BackendSession {
public:
  HostSession(Backend &backend, size_t entryIndex,
              std::vector<SessionState> states)
      : backend(backend), entryIndex(entryIndex), states(std::move(states)),
        values(this->states.size()) {}

  rotor_status setState(size_t k, const rotor_tensor *value) override {
    return copyTensor(value, values[k]);
  }

  rotor_status getState(size_t k, TensorPtr &out) override {
    return copyTensor(values[k].get(), out);
  }

  rotor_status call(const std::vector<const rotor_tensor *> &inputs,
                    std::vector<TensorPtr> &outputs) override {
    outputs.clear();
    std::vector<const rotor_tensor *> all = inputs;
    for (size_t k = 0; k < states.size(); ++k)
      all[states[k].input] = values[k].get();
    std::vector<TensorPtr> results;
    if (rotor_status s = backend.invoke(entryIndex, all.data(), results))
      return s;
    std::vector<bool> isState(results.size(), false);
    for (size_t k = 0; k < states.size(); ++k) {
      values[k] = std::move(results[states[k].output]);
      isState[states[k].output] = true;
    }
    for (size_t j = 0; j < results.size(); ++j)
      if (!isState[j])
        outputs.push_back(std::move(results[j]));
    return ROTOR_OK;
  }

private:
  Backend &backend;
  size_t entryIndex;
  std::vector<SessionState> states;
  std::vector<TensorPtr> values;
};

} // namespace

rotor_status Backend::createSession(size_t entryIndex,
                                    const std::vector<SessionState> &states,
                                    std::unique_ptr<BackendSession> &out) {
  out = std::make_unique<HostSession>(*this, entryIndex, states);
  return ROTOR_OK;
}

rotor_status rotor::createBackend(rotor_device device, const std::string &dir,
                                  const Manifest &manifest,
                                  std::unique_ptr<Backend> &out) {
  if (!isValidDevice(device))
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "invalid device value ",
                static_cast<int>(device));
#ifndef ROTOR_HAVE_CUDA
  if (device == ROTOR_DEVICE_CUDA)
    return fail(ROTOR_ERR_UNSUPPORTED,
                "device 'cuda' is not supported by this runtime build (it was "
                "built without the CUDA headers); use device 'cpu'");
#endif
  if (manifest.target != rotor_device_name(device))
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "artifact ", quote(dir),
                " was compiled for target ", quote(manifest.target),
                " and cannot run on device ", quote(rotor_device_name(device)),
                " (compile it with rotorc --target=",
                rotor_device_name(device), ")");
#ifdef ROTOR_HAVE_CUDA
  if (device == ROTOR_DEVICE_CUDA)
    return createCudaBackend(dir, manifest, out);
#endif
  return createCpuBackend(dir, manifest, out);
}
