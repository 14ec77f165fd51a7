//===- mask.cuh - Attention masks, T5 bias and the rope prologue ---*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Compile-time configuration types of the attention kernels:
//  * Mask<...>: #rotor.mask, with the per-element visibility test of
//    MaskAttr::isVisible and the tile-level reasoning the kernels use to
//    skip tiles (keyRange) and the per-element test (tileFull);
//  * T5Bias<...>: the T5 bucketed relative position bias;
//  * RopeQK<...>: rotary embedding applied to q and k as they are loaded.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_MASK_CUH
#define ROTOR_CUDA_MASK_CUH

#include "rotor/cuda/common.cuh"

namespace rotor {
namespace cuda {

/// A half-open range of key positions [lo, hi).
struct KeyRange {
  long long lo, hi;
};

/// #rotor.mask. kWindowLeft / kWindowRight: -1 = unbounded. kChunk: 0 = none.
template <bool kCausal_, int kWindowLeft_, int kWindowRight_, int kDilation_,
          int kChunk_, int kGlobal_>
struct Mask {
  static constexpr bool kCausal = kCausal_;
  static constexpr int kWindowLeft = kWindowLeft_;
  static constexpr int kWindowRight = kWindowRight_;
  static constexpr int kDilation = kDilation_;
  static constexpr int kChunk = kChunk_;
  static constexpr int kGlobal = kGlobal_;
  static_assert(kWindowLeft >= -1 && kWindowRight >= -1, "window must be >= -1");
  static_assert(kDilation >= 1, "dilation must be >= 1");
  static_assert(kChunk >= 0 && kGlobal >= 0, "chunk and global must be >= 0");
  static_assert(!(kCausal && kWindowRight > 0), "causal mask with window_right > 0");

  /// True when every key is visible to every query.
  static constexpr bool kFull = !kCausal && kWindowLeft < 0 && kWindowRight < 0 &&
                                kDilation == 1 && kChunk == 0;

  /// MaskAttr::isVisible: key position j visible to query position p
  /// (I = int inside tiles, long long in general): causal, and either a
  /// global token (key or query) or inside the local mask (dilation,
  /// window, chunk). Evaluated without branches (bitwise on the tests), so
  /// the per-element loops of masked tiles stay straight-line code.
  template <typename I>
  __host__ __device__ __forceinline__ static bool visible(I p, I j) {
    const I d = p - j;
    bool local = true;
    if constexpr (kDilation > 1)
      local &= d % kDilation == 0;
    // Where d is a multiple of the dilation, d / n is exact (elsewhere
    // `local` is already false).
    if constexpr (kWindowLeft >= 0)
      local &= d / kDilation <= kWindowLeft;
    if constexpr (kWindowRight >= 0)
      local &= -d / kDilation <= kWindowRight;
    if constexpr (kChunk > 0)
      local &= floorDiv(p, (I)kChunk) == floorDiv(j, (I)kChunk);
    if constexpr (kGlobal > 0)
      local |= (j < kGlobal) | ((p >= 0) & (p < kGlobal));
    if constexpr (kCausal)
      local &= j <= p;
    return local;
  }

  /// Keys that the local part of the mask (causal, window, chunk; not the
  /// global tokens) can make visible to some query position in [pmin, pmax],
  /// clipped to [0, sk). A superset: tiles outside it hold no visible key.
  __host__ __device__ __forceinline__ static KeyRange localRange(long long pmin, long long pmax,
                                                        long long sk) {
    long long lo = 0, hi = sk;
    if (kCausal && pmax + 1 < hi)
      hi = pmax + 1;
    if (kWindowLeft >= 0 && pmin - (long long)kWindowLeft * kDilation > lo)
      lo = pmin - (long long)kWindowLeft * kDilation;
    if (kWindowRight >= 0 && pmax + (long long)kWindowRight * kDilation + 1 < hi)
      hi = pmax + (long long)kWindowRight * kDilation + 1;
    if (kChunk > 0) {
      long long clo = floorDiv(pmin, (long long)kChunk) * kChunk;
      long long chi = (floorDiv(pmax, (long long)kChunk) + 1) * kChunk;
      if (clo > lo)
        lo = clo;
      if (chi < hi)
        hi = chi;
    }
    if (hi < lo)
      hi = lo;
    return {lo, hi};
  }

  /// The causal bound alone (what the global tokens are still subject to).
  __host__ __device__ __forceinline__ static long long causalEnd(long long pmax, long long sk) {
    if (kCausal && pmax + 1 < sk)
      return pmax + 1 < 0 ? 0 : pmax + 1;
    return sk;
  }

