/*===- rotor/runtime.h - The Rotor runtime C API ------------------*- C -*-===*\
|*                                                                            *|
|* Part of the Rotor project.                                                 *|
|*                                                                            *|
|*===----------------------------------------------------------------------===*|
|*                                                                            *|
|* Loads a Rotor artifact (a directory with manifest.json, a native library  *|
|* and optionally a weights file, see docs/artifact-abi.md) and calls its     *|
|* entry points on tensors.                                                   *|
|* Usable from C, C++ and Python ctypes; no MLIR or LLVM dependency.          *|
|*                                                                            *|
|* Conventions:                                                               *|
|*  - Functions that can fail return a rotor_status. On failure, the          *|
|*    thread-local message returned by rotor_last_error() says what went      *|
|*    wrong, naming the file, field or tensor and the rule that was broken.   *|
|*    Output parameters are set to NULL (or left untouched for plain values)  *|
|*    on failure.                                                             *|
|*  - Objects returned through `**out` parameters are owned by the caller and *|
|*    released with the matching *_free function (which accepts NULL).        *|
|*  - Strings and arrays returned by query functions stay valid as long as    *|
|*    the object they were queried from.                                      *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ROTOR_RUNTIME_H
#define ROTOR_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define ROTOR_API __attribute__((visibility("default")))
#else
#define ROTOR_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* In C++ the enums get int as their fixed underlying type, so that any int a
   C or ctypes caller passes is a valid value (and rejected by name checks
   rather than being undefined behavior). */
#ifdef __cplusplus
#define ROTOR_ENUM_BASE : int
#else
#define ROTOR_ENUM_BASE
#endif

/// The artifact format version this runtime reads (manifest.json
/// "format_version").
#define ROTOR_ARTIFACT_FORMAT_VERSION 1

/// The largest tensor rank the runtime accepts anywhere (manifests, tensors,
/// .npy and .safetensors files).
#define ROTOR_MAX_RANK 32

/// Marks a dynamic dimension in an entry's argument shape.
#define ROTOR_DYNAMIC_DIM (-1)

/*===----------------------------------------------------------------------===*\
|* Status and errors                                                          *|
\*===----------------------------------------------------------------------===*/

/// The result of every fallible call. Values are stable (part of the ABI).
typedef enum rotor_status ROTOR_ENUM_BASE {
  ROTOR_OK = 0,
  /// A file could not be opened, read, written or renamed.
  ROTOR_ERR_IO = 1,
  /// A file's contents break its format (JSON syntax, manifest schema, .npy
  /// or .safetensors layout).
  ROTOR_ERR_FORMAT = 2,
  /// The caller passed something invalid (NULL pointer, bad rank, wrong
  /// dtype or shape for an entry input, ...).
  ROTOR_ERR_INVALID_ARGUMENT = 3,
  /// A named thing does not exist (file, entry, symbol, tensor).
  ROTOR_ERR_NOT_FOUND = 4,
  /// The backend failed: the native library could not be loaded, or an entry
  /// returned a result that contradicts the manifest.
  ROTOR_ERR_BACKEND = 5,
  /// Valid but not supported by this runtime build (an unknown artifact
  /// format version, the CUDA device, big-endian .npy data, ...).
  ROTOR_ERR_UNSUPPORTED = 6,
  /// A memory allocation failed.
  ROTOR_ERR_OUT_OF_MEMORY = 7
} rotor_status;

/// A short constant name for `status`, e.g. "ROTOR_ERR_FORMAT".
ROTOR_API const char *rotor_status_name(rotor_status status);

/// The message of the most recent failed call on this thread, or "" if none
/// failed yet. Successful calls leave it unchanged. The pointer stays valid
/// until the next failing call on this thread.
ROTOR_API const char *rotor_last_error(void);

/// Resets this thread's last error message to "".
ROTOR_API void rotor_clear_error(void);

/*===----------------------------------------------------------------------===*\
|* Element types and devices                                                  *|
\*===----------------------------------------------------------------------===*/

