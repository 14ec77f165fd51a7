//===- layers.cuh - Givens, embeddings, conv1d, losses, layouts ---*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The remaining model ops of the GPU backend: the Givens chain (in
// registers), embedding gather, grouped 1-D convolution, sinusoidal
// embedding, cross-entropy (rows, then a deterministic mean), head
// split/merge transposes, swiglu and the bias/activation/residual epilogue of
// GEMM outputs. Semantics: RotorOps.td and rotor_ref.py.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_LAYERS_CUH
#define ROTOR_CUDA_LAYERS_CUH

#include "rotor/cuda/common.cuh"
#include "rotor/cuda/norms.cuh"
#include "rotor/cuda/ptx.cuh"

namespace rotor {
namespace cuda {

/// Elementwise kernels: grid-stride at thread granularity; recommended
/// grid = ceil(units / kTile), each thread then handles 4 units.
struct ElementwiseBase {
  static constexpr int kThreads = 256;
  static constexpr int kTile = 1024;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  __device__ __forceinline__ static long long first() {
    return (long long)blockIdx.x * kThreads + threadIdx.x;
  }
  __device__ __forceinline__ static long long stride() {
    return (long long)gridDim.x * kThreads;
  }
};

//===----------------------------------------------------------------------===//
// Givens chain
//===----------------------------------------------------------------------===//

/// The planes (i0, j0, i1, j1, ...) of a Givens chain.
template <int... kIJ> struct GivensPairs {
  static_assert(sizeof...(kIJ) % 2 == 0, "pairs come in (i, j) twos");
  static constexpr int kCount = sizeof...(kIJ) / 2;
  __host__ __device__ static constexpr int at(int idx) {
    constexpr int list[] = {kIJ..., 0};
    return list[idx];
  }
};

/// y = x · G_0 · … · G_{N-1} on the last dimension; one row per thread, held
/// in registers. When a row is a whole number of 16-byte vectors, blocks of
/// kTile rows are staged through shared memory (padded rows) so that global
/// memory is read and written with coalesced 16-byte accesses.
/// Grid-stride over row blocks; recommended grid = ceil(rows / kTile).
template <typename T, typename AngleT, int kDim, typename PairsT> struct Givens {
  static constexpr int kN = PairsT::kCount;
  static constexpr int kThreads = 128;
  static constexpr int kTile = kThreads;
  static constexpr int kRowBytes = kDim * (int)sizeof(T);
  static constexpr bool kStaged = kRowBytes % 16 == 0;
  static constexpr int kChunks = kRowBytes / 16;
  static constexpr int kStride = kRowBytes + 16; // padded: conflict-free 16-byte reads
  static constexpr int kSmemBytes = kStaged ? kTile * kStride : 0;
  static constexpr int kMinBlocksPerSM = 1;
  static_assert(kDim >= 1 && kDim <= 256, "Givens row must fit in registers");

  struct Params {
    const T *x = nullptr;
    T *out = nullptr;
    const AngleT *angles = nullptr; // (N)
    long long rows = 0;
  };

  __device__ __forceinline__ static void rotate(float (&x)[kDim], const float *cs) {
#pragma unroll
    for (int k = 0; k < kN; ++k) {
      const int i = PairsT::at(2 * k), j = PairsT::at(2 * k + 1);
      float c = cs[2 * k], s = cs[2 * k + 1];
      float xi = x[i], xj = x[j];
      x[i] = xi * c - xj * s;
      x[j] = xi * s + xj * c;
    }
  }

  /// cs[2k], cs[2k + 1] = cos, sin of angles[k] (shared memory, then a
  /// barrier).
  __device__ __forceinline__ static void loadCosSin(float *cs, const AngleT *angles) {
    for (int k = threadIdx.x; k < kN; k += kThreads) {
      float s, c;
      sincosAccurate(toF64(angles[k]), &s, &c);
      cs[2 * k] = c;
      cs[2 * k + 1] = s;
    }
    __syncthreads();
  }

  __device__ static void run(const Params &p) {
    __shared__ float cs[kN > 0 ? 2 * kN : 1];
    loadCosSin(cs, p.angles);
    if constexpr (kStaged) {
      constexpr int kVec = 16 / (int)sizeof(T);
      union Vec {
        uint4 u;
        T e[kVec];
      };
      unsigned char *sm = dynamicSmem();
      for (long long r0 = (long long)blockIdx.x * kTile; r0 < p.rows;
           r0 += (long long)gridDim.x * kTile) {
        const int valid = (int)(p.rows - r0 < kTile ? p.rows - r0 : kTile);
        const unsigned char *gx = reinterpret_cast<const unsigned char *>(p.x + r0 * kDim);
        for (int idx = threadIdx.x; idx < valid * kChunks; idx += kThreads) {
          int r = idx / kChunks, c = idx % kChunks;
          *reinterpret_cast<uint4 *>(sm + r * kStride + c * 16) =
              *reinterpret_cast<const uint4 *>(gx + (long long)idx * 16);
        }
        __syncthreads();
        if (threadIdx.x < valid) {
          unsigned char *row = sm + threadIdx.x * kStride;
          float x[kDim];
#pragma unroll
          for (int c = 0; c < kChunks; ++c) {
            Vec v;
            v.u = *reinterpret_cast<const uint4 *>(row + c * 16);
#pragma unroll
            for (int e = 0; e < kVec; ++e)
              x[c * kVec + e] = toF32(v.e[e]);
          }
          rotate(x, cs);
#pragma unroll
          for (int c = 0; c < kChunks; ++c) {
            Vec v;
#pragma unroll
            for (int e = 0; e < kVec; ++e)
              v.e[e] = fromF32<T>(x[c * kVec + e]);
            *reinterpret_cast<uint4 *>(row + c * 16) = v.u;
          }
        }
        __syncthreads();
        unsigned char *gy = reinterpret_cast<unsigned char *>(p.out + r0 * kDim);
        for (int idx = threadIdx.x; idx < valid * kChunks; idx += kThreads) {
          int r = idx / kChunks, c = idx % kChunks;
          *reinterpret_cast<uint4 *>(gy + (long long)idx * 16) =
              *reinterpret_cast<const uint4 *>(sm + r * kStride + c * 16);
        }
        __syncthreads(); // the staging buffer is refilled next
      }
    } else {
      for (long long r = (long long)blockIdx.x * kThreads + threadIdx.x; r < p.rows;
           r += (long long)gridDim.x * kThreads) {
        const T *xr = p.x + r * kDim;
        float x[kDim];
#pragma unroll
        for (int e = 0; e < kDim; ++e)
          x[e] = toF32(xr[e]);
        rotate(x, cs);
        T *yr = p.out + r * kDim;
#pragma unroll
        for (int e = 0; e < kDim; ++e)
          yr[e] = fromF32<T>(x[e]);
      }
    }
  }
};

/// Cotangents of a Givens chain (rotor.givens_grad): one row per thread, in
/// registers. The chain is applied to the row of x; then, from the last
/// rotation back, with z the row after rotation k and g its cotangent,
/// dθ_k += g_j z_i - g_i z_j and both z and g are rotated by -θ_k (the
/// intermediate rows are recovered, not stored); g ends as the row of dx.
/// Each block sums its rows' dθ in a fixed order and writes them to
/// `partial[blockIdx.x, :]` (fp32; `partial` holds gridDim.x rows of kN);
/// GivensGradReduce adds the blocks up. `dx` may alias `dy`.
/// Grid-stride over rows; any grid works (the emitter launches
/// kGivensGradBlocks blocks).
template <typename T, typename AngleT, int kDim, typename PairsT>
struct GivensGrad {
  static constexpr int kN = PairsT::kCount;
  static constexpr int kThreads = 128;
  static constexpr int kTile = kThreads;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  static_assert(kDim >= 1 && kDim <= 256, "Givens row must fit in registers");