  /// True when every key in [jmin, jmax] is visible to every query position
  /// in [pmin, pmax] (conservative: false means "test each element").
  __host__ __device__ __forceinline__ static bool tileFull(long long pmin, long long pmax,
                                                  long long jmin, long long jmax) {
    if (kFull)
      return true;
    bool causalOk = !kCausal || jmax <= pmin;
    if (kGlobal > 0 && jmax < kGlobal && causalOk)
      return true;
    if (!causalOk)
      return false;
    if (kDilation > 1)
      return false;
    if (kWindowLeft >= 0 && pmax - jmin > kWindowLeft)
      return false;
    if (kWindowRight >= 0 && jmax - pmin > kWindowRight)
      return false;
    if (kChunk > 0) {
      long long c = floorDiv(pmin, (long long)kChunk);
      if (floorDiv(pmax, (long long)kChunk) != c || floorDiv(jmin, (long long)kChunk) != c ||
          floorDiv(jmax, (long long)kChunk) != c)
        return false;
    }
    return true;
  }
};

using NoMask = Mask<false, -1, -1, 1, 0, 0>;

/// The range of key tiles (of kBlockN keys) a query tile with positions
/// [pmin, pmax] visits: first the global-prefix tiles [0, gEnd), then the
/// local tiles [lBegin, lEnd) (lBegin >= gEnd, so no tile is visited twice).
struct TilePlan {
  long long gEnd, lBegin, lEnd;
  __host__ __device__ __forceinline__ long long count() const { return gEnd + (lEnd - lBegin); }
  __host__ __device__ __forceinline__ long long tile(long long t) const {
    return t < gEnd ? t : lBegin + (t - gEnd);
  }
};

template <typename MaskT, int kBlockN>
__host__ __device__ __forceinline__ TilePlan planTiles(long long pmin, long long pmax, long long sk) {
  TilePlan plan;
  KeyRange r = MaskT::localRange(pmin, pmax, sk);
  long long gKeys = 0;
  if (MaskT::kGlobal > 0) {
    long long cend = MaskT::causalEnd(pmax, sk);
    // A query among the global tokens sees every (causally allowed) key.
    if (pmin < MaskT::kGlobal && pmax >= 0)
      r = {0, cend};
    gKeys = MaskT::kGlobal < cend ? MaskT::kGlobal : cend;
  }
  plan.gEnd = ceilDiv(gKeys, kBlockN);
  long long lb = r.lo / kBlockN, le = r.hi > r.lo ? ceilDiv(r.hi, kBlockN) : lb;
  if (lb < plan.gEnd)
    lb = plan.gEnd;
  if (le < lb)
    le = lb;
  plan.lBegin = lb;
  plan.lEnd = le;
  return plan;
}

//===----------------------------------------------------------------------===//
// T5 relative position bias
//===----------------------------------------------------------------------===//

/// T5 bucketed relative bias; table (Hq, kNumBuckets) f32. NoBias disables.
template <int kNumBuckets_, int kMaxDistance_> struct T5Bias {
  static constexpr bool kEnabled = kNumBuckets_ > 0;
  static constexpr int kNumBuckets = kNumBuckets_;
  static constexpr int kMaxDistance = kMaxDistance_;
  static_assert(!kEnabled || (kMaxDistance >= 1 && kMaxDistance <= 4096),
                "bias max distance must be in [1, 4096]");

  /// rotor_ref.relative_position_bucket of rel = key - query, in f64.
  __device__ static int bucket(long long rel, bool bidirectional) {
    int nb = kNumBuckets, ret = 0;
    long long n;
    if (bidirectional) {
      nb /= 2;
      if (rel > 0)
        ret += nb;
      n = rel < 0 ? -rel : rel;
    } else {
      n = rel < 0 ? -rel : 0;
    }
    int maxExact = nb / 2;
    if (n < maxExact)
      return ret + (int)n;
    double large = (double)maxExact + trunc(log((double)n / maxExact) /
                                            log((double)kMaxDistance / maxExact) *
                                            (double)(nb - maxExact));
    int l = large > (double)(nb - 1) ? nb - 1 : (int)large;
    return ret + l;
  }

  /// Entries of the per-head table that fillTable makes.
  static constexpr int kTableSize = kEnabled ? 2 * (kMaxDistance + 1) : 0;

  /// Fills tab[0 .. kTableSize) with the bias of one head's row `table`:
  /// tab[n] for rel = -n and tab[kMaxDistance + 1 + n] for rel = +n,
  /// n <= kMaxDistance; every |rel| >= kMaxDistance has the bucket of
  /// kMaxDistance (the last of its direction).
  template <int kThreads>
  __device__ static void fillTable(float *tab, const float *table, bool bidirectional) {
    for (int i = threadIdx.x; i < kTableSize; i += kThreads) {
      long long n = i <= kMaxDistance ? i : i - (kMaxDistance + 1);
      long long rel = i <= kMaxDistance ? -n : n;
      tab[i] = table[bucket(rel, bidirectional)];
    }
  }
  /// The bias of rel = key - query from the table fillTable made.
  __device__ __forceinline__ static float lookup(const float *tab, long long rel) {
    if (rel <= 0) {
      long long n = -rel;
      return tab[n < kMaxDistance ? n : kMaxDistance];
    }
    return tab[kMaxDistance + 1 + (rel < kMaxDistance ? rel : kMaxDistance)];
  }
};
using NoBias = T5Bias<0, 0>;

//===----------------------------------------------------------------------===//
// Rope prologue
//===----------------------------------------------------------------------===//

/// Rotary embedding of q and k inside attention. kRotaryDim = 0 disables.
/// kTable = false: angles from positions and the RopeInvFreq table;
/// kTable = true: cos/sin read from RopeCosSin tables (no sincos in the
/// attention kernel).
template <int kRotaryDim_, bool kInterleaved_, typename PosT_, bool kBatchedPos_,
          bool kTable_ = false>
struct RopeQK {
  static constexpr bool kEnabled = kRotaryDim_ > 0;
  static constexpr int kRotaryDim = kRotaryDim_;
  static constexpr bool kInterleaved = kInterleaved_;
  static constexpr bool kBatchedPos = kBatchedPos_;
  static constexpr bool kTable = kTable_;
  using PosT = PosT_;
  static_assert(kRotaryDim % 2 == 0, "rotary_dim must be even");

