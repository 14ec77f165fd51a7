//===- Artifact.cpp - Loading artifacts and querying their entries --------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "Artifact.h"
#include "DType.h"
#include "Error.h"

using namespace rotor;

namespace {
/// The shape pointer handed out for rank-0 arguments.
const int64_t noDims[1] = {0};

rotor_status describeArg(const rotor_artifact *artifact, size_t entry,
                         size_t index, bool input, rotor_arg_info *out) {
  const char *function = input ? "rotor_entry_input" : "rotor_entry_output";
  if (!artifact || !out)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, function,
                ": artifact and out must not be NULL");
  const std::vector<EntrySpec> &entries = artifact->manifest.entries;
  if (entry >= entries.size())
    return fail(ROTOR_ERR_INVALID_ARGUMENT, function, ": entry index ", entry,
                " is out of range (the artifact has ", entries.size(),
                " entries)");
  const std::vector<ArgSpec> &args =
      input ? entries[entry].inputs : entries[entry].outputs;
  if (index >= args.size())
    return fail(ROTOR_ERR_INVALID_ARGUMENT, function, ": ",
                input ? "input" : "output", " index ", index,
                " is out of range (entry ", quote(entries[entry].name), " has ",
                args.size(), ")");
  const ArgSpec &arg = args[index];
  out->name = arg.name.c_str();
  out->dtype = arg.dtype;
  out->rank = arg.shape.size();
  out->shape = arg.shape.empty() ? noDims : arg.shape.data();
  return ROTOR_OK;
}
} // namespace

extern "C" rotor_status rotor_artifact_load(const char *dir,
                                            rotor_device device,
                                            rotor_artifact **out) {
  if (!out)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_artifact_load: out must not be NULL");
  *out = nullptr;
  if (!dir)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_artifact_load: dir must not be NULL");
  return guard([&] {
    if (!isValidDevice(device))
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "invalid device value ",
                  static_cast<int>(device));
    auto artifact = std::make_unique<rotor_artifact>();
    artifact->dir = dir;
    if (rotor_status s = readManifest(artifact->dir, artifact->manifest))
      return s;
    if (rotor_status s = createBackend(device, artifact->dir,
                                       artifact->manifest, artifact->backend))
      return s;
    if (rotor_status s = loadWeights(artifact->dir, artifact->manifest,
                                     artifact->weights, artifact->weightInputs))
      return s;
    std::vector<const rotor_tensor *> weightTensors;
    for (const TensorPtr &t : artifact->weights.tensors)
      weightTensors.push_back(t.get());
    artifact->backend->setWeights(weightTensors);
    *out = artifact.release();
    return ROTOR_OK;
  });
}

extern "C" void rotor_artifact_free(rotor_artifact *artifact) {
  delete artifact;
}

extern "C" rotor_device rotor_artifact_device(const rotor_artifact *artifact) {
  return artifact && artifact->backend ? artifact->backend->device()
                                       : ROTOR_DEVICE_CPU;
}

extern "C" size_t rotor_artifact_num_entries(const rotor_artifact *artifact) {
  return artifact ? artifact->manifest.entries.size() : 0;
}

extern "C" const char *rotor_artifact_entry_name(const rotor_artifact *artifact,
                                                 size_t index) {
  if (!artifact || index >= artifact->manifest.entries.size())
    return nullptr;
  return artifact->manifest.entries[index].name.c_str();
}

extern "C" rotor_status
rotor_artifact_find_entry(const rotor_artifact *artifact, const char *name,
                          size_t *index) {
  if (!artifact || !name || !index)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_artifact_find_entry: arguments must not be NULL");
  return guard([&] {
    const std::vector<EntrySpec> &entries = artifact->manifest.entries;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].name == name) {
        *index = i;
        return ROTOR_OK;
      }
    }
    std::string known;
    for (const EntrySpec &entry : entries)
      known += (known.empty() ? "" : ", ") + entry.name;
    return fail(ROTOR_ERR_NOT_FOUND, "unknown entry ", quote(name),
                " (artifact ", quote(artifact->dir), " has: ", known, ")");
  });
}

extern "C" size_t rotor_entry_num_inputs(const rotor_artifact *artifact,
                                         size_t entry) {
  if (!artifact || entry >= artifact->manifest.entries.size())
    return 0;
  return artifact->manifest.entries[entry].inputs.size();
}

extern "C" size_t rotor_entry_num_outputs(const rotor_artifact *artifact,
                                          size_t entry) {
  if (!artifact || entry >= artifact->manifest.entries.size())
    return 0;
  return artifact->manifest.entries[entry].outputs.size();
}

extern "C" rotor_status rotor_entry_input(const rotor_artifact *artifact,
                                          size_t entry, size_t index,
                                          rotor_arg_info *out) {
  return guard(
      [&] { return describeArg(artifact, entry, index, /*input=*/true, out); });
}

extern "C" rotor_status rotor_entry_output(const rotor_artifact *artifact,
                                           size_t entry, size_t index,
                                           rotor_arg_info *out) {
  return guard([&] {
    return describeArg(artifact, entry, index, /*input=*/false, out);
  });
}

extern "C" const char *
rotor_artifact_weights_path(const rotor_artifact *artifact) {
  if (!artifact || artifact->weights.path.empty())
    return nullptr;
  return artifact->weights.path.c_str();
}

extern "C" size_t rotor_artifact_num_weights(const rotor_artifact *artifact) {
  return artifact ? artifact->weights.tensors.size() : 0;
}

extern "C" const char *
rotor_artifact_weight_name(const rotor_artifact *artifact, size_t index) {
  if (!artifact || index >= artifact->weights.names.size())
    return nullptr;
  return artifact->weights.names[index].c_str();
}

extern "C" rotor_status
rotor_artifact_find_weight(const rotor_artifact *artifact, const char *name,
                           const rotor_tensor **out) {
  if (out)
    *out = nullptr;
  if (!artifact || !name || !out)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_artifact_find_weight: arguments must not be NULL");
  return guard([&] {
    if (const rotor_tensor *tensor = artifact->weights.find(name)) {
      *out = tensor;
      return ROTOR_OK;
    }
    if (artifact->weights.path.empty())
      return fail(ROTOR_ERR_NOT_FOUND, "no weight named ", quote(name),
                  ": artifact ", quote(artifact->dir), " has no weights file");
    return fail(ROTOR_ERR_NOT_FOUND, "weights file ",
                quote(artifact->weights.path), " has no tensor named ",
                quote(name));
  });
}

extern "C" int rotor_entry_input_is_weight(const rotor_artifact *artifact,
                                           size_t entry, size_t index) {
  if (!artifact || entry >= artifact->weightInputs.size() ||
      index >= artifact->weightInputs[entry].size())
    return 0;
  return artifact->weightInputs[entry][index] ? 1 : 0;
}
