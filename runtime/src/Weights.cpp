//===- Weights.cpp - The weights file of an artifact ----------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// An artifact may name a .safetensors file of weights in its manifest
// ("weights"). Loading maps it, validates its layout, checks every tensor
// that shares its name with an entry input against that input's dtype and
// shape, and keeps one tensor per weight of a supported dtype: a view of the
// mapping where the data is aligned to its element size, else an aligned copy
// made once (so that calls never copy weights). Named calls
// (rotor_call_named) bind omitted inputs to these tensors.
//
//===----------------------------------------------------------------------===//

#include "Artifact.h"
#include "Error.h"
#include "Tensor.h"
#include "support/FileSystem.h"

#include <cstdint>

using namespace rotor;

const rotor_tensor *WeightSet::find(const std::string &name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : tensors[it->second].get();
}

namespace {

/// Checks weight `info` (named `name` in `file`) against input `index` of
/// `entry`.
rotor_status checkWeight(const std::string &file, const std::string &name,
                         const io::SafetensorsTensorInfo &info,
                         const EntrySpec &entry, size_t index) {
  const ArgSpec &spec = entry.inputs[index];
  auto prefix = [&] {
    return strCat(file, ": tensor ", quote(name), " does not fit input ", index,
                  " of entry ", quote(entry.name), ": ");
  };
  if (info.dtype != spec.dtype)
    return fail(ROTOR_ERR_FORMAT, prefix(), "its dtype is ", info.dtypeName,
                " but the manifest declares ", rotor_dtype_name(spec.dtype));
  bool fits = info.shape.size() == spec.shape.size();
  for (size_t d = 0; fits && d < spec.shape.size(); ++d)
    fits = spec.shape[d] == ROTOR_DYNAMIC_DIM || spec.shape[d] == info.shape[d];
  if (!fits)
    return fail(ROTOR_ERR_FORMAT, prefix(), "its shape is ",
                formatShapeList(info.shape), " but the manifest declares ",
                formatShapeList(spec.shape));
  return ROTOR_OK;
}

} // namespace

rotor_status
rotor::loadWeights(const std::string &dir, const Manifest &manifest,
                   WeightSet &out,
                   std::vector<std::vector<const rotor_tensor *>> &bindings) {
  return guard([&] {
    WeightSet weights;
    std::vector<std::vector<const rotor_tensor *>> bound;
    for (const EntrySpec &entry : manifest.entries)
      bound.emplace_back(entry.inputs.size(), nullptr);
    if (manifest.weights.empty()) {
      out = std::move(weights);
      bindings = std::move(bound);
      return ROTOR_OK;
    }

    weights.path = joinPath(dir, manifest.weights);
    if (isDirectory(weights.path))
      return fail(ROTOR_ERR_IO, "weights file ", quote(weights.path),
                  " named by the manifest (field 'weights') is a directory");
    if (!isRegularFile(weights.path))
      return fail(ROTOR_ERR_NOT_FOUND, "weights file ", quote(weights.path),
                  " named by the manifest (field 'weights') does not exist");
    if (rotor_status s = io::SafetensorsFile::open(weights.path, weights.file))
      return s;

    for (const io::SafetensorsTensorInfo &info : weights.file->tensors()) {
      // A tensor of a dtype the runtime lacks (U8, BOOL, ...) is only an
      // error if an input is named after it (below).
      if (!info.supported)
        continue;
      TensorPtr tensor;
      if (rotor_status s = weights.file->view(info.name, tensor))
        return s;
      size_t elementSize = rotor_dtype_size(info.dtype);
      if (reinterpret_cast<uintptr_t>(tensor->data) % elementSize != 0) {
        TensorPtr copy;
        if (rotor_status s = weights.file->load(info.name, copy))
          return s;
        tensor = std::move(copy);
      }
      weights.index.emplace(info.name, weights.tensors.size());
      weights.names.push_back(info.name);
      weights.tensors.push_back(std::move(tensor));
    }

    for (size_t e = 0; e < manifest.entries.size(); ++e) {
      const EntrySpec &entry = manifest.entries[e];
      for (size_t i = 0; i < entry.inputs.size(); ++i) {
        const io::SafetensorsTensorInfo *info =
            weights.file->find(entry.inputs[i].name);
        if (!info)
          continue;
        if (!info->supported)
          return fail(ROTOR_ERR_UNSUPPORTED, weights.path, ": tensor ",
                      quote(info->name), " (input ", i, " of entry ",
                      quote(entry.name), ") has dtype ", info->dtypeName,
                      ", which the runtime does not support (supported: F32, "
                      "F64, F16, BF16, I32, I64)");
        // The f32 master weights of a 16-bit model's training step: the
        // 16-bit tensor gives their initial values (the trainer widens them)
        // but is not bound; callers pass the f32 values.
        bool master = entry.inputs[i].dtype == ROTOR_F32 &&
                      (info->dtype == ROTOR_BF16 || info->dtype == ROTOR_F16);
        if (master)
          continue;
        if (rotor_status s =
                checkWeight(weights.path, info->name, *info, entry, i))
          return s;
        bound[e][i] = weights.tensors[weights.index.at(info->name)].get();
      }
    }
    out = std::move(weights);
    bindings = std::move(bound);
    return ROTOR_OK;
  });
}
