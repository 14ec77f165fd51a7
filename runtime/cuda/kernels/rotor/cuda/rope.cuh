//===- rope.cuh - Rotary position embedding kernels ---------------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// RopeInvFreq: the f64 inverse-frequency table of rotor.rope for every
// scaling kind, computed on the device exactly as LowerRotations.cpp
// (buildInvFreq / buildRopeBase) and rotor_ref.rope_frequencies do, with the
// attention factor (YaRN mscale) stored after the table.
//
// Rope: applies the rotation to (B, H, S, D) from that table; angles are
// formed and reduced modulo 2*pi in f64 before an fp32 sincos, so positions
// up to 10^6 and beyond keep their accuracy.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_ROPE_CUH
#define ROTOR_CUDA_ROPE_CUH

#include "rotor/cuda/common.cuh"

namespace rotor {
namespace cuda {

/// inv_freq (kRotaryDim/2 doubles) followed by the attention factor.
/// grid = (1, 1, 1); block = kThreads.
template <int kRotaryDim, RopeScaling kKind, typename PosT = int,
          typename LearnedBaseT = void>
struct RopeInvFreq {
  static_assert(kRotaryDim >= 2 && kRotaryDim % 2 == 0, "rotary_dim must be even and > 0");
  static_assert(kKind != RopeScaling::dynamic_ntk || kRotaryDim > 2,
                "dynamic_ntk needs rotary_dim > 2");
  static constexpr int kThreads = 256;
  static constexpr int kTile = 1;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  static constexpr bool kLearned = !IsSame<LearnedBaseT, void>::value;
  using BaseT = typename Cond<kLearned, LearnedBaseT, float>::type;

  struct Params {
    double *inv_freq = nullptr;          // out: kRotaryDim/2 + 1
    double base = 10000.0;               // static base
    const BaseT *learned_base = nullptr; // 0-D learned base
    const PosT *positions = nullptr;     // dynamic_ntk only: all positions
    long long num_positions = 0;
    double factor = 1.0, beta_fast = 32.0, beta_slow = 1.0;
    double low_freq_factor = 1.0, high_freq_factor = 4.0, attention_factor = 0.0;
    long long original_max_position = 0;
  };

