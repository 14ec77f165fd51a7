/*===- CApiTest.c - Uses the runtime from C -------------------------------===*\
|*                                                                            *|
|* Part of the Rotor project.                                                 *|
|*                                                                            *|
|*===----------------------------------------------------------------------===*|
|*                                                                            *|
|* Compiled as C (C99, -pedantic) to check that rotor/runtime.h is a C        *|
|* header; CApiTest.cpp runs it.                                              *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "rotor/runtime.h"

#include <string.h>

/* Loads the test artifact in `dir`, runs `sum` on a 2x5 tensor of ones and
 * returns the result, or -1 on any failure. */
float rotor_test_c_api_sum(const char *dir) {
  rotor_artifact *artifact = NULL;
  rotor_tensor *input = NULL, *output = NULL;
  const rotor_tensor *inputs[1];
  int64_t shape[2] = {2, 5};
  float result = -1;
  size_t entry;
  rotor_arg_info info;

  if (rotor_artifact_load(dir, ROTOR_DEVICE_CPU, &artifact) != ROTOR_OK)
    return -1;
  if (rotor_artifact_find_entry(artifact, "sum", &entry) != ROTOR_OK ||
      rotor_entry_output(artifact, entry, 0, &info) != ROTOR_OK ||
      strcmp(info.name, "total") != 0 || info.rank != 0)
    goto done;
  if (rotor_tensor_create(ROTOR_F32, 2, shape, &input) != ROTOR_OK)
    goto done;
  {
    float *data = (float *)rotor_tensor_data(input);
    int i;
    for (i = 0; i < 10; ++i)
      data[i] = 1.0f;
  }
  inputs[0] = input;
  if (rotor_call(artifact, "sum", inputs, 1, &output, 1) != ROTOR_OK)
    goto done;
  if (rotor_tensor_dtype(output) == ROTOR_F32 && rotor_tensor_rank(output) == 0)
    memcpy(&result, rotor_tensor_data(output), sizeof(result));

done:
  rotor_tensor_free(output);
  rotor_tensor_free(input);
  rotor_artifact_free(artifact);
  return result;
}

/* Loads the artifact in `dir`, runs `add` by name with `b` given before `a`
 * (both 1x5, a = 1..5, b = 10) and returns the sum of the output, or -1 on
 * any failure. */
float rotor_test_c_api_named_add(const char *dir) {
  rotor_artifact *artifact = NULL;
  rotor_tensor *a = NULL, *b = NULL, *output = NULL;
  const char *names[2] = {"b", "a"};
  const rotor_tensor *tensors[2];
  int64_t shape[2] = {1, 5};
  float result = -1;
  int i;

  if (rotor_artifact_load(dir, ROTOR_DEVICE_CPU, &artifact) != ROTOR_OK)
    return -1;
  if (rotor_artifact_weights_path(artifact) != NULL ||
      rotor_artifact_num_weights(artifact) != 0 ||
      rotor_entry_input_is_weight(artifact, 0, 0) != 0)
    goto done;
  if (rotor_tensor_create(ROTOR_F32, 2, shape, &a) != ROTOR_OK ||
      rotor_tensor_create(ROTOR_F32, 2, shape, &b) != ROTOR_OK)
    goto done;
  for (i = 0; i < 5; ++i) {
    ((float *)rotor_tensor_data(a))[i] = (float)(i + 1);
    ((float *)rotor_tensor_data(b))[i] = 10.0f;
  }
  tensors[0] = b;
  tensors[1] = a;
  if (rotor_call_named(artifact, "add", names, tensors, 2, &output, 1) !=
      ROTOR_OK)
    goto done;
  result = 0;
  for (i = 0; i < 5; ++i)
    result += ((const float *)rotor_tensor_data(output))[i];

done:
  rotor_tensor_free(output);
  rotor_tensor_free(b);
  rotor_tensor_free(a);
  rotor_artifact_free(artifact);
  return result;
}

/* Loads the session artifact in `dir` and runs `accumulate` three times in a
 * session whose states are total (1x3, zeros) and count (0), with x = 1, 2,
 * 3 in every column and scale from the weights file; returns the sum of the
 * last mean plus the final count, or -1 on any failure. */
float rotor_test_c_api_session(const char *dir) {
  rotor_artifact *artifact = NULL;
  rotor_session *session = NULL;
  rotor_tensor *total = NULL, *count = NULL, *x = NULL, *mean = NULL;
  rotor_tensor *finalCount = NULL;
  const char *states[2] = {"total", "count"};
  const char *names[1] = {"x"};
  const rotor_tensor *tensors[1];
  int64_t shape[2] = {1, 3};
  float result = -1;
  int step, i;

  if (rotor_artifact_load(dir, ROTOR_DEVICE_CPU, &artifact) != ROTOR_OK)
    return -1;
  if (rotor_session_create(artifact, "accumulate", states, 2, &session) !=
          ROTOR_OK ||
      rotor_tensor_create(ROTOR_F32, 2, shape, &total) != ROTOR_OK ||
      rotor_tensor_create(ROTOR_I64, 0, NULL, &count) != ROTOR_OK ||
      rotor_tensor_create(ROTOR_F32, 2, shape, &x) != ROTOR_OK ||
      rotor_session_set_state(session, "total", total) != ROTOR_OK ||
      rotor_session_set_state(session, "count", count) != ROTOR_OK)
    goto done;
  tensors[0] = x;
  for (step = 1; step <= 3; ++step) {
    for (i = 0; i < 3; ++i)
      ((float *)rotor_tensor_data(x))[i] = (float)step;
    rotor_tensor_free(mean);
    mean = NULL;
    if (rotor_session_call(session, names, tensors, 1, &mean, 1) != ROTOR_OK)
      goto done;
  }
  if (rotor_session_get_state(session, "count", &finalCount) != ROTOR_OK ||
      rotor_session_graph_replays(session) != 0)
    goto done;
  result = (float)*(const int64_t *)rotor_tensor_data(finalCount);
  for (i = 0; i < 3; ++i)
    result += ((const float *)rotor_tensor_data(mean))[i];

done:
  rotor_tensor_free(finalCount);
  rotor_tensor_free(mean);
  rotor_tensor_free(x);
  rotor_tensor_free(count);
  rotor_tensor_free(total);
  rotor_session_free(session);
  rotor_artifact_free(artifact);
  return result;
}
