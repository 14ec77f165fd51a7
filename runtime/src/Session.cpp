//===- Session.cpp - rotor_session: repeated calls carrying state ---------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// A session calls one entry again and again and keeps the values of its
// states (inputs that the entry returns under the same name, like the KV
// caches of a decode step) in the backend between calls, so that a decode
// loop never moves its caches through the caller. This file validates
// everything: the state declarations against the manifest when the session
// is created, each value set against the entry's input, and the arguments of
// each call with the binding and checks of rotor_call_named (Call.cpp). The
// backend's session (Backend.h) only ever sees valid requests.
//
//===----------------------------------------------------------------------===//

#include "Artifact.h"
#include "Error.h"
#include "Tensor.h"

using namespace rotor;

struct rotor_session {
  rotor_artifact *artifact = nullptr;
  size_t entry = 0;
  /// The states in the order of `state_names`, and their names.
  std::vector<std::string> names;
  std::vector<SessionState> states;
  /// Whether each state holds a value: set by rotor_session_set_state,
  /// cleared for every state by a call that failed while running.
  std::vector<bool> isSet;
  /// Per entry input and output: whether it is a state's.
  std::vector<bool> stateInputs, stateOutputs;
  std::unique_ptr<BackendSession> backend;
};

namespace {

const EntrySpec &entryOf(const rotor_session *session) {
  return session->artifact->manifest.entries[session->entry];
}

/// "session of entry 'decode': ", the start of every message.
std::string prefix(const rotor_session *session) {
  return strCat("session of entry ", quote(entryOf(session).name), ": ");
}

/// Finds state `name`; NOT_FOUND lists the session's states.
rotor_status findState(const rotor_session *session, const char *name,
                       size_t &k) {
  for (k = 0; k < session->names.size(); ++k)
    if (session->names[k] == name)
      return ROTOR_OK;
  std::string known;
  for (const std::string &n : session->names)
    known += (known.empty() ? "" : ", ") + n;
  return fail(ROTOR_ERR_NOT_FOUND, prefix(session), "no state named ",
              quote(name),
              known.empty() ? std::string(" (the session has no states)")
                            : " (its states are " + known + ")");
}

/// Checks `value` for state `k` against the entry input that takes it.
rotor_status checkStateValue(const rotor_session *session, size_t k,
                             const rotor_tensor *value) {
  const ArgSpec &spec = entryOf(session).inputs[session->states[k].input];
  std::string what = prefix(session) + "state " + quote(spec.name);
  if (!value)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, what, ": value is NULL");
  if (value->dtype != spec.dtype)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, what, " has dtype ",
                rotor_dtype_name(value->dtype), " but the entry's input is ",
                rotor_dtype_name(spec.dtype));
  if (value->rank != spec.shape.size())
    return fail(ROTOR_ERR_INVALID_ARGUMENT, what, " has rank ", value->rank,
                " but the entry's input has rank ", spec.shape.size(),
                " (shape ", formatShapeList(spec.shape), ")");
  for (size_t d = 0; d < spec.shape.size(); ++d)
    if (spec.shape[d] != ROTOR_DYNAMIC_DIM && spec.shape[d] != value->shape[d])
      return fail(ROTOR_ERR_INVALID_ARGUMENT, what, " has size ",
                  value->shape[d], " in dimension ", d,
                  " but the entry's input has ", spec.shape[d], " (shape ",
                  formatShapeList(spec.shape), ")");
  return ROTOR_OK;
}