  /// Feature indices (a, b) of pair i.
  __device__ __forceinline__ static int first(int i) {
    return kInterleaved ? 2 * i : i;
  }
  __device__ __forceinline__ static int second(int i) {
    return kInterleaved ? 2 * i + 1 : i + kRotaryDim / 2;
  }
  /// cos/sin of pair i at position p, times the attention factor. kFast: the
  /// reduced angle goes through the SFU (__sincosf, abs. error ~1e-6), which
  /// is ample for results rounded to 16-bit types.
  template <bool kFast = false>
  __device__ __forceinline__ static void angle(const double *invFreq, long long p, int i,
                                               float *c, float *s) {
    float sn, cs;
    if constexpr (kFast)
      sincosReducedFast((double)p * invFreq[i], &sn, &cs);
    else
      sincosAccurate((double)p * invFreq[i], &sn, &cs);
    float a = (float)invFreq[kRotaryDim / 2];
    *c = cs * a;
    *s = sn * a;
  }
};
using NoRope = RopeQK<0, false, int, false>;

/// The rope inputs of a run of consecutive rows (of q or of k) of one batch
/// row: positions (computed angles) or cos/sin table rows.
template <typename RopeT> struct RopeRows {
  const typename RopeT::PosT *pos = nullptr; // row 0's position
  const float *cs = nullptr;                 // row 0's (kRotaryDim/2, 2) cos/sin
  const double *invFreq = nullptr;

  /// Rows [row0, ...) of batch row b of a sequence of `seq` rows.
  __device__ __forceinline__ RopeRows(const typename RopeT::PosT *positions, const float *table,
                                      const double *inv, long long b, long long seq,
                                      long long row0) {
    long long base = (RopeT::kBatchedPos ? b * seq : 0) + row0;
    if (RopeT::kTable)
      cs = table + base * RopeT::kRotaryDim;
    else
      pos = positions + base;
    invFreq = inv;
  }
  /// cos/sin (times the attention factor) of pair i of row r.
  template <bool kFast>
  __device__ __forceinline__ void get(int r, int i, float *c, float *s) const {
    if constexpr (RopeT::kTable) {
      const float *e = cs + ((long long)r * (RopeT::kRotaryDim / 2) + i) * 2;
      *c = e[0];
      *s = e[1];
    } else {
      RopeT::template angle<kFast>(invFreq, (long long)pos[r], i, c, s);
    }
  }
};

} // namespace cuda
} // namespace rotor

#endif // ROTOR_CUDA_MASK_CUH