  __device__ static void run(const Params &p) {
    __shared__ double scratch[32];
    constexpr double kPi = 3.141592653589793;
    const double rd = (double)kRotaryDim;
    double base = p.base;
    if constexpr (kLearned)
      base = toF64(*p.learned_base);
    if constexpr (kKind == RopeScaling::dynamic_ntk) {
      // L = max(0, max position) + 1, as the CPU lowering computes it.
      double mx = 0.0;
      for (long long i = threadIdx.x; i < p.num_positions; i += kThreads) {
        double v = (double)p.positions[i];
        mx = v > mx ? v : mx;
      }
      double length = blockReduce<kThreads>(mx, MaxOp(), scratch) + 1.0;
      double original = (double)p.original_max_position;
      if (length > original)
        base = base * pow(p.factor * length / original - (p.factor - 1.0), rd / (rd - 2.0));
    }
    for (int i = threadIdx.x; i < kRotaryDim / 2; i += kThreads) {
      double fi = (double)i;
      double inv = pow(base, (-2.0 * fi) / rd);
      if constexpr (kKind == RopeScaling::linear) {
        inv = inv / p.factor;
      } else if constexpr (kKind == RopeScaling::yarn) {
        double original = (double)p.original_max_position;
        double twoLogBase = 2.0 * log(base);
        double cFast = rd * log(original / (p.beta_fast * 2 * kPi)) / twoLogBase;
        double cSlow = rd * log(original / (p.beta_slow * 2 * kPi)) / twoLogBase;
        double low = fmax(floor(cFast), 0.0);
        double high = fmin(ceil(cSlow), rd - 1);
        if (low == high)
          high += 0.001;
        double ramp = fmin(fmax((fi - low) / (high - low), 0.0), 1.0);
        double extrapolation = 1.0 - ramp;
        inv = inv / p.factor * (1.0 - extrapolation) + inv * extrapolation;
      } else if constexpr (kKind == RopeScaling::llama3) {
        double original = (double)p.original_max_position;
        double lo = p.low_freq_factor, hi = p.high_freq_factor;
        double wavelen = 2 * kPi / inv;
        double scaled = inv / p.factor;
        double smooth = (original / wavelen - lo) / (hi - lo);
        double smoothed = (1.0 - smooth) * scaled + smooth * inv;
        if (wavelen < original / hi)
          inv = inv;
        else if (wavelen > original / lo)
          inv = scaled;
        else
          inv = smoothed;
      }
      p.inv_freq[i] = inv;
    }
    if (threadIdx.x == 0) {
      double a = 1.0;
      if constexpr (kKind == RopeScaling::yarn)
        a = p.attention_factor > 0 ? p.attention_factor
                                   : (p.factor <= 1.0 ? 1.0 : 0.1 * log(p.factor) + 1.0);
      p.inv_freq[kRotaryDim / 2] = a;
    }
  }
};

/// The cos/sin table of a set of positions for the attention kernels' rope
/// prologue (RopeQK<..., kTable = true>): out[n][i] = (cos t, sin t) times
/// the attention factor, t = pos[n] · inv_freq[i], as rotor.rope computes
/// them. Positions of any shape (flattened, n of them). Unit: an (n, i)
/// entry; recommended grid = ceil(n · kRotaryDim/2 / kTile).
template <typename PosT, int kRotaryDim> struct RopeCosSin {
  static_assert(kRotaryDim >= 2 && kRotaryDim % 2 == 0, "rotary_dim must be even and > 0");
  static constexpr int kThreads = 256;
  static constexpr int kTile = 1024;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  struct Params {
    const PosT *pos = nullptr;        // (n)
    const double *inv_freq = nullptr; // RopeInvFreq output
    float *out = nullptr;             // (n, kRotaryDim/2, 2)
    long long n = 0;
  };
  __device__ static void run(const Params &p) {
    constexpr int kHalf = kRotaryDim / 2;
    const float a = (float)p.inv_freq[kHalf];
    const long long total = p.n * kHalf;
    for (long long idx = (long long)blockIdx.x * kThreads + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * kThreads) {
      long long r = idx / kHalf;
      int i = (int)(idx % kHalf);
      float s, c;
      sincosAccurate((double)p.pos[r] * p.inv_freq[i], &s, &c);
      p.out[2 * idx] = c * a;
      p.out[2 * idx + 1] = s * a;
    }
  }
};

/// rotor.rope on (B, H, S, D). One block per (b, s) position at a time
/// (grid-stride): the cos/sin of the position are computed once into shared
/// memory and applied to every head with 16-byte loads and stores.
/// Recommended grid = B * S (kTile = 1).
template <typename T, typename PosT, int kHeadDim, int kRotaryDim, bool kInterleaved,
          bool kBatchedPos>
struct Rope {
  static_assert(kHeadDim % 2 == 0 && kHeadDim <= 1024, "head dim must be even, <= 1024");
  static_assert(kRotaryDim % 2 == 0 && kRotaryDim >= 2 && kRotaryDim <= kHeadDim,
                "rotary_dim must be even and in [2, head dim]");
  static constexpr int kThreads = 256;
  static constexpr int kTile = 1;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  static constexpr int kHalf = kRotaryDim / 2;
  /// Elements per 16-byte vector, when every region is a whole number of them.
  static constexpr int kVec = 16 / (int)sizeof(T);
  static constexpr bool kVectorized =
      kHeadDim % kVec == 0 && kRotaryDim % kVec == 0 && (kInterleaved || kHalf % kVec == 0);

  struct Params {
    const T *x = nullptr;
    T *out = nullptr;
    const PosT *pos = nullptr;
    const double *inv_freq = nullptr;
    long long batch = 0, heads = 0, seq = 0;
    /// Rotate by -angle: the transpose (inverse) rotation, the backward of
    /// rope (the yarn attention factor still multiplies).
    bool transpose = false;
  };