/// Validates the state declarations and creates the backend's session.
rotor_status createImpl(rotor_artifact *artifact, const char *entryName,
                        const char *const *stateNames, size_t numStates,
                        std::unique_ptr<rotor_session> &out) {
  auto session = std::make_unique<rotor_session>();
  session->artifact = artifact;
  if (rotor_status s =
          rotor_artifact_find_entry(artifact, entryName, &session->entry))
    return s;
  const EntrySpec &entry = entryOf(session.get());
  if (numStates > 0 && !stateNames)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, prefix(session.get()),
                "state_names is NULL but n_state is ", numStates);
  session->stateInputs.assign(entry.inputs.size(), false);
  session->stateOutputs.assign(entry.outputs.size(), false);
  for (size_t k = 0; k < numStates; ++k) {
    std::string what = prefix(session.get());
    if (!stateNames[k])
      return fail(ROTOR_ERR_INVALID_ARGUMENT, what, "state_names[", k,
                  "] is NULL");
    std::string name = stateNames[k];
    what += "state " + quote(name);
    SessionState state;
    while (state.input < entry.inputs.size() &&
           entry.inputs[state.input].name != name)
      ++state.input;
    if (state.input == entry.inputs.size())
      return fail(ROTOR_ERR_NOT_FOUND, what, " is not an input of the entry (",
                  "it takes ", describeArgs(entry.inputs, "input"), ")");
    if (session->stateInputs[state.input])
      return fail(ROTOR_ERR_INVALID_ARGUMENT, what, " is named twice");
    if (artifact->weightInputs[session->entry][state.input])
      return fail(ROTOR_ERR_INVALID_ARGUMENT, what,
                  " is a tensor of weights file ",
                  quote(artifact->weights.path),
                  ", which calls bind by name: a weight cannot be state");
    while (state.output < entry.outputs.size() &&
           entry.outputs[state.output].name != name)
      ++state.output;
    if (state.output == entry.outputs.size())
      return fail(ROTOR_ERR_NOT_FOUND, what,
                  " has no output of its name to carry it to the next call "
                  "(the entry returns ",
                  describeArgs(entry.outputs, "output"), ")");
    const ArgSpec &input = entry.inputs[state.input];
    const ArgSpec &output = entry.outputs[state.output];
    if (input.dtype != output.dtype)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, what, " is an input of dtype ",
                  rotor_dtype_name(input.dtype), " but an output of dtype ",
                  rotor_dtype_name(output.dtype));
    if (input.shape.size() != output.shape.size())
      return fail(ROTOR_ERR_INVALID_ARGUMENT, what, " is an input of rank ",
                  input.shape.size(), " but an output of rank ",
                  output.shape.size());
    for (size_t d = 0; d < input.shape.size(); ++d)
      if (input.shape[d] != ROTOR_DYNAMIC_DIM &&
          output.shape[d] != input.shape[d])
        return fail(ROTOR_ERR_INVALID_ARGUMENT, what, " is an input of shape ",
                    formatShapeList(input.shape), " but an output of shape ",
                    formatShapeList(output.shape), ": dimension ", d,
                    " of the output must be the input's static size, so that "
                    "the output fits the next call");
    session->stateInputs[state.input] = true;
    session->stateOutputs[state.output] = true;
    session->names.push_back(std::move(name));
    session->states.push_back(state);
  }
  session->isSet.assign(numStates, false);
  if (rotor_status s = artifact->backend->createSession(
          session->entry, session->states, session->backend))
    return s;
  out = std::move(session);
  return ROTOR_OK;
}