/// Element types. bf16 and f16 hold their 16-bit patterns.
typedef enum rotor_dtype ROTOR_ENUM_BASE {
  ROTOR_F32 = 0,
  ROTOR_F64 = 1,
  ROTOR_BF16 = 2,
  ROTOR_F16 = 3,
  ROTOR_I32 = 4,
  ROTOR_I64 = 5
} rotor_dtype;

/// The size in bytes of one element of `dtype`, or 0 if `dtype` is invalid.
ROTOR_API size_t rotor_dtype_size(rotor_dtype dtype);

/// The manifest spelling of `dtype` ("f32", "bf16", ...), or NULL if invalid.
ROTOR_API const char *rotor_dtype_name(rotor_dtype dtype);

/// Parses a manifest dtype name ("f32", "f64", "bf16", "f16", "i32", "i64").
ROTOR_API rotor_status rotor_dtype_from_name(const char *name,
                                             rotor_dtype *out);

/// Where an artifact runs.
typedef enum rotor_device ROTOR_ENUM_BASE {
  ROTOR_DEVICE_CPU = 0,
  /// An NVIDIA GPU. Runtimes built without the CUDA headers, and machines
  /// without a GPU and driver, answer ROTOR_ERR_UNSUPPORTED when loading.
  ROTOR_DEVICE_CUDA = 1
} rotor_device;

/// "cpu" or "cuda", or NULL if `device` is invalid.
ROTOR_API const char *rotor_device_name(rotor_device device);

/// Parses "cpu" or "cuda".
ROTOR_API rotor_status rotor_device_from_name(const char *name,
                                              rotor_device *out);

/*===----------------------------------------------------------------------===*\
|* Tensors                                                                    *|
\*===----------------------------------------------------------------------===*/

/// A dense, row-major host tensor. It either owns its buffer (created by
/// rotor_tensor_create or returned by rotor_call) or views external memory
/// (rotor_tensor_wrap).
typedef struct rotor_tensor rotor_tensor;

/// Creates a tensor owning a zero-initialized, 64-byte aligned buffer.
/// `shape` holds `rank` non-negative sizes (may be NULL when rank is 0).
ROTOR_API rotor_status rotor_tensor_create(rotor_dtype dtype, size_t rank,
                                           const int64_t *shape,
                                           rotor_tensor **out);

/// Creates a tensor viewing `data`, which the caller keeps alive and frees.
/// `data` must hold the dense row-major elements; it may be NULL only when
/// the tensor has no elements.
ROTOR_API rotor_status rotor_tensor_wrap(rotor_dtype dtype, size_t rank,
                                         const int64_t *shape, void *data,
                                         rotor_tensor **out);

/// Frees the tensor (and its buffer if it owns it). Accepts NULL.
ROTOR_API void rotor_tensor_free(rotor_tensor *tensor);

ROTOR_API rotor_dtype rotor_tensor_dtype(const rotor_tensor *tensor);
ROTOR_API size_t rotor_tensor_rank(const rotor_tensor *tensor);
/// The `rank` sizes (a valid pointer even for rank 0).
ROTOR_API const int64_t *rotor_tensor_shape(const rotor_tensor *tensor);
/// The number of elements (1 for rank 0).
ROTOR_API int64_t rotor_tensor_numel(const rotor_tensor *tensor);
/// numel * dtype size.
ROTOR_API size_t rotor_tensor_nbytes(const rotor_tensor *tensor);
/// The first element. Never NULL for owned tensors.
ROTOR_API void *rotor_tensor_data(const rotor_tensor *tensor);
/// 1 if the tensor owns its buffer, 0 if it views external memory.
ROTOR_API int rotor_tensor_owns_data(const rotor_tensor *tensor);

/*===----------------------------------------------------------------------===*\
|* Artifacts                                                                  *|
\*===----------------------------------------------------------------------===*/

/// A loaded artifact: its manifest and the backend's resolved entry points.
/// Immutable after loading; rotor_call may be used from several threads at
/// once if the artifact's code is reentrant (code from rotorc is).
typedef struct rotor_artifact rotor_artifact;

