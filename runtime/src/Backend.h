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
// backend is another implementation registered in createBackend.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_BACKEND_H
#define ROTOR_SRC_BACKEND_H

#include "Manifest.h"
#include "rotor/Handles.h"
#include "rotor/runtime.h"

#include "rotor/train.h"

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
