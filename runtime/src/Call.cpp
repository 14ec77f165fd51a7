//===- Call.cpp - rotor_call: checking inputs and running an entry --------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Checks the caller's tensors against the manifest, so that the entry can
// assume valid inputs (docs/artifact-abi.md), then hands them to the backend.
//
//===----------------------------------------------------------------------===//

#include "Artifact.h"
#include "Error.h"
#include "Tensor.h"

using namespace rotor;

namespace {

/// "1 input (x)" / "2 inputs (q, k)".
std::string describeArgs(const std::vector<ArgSpec> &args, const char *kind) {
  std::string names;
  for (const ArgSpec &arg : args)
    names += (names.empty() ? "" : ", ") + arg.name;
  return strCat(args.size(), " ", kind, args.size() == 1 ? "" : "s",
                args.empty() ? "" : " (" + names + ")");
}

/// Checks input `index` of `entry` against its manifest declaration.
rotor_status checkInput(const EntrySpec &entry, size_t index,
                        const rotor_tensor *tensor) {
  const ArgSpec &spec = entry.inputs[index];
  auto prefix = [&] {
    return strCat("entry ", quote(entry.name), " input ", index, " (",
                  quote(spec.name), "): ");
  };
  if (!tensor)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, prefix(), "tensor is NULL");
  if (tensor->dtype != spec.dtype)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, prefix(), "dtype is ",
                rotor_dtype_name(tensor->dtype), " but the artifact expects ",
                rotor_dtype_name(spec.dtype));
  if (tensor->rank != spec.shape.size())
    return fail(ROTOR_ERR_INVALID_ARGUMENT, prefix(), "rank is ", tensor->rank,
                " but the artifact expects rank ", spec.shape.size(),
                " (shape ", formatShapeList(spec.shape), ")");
  for (size_t d = 0; d < spec.shape.size(); ++d) {
    if (spec.shape[d] != ROTOR_DYNAMIC_DIM && spec.shape[d] != tensor->shape[d])
      return fail(ROTOR_ERR_INVALID_ARGUMENT, prefix(), "dimension ", d, " is ",
                  tensor->shape[d], " but the artifact was compiled for ",
                  spec.shape[d]);
  }
  return ROTOR_OK;
}

rotor_status callImpl(rotor_artifact *artifact, const char *entryName,
                      const rotor_tensor *const *inputs, size_t numInputs,
                      rotor_tensor **outputs, size_t numOutputs) {
  size_t index;
  if (rotor_status s = rotor_artifact_find_entry(artifact, entryName, &index))
    return s;
  const EntrySpec &entry = artifact->manifest.entries[index];
  if (numInputs != entry.inputs.size())
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                " takes ", describeArgs(entry.inputs, "input"), " but ",
                numInputs, numInputs == 1 ? " was" : " were", " given");
  if (numOutputs != entry.outputs.size())
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                " returns ", describeArgs(entry.outputs, "output"),
                " but room for ", numOutputs, " was given");
  if (numInputs > 0 && !inputs)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                ": inputs is NULL");
  for (size_t i = 0; i < numInputs; ++i)
    if (rotor_status s = checkInput(entry, i, inputs[i]))
      return s;

  std::vector<TensorPtr> results;
  if (rotor_status s = artifact->backend->invoke(index, inputs, results))
    return s;
  for (size_t j = 0; j < numOutputs; ++j)
    outputs[j] = results[j].release();
  return ROTOR_OK;
}

} // namespace

extern "C" rotor_status rotor_call(rotor_artifact *artifact,
                                   const char *entry_name,
                                   const rotor_tensor *const *inputs,
                                   size_t n_in, rotor_tensor **outputs,
                                   size_t n_out) {
  if (n_out > 0 && !outputs)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "rotor_call: outputs is NULL");
  for (size_t j = 0; j < n_out; ++j)
    outputs[j] = nullptr;
  if (!artifact || !entry_name)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_call: artifact and entry_name must not be NULL");
  return guard([&] {
    return callImpl(artifact, entry_name, inputs, n_in, outputs, n_out);
  });
}