  struct Params {
    const T *x = nullptr;            // (rows, kDim)
    const T *dy = nullptr;           // (rows, kDim)
    T *dx = nullptr;                 // (rows, kDim)
    const AngleT *angles = nullptr;  // (N)
    float *partial = nullptr;        // (gridDim.x, N)
    long long rows = 0;
  };

  /// Rotation k by -θ_k on the pair (i_k, j_k) of v.
  __device__ __forceinline__ static void unrotate(float (&v)[kDim], int i, int j,
                                                  float c, float s) {
    float vi = v[i], vj = v[j];
    v[i] = vi * c + vj * s;
    v[j] = vj * c - vi * s;
  }

  __device__ static void run(const Params &p) {
    __shared__ float cs[kN > 0 ? 2 * kN : 1];
    __shared__ float scratch[32];
    using Forward = Givens<T, AngleT, kDim, PairsT>;
    Forward::loadCosSin(cs, p.angles);
    float acc[kN > 0 ? kN : 1];
#pragma unroll
    for (int k = 0; k < kN; ++k)
      acc[k] = 0.f;
    for (long long r = (long long)blockIdx.x * kThreads + threadIdx.x; r < p.rows;
         r += (long long)gridDim.x * kThreads) {
      float z[kDim], g[kDim];
      const T *xr = p.x + r * kDim;
      const T *gr = p.dy + r * kDim;
#pragma unroll
      for (int e = 0; e < kDim; ++e) {
        z[e] = toF32(xr[e]);
        g[e] = toF32(gr[e]);
      }
      Forward::rotate(z, cs);
#pragma unroll
      for (int k = kN - 1; k >= 0; --k) {
        const int i = PairsT::at(2 * k), j = PairsT::at(2 * k + 1);
        const float c = cs[2 * k], s = cs[2 * k + 1];
        acc[k] += g[j] * z[i] - g[i] * z[j];
        unrotate(z, i, j, c, s);
        unrotate(g, i, j, c, s);
      }
      T *dr = p.dx + r * kDim;
#pragma unroll
      for (int e = 0; e < kDim; ++e)
        dr[e] = fromF32<T>(g[e]);
    }
#pragma unroll
    for (int k = 0; k < kN; ++k) {
      float sum = blockReduce<kThreads>(acc[k], SumOp(), scratch);
      if (threadIdx.x == 0)
        p.partial[(long long)blockIdx.x * kN + k] = sum;
    }
  }
};

/// dθ[k] = Σ_b partial[b, k] over the `blocks` rows written by GivensGrad,
/// in block order (f64 sums). Unit: an angle; grid (1, 1, 1) suffices.
template <typename AngleT> struct GivensGradReduce {
  static constexpr int kThreads = 128;
  static constexpr int kTile = kThreads;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  struct Params {
    const float *partial = nullptr; // (blocks, n)
    AngleT *out = nullptr;          // (n)
    long long blocks = 0, n = 0;
  };
  __device__ static void run(const Params &p) {
    for (long long k = (long long)blockIdx.x * kThreads + threadIdx.x; k < p.n;
         k += (long long)gridDim.x * kThreads) {
      double s = 0.0;
      for (long long b = 0; b < p.blocks; ++b)
        s += (double)p.partial[b * p.n + k];
      p.out[k] = fromF32<AngleT>((float)s);
    }
  }
};

//===----------------------------------------------------------------------===//
// Embedding, convolution, sinusoidal embedding
//===----------------------------------------------------------------------===//

/// out[p, :] = table[ids[p], :]; ids outside [0, V) give zeros (and *err = 1).
/// Unit: an id (a row); recommended grid = n.
template <typename IdT, typename T> struct Embedding : RowKernelBase {
  struct Params {
    const IdT *ids = nullptr;
    const T *table = nullptr; // (V, H)
    T *out = nullptr;         // (n, H)
    long long n = 0, vocab = 0, hidden = 0;
    int *err = nullptr;
  };
  __device__ static void run(const Params &p) {
    for (long long r = blockIdx.x; r < p.n; r += gridDim.x) {
      long long id = (long long)p.ids[r];
      bool ok = id >= 0 && id < p.vocab;
      if (!ok && p.err && threadIdx.x == 0)
        *p.err = 1;
      T *y = p.out + r * p.hidden;
      const T *src = p.table + (ok ? id : 0) * p.hidden;
      for (long long c = threadIdx.x; c < p.hidden; c += kThreads)
        y[c] = ok ? src[c] : fromF32<T>(0.f);
    }
  }
};

/// rotor.cache_write: row s of `update` (outer, rows, inner) replaces row
/// start + s of `cache` (outer, capacity, inner) in place; rows that would
/// land outside [0, capacity) are dropped. `start` (one element) is read on
/// the device, so that a captured CUDA graph serves every position.
/// Unit: a row of `update`.
template <typename T, typename StartT> struct CacheWrite : RowKernelBase {
  struct Params {
    const T *update = nullptr;
    T *cache = nullptr;
    const StartT *start = nullptr;
    long long outer = 0, rows = 0, capacity = 0, inner = 0;
  };
  __device__ static void run(const Params &p) {
    const long long start = (long long)*p.start;
    for (long long r = blockIdx.x; r < p.outer * p.rows; r += gridDim.x) {
      const long long s = r % p.rows, o = r / p.rows;
      // start + s in [0, capacity), written without forming start + s.
      if (start < -s || start >= p.capacity - s)
        continue;
      const T *src = p.update + r * p.inner;
      T *dst = p.cache + (o * p.capacity + start + s) * p.inner;
      for (long long c = threadIdx.x; c < p.inner; c += kThreads)
        dst[c] = src[c];
    }
  }
};

/// Grouped 1-D convolution along the sequence (PyTorch Conv1d weights),
/// output length = input length. Unit: an output element.
template <typename T, typename WT, int kK, bool kCausal, bool kHasBias>
struct Conv1d : ElementwiseBase {
  static_assert(kK >= 1, "kernel size must be >= 1");
  struct Params {
    const T *x = nullptr;     // (B, S, Cin)
    const WT *w = nullptr;    // (Cout, Cin/groups, K)
    const WT *bias = nullptr; // (Cout)
    T *out = nullptr;         // (B, S, Cout)
    long long batch = 0, seq = 0, cin = 0, cout = 0, groups = 1;
  };
  __device__ static void run(const Params &p) {
    constexpr int kLeft = kCausal ? kK - 1 : (kK - 1) / 2;
    const long long total = p.batch * p.seq * p.cout;
    const long long cg = p.cin / p.groups, og = p.cout / p.groups;
    for (long long idx = first(); idx < total; idx += stride()) {
      long long o = idx % p.cout, bt = idx / p.cout;
      long long t = bt % p.seq, b = bt / p.seq;
      long long g = o / og;
      float acc = 0.f;
      if constexpr (kHasBias)
        acc = toF32(p.bias[o]);
      const WT *wo = p.w + o * cg * kK;
      for (long long c = 0; c < cg; ++c) {
        const T *xc = p.x + (b * p.seq) * p.cin + g * cg + c;
#pragma unroll
        for (int k = 0; k < kK; ++k) {
          long long ts = t + k - kLeft;
          if (ts >= 0 && ts < p.seq)
            acc += toF32(wo[c * kK + k]) * toF32(xc[ts * p.cin]);
        }
      }
      p.out[idx] = fromF32<T>(acc);
    }
  }
};

/// out[p] = [sin(pos·f_0..F-1), cos(pos·f_0..F-1)]. Unit: an output element.
template <typename PosT, typename T> struct SinusoidalEmbedding : ElementwiseBase {
  struct Params {
    const PosT *pos = nullptr; // (n)
    const T *freqs = nullptr;  // (F)
    T *out = nullptr;          // (n, 2F)
    long long n = 0, nfreq = 0;
  };
  __device__ static void run(const Params &p) {
    const long long total = p.n * 2 * p.nfreq;
    for (long long idx = first(); idx < total; idx += stride()) {
      long long i = idx / (2 * p.nfreq), f = idx % (2 * p.nfreq);
      bool isCos = f >= p.nfreq;
      float s, c;
      sincosAccurate(toF64(p.pos[i]) * toF64(p.freqs[isCos ? f - p.nfreq : f]), &s, &c);
      p.out[idx] = fromF32<T>(isCos ? c : s);
    }
  }
};

//===----------------------------------------------------------------------===//
// Cross-entropy
//===----------------------------------------------------------------------===//

/// The maximum `m` and the sum of exp(x - m) of a row of `n` values, reduced
/// over the block (every thread gets both); `scratch` as for blockReduce.
template <int kThreads, typename T>
__device__ __forceinline__ void rowMaxSumExp(const T *x, long long n, float *scratch,
                                             float &m, float &s) {
  m = negInf();
  for (long long c = threadIdx.x; c < n; c += kThreads)
    m = fmaxf(m, toF32(x[c]));
  m = blockReduce<kThreads>(m, MaxOp(), scratch);
  s = 0.f;
  for (long long c = threadIdx.x; c < n; c += kThreads)
    s += expf(toF32(x[c]) - m);
  s = blockReduce<kThreads>(s, SumOp(), scratch);
}

/// Per-row loss logsumexp(logits[r]) - logits[r, label]: 0 for ignored rows,
/// NaN (and *err = 1) for counted labels outside [0, V). Unit: a row.
template <typename T, typename LabelT> struct CrossEntropyRows : RowKernelBase {
  struct Params {
    const T *logits = nullptr;      // (N, V)
    const LabelT *labels = nullptr; // (N)
    float *row_loss = nullptr;      // (N)
    long long n = 0, vocab = 0, ignore_index = -100;
    int *err = nullptr;
  };
  __device__ static void run(const Params &p) {
    __shared__ float scratch[32];
    for (long long r = blockIdx.x; r < p.n; r += gridDim.x) {
      long long label = (long long)p.labels[r];
      if (label == p.ignore_index) {
        if (threadIdx.x == 0)
          p.row_loss[r] = 0.f;
        continue;
      }
      const T *x = p.logits + r * p.vocab;
      float m, s;
      rowMaxSumExp<kThreads>(x, p.vocab, scratch, m, s);
      if (threadIdx.x == 0) {
        if (label < 0 || label >= p.vocab) {
          p.row_loss[r] = __int_as_float(0x7fc00000);
          if (p.err)
            *p.err = 1;
        } else {
          p.row_loss[r] = m + logf(s) - toF32(x[label]);
        }
      }
    }
  }
};

/// loss = mean of row_loss over the rows whose label is not ignore_index
/// (0 when none); f64 sums in a fixed order (deterministic).
/// grid = (1, 1, 1) exactly.
template <typename LabelT, typename OutT> struct CrossEntropyMean {
  static constexpr int kThreads = 1024;
  static constexpr int kTile = 1;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  struct Params {
    const float *row_loss = nullptr;
    const LabelT *labels = nullptr;
    long long n = 0, ignore_index = -100;
    OutT *loss = nullptr;
  };
  __device__ static void run(const Params &p) {
    __shared__ double scratch[32];
    double s = 0.0, cnt = 0.0;
    for (long long r = threadIdx.x; r < p.n; r += kThreads)
      if ((long long)p.labels[r] != p.ignore_index) {
        s += (double)p.row_loss[r];
        cnt += 1.0;
      }
    s = blockReduce<kThreads>(s, SumOp(), scratch);
    cnt = blockReduce<kThreads>(cnt, SumOp(), scratch);
    if (threadIdx.x == 0)
      *p.loss = (OutT)(cnt > 0.0 ? s / cnt : 0.0);
  }
};

//===----------------------------------------------------------------------===//
// Layouts and elementwise epilogues
//===----------------------------------------------------------------------===//

/// (B, S, H·D) -> (B, H, S, D). Unit: an output element.
template <typename T> struct SplitHeads : ElementwiseBase {
  struct Params {
    const T *x = nullptr;
    T *out = nullptr;
    long long batch = 0, seq = 0, heads = 0, head_dim = 0;
  };
  __device__ static void run(const Params &p) {
    const long long total = p.batch * p.heads * p.seq * p.head_dim;
    for (long long idx = first(); idx < total; idx += stride()) {
      long long d = idx % p.head_dim, r = idx / p.head_dim;
      long long s = r % p.seq;
      r /= p.seq;
      long long h = r % p.heads, b = r / p.heads;
      p.out[idx] = p.x[((b * p.seq + s) * p.heads + h) * p.head_dim + d];
    }
  }
};

/// (B, H, S, D) -> (B, S, H·D). Unit: an output element.
template <typename T> struct MergeHeads : ElementwiseBase {
  struct Params {
    const T *x = nullptr;
    T *out = nullptr;
    long long batch = 0, seq = 0, heads = 0, head_dim = 0;
  };
  __device__ static void run(const Params &p) {
    const long long total = p.batch * p.heads * p.seq * p.head_dim;
    for (long long idx = first(); idx < total; idx += stride()) {
      long long d = idx % p.head_dim, r = idx / p.head_dim;
      long long h = r % p.heads;
      r /= p.heads;
      long long s = r % p.seq, b = r / p.seq;
      p.out[idx] = p.x[((b * p.heads + h) * p.seq + s) * p.head_dim + d];
    }
  }
};

/// out = silu(gate) * up. Unit: an element.
template <typename T> struct Swiglu : ElementwiseBase {
  struct Params {
    const T *gate = nullptr;
    const T *up = nullptr;
    T *out = nullptr;
    long long n = 0;
  };
  __device__ static void run(const Params &p) {
    for (long long i = first(); i < p.n; i += stride())
      p.out[i] = fromF32<T>(activate<Act::silu>(toF32(p.gate[i])) * toF32(p.up[i]));
  }
};

/// out = act(x + bias) + residual on (M, N). Unit: an element.
template <typename T, typename BT, Act kAct, bool kHasBias, bool kHasResidual>
struct Epilogue : ElementwiseBase {
  struct Params {
    const T *x = nullptr;        // (M, N)
    const BT *bias = nullptr;    // (N)
    const T *residual = nullptr; // (M, N)
    T *out = nullptr;            // (M, N)
    long long m = 0, n = 0;
  };
  __device__ static void run(const Params &p) {
    const long long total = p.m * p.n;
    for (long long i = first(); i < total; i += stride()) {
      float v = toF32(p.x[i]);
      if constexpr (kHasBias)
        v += toF32(p.bias[i % p.n]);
      v = activate<kAct>(v);
      if constexpr (kHasResidual)
        v += toF32(p.residual[i]);
      p.out[i] = fromF32<T>(v);
    }
  }
};

} // namespace cuda
} // namespace rotor

#endif // ROTOR_CUDA_LAYERS_CUH