/// An entry argument as declared by the manifest.
typedef struct rotor_arg_info {
  const char *name;
  rotor_dtype dtype;
  size_t rank;
  /// `rank` sizes; ROTOR_DYNAMIC_DIM (-1) marks a dynamic dimension.
  const int64_t *shape;
} rotor_arg_info;

/// Loads the artifact in directory `dir` for `device`: reads and validates
/// manifest.json, loads the native library and resolves every entry symbol
/// and `rotor_free`. If the manifest names a weights file ("weights"), maps
/// it read-only and validates it: its .safetensors layout, and every tensor
/// named like an entry input having a supported dtype and fitting that
/// input's dtype and shape (errors name the file and the tensor).
ROTOR_API rotor_status rotor_artifact_load(const char *dir, rotor_device device,
                                           rotor_artifact **out);

/// Unloads the artifact. Tensors returned by rotor_call stay valid.
/// Accepts NULL.
ROTOR_API void rotor_artifact_free(rotor_artifact *artifact);

ROTOR_API rotor_device rotor_artifact_device(const rotor_artifact *artifact);
ROTOR_API size_t rotor_artifact_num_entries(const rotor_artifact *artifact);
/// The name of entry `index`, or NULL if out of range.
ROTOR_API const char *rotor_artifact_entry_name(const rotor_artifact *artifact,
                                                size_t index);
/// Finds an entry by name; ROTOR_ERR_NOT_FOUND lists the known entries.
ROTOR_API rotor_status rotor_artifact_find_entry(const rotor_artifact *artifact,
                                                 const char *name,
                                                 size_t *index);

/// Argument counts of entry `entry` (0 if `entry` is out of range).
ROTOR_API size_t rotor_entry_num_inputs(const rotor_artifact *artifact,
                                        size_t entry);
ROTOR_API size_t rotor_entry_num_outputs(const rotor_artifact *artifact,
                                         size_t entry);

/// Describes input or output `index` of entry `entry`.
ROTOR_API rotor_status rotor_entry_input(const rotor_artifact *artifact,
                                         size_t entry, size_t index,
                                         rotor_arg_info *out);
ROTOR_API rotor_status rotor_entry_output(const rotor_artifact *artifact,
                                          size_t entry, size_t index,
                                          rotor_arg_info *out);

/// Calls entry `entry_name`. `inputs` holds `n_in` tensors, checked against
/// the manifest (count, dtype, rank, static sizes) before the call. On
/// success, `outputs[0..n_out)` receive new owned dense tensors that the
/// caller frees with rotor_tensor_free; `n_out` must equal the entry's
/// output count. On failure every `outputs[j]` is NULL.
ROTOR_API rotor_status rotor_call(rotor_artifact *artifact,
                                  const char *entry_name,
                                  const rotor_tensor *const *inputs,
                                  size_t n_in, rotor_tensor **outputs,
                                  size_t n_out);

/*===----------------------------------------------------------------------===*\
|* Weights                                                                    *|
\*===----------------------------------------------------------------------===*/

/// The path of the artifact's weights file (`dir`/NAME, NAME from the
/// manifest's "weights"), or NULL if it has none.
ROTOR_API const char *
rotor_artifact_weights_path(const rotor_artifact *artifact);

/// The number of weights: the tensors of the weights file whose dtype the
/// runtime supports (0 without a weights file).
ROTOR_API size_t rotor_artifact_num_weights(const rotor_artifact *artifact);

/// The name of weight `index` (file order), or NULL if out of range.
ROTOR_API const char *rotor_artifact_weight_name(const rotor_artifact *artifact,
                                                 size_t index);

/// Finds a weight by name. `*out` is owned by the artifact and valid until
/// rotor_artifact_free: do not free it or write to its data (it may view
/// the read-only mapping of the file). ROTOR_ERR_NOT_FOUND if absent.
ROTOR_API rotor_status rotor_artifact_find_weight(
    const rotor_artifact *artifact, const char *name, const rotor_tensor **out);

/// 1 if input `index` of entry `entry` is a tensor of the weights file (so
/// that rotor_call_named binds it when it is left out), else 0.
ROTOR_API int rotor_entry_input_is_weight(const rotor_artifact *artifact,
                                          size_t entry, size_t index);