  union Vec {
    uint4 u;
    T e[kVec];
  };

  __device__ static void run(const Params &p) {
    __shared__ float cs[2 * kHalf];
    const long long units = p.batch * p.seq;
    const float a = (float)p.inv_freq[kHalf];
    for (long long u = blockIdx.x; u < units; u += gridDim.x) {
      const long long b = u / p.seq, s = u % p.seq;
      const double pos = (double)p.pos[kBatchedPos ? u : s];
      __syncthreads(); // the previous position's table is no longer read
      for (int i = threadIdx.x; i < kHalf; i += kThreads) {
        float sn, c;
        sincosAccurate(pos * p.inv_freq[i], &sn, &c);
        cs[2 * i] = c * a;
        cs[2 * i + 1] = p.transpose ? -sn * a : sn * a;
      }
      __syncthreads();
      const long long rowStride = p.seq * kHeadDim; // between heads
      const T *x0 = p.x + (b * p.heads * p.seq + s) * kHeadDim;
      T *y0 = p.out + (b * p.heads * p.seq + s) * kHeadDim;
      if constexpr (kVectorized) {
        // Per head: rotating tasks (rotate_half: a vector of each half;
        // interleaved: one vector of pairs), then pass-through vectors.
        constexpr int kRot = kInterleaved ? kRotaryDim / kVec : kHalf / kVec;
        constexpr int kPass = (kHeadDim - kRotaryDim) / kVec;
        constexpr int kTasks = kRot + kPass;
        for (long long t = threadIdx.x; t < p.heads * kTasks; t += kThreads) {
          const long long h = t / kTasks;
          const int k = (int)(t % kTasks);
          const T *x = x0 + h * rowStride;
          T *y = y0 + h * rowStride;
          if (k >= kRot) {
            int e = kRotaryDim + (k - kRot) * kVec;
            *reinterpret_cast<uint4 *>(y + e) = *reinterpret_cast<const uint4 *>(x + e);
          } else if constexpr (kInterleaved) {
            Vec v;
            v.u = *reinterpret_cast<const uint4 *>(x + k * kVec);
#pragma unroll
            for (int j = 0; j < kVec / 2; ++j) {
              int i = k * kVec / 2 + j;
              float c = cs[2 * i], sn = cs[2 * i + 1];
              float uu = toF32(v.e[2 * j]), w = toF32(v.e[2 * j + 1]);
              v.e[2 * j] = fromF32<T>(uu * c - w * sn);
              v.e[2 * j + 1] = fromF32<T>(w * c + uu * sn);
            }
            *reinterpret_cast<uint4 *>(y + k * kVec) = v.u;
          } else {
            Vec va, vb;
            va.u = *reinterpret_cast<const uint4 *>(x + k * kVec);
            vb.u = *reinterpret_cast<const uint4 *>(x + kHalf + k * kVec);
#pragma unroll
            for (int j = 0; j < kVec; ++j) {
              int i = k * kVec + j;
              float c = cs[2 * i], sn = cs[2 * i + 1];
              float uu = toF32(va.e[j]), w = toF32(vb.e[j]);
              va.e[j] = fromF32<T>(uu * c - w * sn);
              vb.e[j] = fromF32<T>(w * c + uu * sn);
            }
            *reinterpret_cast<uint4 *>(y + k * kVec) = va.u;
            *reinterpret_cast<uint4 *>(y + kHalf + k * kVec) = vb.u;
          }
        }
      } else {
        // Scalar: one task per pair (or pass-through pair) of a head.
        constexpr int kTasks = kHeadDim / 2;
        for (long long t = threadIdx.x; t < p.heads * kTasks; t += kThreads) {
          const long long h = t / kTasks;
          const int i = (int)(t % kTasks);
          const T *x = x0 + h * rowStride;
          T *y = y0 + h * rowStride;
          if (i < kHalf) {
            int ea = kInterleaved ? 2 * i : i, eb = kInterleaved ? 2 * i + 1 : i + kHalf;
            float c = cs[2 * i], sn = cs[2 * i + 1];
            float uu = toF32(x[ea]), w = toF32(x[eb]);
            y[ea] = fromF32<T>(uu * c - w * sn);
            y[eb] = fromF32<T>(w * c + uu * sn);
          } else {
            int e = kRotaryDim + 2 * (i - kHalf);
            T uu = x[e], w = x[e + 1];
            y[e] = uu;
            y[e + 1] = w;
          }
        }
      }
    }
  }
};

/// The cotangent of rope's learned base (rotor.rope_base_grad), first pass:
/// partial[blockIdx.x] = Σ over the block's (b, s) positions, heads and
/// pairs i of (g_b y_a − g_a y_b) · pos · (−2i / rotary_dim) · inv_freq[i] /
/// base, with y = rope(x) (the pair's angle is pos · inv_freq[i];
/// ∂inv_freq[i]/∂base = −(2i / rotary_dim) · inv_freq[i] / base holds
/// without scaling and for linear and dynamic_ntk scaling, as the op
/// requires). Sums in f64. grid = the partial buffer's length (a fixed block
/// count); GivensGradReduce<BaseT> (n = 1) adds the partials in order.
template <typename T, typename PosT, typename BaseT, int kHeadDim, int kRotaryDim,
          bool kInterleaved, bool kBatchedPos>
struct RopeBaseGrad {
  static_assert(kRotaryDim % 2 == 0 && kRotaryDim >= 2 && kRotaryDim <= kHeadDim,
                "rotary_dim must be even and in [2, head dim]");
  static constexpr int kThreads = 256;
  static constexpr int kTile = 1;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  static constexpr int kHalf = kRotaryDim / 2;

