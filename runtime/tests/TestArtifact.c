/*===- TestArtifact.c - A hand-written artifact library for the tests -----===*\
|*                                                                            *|
|* Part of the Rotor project.                                                 *|
|*                                                                            *|
|*===----------------------------------------------------------------------===*|
|*                                                                            *|
|* Implements the entry-point ABI of docs/artifact-abi.md by hand. Outputs    *|
|* deliberately use non-dense layouts (padded rows, offsets, column-major,    *|
|* negative strides, views sharing one buffer, an input returned as is) so    *|
|* that the runtime's strided copy and buffer release are exercised.          *|
|* Compiled twice: with ROTOR_TEST_NO_FREE the library lacks rotor_free.      *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
} MemRef0;

typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[1];
  int64_t strides[1];
} MemRef1;

typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
} MemRef2;

/* Buffers handed out and not yet released, and rotor_free calls. */
static long liveBuffers;
static long freeCalls;

static void *allocate(size_t bytes) {
  ++liveBuffers;
  return malloc(bytes ? bytes : 1);
}

EXPORT long rotor_test_live_buffers(void) { return liveBuffers; }
EXPORT long rotor_test_free_calls(void) { return freeCalls; }

#ifndef ROTOR_TEST_NO_FREE
EXPORT void rotor_free(void *allocated) {
  --liveBuffers;
  ++freeCalls;
  free(allocated);
}
#endif

/* Element (i, j) of a rank-2 memref of element type T. */
#define AT2(T, m, i, j)                                                        \
  (((T *)(m)->aligned)[(m)->offset + (i) * (m)->strides[0] +                   \
                       (j) * (m)->strides[1]])

/* add(a: f32[?, 5], b: f32[?, 5]) -> sum: f32[?, 5], stored with rows padded
 * to 8 elements and an offset of 3. */
EXPORT void rotor_entry_add(void **args) {
  MemRef2 *a = (MemRef2 *)args[0], *b = (MemRef2 *)args[1];
  MemRef2 *out = (MemRef2 *)args[2];
  int64_t rows = a->sizes[0], cols = a->sizes[1];
  int64_t stride = cols + 3, offset = 3;
  float *buffer = (float *)allocate(sizeof(float) * (offset + rows * stride));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      buffer[offset + i * stride + j] =
          AT2(float, a, i, j) + AT2(float, b, i, j);
  out->allocated = buffer;
  out->aligned = buffer;
  out->offset = offset;
  out->sizes[0] = rows;
  out->sizes[1] = cols;
  out->strides[0] = stride;
  out->strides[1] = 1;
}

/* sum(x: f32[?, 5]) -> total: f32[], at offset 1 of a 2-element buffer. */
EXPORT void rotor_entry_sum(void **args) {
  MemRef2 *x = (MemRef2 *)args[0];
  MemRef0 *out = (MemRef0 *)args[1];
  float *buffer = (float *)allocate(2 * sizeof(float));
  float total = 0;
  for (int64_t i = 0; i < x->sizes[0]; ++i)
    for (int64_t j = 0; j < x->sizes[1]; ++j)
      total += AT2(float, x, i, j);
  buffer[0] = -1;
  buffer[1] = total;
  out->allocated = buffer;
  out->aligned = buffer;
  out->offset = 1;
}

/* transpose(x: f64[?, ?]) -> y: f64[?, ?], stored column-major. */
EXPORT void rotor_entry_transpose(void **args) {
  MemRef2 *x = (MemRef2 *)args[0];
  MemRef2 *out = (MemRef2 *)args[1];
  int64_t rows = x->sizes[1], cols = x->sizes[0];
  double *buffer = (double *)allocate(sizeof(double) * rows * cols);
  /* y(i, j) = x(j, i) lives at i + j * rows. */
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      buffer[i + j * rows] = AT2(double, x, j, i);
  out->allocated = buffer;
  out->aligned = buffer;
  out->offset = 0;
  out->sizes[0] = rows;
  out->sizes[1] = cols;
  out->strides[0] = 1;
  out->strides[1] = rows;
}

/* split(x: i32[?]) -> (head: i32[?], tail: i32[?]): head is the first half,
 * tail the rest reversed (negative stride); both view one buffer. */
EXPORT void rotor_entry_split(void **args) {
  MemRef1 *x = (MemRef1 *)args[0];
  MemRef1 *head = (MemRef1 *)args[1], *tail = (MemRef1 *)args[2];
  int64_t n = x->sizes[0], half = n / 2;
  int32_t *buffer = (int32_t *)allocate(sizeof(int32_t) * n);
  for (int64_t i = 0; i < n; ++i)
    buffer[i] = ((int32_t *)x->aligned)[x->offset + i * x->strides[0]];
  head->allocated = buffer;
  head->aligned = buffer;
  head->offset = 0;
  head->sizes[0] = half;
  head->strides[0] = 1;
  tail->allocated = buffer;
  tail->aligned = buffer;
  tail->offset = n - 1;
  tail->sizes[0] = n - half;
  tail->strides[0] = -1;
}

/* identity(x: i64[3]) -> y: i64[3], returning the input descriptor. */
EXPORT void rotor_entry_identity(void **args) {
  memcpy(args[1], args[0], sizeof(MemRef1));
}

/* negate(x: bf16[?]) -> y: bf16[?], flipping sign bits. */
EXPORT void rotor_entry_negate(void **args) {
  MemRef1 *x = (MemRef1 *)args[0];
  MemRef1 *out = (MemRef1 *)args[1];
  int64_t n = x->sizes[0];
  uint16_t *buffer = (uint16_t *)allocate(sizeof(uint16_t) * n);
  for (int64_t i = 0; i < n; ++i)
    buffer[i] =
        ((uint16_t *)x->aligned)[x->offset + i * x->strides[0]] ^ 0x8000u;
  out->allocated = buffer;
  out->aligned = buffer;
  out->offset = 0;
  out->sizes[0] = n;
  out->strides[0] = 1;
}

/* misbehave(x: f32[4]) -> y: f32[4], but returns 3 elements: the runtime
 * must reject the result and still release the buffer. */
EXPORT void rotor_entry_misbehave(void **args) {
  MemRef1 *out = (MemRef1 *)args[1];
  float *buffer = (float *)allocate(sizeof(float) * 3);
  memset(buffer, 0, sizeof(float) * 3);
  (void)args[0];
  out->allocated = buffer;
  out->aligned = buffer;
  out->offset = 0;
  out->sizes[0] = 3;
  out->strides[0] = 1;
}

/* alignment(x: f64[?]) -> (aligned: i64[]): reports whether the input
 * buffer is 8-byte aligned (1) or not (0). */
EXPORT void rotor_entry_alignment(void **args) {
  MemRef1 *x = (MemRef1 *)args[0];
  MemRef0 *out = (MemRef0 *)args[1];
  int64_t *buffer = (int64_t *)allocate(sizeof(int64_t));
  *buffer = ((uintptr_t)x->aligned % 8) == 0;
  out->allocated = buffer;
  out->aligned = buffer;
  out->offset = 0;
}