/// Calls entry `entry_name` with inputs bound by name: `names[k]` is the
/// manifest name of input tensor `tensors[k]`, for k < n (in any order).
/// Inputs not given are bound to the weights file's tensor of the same name
/// (zero-copy where the file's data is aligned; checked against the
/// manifest at load time). An unknown or repeated name, or an input neither
/// given nor in the weights file, is an error naming it. Then as rotor_call:
/// every input is checked against the manifest, `n_out` must equal the
/// entry's output count, and on success `outputs[0..n_out)` receive new
/// owned tensors; on failure every `outputs[j]` is NULL.
ROTOR_API rotor_status rotor_call_named(rotor_artifact *artifact,
                                        const char *entry_name,
                                        const char *const *names,
                                        const rotor_tensor *const *tensors,
                                        size_t n, rotor_tensor **outputs,
                                        size_t n_out);

/*===----------------------------------------------------------------------===*\
|* Sessions                                                                   *|
\*===----------------------------------------------------------------------===*/

/// Repeated calls of one entry that carry state from call to call: the
/// decode loop of a language model, whose KV caches are inputs of one call
/// and outputs of the same name of the call before. The session keeps the
/// values of its states between calls (in device memory on CUDA, where the
/// calls may replay a captured CUDA graph, see docs/cuda-backend.md), so
/// that they never travel through the caller. A session must be freed
/// before its artifact and used by one thread at a time.
typedef struct rotor_session rotor_session;

/// Creates a session calling entry `entry_name` of `artifact`. The inputs
/// named in `state_names[0..n_state)` are the state (n_state may be 0): each
/// must have an output of the same name with the same dtype and rank, and
/// every static size of the input must be a static size of the output (so
/// that the output always fits the input). The session keeps their values
/// between calls and after each call replaces each by the output of its
/// name. Errors name the entry and the state: an unknown input, no output of
/// that name, a dtype, rank or size mismatch, a repeated name, a tensor of
/// the weights file named as state.
ROTOR_API rotor_status rotor_session_create(rotor_artifact *artifact,
                                            const char *entry_name,
                                            const char *const *state_names,
                                            size_t n_state,
                                            rotor_session **out);

/// Frees the session and its states. Accepts NULL.
ROTOR_API void rotor_session_free(rotor_session *session);

/// Sets state `name` to a copy of `value`, checked against the entry's input
/// (dtype, rank, static sizes). Every state must be set before the first
/// call. Setting it again with the same shape keeps its device buffer (so
/// that a captured CUDA graph stays valid); another shape replaces it.
ROTOR_API rotor_status rotor_session_set_state(rotor_session *session,
                                               const char *name,
                                               const rotor_tensor *value);

/// Copies the current value of state `name` into a new owned host tensor.
ROTOR_API rotor_status rotor_session_get_state(rotor_session *session,
                                               const char *name,
                                               rotor_tensor **out);

/// Calls the entry. `names[k]`/`tensors[k]` (k < n) give inputs that are not
/// state; inputs neither given nor state are bound to the artifact's
/// weights file by name, as by rotor_call_named, and every input is checked
/// against the manifest. `outputs[0..n_out)` receive the entry's outputs
/// that are not state, in manifest order (`n_out` must equal their count),
/// as new owned tensors; on failure every `outputs[j]` is NULL. After a
/// successful call every state holds its output (whose shape may differ
/// from the state's, e.g. a cache that grows). A call rejected for its
/// arguments (counts, names, dtypes, shapes, an unset state) leaves the
/// states as they were; after a call that failed while running the entry
/// the values of the states are unspecified, and every state must be set
/// again before the next call.
ROTOR_API rotor_status rotor_session_call(rotor_session *session,
                                          const char *const *names,
                                          const rotor_tensor *const *tensors,
                                          size_t n, rotor_tensor **outputs,
                                          size_t n_out);

/// The number of calls of this session that replayed a captured CUDA graph
/// (always 0 on the CPU, and 0 for NULL).
ROTOR_API uint64_t rotor_session_graph_replays(const rotor_session *session);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ROTOR_RUNTIME_H */
