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
