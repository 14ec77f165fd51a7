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

/// rotor.rope on (B, H, S, D). One row per kHeadDim/2 threads.
/// Grid-stride over rows; recommended grid = ceil(B*H*S / kTile).
template <typename T, typename PosT, int kHeadDim, int kRotaryDim, bool kInterleaved,
          bool kBatchedPos>
struct Rope {
  static_assert(kHeadDim % 2 == 0 && kHeadDim <= 512, "head dim must be even, <= 512");
  static_assert(kRotaryDim % 2 == 0 && kRotaryDim >= 2 && kRotaryDim <= kHeadDim,
                "rotary_dim must be even and in [2, head dim]");
  static constexpr int kThreads = 256;
  static constexpr int kPairs = kHeadDim / 2; // threads per row
  static constexpr int kTile = kThreads / kPairs;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;

  struct Params {
    const T *x = nullptr;
    T *out = nullptr;
    const PosT *pos = nullptr;
    const double *inv_freq = nullptr;
    long long batch = 0, heads = 0, seq = 0;
  };

  __device__ static void run(const Params &p) {
    const int lr = threadIdx.x / kPairs, i = threadIdx.x % kPairs;
    if (lr >= kTile)
      return;
    constexpr int kHalf = kRotaryDim / 2;
    const long long rows = p.batch * p.heads * p.seq;
    const float a = (float)p.inv_freq[kHalf];
    const double invFreq = i < kHalf ? p.inv_freq[i] : 0.0;
    for (long long r = (long long)blockIdx.x * kTile + lr; r < rows;
         r += (long long)gridDim.x * kTile) {
      const T *x = p.x + r * kHeadDim;
      T *y = p.out + r * kHeadDim;
      if (i < kHalf) {
        long long s = r % p.seq;
        long long b = r / (p.heads * p.seq);
        long long pos = (long long)p.pos[kBatchedPos ? b * p.seq + s : s];
        float sn, c;
        sincosAccurate((double)pos * invFreq, &sn, &c);
        c *= a;
        sn *= a;
        int ea = kInterleaved ? 2 * i : i, eb = kInterleaved ? 2 * i + 1 : i + kHalf;
        float u = toF32(x[ea]), w = toF32(x[eb]);
        y[ea] = fromF32<T>(u * c - w * sn);
        y[eb] = fromF32<T>(w * c + u * sn);
      } else {
        int e = kRotaryDim + 2 * (i - kHalf);
        T u = x[e], w = x[e + 1];
        y[e] = u;
        y[e + 1] = w;
      }
    }
  }
};

} // namespace cuda
} // namespace rotor

#endif // ROTOR_CUDA_ROPE_CUH
