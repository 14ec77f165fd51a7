/*===- TrainArtifact.c - A trainable artifact for the trainer's tests -----===*\
|*                                                                            *|
|* Part of the Rotor project.                                                 *|
|*                                                                            *|
|*===----------------------------------------------------------------------===*|
|*                                                                            *|
|* Implements the train_step entry of docs/training.md by hand, with exact    *|
|* gradients, for a small language model that can learn the copy task:       *|
|*                                                                            *|
|*   h[b,s]        = sum_{d < K, d <= s} G[d] * E[ids[b,s-d]]  (elementwise)  *|
|*   logits[b,s,v] = h[b,s] . E[v]                    (tied embeddings)       *|
|*   loss          = mean over labels != -100 of cross_entropy(logits, label) *|
|*                                                                            *|
|* with E = model.embed_tokens.weight (V, H) and G = model.mix.weight (K, H): *|
|* the gate G[d] mixes in the token d positions back, so G[n] alone copies    *|
|* a sequence of length n. Computed in double, returned in f32.               *|
|*                                                                            *|
|* With a loss_scale input the gradients come multiplied by it, and values    *|
|* beyond the f16 range (65504) become infinite, as f16 gradients would.      *|
|*                                                                            *|
|* rope_step is a one-parameter problem for log-space parameters: loss =      *|
|* (log(base) - log(20000))^2 for the scalar model.layers.0.self_attn.        *|
|* rope.base (the embedding input is there for the vocabulary; its gradient   *|
|* is zero).                                                                  *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "TestMemRef.h"

EXPORT void rotor_free(void *allocated) { free(allocated); }

static const float *data2(const MemRef2 *m) {
  return (const float *)m->aligned + m->offset;
}

static void returnScalar(MemRef0 *out, float value) {
  float *buffer = (float *)malloc(sizeof(float));
  *buffer = value;
  out->allocated = buffer;
  out->aligned = buffer;
  out->offset = 0;
}

/* Returns `values` (rows x cols doubles) times `scale` as a dense f32
 * memref, infinite where f16 would overflow (only when scaled). */
static void returnMatrix(MemRef2 *out, const double *values, int64_t rows,
                         int64_t cols, const float *scale) {
  float *buffer = (float *)malloc(sizeof(float) * (size_t)(rows * cols + 1));
  for (int64_t i = 0; i < rows * cols; ++i) {
    float value = (float)values[i];
    if (scale) {
      value = value * *scale;
      if (fabsf(value) > 65504.0f)
        value = value > 0 ? INFINITY : -INFINITY;
    }
    buffer[i] = value;
  }
  out->allocated = buffer;
  out->aligned = buffer;
  out->offset = 0;
  out->sizes[0] = rows;
  out->sizes[1] = cols;
  out->strides[0] = cols;
  out->strides[1] = 1;
}

/* args: input_ids, labels, [loss_scale], E, G | loss, grad E, grad G. */
static void trainStep(void **args, int scaled) {
  const MemRef2 *idsRef = (const MemRef2 *)args[0];
  const MemRef2 *labelsRef = (const MemRef2 *)args[1];
  const float *scale = scaled ? (const float *)((MemRef0 *)args[2])->aligned +
                                    ((MemRef0 *)args[2])->offset
                              : NULL;
  int first = scaled ? 3 : 2;
  const MemRef2 *eRef = (const MemRef2 *)args[first];
  const MemRef2 *gRef = (const MemRef2 *)args[first + 1];
  MemRef0 *lossOut = (MemRef0 *)args[first + 2];
  MemRef2 *gradEOut = (MemRef2 *)args[first + 3];
  MemRef2 *gradGOut = (MemRef2 *)args[first + 4];

  int64_t B = idsRef->sizes[0], S = idsRef->sizes[1];
  int64_t V = eRef->sizes[0], H = eRef->sizes[1], K = gRef->sizes[0];
  const int64_t *ids = (const int64_t *)idsRef->aligned + idsRef->offset;
  const int64_t *labels =
      (const int64_t *)labelsRef->aligned + labelsRef->offset;
  const float *E = data2(eRef), *G = data2(gRef);

  double *dE = (double *)calloc((size_t)(V * H), sizeof(double));
  double *dG = (double *)calloc((size_t)(K * H), sizeof(double));
  double *h = (double *)malloc(sizeof(double) * (size_t)H);
  double *dh = (double *)malloc(sizeof(double) * (size_t)H);
  double *p = (double *)malloc(sizeof(double) * (size_t)V);

  int64_t count = 0;
  for (int64_t i = 0; i < B * S; ++i)
    count += labels[i] != -100;
  double loss = 0;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t s = 0; s < S; ++s) {
      int64_t label = labels[b * S + s];
      if (label == -100)
        continue;
      for (int64_t k = 0; k < H; ++k)
        h[k] = 0;
      for (int64_t d = 0; d < K && d <= s; ++d) {
        const float *e = E + ids[b * S + s - d] * H;
        for (int64_t k = 0; k < H; ++k)
          h[k] += (double)G[d * H + k] * e[k];
      }
      double max = -INFINITY;
      for (int64_t v = 0; v < V; ++v) {
        double logit = 0;
        for (int64_t k = 0; k < H; ++k)
          logit += h[k] * E[v * H + k];
        p[v] = logit;
        if (logit > max)
          max = logit;
      }
      double sum = 0;
      for (int64_t v = 0; v < V; ++v)
        sum += exp(p[v] - max);
      loss += max + log(sum) - p[label];
      for (int64_t k = 0; k < H; ++k)
        dh[k] = 0;
      for (int64_t v = 0; v < V; ++v) {
        double dlogit = (exp(p[v] - max) / sum - (v == label)) / count;
        for (int64_t k = 0; k < H; ++k) {
          dE[v * H + k] += dlogit * h[k];
          dh[k] += dlogit * E[v * H + k];
        }
      }
      for (int64_t d = 0; d < K && d <= s; ++d) {
        int64_t token = ids[b * S + s - d];
        for (int64_t k = 0; k < H; ++k) {
          dG[d * H + k] += dh[k] * E[token * H + k];
          dE[token * H + k] += dh[k] * G[d * H + k];
        }
      }
    }
  }
  returnScalar(lossOut, count ? (float)(loss / count) : 0.0f);
  returnMatrix(gradEOut, dE, V, H, scale);
  returnMatrix(gradGOut, dG, K, H, scale);
  free(dE);
  free(dG);
  free(h);
  free(dh);
  free(p);
}

EXPORT void rotor_entry_train_step(void **args) { trainStep(args, 0); }
EXPORT void rotor_entry_train_step_scaled(void **args) { trainStep(args, 1); }

/* args: input_ids, labels, E, base | loss, grad E, grad base. */
EXPORT void rotor_entry_rope_step(void **args) {
  const MemRef2 *eRef = (const MemRef2 *)args[2];
  const MemRef0 *baseRef = (const MemRef0 *)args[3];
  float base = ((const float *)baseRef->aligned)[baseRef->offset];
  double distance = log((double)base) - log(20000.0);
  returnScalar((MemRef0 *)args[4], (float)(distance * distance));
  int64_t V = eRef->sizes[0], H = eRef->sizes[1];
  double *zeros = (double *)calloc((size_t)(V * H), sizeof(double));
  returnMatrix((MemRef2 *)args[5], zeros, V, H, NULL);
  free(zeros);
  returnScalar((MemRef0 *)args[6], (float)(2 * distance / base));
}
