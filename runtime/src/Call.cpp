//===- Call.cpp - rotor_call: checking inputs and running an entry --------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Checks the caller's tensors against the manifest, so that the entry can
// assume valid inputs (docs/artifact-abi.md), then hands them to the backend.
// rotor_call takes inputs by position; rotor_call_named takes them by name
// and binds the ones left out to the artifact's weights (Weights.cpp), as do
// sessions (Session.cpp), which share the binding and the checks.
//
//===----------------------------------------------------------------------===//

#include "Artifact.h"
#include "Error.h"
#include "Tensor.h"

using namespace rotor;

std::string rotor::describeArgs(const std::vector<ArgSpec> &args,
                                const char *kind) {
  std::string names;
  for (const ArgSpec &arg : args)
    names += (names.empty() ? "" : ", ") + arg.name;
  return strCat(args.size(), " ", kind, args.size() == 1 ? "" : "s",
                args.empty() ? "" : " (" + names + ")");
}

rotor_status rotor::checkEntryInput(const EntrySpec &entry, size_t index,
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

rotor_status rotor::bindNamedInputs(const rotor_artifact *artifact,
                                    size_t index, const char *const *names,
                                    const rotor_tensor *const *tensors,
                                    size_t count,
                                    const std::vector<bool> &stateInputs,
                                    std::vector<const rotor_tensor *> &bound) {
  const EntrySpec &entry = artifact->manifest.entries[index];
  if (count > 0 && (!names || !tensors))
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                ": names and tensors must not be NULL when n is ", count);
  auto isState = [&](size_t i) {
    return i < stateInputs.size() && stateInputs[i];
  };
  bound.assign(entry.inputs.size(), nullptr);
  std::vector<bool> given(entry.inputs.size(), false);
  for (size_t k = 0; k < count; ++k) {
    if (!names[k])
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                  ": names[", k, "] is NULL");
    size_t i = 0;
    while (i < entry.inputs.size() && entry.inputs[i].name != names[k])
      ++i;
    if (i == entry.inputs.size())
      return fail(ROTOR_ERR_NOT_FOUND, "entry ", quote(entry.name),
                  " has no input ", quote(names[k]), " (it takes ",
                  describeArgs(entry.inputs, "input"), ")");
    if (isState(i))
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                  " input ", quote(names[k]),
                  " is a state of the session: set it with "
                  "rotor_session_set_state, not as an argument of the call");
    if (given[i])
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                  " input ", quote(names[k]), " is given twice");
    if (!tensors[k])
      return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                  " input ", i, " (", quote(names[k]), "): tensor is NULL");
    given[i] = true;
    bound[i] = tensors[k];
  }
  for (size_t i = 0; i < entry.inputs.size(); ++i) {
    if (given[i] || isState(i))
      continue;
    bound[i] = artifact->weightInputs[index][i];
    if (bound[i])
      continue;
    const std::string &name = entry.inputs[i].name;
    if (artifact->weights.path.empty())
      return fail(ROTOR_ERR_NOT_FOUND, "entry ", quote(entry.name), " input ",
                  i, " (", quote(name),
                  ") is not given and the artifact has no weights file");
    return fail(ROTOR_ERR_NOT_FOUND, "entry ", quote(entry.name), " input ", i,
                " (", quote(name), ") is not given and weights file ",
                quote(artifact->weights.path), " has no tensor named ",
                quote(name));
  }
  return ROTOR_OK;
}

namespace {

rotor_status checkOutputCount(const EntrySpec &entry, size_t numOutputs) {
  if (numOutputs != entry.outputs.size())
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                " returns ", describeArgs(entry.outputs, "output"),
                " but room for ", numOutputs, " was given");
  return ROTOR_OK;
}

/// Checks the output count and every input of entry `index`, then runs it.
rotor_status invokeEntry(rotor_artifact *artifact, size_t index,
                         const rotor_tensor *const *inputs,
                         rotor_tensor **outputs, size_t numOutputs) {
  const EntrySpec &entry = artifact->manifest.entries[index];
  if (rotor_status s = checkOutputCount(entry, numOutputs))
    return s;
  for (size_t i = 0; i < entry.inputs.size(); ++i)
    if (rotor_status s = checkEntryInput(entry, i, inputs[i]))
      return s;

  std::vector<TensorPtr> results;
  if (rotor_status s = artifact->backend->invoke(index, inputs, results))
    return s;
  for (size_t j = 0; j < numOutputs; ++j)
    outputs[j] = results[j].release();
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
  if (rotor_status s = checkOutputCount(entry, numOutputs))
    return s;
  if (numInputs > 0 && !inputs)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "entry ", quote(entry.name),
                ": inputs is NULL");
  return invokeEntry(artifact, index, inputs, outputs, numOutputs);
}

/// Binds named inputs, then weights, to the inputs of `entryName`.
rotor_status callNamedImpl(rotor_artifact *artifact, const char *entryName,
                           const char *const *names,
                           const rotor_tensor *const *tensors, size_t count,
                           rotor_tensor **outputs, size_t numOutputs) {
  size_t index;
  if (rotor_status s = rotor_artifact_find_entry(artifact, entryName, &index))
    return s;
  std::vector<const rotor_tensor *> bound;
  if (rotor_status s =
          bindNamedInputs(artifact, index, names, tensors, count, {}, bound))
    return s;
  return invokeEntry(artifact, index, bound.data(), outputs, numOutputs);
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

extern "C" rotor_status
rotor_call_named(rotor_artifact *artifact, const char *entry_name,
                 const char *const *names, const rotor_tensor *const *tensors,
                 size_t n, rotor_tensor **outputs, size_t n_out) {
  if (n_out > 0 && !outputs)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_call_named: outputs is NULL");
  for (size_t j = 0; j < n_out; ++j)
    outputs[j] = nullptr;
  if (!artifact || !entry_name)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_call_named: artifact and entry_name must not be NULL");
  return guard([&] {
    return callNamedImpl(artifact, entry_name, names, tensors, n, outputs,
                         n_out);
  });
}