  struct Params {
    const T *x = nullptr;  // rope's input (B, H, S, D)
    const T *dy = nullptr; // the cotangent of rope's output
    const PosT *pos = nullptr;
    const double *inv_freq = nullptr; // RopeInvFreq of the learned base
    const BaseT *base = nullptr;      // 0-D learned base
    float *partial = nullptr;         // (gridDim.x)
    long long batch = 0, heads = 0, seq = 0;
  };

  __device__ static void run(const Params &p) {
    __shared__ double scratch[32];
    const double a = p.inv_freq[kHalf], base = toF64(*p.base);
    const long long units = p.batch * p.seq;
    double sum = 0.0;
    for (long long u = blockIdx.x; u < units; u += gridDim.x) {
      const long long b = u / p.seq, s = u % p.seq;
      const double pos = (double)p.pos[kBatchedPos ? u : s];
      for (long long t = threadIdx.x; t < p.heads * kHalf; t += kThreads) {
        const long long h = t / kHalf;
        const int i = (int)(t % kHalf);
        const long long row = ((b * p.heads + h) * p.seq + s) * kHeadDim;
        const int ia = kInterleaved ? 2 * i : i, ib = kInterleaved ? 2 * i + 1 : i + kHalf;
        const double xa = toF64(p.x[row + ia]), xb = toF64(p.x[row + ib]);
        const double ga = toF64(p.dy[row + ia]), gb = toF64(p.dy[row + ib]);
        double sn, c;
        sincos(pos * p.inv_freq[i], &sn, &c);
        const double ya = a * (xa * c - xb * sn), yb = a * (xb * c + xa * sn);
        sum += (gb * ya - ga * yb) * pos * (-2.0 * i / kRotaryDim) * p.inv_freq[i] / base;
      }
    }
    sum = blockReduce<kThreads>(sum, SumOp(), scratch);
    if (threadIdx.x == 0)
      p.partial[blockIdx.x] = (float)sum;
  }
};

} // namespace cuda
} // namespace rotor

#endif // ROTOR_CUDA_ROPE_CUH
