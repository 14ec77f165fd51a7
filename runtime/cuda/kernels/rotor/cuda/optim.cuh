//===- optim.cuh - Device-resident optimizer steps ---------------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The per-element work of the runtime's trainer when the parameters live on
// the GPU (runtime/src/train/Trainer.cpp): unscaling and the squared norm of
// each gradient, and the AdamW and SGD updates of torch.optim. The scalars
// (bias corrections, step sizes, clip coefficient) are computed on the host
// by the same code as the host optimizer (runtime/src/train/Optimizer.cpp);
// the element formulas below follow it operation by operation, with
// explicitly rounded f32 operations (__fmul_rn, __fadd_rn, ...) so that no
// multiply-add is fused, as the host file is compiled with
// -ffp-contract=off.
//
// rotorc emits one wrapper per kernel, under fixed names, into the artifacts
// of training steps (lib/Target/CUDA/CudaEmitter.cpp); every kernel is a
// grid-stride loop over elements (any grid), 256 threads.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_OPTIM_CUH
#define ROTOR_CUDA_OPTIM_CUH

#include "rotor/cuda/common.cuh"

namespace rotor {
namespace cuda {
namespace optim {

constexpr int kThreads = 256;

__device__ __forceinline__ long long first() {
  return (long long)blockIdx.x * kThreads + threadIdx.x;
}
__device__ __forceinline__ long long stride() { return (long long)gridDim.x * kThreads; }

/// g *= inverse (when `unscale`), and *sum_sq += Σ g² in f64 (atomically;
/// the caller zeroes it). a.ptr = {g, sum_sq}, a.dim = {n, unscale},
/// a.f = {inverse}.
__device__ __forceinline__ void unscaleSumSquares(const LaunchArgs &a) {
  float *g = (float *)a.ptr[0];
  double *sum = (double *)a.ptr[1];
  const long long n = a.dim[0];
  const bool unscale = a.dim[1] != 0;
  const float inverse = a.f[0];
  double s = 0.0;
  for (long long i = first(); i < n; i += stride()) {
    float v = g[i];
    if (unscale) {
      v = __fmul_rn(v, inverse);
      g[i] = v;
    }
    s += (double)v * (double)v;
  }
  __shared__ double scratch[32];
  s = blockReduce<kThreads>(s, SumOp(), scratch);
  if (threadIdx.x == 0)
    atomicAdd(sum, s);
}

/// out = exp(x): the value a log-space parameter enters the step with.
/// a.ptr = {x, out}, a.dim = {n}.
__device__ __forceinline__ void expValues(const LaunchArgs &a) {
  const float *x = (const float *)a.ptr[0];
  float *out = (float *)a.ptr[1];
  for (long long i = first(); i < a.dim[0]; i += stride())
    out[i] = expf(x[i]);
}

/// g *= e (d/d(log x) = x · d/dx). a.ptr = {g, e}, a.dim = {n}.
__device__ __forceinline__ void scaleByValues(const LaunchArgs &a) {
  float *g = (float *)a.ptr[0];
  const float *e = (const float *)a.ptr[1];
  for (long long i = first(); i < a.dim[0]; i += stride())
    g[i] = __fmul_rn(g[i], e[i]);
}

/// torch.optim.AdamW on one parameter, after clipping (g *= coef when
/// `clip`). a.ptr = {p, g, exp_avg, exp_avg_sq},
/// a.dim = {n, apply_decay, small_weight, clip},
/// a.f = {decay, weight, beta2, one_minus_beta2, step_size,
///        correction2_sqrt, eps, coef}.
__device__ __forceinline__ void adamw(const LaunchArgs &a) {
  float *p = (float *)a.ptr[0];
  const float *gp = (const float *)a.ptr[1];
  float *m = (float *)a.ptr[2];
  float *v = (float *)a.ptr[3];
  const long long n = a.dim[0];
  const bool applyDecay = a.dim[1] != 0, smallWeight = a.dim[2] != 0, clip = a.dim[3] != 0;
  const float decay = a.f[0], weight = a.f[1], beta2 = a.f[2], oneMinusBeta2 = a.f[3];
  const float stepSize = a.f[4], correction2Sqrt = a.f[5], eps = a.f[6], coef = a.f[7];
  for (long long k = first(); k < n; k += stride()) {
    float g = gp[k];
    if (clip)
      g = __fmul_rn(g, coef);
    float pk = p[k];
    if (applyDecay)
      pk = __fmul_rn(pk, decay);
    float mk = m[k];
    mk = smallWeight ? __fadd_rn(mk, __fmul_rn(weight, __fsub_rn(g, mk)))
                     : __fsub_rn(g, __fmul_rn(__fsub_rn(g, mk), __fsub_rn(1.0f, weight)));
    m[k] = mk;
    float vk = __fmul_rn(v[k], beta2);
    vk = __fadd_rn(vk, __fmul_rn(__fmul_rn(oneMinusBeta2, g), g));
    v[k] = vk;
    float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vk), correction2Sqrt), eps);
    p[k] = __fadd_rn(pk, __fdiv_rn(__fmul_rn(stepSize, mk), denom));
  }
}

/// torch.optim.SGD on one parameter, after clipping (g *= coef when `clip`).
/// a.ptr = {p, g, momentum_buffer (unused without momentum)},
/// a.dim = {n, apply_decay, use_momentum, first_step, nesterov, clip},
/// a.f = {decay, momentum, keep (1 - dampening), minus_lr, coef}.
__device__ __forceinline__ void sgd(const LaunchArgs &a) {
  float *p = (float *)a.ptr[0];
  const float *gp = (const float *)a.ptr[1];
  float *b = (float *)a.ptr[2];
  const long long n = a.dim[0];
  const bool applyDecay = a.dim[1] != 0, useMomentum = a.dim[2] != 0;
  const bool firstStep = a.dim[3] != 0, nesterov = a.dim[4] != 0, clip = a.dim[5] != 0;
  const float decay = a.f[0], momentum = a.f[1], keep = a.f[2], minusLr = a.f[3];
  const float coef = a.f[4];
  for (long long k = first(); k < n; k += stride()) {
    float g = gp[k];
    if (clip)
      g = __fmul_rn(g, coef);
    if (applyDecay)
      g = __fadd_rn(g, __fmul_rn(decay, p[k]));
    if (useMomentum) {
      float bk = firstStep ? g : __fadd_rn(__fmul_rn(b[k], momentum), __fmul_rn(keep, g));
      b[k] = bk;
      g = nesterov ? __fadd_rn(g, __fmul_rn(momentum, bk)) : bk;
    }
    p[k] = __fadd_rn(p[k], __fmul_rn(minusLr, g));
  }
}

} // namespace optim
} // namespace cuda
} // namespace rotor

#endif // ROTOR_CUDA_OPTIM_CUH
