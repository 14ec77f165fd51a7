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

#include <memory>
#include <string>
#include <vector>

namespace rotor {

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
