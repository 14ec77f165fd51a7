//===- grads.cuh - Backward kernels of the row and layer ops -----*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The backward ops that rotor-autodiff emits for a decoder's training step,
// other than attention: cross_entropy_grad, rms_norm_grad (input and
// weight cotangents), embedding_grad, and the small helpers they need
// (label count, f32 -> T conversion, 2-D transpose). Arithmetic in fp32
// (fp64 for counts and the mean of the loss); weight reductions over rows are
// deterministic (fixed order, no atomics) except embedding_grad, whose
// scatter-add uses fp32 atomics.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_GRADS_CUH
#define ROTOR_CUDA_GRADS_CUH

#include "rotor/cuda/common.cuh"
#include "rotor/cuda/layers.cuh"
#include "rotor/cuda/norms.cuh"

namespace rotor {
namespace cuda {

/// count = the number of labels that are not ignore_index, as an f32.
/// grid = (1, 1, 1) exactly.
template <typename LabelT> struct CountLabels {
  static constexpr int kThreads = 1024;
  static constexpr int kTile = 1;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  struct Params {
    const LabelT *labels = nullptr;
    long long n = 0, ignore_index = -100;
    float *count = nullptr;
  };
  __device__ static void run(const Params &p) {
    __shared__ float scratch[32];
    float c = 0.f;
    for (long long r = threadIdx.x; r < p.n; r += kThreads)
      c += (long long)p.labels[r] != p.ignore_index ? 1.f : 0.f;
    c = blockReduce<kThreads>(c, SumOp(), scratch);
    if (threadIdx.x == 0)
      *p.count = c;
  }
};

/// dlogits[r] = dloss * (softmax(logits[r]) - onehot(label[r])) / count for
/// counted rows, 0 for ignored rows (and every row when count = 0). A
/// counted label outside [0, V) gives a NaN row and *err = 1. Unit: a row;
/// in-place on the logits is fine (each element is read before it is
/// written, by the same thread).
template <typename T, typename LabelT, typename GT> struct CrossEntropyGrad : RowKernelBase {
  struct Params {
    const T *logits = nullptr;      // (N, V)
    const LabelT *labels = nullptr; // (N)
    const GT *grad_loss = nullptr;  // 0-D
    const float *count = nullptr;   // 0-D, from CountLabels
    T *out = nullptr;               // (N, V)
    long long n = 0, vocab = 0, ignore_index = -100;
    int *err = nullptr;
  };
  __device__ static void run(const Params &p) {
    __shared__ float scratch[32];
    const float count = *p.count;
    const float g = count > 0.f ? (float)*p.grad_loss / count : 0.f;
    for (long long r = blockIdx.x; r < p.n; r += gridDim.x) {
      const long long label = (long long)p.labels[r];
      const T *x = p.logits + r * p.vocab;
      T *y = p.out + r * p.vocab;
      if (label == p.ignore_index || g == 0.f) {
        for (long long c = threadIdx.x; c < p.vocab; c += kThreads)
          y[c] = fromF32<T>(0.f);
        continue;
      }
      float m, s;
      rowMaxSumExp<kThreads>(x, p.vocab, scratch, m, s);
      const bool bad = label < 0 || label >= p.vocab;
      if (bad && threadIdx.x == 0 && p.err)
        *p.err = 1;
      const float inv = 1.f / s;
      for (long long c = threadIdx.x; c < p.vocab; c += kThreads) {
        float v = expf(toF32(x[c]) - m) * inv - (c == label ? 1.f : 0.f);
        y[c] = fromF32<T>(bad ? __int_as_float(0x7fc00000) : g * v);
      }
    }
  }
};

/// The input cotangent of y = x * r * w, r = 1/sqrt(mean(x^2) + eps):
/// dx = r * (g - x * r^2 * mean(g * x)) with g = dy * w, and r per row into
/// `rstd` (f32, for RmsNormWeightGrad). Unit: a row.
template <typename T, typename WT> struct RmsNormGrad : RowKernelBase {
  struct Params {
    const T *x = nullptr;
    const WT *w = nullptr;
    const T *dy = nullptr;
    T *dx = nullptr;
    float *rstd = nullptr;
    long long rows = 0, cols = 0;
    double eps = 1e-6;
  };
  __device__ static void run(const Params &p) {
    __shared__ float scratch[32];
    for (long long r = blockIdx.x; r < p.rows; r += gridDim.x) {
      const T *x = p.x + r * p.cols;
      const T *dy = p.dy + r * p.cols;
      float ss = 0.f, gx = 0.f;
      for (long long c = threadIdx.x; c < p.cols; c += kThreads) {
        float v = toF32(x[c]);
        ss += v * v;
        gx += toF32(dy[c]) * toF32(p.w[c]) * v;
      }
      ss = blockReduce<kThreads>(ss, SumOp(), scratch);
      gx = blockReduce<kThreads>(gx, SumOp(), scratch);
      const float inv = 1.f / sqrtf(ss / (float)p.cols + (float)p.eps);
      const float k = inv * inv * gx / (float)p.cols;
      if (threadIdx.x == 0)
        p.rstd[r] = inv;
      T *dx = p.dx + r * p.cols;
      for (long long c = threadIdx.x; c < p.cols; c += kThreads) {
        float g = toF32(dy[c]) * toF32(p.w[c]);
        dx[c] = fromF32<T>(inv * (g - toF32(x[c]) * k));
      }
    }
  }
};

/// Σ over rows r of value(r, c) for the block's 32 columns c (1024
/// threads: 32 row lanes of 32 columns), summed in a fixed order
/// (deterministic). True, with the column and its sum, on the one thread
/// that holds a column's result; grid = ceil(cols / 32) exactly.
template <typename F>
__device__ __forceinline__ bool sumColumn(long long rows, long long cols, F value,
                                          long long &c, float &sum) {
  __shared__ float part[32][33];
  const int lane = threadIdx.x & 31, rowLane = threadIdx.x >> 5;
  c = (long long)blockIdx.x * 32 + lane;
  float s = 0.f;
  if (c < cols)
    for (long long r = rowLane; r < rows; r += 32)
      s += value(r, c);
  part[rowLane][lane] = s;
  __syncthreads();
  if (rowLane != 0 || c >= cols)
    return false;
  sum = 0.f;
#pragma unroll
  for (int i = 0; i < 32; ++i)
    sum += part[i][lane];
  return true;
}

/// dw[c] = sum over rows of dy[r, c] * x[r, c] * rstd[r]: 32 columns per
/// block, 32 row lanes summed in a fixed order (deterministic).
/// grid = ceil(cols / kTile) exactly (kTile = 32).
template <typename T, typename WT> struct RmsNormWeightGrad {
  static constexpr int kThreads = 1024;
  static constexpr int kTile = 32;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  struct Params {
    const T *x = nullptr;
    const T *dy = nullptr;
    const float *rstd = nullptr;
    WT *dw = nullptr;
    long long rows = 0, cols = 0;
  };
  __device__ static void run(const Params &p) {
    long long c;
    float sum;
    auto term = [&](long long r, long long col) {
      return toF32(p.dy[r * p.cols + col]) * toF32(p.x[r * p.cols + col]) * p.rstd[r];
    };
    if (sumColumn(p.rows, p.cols, term, c, sum))
      p.dw[c] = fromF32<WT>(sum);
  }
};

/// out[c] = init[c] + sum over rows of x[r, c] (init may alias out): the
/// cotangent of a broadcast bias. 32 columns per block, 32 row lanes summed
/// in a fixed order (deterministic). grid = ceil(cols / 32) exactly.
template <typename T, typename OutT> struct ColumnSum {
  static constexpr int kThreads = 1024;
  static constexpr int kTile = 32;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  struct Params {
    const T *x = nullptr;
    const OutT *init = nullptr;
    OutT *out = nullptr;
    long long rows = 0, cols = 0;
  };
  __device__ static void run(const Params &p) {
    long long c;
    float sum;
    auto term = [&](long long r, long long col) { return toF32(p.x[r * p.cols + col]); };
    if (sumColumn(p.rows, p.cols, term, c, sum))
      p.out[c] = fromF32<OutT>(toF32(p.init[c]) + sum);
  }
};

/// acc[ids[p]] += dy[p] over positions p (acc: (V, H) f32, zeroed before);
/// ids outside [0, V) add nothing. Unit: a position (one block each).
template <typename IdT, typename T> struct EmbeddingGrad : RowKernelBase {
  struct Params {
    const IdT *ids = nullptr;
    const T *dy = nullptr;
    float *acc = nullptr;
    long long n = 0, vocab = 0, hidden = 0;
  };
  __device__ static void run(const Params &p) {
    for (long long r = blockIdx.x; r < p.n; r += gridDim.x) {
      const long long id = (long long)p.ids[r];
      if (id < 0 || id >= p.vocab)
        continue;
      const T *g = p.dy + r * p.hidden;
      float *a = p.acc + id * p.hidden;
      for (long long c = threadIdx.x; c < p.hidden; c += kThreads)
        atomicAdd(a + c, toF32(g[c]));
    }
  }
};

/// out[i] = (OutT)in[i], through f32: f32 accumulators rounded to the
/// element type (Convert<float, T>), or 16-bit tables widened for kernels
/// that read f32 (Convert<T, float>). Unit: an element.
template <typename InT, typename OutT> struct Convert : ElementwiseBase {
  struct Params {
    const InT *in = nullptr;
    OutT *out = nullptr;
    long long n = 0;
  };
  __device__ static void run(const Params &p) {
    for (long long i = first(); i < p.n; i += stride())
      p.out[i] = fromF32<OutT>(toF32(p.in[i]));
  }
};

/// out (cols, rows) = in (rows, cols)ᵀ through 32x33 shared tiles.
/// grid = (ceil(cols / 32), ceil(rows / 32), 1) exactly (kTile = 32).
template <typename T> struct Transpose2D {
  static constexpr int kThreads = 256;
  static constexpr int kTile = 32;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  struct Params {
    const T *in = nullptr;
    T *out = nullptr;
    long long rows = 0, cols = 0;
  };
  __device__ static void run(const Params &p) {
    __shared__ T tile[32][33];
    const long long c0 = (long long)blockIdx.x * 32, r0 = (long long)blockIdx.y * 32;
    const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
    for (int i = ty; i < 32; i += 8) {
      long long r = r0 + i, c = c0 + tx;
      if (r < p.rows && c < p.cols)
        tile[i][tx] = p.in[r * p.cols + c];
    }
    __syncthreads();
    for (int i = ty; i < 32; i += 8) {
      long long c = c0 + i, r = r0 + tx;
      if (r < p.rows && c < p.cols)
        p.out[c * p.rows + r] = tile[tx][i];
    }
  }
};

} // namespace cuda
} // namespace rotor

#endif // ROTOR_CUDA_GRADS_CUH