/// Checks the arguments of a call, binds its inputs and runs it.
rotor_status callImpl(rotor_session *session, const char *const *names,
                      const rotor_tensor *const *tensors, size_t count,
                      rotor_tensor **outputs, size_t numOutputs) {
  const EntrySpec &entry = entryOf(session);
  std::vector<ArgSpec> returned;
  for (size_t j = 0; j < entry.outputs.size(); ++j)
    if (!session->stateOutputs[j])
      returned.push_back(entry.outputs[j]);
  if (numOutputs != returned.size())
    return fail(ROTOR_ERR_INVALID_ARGUMENT, prefix(session),
                "the entry returns ", describeArgs(returned, "output"),
                " besides its states but room for ", numOutputs, " was given");
  for (size_t k = 0; k < session->states.size(); ++k)
    if (!session->isSet[k])
      return fail(ROTOR_ERR_INVALID_ARGUMENT, prefix(session), "state ",
                  quote(session->names[k]),
                  " is not set: set every state with rotor_session_set_state "
                  "before a call (and again after a call that failed while "
                  "running)");
  std::vector<const rotor_tensor *> bound;
  if (rotor_status s =
          bindNamedInputs(session->artifact, session->entry, names, tensors,
                          count, session->stateInputs, bound))
    return s;
  for (size_t i = 0; i < entry.inputs.size(); ++i)
    if (!session->stateInputs[i])
      if (rotor_status s = checkEntryInput(entry, i, bound[i]))
        return s;

  std::vector<TensorPtr> results;
  if (rotor_status s = session->backend->call(bound, results)) {
    session->isSet.assign(session->states.size(), false);
    return s;
  }
  if (results.size() != numOutputs) {
    session->isSet.assign(session->states.size(), false);
    return fail(ROTOR_ERR_BACKEND, prefix(session), "the backend returned ",
                results.size(), " outputs instead of ", numOutputs);
  }
  for (size_t j = 0; j < numOutputs; ++j)
    outputs[j] = results[j].release();
  return ROTOR_OK;
}

} // namespace

extern "C" rotor_status rotor_session_create(rotor_artifact *artifact,
                                             const char *entry_name,
                                             const char *const *state_names,
                                             size_t n_state,
                                             rotor_session **out) {
  if (!out)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_session_create: out must not be NULL");
  *out = nullptr;
  if (!artifact || !entry_name)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_session_create: artifact and entry_name must not be "
                "NULL");
  return guard([&] {
    std::unique_ptr<rotor_session> session;
    if (rotor_status s =
            createImpl(artifact, entry_name, state_names, n_state, session))
      return s;
    *out = session.release();
    return ROTOR_OK;
  });
}

extern "C" void rotor_session_free(rotor_session *session) { delete session; }

extern "C" rotor_status rotor_session_set_state(rotor_session *session,
                                                const char *name,
                                                const rotor_tensor *value) {
  if (!session || !name)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_session_set_state: session and name must not be NULL");
  return guard([&] {
    size_t k;
    if (rotor_status s = findState(session, name, k))
      return s;
    if (rotor_status s = checkStateValue(session, k, value))
      return s;
    // A failed copy may have left the old value half overwritten.
    session->isSet[k] = false;
    if (rotor_status s = session->backend->setState(k, value))
      return s;
    session->isSet[k] = true;
    return ROTOR_OK;
  });
}

extern "C" rotor_status rotor_session_get_state(rotor_session *session,
                                                const char *name,
                                                rotor_tensor **out) {
  if (!out)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_session_get_state: out must not be NULL");
  *out = nullptr;
  if (!session || !name)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_session_get_state: session and name must not be NULL");
  return guard([&] {
    size_t k;
    if (rotor_status s = findState(session, name, k))
      return s;
    if (!session->isSet[k])
      return fail(ROTOR_ERR_INVALID_ARGUMENT, prefix(session), "state ",
                  quote(name),
                  " is not set (set it with rotor_session_set_state; a call "
                  "that fails while running unsets every state)");
    TensorPtr value;
    if (rotor_status s = session->backend->getState(k, value))
      return s;
    *out = value.release();
    return ROTOR_OK;
  });
}

extern "C" rotor_status rotor_session_call(rotor_session *session,
                                           const char *const *names,
                                           const rotor_tensor *const *tensors,
                                           size_t n, rotor_tensor **outputs,
                                           size_t n_out) {
  if (n_out > 0 && !outputs)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_session_call: outputs is NULL");
  for (size_t j = 0; j < n_out; ++j)
    outputs[j] = nullptr;
  if (!session)
    return fail(ROTOR_ERR_INVALID_ARGUMENT,
                "rotor_session_call: session must not be NULL");
  return guard(
      [&] { return callImpl(session, names, tensors, n, outputs, n_out); });
}

extern "C" uint64_t rotor_session_graph_replays(const rotor_session *session) {
  return session && session->backend ? session->backend->graphReplays() : 0;
}
