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
|* The lm_* entries are a tiny "language model" following the prefill/decode/ *|
|* forward contract of rotor-run generate (see the comment above them);       *|
|* accumulate carries state from call to call, for the session tests.         *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "TestMemRef.h"

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

/*===----------------------------------------------------------------------===*\
|* State carried from call to call (sessions)                                 *|
\*===----------------------------------------------------------------------===*/

/* accumulate(x: f32[?, 3], total: f32[?, 3], count: i64[], scale: f32[3])
 *     -> (count: i64[], mean: f32[?, 3], total: f32[?, 3])
 * total' = total + scale * x (scale per column), count' = count + 1 and
 * mean = total' / count'. The outputs come in another order than the inputs,
 * so a session must match its states to outputs by name. Rows of total
 * beyond those of x are carried over unchanged. */
EXPORT void rotor_entry_accumulate(void **args) {
  MemRef2 *x = (MemRef2 *)args[0], *total = (MemRef2 *)args[1];
  MemRef0 *count = (MemRef0 *)args[2];
  MemRef1 *scale = (MemRef1 *)args[3];
  MemRef0 *countOut = (MemRef0 *)args[4];
  MemRef2 *outs[2];
  int64_t rows = total->sizes[0], i, j, o;
  int64_t *n = (int64_t *)allocate(sizeof(int64_t));
  float *buffers[2];
  *n = ((int64_t *)count->aligned)[count->offset] + 1;
  countOut->allocated = n;
  countOut->aligned = n;
  countOut->offset = 0;
  outs[0] = (MemRef2 *)args[5];
  outs[1] = (MemRef2 *)args[6];
  for (o = 0; o < 2; ++o) {
    buffers[o] = (float *)allocate(sizeof(float) * rows * 3);
    outs[o]->allocated = buffers[o];
    outs[o]->aligned = buffers[o];
    outs[o]->offset = 0;
    outs[o]->sizes[0] = rows;
    outs[o]->sizes[1] = 3;
    outs[o]->strides[0] = 3;
    outs[o]->strides[1] = 1;
  }
  for (i = 0; i < rows; ++i)
    for (j = 0; j < 3; ++j) {
      float next = AT2(float, total, i, j);
      if (i < x->sizes[0])
        next +=
            ((float *)scale->aligned)[scale->offset + j * scale->strides[0]] *
            AT2(float, x, i, j);
      buffers[1][i * 3 + j] = next;
      buffers[0][i * 3 + j] = next / (float)*n;
    }
}

/*===----------------------------------------------------------------------===*\
|* A tiny language model                                                      *|
\*===----------------------------------------------------------------------===*/

/* Vocabulary size V, layers L and cache width D. The weights are
 * table: i64[V] and bias: f32[V]. After a context with id sum s, the next
 * token is table[s mod V]: logits[v] = (v == table[s mod V]) + bias[v].
 *
 *   lm_forward(input_ids: i64[1, S], table, bias) -> logits: f32[1, S, V]
 *   lm_prefill(input_ids: i64[1, S], table, bias)
 *       -> (logits: f32[1, S, V], k_cache.0, v_cache.0, k_cache.1, v_cache.1)
 *   lm_decode(input_ids: i64[1, 1], k_cache.0, v_cache.0, k_cache.1,
 *             v_cache.1, table, bias)
 *       -> (logits: f32[1, 1, V], k_cache.0, k_cache.1, v_cache.0, v_cache.1)
 *
 * Caches are f32[1, T, D]: position t of k_cache.l holds id_t + l and of
 * v_cache.l 2 * id_t + l (in every column). decode gets the context sum from
 * the caches only, checks that they agree with each other (else its logits
 * are NaN) and returns them with the new position appended. Its outputs are
 * in another order than its inputs, so callers must match caches by name. */
enum { LM_V = 16, LM_L = 2, LM_D = 2 };

#define AT3(T, m, i, j, k)                                                     \
  (((T *)(m)->aligned)[(m)->offset + (i) * (m)->strides[0] +                   \
                       (j) * (m)->strides[1] + (k) * (m)->strides[2]])

static int64_t lmNext(const MemRef1 *table, int64_t sum) {
  int64_t index = ((sum % LM_V) + LM_V) % LM_V;
  return ((int64_t *)table->aligned)[table->offset + index * table->strides[0]];
}

/* Fills row `s` of logits (f32[1, S, V]) for context sum `sum`. */
static void lmLogits(float *logits, int64_t s, const MemRef1 *table,
                     const MemRef1 *bias, int64_t sum) {
  int64_t next = lmNext(table, sum);
  int64_t v;
  for (v = 0; v < LM_V; ++v)
    logits[s * LM_V + v] =
        (v == next ? 1.0f : 0.0f) +
        ((float *)bias->aligned)[bias->offset + v * bias->strides[0]];
}

