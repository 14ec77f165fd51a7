//===- Backend.cpp - Backend selection ------------------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "Backend.h"
#include "DType.h"
#include "Error.h"

using namespace rotor;

Backend::~Backend() = default;
ResidentTrainer::~ResidentTrainer() = default;

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
