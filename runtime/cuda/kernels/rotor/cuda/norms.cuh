//===- norms.cuh - Row normalizations and softmax -----------------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// rms_norm, layer_norm, l2_normalize and softmax over the last dimension:
// one row per block (grid-stride over rows), fp32 statistics, two passes
// over the row (the second read hits L1/L2). In-place safe: each element is
// read and then written by the same thread after the statistics are known.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_NORMS_CUH
#define ROTOR_CUDA_NORMS_CUH

#include "rotor/cuda/common.cuh"

namespace rotor {
namespace cuda {

/// Common sizes of the row kernels; recommended grid = rows.
struct RowKernelBase {
  static constexpr int kThreads = 256;
  static constexpr int kTile = 1;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
};

/// y = x / sqrt(mean(x^2) + eps) * w.
template <typename T, typename WT> struct RmsNorm : RowKernelBase {
  struct Params {
    const T *x = nullptr;
    const WT *w = nullptr;
    T *out = nullptr;
    long long rows = 0, cols = 0;
    double eps = 1e-6;
  };
  __device__ static void run(const Params &p) {
    __shared__ float scratch[32];
    for (long long r = blockIdx.x; r < p.rows; r += gridDim.x) {
      const T *x = p.x + r * p.cols;
      T *y = p.out + r * p.cols;
      float ss = 0.f;
      for (long long c = threadIdx.x; c < p.cols; c += kThreads) {
        float v = toF32(x[c]);
        ss += v * v;
      }
      ss = blockReduce<kThreads>(ss, SumOp(), scratch);
      float inv = 1.f / sqrtf(ss / (float)p.cols + (float)p.eps);
      for (long long c = threadIdx.x; c < p.cols; c += kThreads)
        y[c] = fromF32<T>(toF32(x[c]) * inv * toF32(p.w[c]));
    }
  }
};

/// y = (x - mean) / sqrt(var + eps) * w + b (biased variance).
template <typename T, typename WT, bool kHasBias> struct LayerNorm : RowKernelBase {
  struct Params {
    const T *x = nullptr;
    const WT *w = nullptr;
    const WT *b = nullptr;
    T *out = nullptr;
    long long rows = 0, cols = 0;
    double eps = 1e-5;
  };
  __device__ static void run(const Params &p) {
    __shared__ float scratch[32];
    for (long long r = blockIdx.x; r < p.rows; r += gridDim.x) {
      const T *x = p.x + r * p.cols;
      T *y = p.out + r * p.cols;
      float s = 0.f;
      for (long long c = threadIdx.x; c < p.cols; c += kThreads)
        s += toF32(x[c]);
      float mean = blockReduce<kThreads>(s, SumOp(), scratch) / (float)p.cols;
      float v = 0.f;
      for (long long c = threadIdx.x; c < p.cols; c += kThreads) {
        float d = toF32(x[c]) - mean;
        v += d * d;
      }
      float var = blockReduce<kThreads>(v, SumOp(), scratch) / (float)p.cols;
      float inv = 1.f / sqrtf(var + (float)p.eps);
      for (long long c = threadIdx.x; c < p.cols; c += kThreads) {
        float o = (toF32(x[c]) - mean) * inv * toF32(p.w[c]);
        if constexpr (kHasBias)
          o += toF32(p.b[c]);
        y[c] = fromF32<T>(o);
      }
    }
  }
};

/// y = x / sqrt(max(sum(x^2), eps^2)).
template <typename T> struct L2Normalize : RowKernelBase {
  struct Params {
    const T *x = nullptr;
    T *out = nullptr;
    long long rows = 0, cols = 0;
    double eps = 1e-12;
  };
  __device__ static void run(const Params &p) {
    __shared__ float scratch[32];
    const float eps2 = (float)(p.eps * p.eps);
    for (long long r = blockIdx.x; r < p.rows; r += gridDim.x) {
      const T *x = p.x + r * p.cols;
      T *y = p.out + r * p.cols;
      float ss = 0.f;
      for (long long c = threadIdx.x; c < p.cols; c += kThreads) {
        float v = toF32(x[c]);
        ss += v * v;
      }
      ss = blockReduce<kThreads>(ss, SumOp(), scratch);
      float inv = 1.f / sqrtf(fmaxf(ss, eps2));
      for (long long c = threadIdx.x; c < p.cols; c += kThreads)
        y[c] = fromF32<T>(toF32(x[c]) * inv);
    }
  }
};

/// Softmax over the last dimension.
template <typename T> struct Softmax : RowKernelBase {
  struct Params {
    const T *x = nullptr;
    T *out = nullptr;
    long long rows = 0, cols = 0;
  };
  __device__ static void run(const Params &p) {
    __shared__ float scratch[32];
    for (long long r = blockIdx.x; r < p.rows; r += gridDim.x) {
      const T *x = p.x + r * p.cols;
      T *y = p.out + r * p.cols;
      float m = negInf();
      for (long long c = threadIdx.x; c < p.cols; c += kThreads)
        m = fmaxf(m, toF32(x[c]));
      m = blockReduce<kThreads>(m, MaxOp(), scratch);
      float s = 0.f;
      for (long long c = threadIdx.x; c < p.cols; c += kThreads)
        s += expf(toF32(x[c]) - m);
      float inv = 1.f / blockReduce<kThreads>(s, SumOp(), scratch);
      for (long long c = threadIdx.x; c < p.cols; c += kThreads)
        y[c] = fromF32<T>(expf(toF32(x[c]) - m) * inv);
    }
  }
};

} // namespace cuda
} // namespace rotor

#endif // ROTOR_CUDA_NORMS_CUH
