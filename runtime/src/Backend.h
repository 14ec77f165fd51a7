//===- Backend.h - The interface between artifacts and devices --*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// A Backend runs the entries of one loaded artifact on one device. The
// artifact layer (Artifact.cpp, Call.cpp) owns the manifest, validates inputs
// against it and hands the backend host tensors; the backend marshals them to
// its device, calls the entry and returns owned dense host tensors. The CPU
// backend (CpuBackend.cpp) loads the native library with dlopen; a CUDA
// backend is another implementation registered in createBackend. A
// BackendSession (rotor_session) keeps state between calls of one entry.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_BACKEND_H
#define ROTOR_SRC_BACKEND_H

#include "Manifest.h"
#include "rotor/Handles.h"
#include "rotor/runtime.h"

#include "rotor/train.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rotor {

/// A parameter of a device-resident training step (ResidentTrainer).
struct ResidentParam {
  /// The entry's input that takes the parameter, the output that returns
  /// its gradient.
  size_t input = 0, gradOutput = 0;
  /// f32 elements.
  size_t numel = 0;
  /// Stored as log(value): enters the step as exp(value), and its gradient
  /// is multiplied by exp(value) (d/d log x = x d/dx).
  bool logSpace = false;
};

/// One parameter's optimizer update (train::Optimizer::scalars).
using ResidentUpdate = train::UpdateScalars;

/// Training state kept in device memory between steps (the CUDA backend):
/// the parameters, their gradients and the optimizer's state vectors never
/// travel to the host, except on upload() and download().
class ResidentTrainer {
public:
  virtual ~ResidentTrainer();
  /// Copies `data` (numel floats) into parameter `param`'s value (slot 0)
  /// or optimizer state vector `slot - 1`.
  virtual rotor_status upload(size_t param, size_t slot,
                              const float *data) = 0;
  /// The reverse of upload().
  virtual rotor_status download(size_t param, size_t slot, float *data) = 0;
  /// Runs the step: the parameter inputs read the device values,
  /// `hostInputs` give the other inputs (and every input's shape). The
  /// gradients stay on the device, multiplied by `inverse` when `unscale`;
  /// returns the scalar output `lossOutput` and, per parameter, the sum of
  /// the squares of its gradient in f64 (non-finite when it is).
  virtual rotor_status run(const rotor_tensor *const *hostInputs,
                           size_t lossOutput, bool unscale, float inverse,
                           float &loss, std::vector<double> &sumSquares) = 0;
  /// Applies `updates[p]` to every parameter, the gradients first
  /// multiplied by `coef` when `clip`.
  virtual rotor_status update(const std::vector<ResidentUpdate> &updates,
                              bool clip, float coef) = 0;
};

/// A state of a session (rotor_session_create): the entry input that takes
/// its value and the output, of the same name, that returns the next one.
struct SessionState {
  size_t input = 0, output = 0;
};

/// The backend's half of a rotor_session: keeps the values of the states
/// between calls of one entry (on the backend's device, so that a decode
/// loop does not move its caches through the host) and runs the entry on
/// them. Session.cpp validates every argument first: names, dtypes, ranks
/// and static sizes, and that every state is set before a call.
class BackendSession {
public:
  virtual ~BackendSession();
  /// Replaces the value of state `k` by a copy of `value` (checked against
  /// the entry's input).
  virtual rotor_status setState(size_t k, const rotor_tensor *value) = 0;
  /// Copies the value of state `k` (set before) into a new owned host
  /// tensor.
  virtual rotor_status getState(size_t k, TensorPtr &out) = 0;
  /// Calls the entry. `inputs` holds one checked tensor per entry input,
  /// nullptr for the inputs of the states, which the session supplies. On
  /// success every state holds the output of its name and `outputs` one
  /// owned host tensor per other output, in manifest order. On failure
  /// `outputs` is empty and the values of the states are unspecified.
  virtual rotor_status call(const std::vector<const rotor_tensor *> &inputs,
                            std::vector<TensorPtr> &outputs) = 0;
  /// The number of calls that replayed a captured CUDA graph.
  virtual uint64_t graphReplays() const { return 0; }
};

class Backend {
public:
  virtual ~Backend();

  /// The device this backend runs on.
  virtual rotor_device device() const = 0;

  /// Runs entry `entryIndex` of the manifest the backend was created for.
  /// `inputs` holds one tensor per manifest input, already checked against
  /// the manifest (dtype, rank, static sizes). On success, `outputs` holds
  /// one owned dense host tensor per manifest output; on failure it is empty
  /// and every buffer the entry returned has been released.
  virtual rotor_status invoke(size_t entryIndex,
                              const rotor_tensor *const *inputs,
                              std::vector<TensorPtr> &outputs) = 0;

  /// Tells the backend which tensors are the artifact's weights (immutable
  /// for the artifact's lifetime), so that it may keep device copies of them
  /// across calls. Called once after loading.
  virtual void setWeights(const std::vector<const rotor_tensor *> &tensors) {
    (void)tensors;
  }

  /// Creates device-resident training state for entry `entryIndex` with
  /// `numSlots` optimizer state vectors per parameter (zeroed), or leaves
  /// `out` empty when the backend keeps no state on a device (the CPU).
  virtual rotor_status
  createResidentTrainer(size_t entryIndex,
                        const std::vector<ResidentParam> &params,
                        size_t numSlots, std::unique_ptr<ResidentTrainer> &out) {
    (void)entryIndex, (void)params, (void)numSlots;
    out.reset();
    return ROTOR_OK;
  }

  /// Creates a session calling entry `entryIndex` with `states` (validated
  /// by Session.cpp: each input has an output of its name, dtype and rank).
  /// This generic implementation keeps the states as host tensors and runs
  /// each call through invoke(), moving the state outputs into the states
  /// (no copies); backends with device memory override it.
  virtual rotor_status createSession(size_t entryIndex,
                                     const std::vector<SessionState> &states,
                                     std::unique_ptr<BackendSession> &out);
};

/// Creates the backend for `device` running the artifact in directory `dir`
/// described by `manifest`, which must outlive the backend.
rotor_status createBackend(rotor_device device, const std::string &dir,
                           const Manifest &manifest,
                           std::unique_ptr<Backend> &out);

/// Creates the CUDA backend (cuda/CudaBackend.cpp), in builds with
/// ROTOR_HAVE_CUDA.
rotor_status createCudaBackend(const std::string &dir, const Manifest &manifest,
                               std::unique_ptr<Backend> &out);

/// Creates the CPU backend (CpuBackend.cpp).
rotor_status createCpuBackend(const std::string &dir, const Manifest &manifest,
                              std::unique_ptr<Backend> &out);

} // namespace rotor

#endif // ROTOR_SRC_BACKEND_H