/* Points `out` at a new dense f32 buffer of shape [1, rows, cols]. */
static float *lmOutput(MemRef3 *out, int64_t rows, int64_t cols) {
  float *buffer = (float *)allocate(sizeof(float) * rows * cols);
  out->allocated = buffer;
  out->aligned = buffer;
  out->offset = 0;
  out->sizes[0] = 1;
  out->sizes[1] = rows;
  out->sizes[2] = cols;
  out->strides[0] = rows * cols;
  out->strides[1] = cols;
  out->strides[2] = 1;
  return buffer;
}

static int64_t lmId(const MemRef2 *ids, int64_t s) {
  return AT2(int64_t, ids, 0, s);
}

/* Logits of every position of ids; the caches too if `caches` is not NULL
 * (k_cache.0, v_cache.0, k_cache.1, v_cache.1). */
static void lmRun(void **args, MemRef3 *logitsOut, MemRef3 **caches) {
  MemRef2 *ids = (MemRef2 *)args[0];
  MemRef1 *table = (MemRef1 *)args[1], *bias = (MemRef1 *)args[2];
  int64_t S = ids->sizes[1], s, l, d;
  float *logits = lmOutput(logitsOut, S, LM_V);
  int64_t sum = 0;
  for (s = 0; s < S; ++s) {
    sum += lmId(ids, s);
    lmLogits(logits, s, table, bias, sum);
  }
  if (!caches)
    return;
  for (l = 0; l < LM_L; ++l) {
    float *k = lmOutput(caches[2 * l], S, LM_D);
    float *v = lmOutput(caches[2 * l + 1], S, LM_D);
    for (s = 0; s < S; ++s)
      for (d = 0; d < LM_D; ++d) {
        k[s * LM_D + d] = (float)(lmId(ids, s) + l);
        v[s * LM_D + d] = (float)(2 * lmId(ids, s) + l);
      }
  }
}

EXPORT void rotor_entry_lm_forward(void **args) {
  lmRun(args, (MemRef3 *)args[3], NULL);
}

EXPORT void rotor_entry_lm_prefill(void **args) {
  MemRef3 *caches[4];
  int c;
  for (c = 0; c < 4; ++c)
    caches[c] = (MemRef3 *)args[4 + c];
  lmRun(args, (MemRef3 *)args[3], caches);
}

EXPORT void rotor_entry_lm_decode(void **args) {
  MemRef2 *ids = (MemRef2 *)args[0];
  /* Inputs: k_cache.0, v_cache.0, k_cache.1, v_cache.1. */
  MemRef3 *in[4];
  MemRef1 *table = (MemRef1 *)args[5], *bias = (MemRef1 *)args[6];
  MemRef3 *logitsOut = (MemRef3 *)args[7];
  /* Outputs: k_cache.0, k_cache.1, v_cache.0, v_cache.1. */
  MemRef3 *out[4];
  int64_t T, t, l, d, sum, id = lmId(ids, 0);
  int consistent = 1, c;
  float *logits;
  for (c = 0; c < 4; ++c)
    in[c] = (MemRef3 *)args[1 + c];
  out[0] = (MemRef3 *)args[8];
  out[2] = (MemRef3 *)args[9];
  out[1] = (MemRef3 *)args[10];
  out[3] = (MemRef3 *)args[11];
  T = in[0]->sizes[1];
  for (c = 0; c < 4; ++c)
    consistent &= in[c]->sizes[1] == T;
  sum = id;
  for (t = 0; consistent && t < T; ++t) {
    float base = AT3(float, in[0], 0, t, 0);
    sum += (int64_t)base;
    for (l = 0; l < LM_L; ++l)
      for (d = 0; d < LM_D; ++d) {
        consistent &= AT3(float, in[2 * l], 0, t, d) - (float)l == base;
        consistent &= AT3(float, in[2 * l + 1], 0, t, d) - (float)l == 2 * base;
      }
  }
  logits = lmOutput(logitsOut, 1, LM_V);
  lmLogits(logits, 0, table, bias, sum);
  if (!consistent)
    for (c = 0; c < LM_V; ++c)
      logits[c] = NAN;
  for (c = 0; c < 4; ++c) {
    int64_t width = consistent ? T : 0;
    float *buffer = lmOutput(out[c], width + 1, LM_D);
    for (t = 0; t < width; ++t)
      for (d = 0; d < LM_D; ++d)
        buffer[t * LM_D + d] = AT3(float, in[c], 0, t, d);
    for (d = 0; d < LM_D; ++d)
      buffer[width * LM_D + d] = (float)((c % 2 ? 2 : 1) * id + c / 2);
  }
}

/* forward, but every logit is NaN. */
EXPORT void rotor_entry_lm_nan(void **args) {
  int64_t i, n;
  float *logits;
  lmRun(args, (MemRef3 *)args[3], NULL);
  logits = (float *)((MemRef3 *)args[3])->aligned;
  n = ((MemRef3 *)args[3])->sizes[1] * LM_V;
  for (i = 0; i < n; ++i)
    logits[i] = NAN;
}
