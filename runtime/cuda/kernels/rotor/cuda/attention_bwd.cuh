//===- attention_bwd.cuh - Attention backward kernels -------------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// rotor.attention_grad (RotorOps.td, AttentionGradOp), FlashAttention-2
// style: the probabilities are recomputed from the scores and the forward
// log-sum-exp, never stored. Three launches, all taking AttentionBwdParams:
//
//  1. AttentionBwdPre:     delta_i = Σ_d do_i·o_i (f32 scratch), zeroes the
//                          f32 dq accumulator and the bias gradient;
//  2. AttentionBwd (AttentionBwdWgmma or AttentionBwdMma) / AttentionBwdSimple:
//                          one block per (key tile, kv head,
//                          batch row); loops over the query heads of the GQA
//                          group and the query tiles that can see the key
//                          tile; dK and dV are written once per block (the
//                          block owns its keys for the whole group), dQ is
//                          added to the f32 accumulator with atomics, the
//                          bias gradient to an f32 table with atomics;
//  3. AttentionBwdConvert: dq = dq_acc rounded to T (skippable for T = float
//                          when dq_acc is dq itself).
//
// Per visible pair (i, j): s = softcap(scale·q_i·k_j) + bias, p = exp(s −
// lse_i), dp = do_i·v_j, ds = p (dp − delta_i), d bias += ds, ds_raw = ds ·
// (1 − tanh²(raw/c)) with a softcap, dq_i += scale·ds_raw·k_j, dk_j +=
// scale·ds_raw·q_i, dv_j += p·do_i. Rows with lse = -inf contribute nothing.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_ATTENTION_BWD_CUH
#define ROTOR_CUDA_ATTENTION_BWD_CUH

#include "rotor/cuda/attention.cuh"
#include "rotor/cuda/common.cuh"
#include "rotor/cuda/mask.cuh"
#include "rotor/cuda/ptx.cuh"

namespace rotor {
namespace cuda {

/// Runtime parameters shared by every attention backward kernel.
template <typename T> struct AttentionBwdParams {
  const T *q = nullptr;        // (B, Hq, Sq, D)
  const T *k = nullptr;        // (B, Hkv, Sk, D)
  const T *v = nullptr;        // (B, Hkv, Sk, D)
  const T *o = nullptr;        // (B, Hq, Sq, D) forward output
  const float *lse = nullptr;  // (B, Hq, Sq) natural log, -inf for empty rows
  const T *dout = nullptr;     // (B, Hq, Sq, D) cotangent of the output
  T *dq = nullptr;             // (B, Hq, Sq, D)
  T *dk = nullptr;             // (B, Hkv, Sk, D)
  T *dv = nullptr;             // (B, Hkv, Sk, D)
  float *dq_acc = nullptr;     // (B, Hq, Sq, D) f32 scratch (may be dq when T = float)
  float *delta = nullptr;      // (B, Hq, Sq) f32 scratch
  const float *bias = nullptr; // (Hq, num_buckets), with T5Bias
  float *dbias = nullptr;      // (Hq, num_buckets) f32, with T5Bias
  long long batch = 0, hq = 0, hkv = 0, sq = 0, sk = 0;
  float scale = 1.f;
  float softcap = 0.f;
};

/// Up to two disjoint ranges of tiles, [a0, a1) then [b0, b1).
struct TileRanges {
  long long a0, a1, b0, b1;
  __host__ __device__ __forceinline__ long long count() const { return (a1 - a0) + (b1 - b0); }
  __host__ __device__ __forceinline__ long long tile(long long t) const {
    return t < a1 - a0 ? a0 + t : b0 + (t - (a1 - a0));
  }
};

/// The query tiles (of kBlockM rows; row i has position i + off, off = sk −
/// sq for queries aligned to the end of the keys) that can hold a query
/// seeing some key in [jmin, jmax]: the inverse of
/// planTiles. A superset from the mask's bounds: the local range (causal,
/// window, chunk; every causal query when the keys include global tokens)
/// and the global query prefix (positions [0, kGlobal) see every key).
template <typename MaskT, int kBlockM>
__host__ __device__ __forceinline__ TileRanges planQueryTiles(long long jmin, long long jmax,
                                                              long long sq, long long off) {
  long long lo = off, hi = off + sq; // positions of the query rows (row 0 at off)
  if (MaskT::kCausal && jmin > lo)
    lo = jmin;
  if (MaskT::kWindowLeft >= 0 && jmax + (long long)MaskT::kWindowLeft * MaskT::kDilation + 1 < hi)
    hi = jmax + (long long)MaskT::kWindowLeft * MaskT::kDilation + 1;
  if (MaskT::kWindowRight >= 0 && jmin - (long long)MaskT::kWindowRight * MaskT::kDilation > lo)
    lo = jmin - (long long)MaskT::kWindowRight * MaskT::kDilation;
  if (MaskT::kChunk > 0) {
    long long clo = floorDiv(jmin, (long long)MaskT::kChunk) * MaskT::kChunk;
    long long chi = (floorDiv(jmax, (long long)MaskT::kChunk) + 1) * MaskT::kChunk;
    if (clo > lo)
      lo = clo;
    if (chi < hi)
      hi = chi;
  }
  long long glo = 0, ghi = 0;
  if (MaskT::kGlobal > 0) {
    long long clo = MaskT::kCausal && jmin > off ? jmin : off;
    if (jmin < MaskT::kGlobal) { // global keys: every causally allowed query
      lo = clo;
      hi = off + sq;
    }
    glo = clo > 0 ? clo : 0;
    ghi = (long long)MaskT::kGlobal < off + sq ? (long long)MaskT::kGlobal : off + sq;
  }
  TileRanges r;
  // Rows (position − off) are >= 0 here: lo, glo >= off.
  r.b0 = (lo - off) / kBlockM;
  r.b1 = hi > lo ? ceilDiv(hi - off, kBlockM) : r.b0;
  r.a0 = (glo - off) / kBlockM;
  r.a1 = ghi > glo ? ceilDiv(ghi - off, kBlockM) : r.a0;
  if (r.a1 == r.a0) { // no global range
    r.a0 = r.a1 = r.b0;
  } else if (r.b1 == r.b0) {
    r.b0 = r.b1 = r.a1;
  } else {
    if (r.b0 < r.a0) { // order by start
      long long t0 = r.a0, t1 = r.a1;
      r.a0 = r.b0;
      r.a1 = r.b1;
      r.b0 = t0;
      r.b1 = t1;
    }
    if (r.b0 <= r.a1) { // overlapping or adjacent: merge
      r.a1 = r.b1 > r.a1 ? r.b1 : r.a1;
      r.b0 = r.b1 = r.a1;
    }
  }
  return r;
}

namespace detail {

/// The T5 bucket of every table entry of T5Bias::fillTable/lookup (the
/// bucket of rel = -n at n, of rel = +n at kMaxDistance + 1 + n).
template <typename BiasT, int kThreads>
__device__ __forceinline__ void fillBucketTable(int *tab, bool bidirectional) {
  for (int i = threadIdx.x; i < BiasT::kTableSize; i += kThreads) {
    long long n = i <= BiasT::kMaxDistance ? i : i - (BiasT::kMaxDistance + 1);
    long long rel = i <= BiasT::kMaxDistance ? -n : n;
    tab[i] = BiasT::bucket(rel, bidirectional);
  }
}
/// The table index of rel = key − query (as T5Bias::lookup).
template <typename BiasT> __device__ __forceinline__ int bucketSlot(long long rel) {
  if (rel <= 0)
    return (int)(-rel < BiasT::kMaxDistance ? -rel : BiasT::kMaxDistance);
  return BiasT::kMaxDistance + 1 + (int)(rel < BiasT::kMaxDistance ? rel : BiasT::kMaxDistance);
}

/// Score of one pair and what its gradient needs: s (natural-log domain,
/// with softcap and bias) and the softcap derivative factor 1 − tanh².
template <bool kSoftcap> struct BwdScore {
  float scale, cap, invCap;
  __device__ __forceinline__ BwdScore(float s, float c)
      : scale(s), cap(c), invCap(kSoftcap ? 1.f / c : 0.f) {}
  /// Returns s without bias; *dcap = d s / d raw.
  __device__ __forceinline__ float operator()(float dot, float *dcap) const {
    float raw = dot * scale;
    if constexpr (kSoftcap) {
      float th = tanhf(raw * invCap);
      *dcap = 1.f - th * th;
      return cap * th;
    } else {
      *dcap = 1.f;
      return raw;
    }
  }
};

/// Pᵀ and dSᵀ of one tile in place (the tensor-core backward kernels): Sᵀ
/// (raw dot products) becomes Pᵀ and dPᵀ becomes dSᵀ. The thread holds keys
/// krow0 (+8) and queries 8 nt + 2 tq (+1) of an accumulator in the m16n8 C
/// layout (mma.sync, and wgmma per warp). kMasked: the element test (tiles
/// that are not wholly visible).
template <typename KMask, typename BiasT, bool kSoftcap, bool kMasked, int kQT, typename P>
__device__ __forceinline__ void bwdProbs(float (&st)[kQT][4], float (&dpt)[kQT][4],
                                         const float *lseS, const float *delS, const P &p,
                                         int krow0, int tq, int nq, int nk, long long pmin,
                                         long long n0, const float *sBias, float *sDBias,
                                         const int *sBucket) {
  const float scaleLog2 = p.scale * kLog2e;
  const BwdScore<kSoftcap> score(p.scale, p.softcap);
#pragma unroll
  for (int nt = 0; nt < kQT; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int kr = krow0 + 8 * (e >> 1), qc = nt * 8 + 2 * tq + (e & 1);
      const float l = lseS[qc];
      // exp2(x − (+inf)) = 0: rows without a visible key add nothing.
      const float l2 = l == negInf() ? -negInf() : l * kLog2e;
      bool vis = true;
      if constexpr (kMasked)
        vis = qc < nq && kr < nk && KMask::visible(pmin + qc, n0 + kr);
      float pr = 0.f, ds = 0.f;
      if (vis) {
        if constexpr (!kSoftcap && !BiasT::kEnabled) {
          pr = exp2Fast(st[nt][e] * scaleLog2 - l2);
          ds = pr * (dpt[nt][e] - delS[qc]);
        } else {
          float dcap;
          float sc = score(st[nt][e], &dcap);
          int slot = 0;
          if constexpr (BiasT::kEnabled) {
            slot = sBucket[bucketSlot<BiasT>(n0 + kr - (pmin + qc))];
            sc += sBias[slot];
          }
          pr = exp2Fast(sc * kLog2e - l2);
          ds = pr * (dpt[nt][e] - delS[qc]);
          if constexpr (BiasT::kEnabled) {
            if (ds != 0.f)
              atomicAdd(&sDBias[slot], ds);
          }
          ds *= dcap;
        }
      }
      st[nt][e] = pr;
      dpt[nt][e] = ds;
    }
}

/// One work unit of the tensor-core backward kernels: key tile `tile` (of
/// kBlockN keys) of residue class rk (kStep = 1: rk = 0, the plain key tile)
/// of kv head h, batch row b. sq, sk, n0, off and positions are in
/// subsequence units (kStep = 1: the ordinary ones): queries i = r +
/// kStep·u see keys rk + kStep·w, where r + sk − sq ≡ rk (mod kStep), and
/// query u of the class has position u + off against key w.
template <int kStep, int kBlockN, int kBlockM, int D, typename KMask> struct BwdUnit {
  long long h, b, r, off, sq, sk, n0, group, keyBase, nT, nSteps;
  int nk;
  TileRanges plan;

  /// Calls runUnit(bc, rk, tile) for every unit of this block: units x,
  /// x + gridDim.x, ... of the kStep · ceil(ceil(sk / kStep) / kBlockN)
  /// (x: detail::blockCoord; without dilation exactly one unit a block).
  template <bool kHeadsFirst, typename P, typename F>
  __device__ __forceinline__ static void forEach(const P &p, F runUnit) {
    const long long units = kStep * ceilDiv(ceilDiv(p.sk, kStep), kBlockN);
    const BlockCoord bc = blockCoord<kHeadsFirst>();
    for (long long u = bc.x; u < units; u += gridDim.x) {
      if (u != bc.x)
        __syncthreads(); // the previous unit's reads of shared memory are done
      runUnit(bc, u % kStep, u / kStep);
    }
  }

  /// False when the tile holds no key (nothing to do).
  template <typename P>
  __device__ __forceinline__ bool init(const P &p, const BlockCoord &bc, long long rk,
                                       long long tile) {
    h = bc.h;
    b = bc.b;
    const long long offFull = p.sk - p.sq;
    r = ((rk - offFull) % kStep + kStep) % kStep;
    off = (r + offFull - rk) / kStep; // exact
    sq = p.sq > r ? (p.sq - r + kStep - 1) / kStep : 0;
    sk = p.sk > rk ? (p.sk - rk + kStep - 1) / kStep : 0;
    n0 = tile * kBlockN;
    if (n0 >= sk)
      return false;
    nk = sk - n0 < kBlockN ? (int)(sk - n0) : kBlockN;
    group = p.hq / p.hkv;
    // Full row index of key row 0 of the tile (rows kStep apart).
    keyBase = (b * p.hkv + h) * p.sk + rk + kStep * n0;
    plan = planQueryTiles<KMask, kBlockM>(n0, n0 + nk - 1, sq, off);
    nT = plan.count();
    nSteps = group * nT;
    return true;
  }

  /// Step st: query head hk·group + st / nT, query tile plan.tile(st % nT).
  struct Step {
    long long gh, t, h, m0, rowBase; // rowBase: full row index of the tile's row 0
    int nq;
  };
  template <typename P> __device__ __forceinline__ Step step(const P &p, long long st) const {
    Step s;
    s.gh = st / nT;
    s.t = st % nT;
    s.h = h * group + s.gh;
    s.m0 = plan.tile(s.t) * kBlockM;
    s.nq = sq - s.m0 < kBlockM ? (int)(sq - s.m0) : kBlockM;
    s.rowBase = (b * p.hq + s.h) * p.sq + r + kStep * s.m0;
    return s;
  }

  /// Issues the copies of step st (Q and dO rows through loadQ(dst, src,
  /// rows), lse and delta) into one stage.
  template <int kThreads, typename T, typename P, typename LoadQ>
  __device__ __forceinline__ void prefetch(const P &p, long long st, T *sQ, T *sG, float *sLse,
                                           float *sDelta, LoadQ loadQ) const {
    const Step s = step(p, st);
    loadQ(sQ, p.q + s.rowBase * D, s.nq);
    loadQ(sG, p.dout + s.rowBase * D, s.nq);
    for (int i = threadIdx.x; i < 2 * kBlockM; i += kThreads) {
      const int row = i % kBlockM;
      const bool ok = row < s.nq;
      const float *src = (i < kBlockM ? p.lse : p.delta) + s.rowBase + (ok ? kStep * row : 0);
      float *dst = (i < kBlockM ? sLse : sDelta) + row;
      cpAsync4(smemAddr(dst), src, ok);
    }
  }
};

/// The bias gradient of the backward kernels, summed per query head in
/// shared memory (sDBias) and flushed to p.dbias when the head changes.
template <typename BiasT, int kThreads> struct BwdBiasGrad {
  static constexpr int kNB = BiasT::kEnabled ? BiasT::kNumBuckets : 0;
  /// At the first step of query head h (gh: its index in the group):
  /// flushes head h − 1 and loads head h's bias row.
  template <typename P>
  __device__ __forceinline__ static void startHead(const P &p, long long gh, long long h,
                                                   float *sBias, float *sDBias) {
    if constexpr (BiasT::kEnabled) {
      __syncthreads();
      if (gh > 0)
        flush(p, h - 1, sDBias);
      __syncthreads();
      for (int i = threadIdx.x; i < kNB; i += kThreads) {
        sBias[i] = p.bias[h * kNB + i];
        sDBias[i] = 0.f;
      }
    }
  }
  /// Adds head h's sums to p.dbias (after a barrier).
  template <typename P>
  __device__ __forceinline__ static void flush(const P &p, long long h, const float *sDBias) {
    if constexpr (BiasT::kEnabled)
      for (int i = threadIdx.x; i < kNB; i += kThreads)
        if (sDBias[i] != 0.f)
          atomicAdd(&p.dbias[h * kNB + i], sDBias[i]);
  }
};

/// Writes dK (times scale) and dV of a key tile from accumulators in the
/// m16n8 C layout: rows krow0 + g (+8), columns 8 dt + 2 tq (+1); key row
/// kr of the tile is full row keyBase + kStep·kr.
template <typename T, int kDT, int kStep, int D, typename P>
__device__ __forceinline__ void bwdStoreKV(const P &p, const float (&dK)[kDT][4],
                                           const float (&dV)[kDT][4], long long keyBase,
                                           int krow0, int g, int tq, int nk) {
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    const int kr = krow0 + g + 8 * hr;
    if (kr < nk) {
      T *dkr = p.dk + (keyBase + kStep * kr) * D + 2 * tq;
      T *dvr = p.dv + (keyBase + kStep * kr) * D + 2 * tq;
#pragma unroll
      for (int dt = 0; dt < kDT; ++dt) {
        *reinterpret_cast<unsigned *>(dkr + dt * 8) =
            pack2<T>(dK[dt][2 * hr] * p.scale, dK[dt][2 * hr + 1] * p.scale);
        *reinterpret_cast<unsigned *>(dvr + dt * 8) = pack2<T>(dV[dt][2 * hr], dV[dt][2 * hr + 1]);
      }
    }
  }
}

} // namespace detail

//===----------------------------------------------------------------------===//
// AttentionBwdPre and AttentionBwdConvert
//===----------------------------------------------------------------------===//

/// delta[b, h, i] = Σ_d dout·o (f32), dq_acc row = 0, and (with a bias,
/// block 0) dbias = 0. Unit: a query row (B·Hq·Sq units), one warp each.
/// Grid-stride: any grid.x >= 1; launch it even with no rows when there is a
/// bias (it zeroes dbias).
template <typename T, int kHeadDim, typename BiasT = NoBias> struct AttentionBwdPre {
  static constexpr int D = kHeadDim;
  static constexpr int kWarps = 8;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kTile = kWarps;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  using Params = AttentionBwdParams<T>;

  __device__ static void run(const Params &p) {
    if constexpr (BiasT::kEnabled) {
      if (blockIdx.x == 0)
        for (long long i = threadIdx.x; i < p.hq * BiasT::kNumBuckets; i += kThreads)
          p.dbias[i] = 0.f;
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const long long rows = p.batch * p.hq * p.sq;
    for (long long r = gridStart() * kWarps + warp; r < rows; r += gridStride() * kWarps) {
      const T *o = p.o + r * D, *g = p.dout + r * D;
      float s = 0.f;
      for (int e = lane; e < D; e += 32)
        s += toF32(o[e]) * toF32(g[e]);
      s = warpReduce(s, SumOp());
      if (lane == 0)
        p.delta[r] = s;
      float *acc = p.dq_acc + r * D;
      for (int e = lane; e < D; e += 32)
        acc[e] = 0.f;
    }
  }
};

/// dq = dq_acc rounded to T. Unit: an element (B·Hq·Sq·D); grid-stride.
/// Not needed for T = float when dq_acc is dq.
template <typename T, int kHeadDim> struct AttentionBwdConvert {
  static constexpr int kThreads = 256;
  static constexpr int kTile = 1024;
  static constexpr int kSmemBytes = 0;
  static constexpr int kMinBlocksPerSM = 1;
  using Params = AttentionBwdParams<T>;

  __device__ static void run(const Params &p) {
    const long long n = p.batch * p.hq * p.sq * kHeadDim;
    if ((void *)p.dq == (void *)p.dq_acc)
      return;
    for (long long i = gridStart() * kThreads + threadIdx.x; i < n; i += gridStride() * kThreads)
      p.dq[i] = fromF32<T>(p.dq_acc[i]);
  }
};

//===----------------------------------------------------------------------===//
// AttentionBwdSimple
//===----------------------------------------------------------------------===//

/// Attention backward on CUDA cores (any T, head dim up to 256), fp32
/// arithmetic: tiles of kB = 32 keys and 32 queries in shared memory (f32),
/// 256 threads. grid = (ceil(sk / kTile), hkv, batch); block = kThreads;
/// dynamic smem = kSmemBytes (raise the attribute above 48 KiB).
template <typename T, int kHeadDim, typename MaskT = NoMask, typename BiasT = NoBias,
          bool kSoftcap = false>
struct AttentionBwdSimple {
  static_assert(kHeadDim >= 1 && kHeadDim <= 256, "AttentionBwdSimple head dim in [1, 256]");
  static constexpr int D = kHeadDim;
  static constexpr int kB = 32;             // keys per block, queries per step
  static constexpr int kThreads = 256;
  static constexpr int kCols = kThreads / kB; // threads per row (8)
  static constexpr int kPer = (D + kCols - 1) / kCols;
  static constexpr int kLd = D + 1;           // padded row (floats)
  static constexpr int kLdS = kB + 1;
  static constexpr int kNB = BiasT::kEnabled ? BiasT::kNumBuckets : 0;
  static constexpr int kFloats = 4 * kB * kLd + 2 * kB * kLdS + 2 * kB + 2 * kNB;
  static constexpr int kSmemBytes = kFloats * 4 + BiasT::kTableSize * 4;
  static constexpr int kTile = kB;
  static constexpr int kMinBlocksPerSM = 1;
  using Params = AttentionBwdParams<T>;

  __device__ static void run(const Params &p) {
    float *sK = reinterpret_cast<float *>(dynamicSmem());
    float *sV = sK + kB * kLd;
    float *sQ = sV + kB * kLd;
    float *sG = sQ + kB * kLd; // dout rows
    float *sP = sG + kB * kLd; // [query][key]
    float *sS = sP + kB * kLdS; // dS (before the softcap factor's scale), [query][key]
    float *sLse = sS + kB * kLdS;
    float *sDelta = sLse + kB;
    float *sBias = sDelta + kB;   // kNB: this head's bias row
    float *sDBias = sBias + kNB;  // kNB: this head's gradient, summed in the block
    int *sBucket = reinterpret_cast<int *>(sDBias + kNB); // kTableSize

    const int tid = threadIdx.x;
    const long long hk = blockIdx.y, b = blockIdx.z;
    const long long sq = p.sq, sk = p.sk, off = sk - sq;
    const long long n0 = (long long)blockIdx.x * kB;
    if (n0 >= sk)
      return;
    const int nk = sk - n0 < kB ? (int)(sk - n0) : kB;
    const long long group = p.hq / p.hkv;

    const T *kg = p.k + ((b * p.hkv + hk) * sk + n0) * D;
    const T *vg = p.v + ((b * p.hkv + hk) * sk + n0) * D;
    for (int idx = tid; idx < kB * D; idx += kThreads) {
      int r = idx / D, c = idx % D;
      bool ok = r < nk;
      sK[r * kLd + c] = ok ? toF32(kg[(long long)r * D + c]) : 0.f;
      sV[r * kLd + c] = ok ? toF32(vg[(long long)r * D + c]) : 0.f;
    }
    if constexpr (BiasT::kEnabled)
      detail::fillBucketTable<BiasT, kThreads>(sBucket, !MaskT::kCausal);

    const TileRanges plan = planQueryTiles<MaskT, kB>(n0, n0 + nk - 1, sq, off);
    const detail::BwdScore<kSoftcap> score(p.scale, p.softcap);
    // Thread roles: row = tid / kCols, columns col0 + kCols·u.
    const int row = tid / kCols, col0 = tid % kCols;
    float dK[kPer], dV[kPer];
#pragma unroll
    for (int u = 0; u < kPer; ++u)
      dK[u] = dV[u] = 0.f;

    for (long long gh = 0; gh < group; ++gh) {
      const long long h = hk * group + gh;
      if constexpr (BiasT::kEnabled) {
        __syncthreads(); // the previous head's flush is done
        for (int i = tid; i < kNB; i += kThreads) {
          sBias[i] = p.bias[h * kNB + i];
          sDBias[i] = 0.f;
        }
      }
      const long long rowBase = (b * p.hq + h) * sq;
      for (long long t = 0; t < plan.count(); ++t) {
        const long long m0 = plan.tile(t) * kB;
        const int nq = sq - m0 < kB ? (int)(sq - m0) : kB;
        __syncthreads(); // previous step's reads of sQ, sG, sP, sS are done
        const T *qg = p.q + (rowBase + m0) * D, *gg = p.dout + (rowBase + m0) * D;
        for (int idx = tid; idx < kB * D; idx += kThreads) {
          int r = idx / D, c = idx % D;
          bool ok = r < nq;
          sQ[r * kLd + c] = ok ? toF32(qg[(long long)r * D + c]) : 0.f;
          sG[r * kLd + c] = ok ? toF32(gg[(long long)r * D + c]) : 0.f;
        }
        if (tid < kB) {
          float l = tid < nq ? p.lse[rowBase + m0 + tid] : negInf();
          // exp(s − (+inf)) = 0: empty rows and padding contribute nothing.
          sLse[tid] = l == negInf() ? -negInf() : l;
          sDelta[tid] = tid < nq ? p.delta[rowBase + m0 + tid] : 0.f;
        }
        __syncthreads();

        // P and dS of the kB x kB tile: query `row`, keys col0 + kCols·e.
        const long long pmin = m0 + off, pmax = m0 + nq - 1 + off;
        const bool full =
            nq == kB && nk == kB && MaskT::tileFull(pmin, pmax, n0, n0 + kB - 1);
        {
          constexpr int kE = kB / kCols;
          float dot[kE], dpv[kE];
#pragma unroll
          for (int e = 0; e < kE; ++e)
            dot[e] = dpv[e] = 0.f;
          const float *qr = sQ + row * kLd, *gr = sG + row * kLd;
          for (int d = 0; d < D; ++d) {
            float qv = qr[d], gv = gr[d];
#pragma unroll
            for (int e = 0; e < kE; ++e) {
              int j = col0 + kCols * e;
              dot[e] += qv * sK[j * kLd + d];
              dpv[e] += gv * sV[j * kLd + d];
            }
          }
          const float lse = sLse[row], dl = sDelta[row];
          const long long pq = pmin + row;
#pragma unroll
          for (int e = 0; e < kE; ++e) {
            int j = col0 + kCols * e;
            float pr = 0.f, ds = 0.f;
            if (full || (row < nq && j < nk && MaskT::visible(pq, n0 + j))) {
              float dcap;
              float s = score(dot[e], &dcap);
              int slot = 0;
              if constexpr (BiasT::kEnabled) {
                slot = sBucket[detail::bucketSlot<BiasT>(n0 + j - pq)];
                s += sBias[slot];
              }
              pr = expf(s - lse);
              ds = pr * (dpv[e] - dl);
              if constexpr (BiasT::kEnabled) {
                if (ds != 0.f)
                  atomicAdd(&sDBias[slot], ds);
              }
              ds *= dcap;
            }
            sP[row * kLdS + j] = pr;
            sS[row * kLdS + j] = ds;
          }
        }
        __syncthreads();

        // dV[key row] += Σ_i P[i][row]·dout_i, dK[key row] += Σ_i dS[i][row]·q_i.
        for (int i = 0; i < nq; ++i) {
          float pv = sP[i * kLdS + row], sv = sS[i * kLdS + row];
          const float *qr = sQ + i * kLd, *gr = sG + i * kLd;
#pragma unroll
          for (int u = 0; u < kPer; ++u) {
            int c = col0 + kCols * u;
            if (c < D) {
              dV[u] += pv * gr[c];
              dK[u] += sv * qr[c];
            }
          }
        }
        // dq[query row] += scale · Σ_j dS[row][j]·k_j (f32 atomics).
        if (row < nq) {
          float acc[kPer];
#pragma unroll
          for (int u = 0; u < kPer; ++u)
            acc[u] = 0.f;
          for (int j = 0; j < nk; ++j) {
            float sv = sS[row * kLdS + j];
            if (sv == 0.f)
              continue;
            const float *kr = sK + j * kLd;
#pragma unroll
            for (int u = 0; u < kPer; ++u) {
              int c = col0 + kCols * u;
              if (c < D)
                acc[u] += sv * kr[c];
            }
          }
          float *dqr = p.dq_acc + (rowBase + m0 + row) * D;
#pragma unroll
          for (int u = 0; u < kPer; ++u) {
            int c = col0 + kCols * u;
            if (c < D && acc[u] != 0.f)
              atomicAdd(dqr + c, acc[u] * p.scale);
          }
        }
      }
      if constexpr (BiasT::kEnabled) {
        __syncthreads();
        for (int i = tid; i < kNB; i += kThreads)
          if (sDBias[i] != 0.f)
            atomicAdd(&p.dbias[h * kNB + i], sDBias[i]);
      }
    }

    if (row < nk) {
      T *dkr = p.dk + ((b * p.hkv + hk) * sk + n0 + row) * D;
      T *dvr = p.dv + ((b * p.hkv + hk) * sk + n0 + row) * D;
#pragma unroll
      for (int u = 0; u < kPer; ++u) {
        int c = col0 + kCols * u;
        if (c < D) {
          dkr[c] = fromF32<T>(dK[u] * p.scale);
          dvr[c] = fromF32<T>(dV[u]);
        }
      }
    }
  }
};


//===----------------------------------------------------------------------===//
// AttentionBwdMma (tensor cores, mma.sync)
//===----------------------------------------------------------------------===//

/// Attention backward on tensor cores (bf16 / fp16 in, fp32 accumulation),
/// mma.sync m16n8k16 + ldmatrix (any sm_80+ target; AttentionBwd picks it
/// for head dims other than 64 and 128), head dims that are multiples of 16 up to
/// 128. One block per (key tile of kBlockN keys, kv head, batch row); warp w
/// owns keys [16w, 16w + 16) of the tile. The block walks (query head of the
/// GQA group, query tile of 64 rows that planQueryTiles allows), Q, dO, lse
/// and delta double-buffered by cp.async, and per step computes
///   Sᵀ = K Qᵀ, dPᵀ = V dOᵀ           (keys x queries, per warp 16 x 64)
///   Pᵀ = exp(s − lse), dSᵀ = Pᵀ (dPᵀ − delta)   (mask test only on tiles
///                                       that are not wholly visible)
///   dV += Pᵀ dO, dK += dSᵀ Q          (A operands straight from registers)
///   dQ += scale dS K                  (dSᵀ through shared memory; f32
///                                       vector atomics into dq_acc)
/// dK and dV are written once at the end. kBlockN: 0 = 128 (8 warps) when
/// (D/16) is even, else 64 (4 warps).
/// Dilation d > 1 without global tokens, chunk or bias (QuerySplit): a work
/// unit takes the keys of one residue class rk (j = rk + d·w, row stride d·D)
/// and only the queries of the matching class, under the dense mask of the
/// subsequences, so no tile is half masked. Units: d · ceil(ceil(sk/d) /
/// kBlockN) <= ceil(sk / kBlockN) + d − 1; each block walks units x,
/// x + gridDim.x, ... (x: detail::blockCoord; without dilation: exactly one
/// unit a block).
/// grid = (ceil(sk / kTile), hkv, batch); block = kThreads; dynamic smem =
/// kSmemBytes (raise the attribute above 48 KiB).
/// kHeadsFirst: blocks in heads-first order (detail::blockCoord): key tile
/// x of every (kv head, batch row) before tile x + 1, so the heaviest
/// tiles (the first ones of causal masks, the global keys of hybrid masks,
/// which every query sees) start in the first wave instead of the last.
template <typename T, int kHeadDim, typename MaskT = NoMask, typename BiasT = NoBias,
          bool kSoftcap = false, int kBlockNWanted = 0, bool kHeadsFirst = true>
struct AttentionBwdMma {
  static_assert(IsHalfLike<T>::value, "AttentionBwdMma takes __half or __nv_bfloat16");
  static_assert(kHeadDim % 16 == 0 && kHeadDim >= 16 && kHeadDim <= 128,
                "AttentionBwdMma head dim must be a multiple of 16 in [16, 128]");
  static constexpr int D = kHeadDim;
  static constexpr int kBlockN =
      kBlockNWanted ? kBlockNWanted : ((D / 16) % 2 == 0 ? 128 : 64);
  static_assert(kBlockN == 64 || kBlockN == 128, "AttentionBwdMma key tile is 64 or 128");
  static constexpr int kBlockM = 64;
  using Split = detail::QuerySplit<MaskT, BiasT, NoRope>;
  static constexpr int kStep = Split::kStep; // dilation d when strided, else 1
  using KMask = typename Split::KMask;       // the mask in subsequence indices
  static constexpr long long kRowStride = (long long)kStep * kHeadDim;
  static constexpr int kWarps = kBlockN / 16;
  static constexpr int kColGroups = kWarps / 4; // dQ: 4 row groups x kColGroups
  static_assert((D / 16) % kColGroups == 0, "head dim / 16 must divide among dQ column groups");
  static constexpr int kQT = kBlockM / 8; // 8-query n-tiles of Sᵀ
  static constexpr int kDT = D / 8;
  static constexpr int kDP = D / 16 / kColGroups; // dQ d-tile pairs per warp
  static constexpr int kChunks = D / 8;
  static constexpr bool kSwizzle = kChunks % 8 == 0;
  static constexpr int kRowElems = kSwizzle ? D : D + 8;
  static constexpr int kKElems = kBlockN * kRowElems; // K or V
  static constexpr int kQElems = kBlockM * kRowElems; // one stage of Q or dO
  static constexpr int kSElems = kBlockN * kBlockM;   // dSᵀ [key][query], swizzled
  static constexpr int kTileBytes = (2 * kKElems + 4 * kQElems + kSElems) * 2;
  static constexpr int kNB = BiasT::kEnabled ? BiasT::kNumBuckets : 0;
  static constexpr int kSmemBytes =
      kTileBytes + (4 * kBlockM + 2 * kNB + BiasT::kTableSize) * 4;

  static constexpr int kThreads = kWarps * 32;
  static constexpr int kTile = kBlockN;
  static constexpr int kMinBlocksPerSM = 1;

  using Params = AttentionBwdParams<T>;
  using Unit = detail::BwdUnit<kStep, kBlockN, kBlockM, D, KMask>;
  using Bias = detail::BwdBiasGrad<BiasT, kThreads>;

  __device__ __forceinline__ static int sIdx(int row, int chunk) {
    return row * kRowElems + (kSwizzle ? (chunk ^ (row & 7)) : chunk) * 8;
  }
  __device__ __forceinline__ static int sSIdx(int row, int chunk) {
    return row * kBlockM + (chunk ^ (row & 7)) * 8;
  }

  template <int kRows>
  __device__ __forceinline__ static void loadTile(T *s, const T *g, int valid) {
    detail::loadRowsAsync<kThreads, kRows, kChunks>(
        s, g, valid, [](int r, int c) { return sIdx(r, c); }, kRowStride);
  }

  __device__ static void run(const Params &p) {
    Unit::template forEach<kHeadsFirst>(
        p, [&](const detail::BlockCoord &bc, long long rk, long long tile) {
          runUnit(p, bc, rk, tile);
        });
  }

  /// Key tile `tile` of residue class rk (kStep = 1: rk = 0, the plain key
  /// tile) of kv head bc.h, batch row bc.b. In this function sq, sk, n0, m0,
  /// off and positions are in subsequence units (kStep = 1: the ordinary
  /// ones).
  __device__ static void runUnit(const Params &p, const detail::BlockCoord &bc, long long rk,
                                 long long tile) {
    T *sK = reinterpret_cast<T *>(dynamicSmem());
    T *sV = sK + kKElems;
    T *sQ = sV + kKElems;     // 2 stages
    T *sG = sQ + 2 * kQElems; // dO, 2 stages
    T *sS = sG + 2 * kQElems; // dSᵀ
    float *sLse = reinterpret_cast<float *>(dynamicSmem() + kTileBytes); // 2 stages
    float *sDelta = sLse + 2 * kBlockM;                                    // 2 stages
    float *sBias = sDelta + 2 * kBlockM;
    float *sDBias = sBias + kNB;
    int *sBucket = reinterpret_cast<int *>(sDBias + kNB);

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, tq = lane & 3;
    Unit u;
    if (!u.init(p, bc, rk, tile))
      return;
    const long long n0 = u.n0;
    const int nk = u.nk;

    loadTile<kBlockN>(sK, p.k + u.keyBase * D, u.nk);
    loadTile<kBlockN>(sV, p.v + u.keyBase * D, u.nk);
    if constexpr (BiasT::kEnabled)
      detail::fillBucketTable<BiasT, kThreads>(sBucket, !MaskT::kCausal);

    auto prefetch = [&](long long st, int stage) {
      u.template prefetch<kThreads>(p, st, sQ + stage * kQElems, sG + stage * kQElems,
                                    sLse + stage * kBlockM, sDelta + stage * kBlockM,
                                    [](T *dst, const T *src, int valid) { loadTile<kBlockM>(dst, src, valid); });
    };
    if (u.nSteps > 0)
      prefetch(0, 0);
    cpAsyncCommit();

    float dV[kDT][4], dK[kDT][4];
#pragma unroll
    for (int dt = 0; dt < kDT; ++dt)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        dV[dt][e] = dK[dt][e] = 0.f;

    // ldmatrix lane roles (fragment layouts of mma.m16n8k16).
    const int aRow = lane & 15, aChunk = lane >> 4;
    const int bRow = (lane & 7) + ((lane >> 4) << 3), bChunk = (lane >> 3) & 1;
    const int tRow = (lane & 7) + (((lane >> 3) & 1) << 3), tChunk = lane >> 4;
    const unsigned sKaddr = smemAddr(sK), sVaddr = smemAddr(sV), sSaddr = smemAddr(sS);
    const int krow0 = warp * 16;
    const int qrow0 = (warp & 3) * 16, cg = warp >> 2; // dQ roles

    for (long long st = 0; st < u.nSteps; ++st) {
      const int stage = (int)(st & 1);
      const typename Unit::Step sp = u.step(p, st);
      const long long m0 = sp.m0, rowBase = sp.rowBase;
      const int nq = sp.nq;
      if (sp.t == 0) // a new query head
        Bias::startHead(p, sp.gh, sp.h, sBias, sDBias);
      if (st + 1 < u.nSteps)
        prefetch(st + 1, stage ^ 1);
      cpAsyncCommit();
      cpAsyncWait<1>();
      __syncthreads();

      const unsigned qAddr = smemAddr(sQ + stage * kQElems);
      const unsigned gAddr = smemAddr(sG + stage * kQElems);
      const float *lseS = sLse + stage * kBlockM, *delS = sDelta + stage * kBlockM;

      // Sᵀ = K Qᵀ and dPᵀ = V dOᵀ (the warp's 16 keys x 64 queries).
      float sT[kQT][4], dpT[kQT][4];
#pragma unroll
      for (int nt = 0; nt < kQT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          sT[nt][e] = dpT[nt][e] = 0.f;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        unsigned ka[4], va[4];
        ldmatrixX4(sKaddr + 2 * sIdx(krow0 + aRow, kk * 2 + aChunk), ka[0], ka[1], ka[2], ka[3]);
        ldmatrixX4(sVaddr + 2 * sIdx(krow0 + aRow, kk * 2 + aChunk), va[0], va[1], va[2], va[3]);
#pragma unroll
        for (int np = 0; np < kQT / 2; ++np) {
          unsigned b0, b1, b2, b3;
          ldmatrixX4(qAddr + 2 * sIdx(np * 16 + bRow, kk * 2 + bChunk), b0, b1, b2, b3);
          mma16816<T>(sT[2 * np], ka, b0, b1);
          mma16816<T>(sT[2 * np + 1], ka, b2, b3);
          ldmatrixX4(gAddr + 2 * sIdx(np * 16 + bRow, kk * 2 + bChunk), b0, b1, b2, b3);
          mma16816<T>(dpT[2 * np], va, b0, b1);
          mma16816<T>(dpT[2 * np + 1], va, b2, b3);
        }
      }

      // Pᵀ and dSᵀ (the element test only where the tile is not wholly visible).
      const long long pmin = m0 + u.off, pmax = m0 + nq - 1 + u.off;
      if (nq == kBlockM && nk == kBlockN && KMask::tileFull(pmin, pmax, n0, n0 + kBlockN - 1))
        detail::bwdProbs<KMask, BiasT, kSoftcap, false>(sT, dpT, lseS, delS, p, krow0 + g, tq, nq,
                                                        nk, pmin, n0, sBias, sDBias, sBucket);
      else
        detail::bwdProbs<KMask, BiasT, kSoftcap, true>(sT, dpT, lseS, delS, p, krow0 + g, tq, nq,
                                                       nk, pmin, n0, sBias, sDBias, sBucket);

      // dV += Pᵀ dO, dK += dSᵀ Q; dSᵀ to shared memory for dQ.
#pragma unroll
      for (int kk = 0; kk < kBlockM / 16; ++kk) {
        unsigned pa[4], sa[4];
        pa[0] = pack2<T>(sT[2 * kk][0], sT[2 * kk][1]);
        pa[1] = pack2<T>(sT[2 * kk][2], sT[2 * kk][3]);
        pa[2] = pack2<T>(sT[2 * kk + 1][0], sT[2 * kk + 1][1]);
        pa[3] = pack2<T>(sT[2 * kk + 1][2], sT[2 * kk + 1][3]);
        sa[0] = pack2<T>(dpT[2 * kk][0], dpT[2 * kk][1]);
        sa[1] = pack2<T>(dpT[2 * kk][2], dpT[2 * kk][3]);
        sa[2] = pack2<T>(dpT[2 * kk + 1][0], dpT[2 * kk + 1][1]);
        sa[3] = pack2<T>(dpT[2 * kk + 1][2], dpT[2 * kk + 1][3]);
        *reinterpret_cast<unsigned *>(sS + sSIdx(krow0 + g, 2 * kk) + 2 * tq) = sa[0];
        *reinterpret_cast<unsigned *>(sS + sSIdx(krow0 + g + 8, 2 * kk) + 2 * tq) = sa[1];
        *reinterpret_cast<unsigned *>(sS + sSIdx(krow0 + g, 2 * kk + 1) + 2 * tq) = sa[2];
        *reinterpret_cast<unsigned *>(sS + sSIdx(krow0 + g + 8, 2 * kk + 1) + 2 * tq) = sa[3];
#pragma unroll
        for (int dp = 0; dp < D / 16; ++dp) {
          unsigned b0, b1, b2, b3;
          ldmatrixX4Trans(gAddr + 2 * sIdx(kk * 16 + tRow, dp * 2 + tChunk), b0, b1, b2, b3);
          mma16816<T>(dV[2 * dp], pa, b0, b1);
          mma16816<T>(dV[2 * dp + 1], pa, b2, b3);
          ldmatrixX4Trans(qAddr + 2 * sIdx(kk * 16 + tRow, dp * 2 + tChunk), b0, b1, b2, b3);
          mma16816<T>(dK[2 * dp], sa, b0, b1);
          mma16816<T>(dK[2 * dp + 1], sa, b2, b3);
        }
      }
      __syncthreads();

      // dQ (rows qrow0.., column group cg) = dS K, added to dq_acc.
      float dq[2 * kDP][4];
#pragma unroll
      for (int dt = 0; dt < 2 * kDP; ++dt)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          dq[dt][e] = 0.f;
#pragma unroll
      for (int kk = 0; kk < kBlockN / 16; ++kk) {
        unsigned a[4];
        ldmatrixX4Trans(sSaddr + 2 * sSIdx(kk * 16 + bRow, qrow0 / 8 + bChunk), a[0], a[1], a[2],
                        a[3]);
#pragma unroll
        for (int dp = 0; dp < kDP; ++dp) {
          unsigned b0, b1, b2, b3;
          ldmatrixX4Trans(sKaddr + 2 * sIdx(kk * 16 + tRow, (cg * kDP + dp) * 2 + tChunk), b0,
                          b1, b2, b3);
          mma16816<T>(dq[2 * dp], a, b0, b1);
          mma16816<T>(dq[2 * dp + 1], a, b2, b3);
        }
      }
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        const int qr = qrow0 + g + 8 * hr;
        if (qr < nq) {
          float *dst = p.dq_acc + (rowBase + kStep * qr) * D + cg * kDP * 16 + 2 * tq;
#pragma unroll
          for (int dt = 0; dt < 2 * kDP; ++dt)
            atomicAddF32x2(dst + dt * 8, dq[dt][2 * hr] * p.scale, dq[dt][2 * hr + 1] * p.scale);
        }
      }
    }
    cpAsyncWait<0>();
    if constexpr (BiasT::kEnabled) {
      __syncthreads();
      if (u.nSteps > 0)
        Bias::flush(p, u.h * u.group + u.group - 1, sDBias);
    }
    detail::bwdStoreKV<T, kDT, kStep, D>(p, dK, dV, u.keyBase, krow0, g, tq, nk);
  }
};

//===----------------------------------------------------------------------===//
// AttentionBwdWgmma (Hopper warpgroup MMA)
//===----------------------------------------------------------------------===//

/// Attention backward on Hopper tensor cores (sm_90a): wgmma with fp32
/// accumulators, bf16 / fp16, head dims 64 and 128. Same work units, grid
/// rule and arithmetic as AttentionBwdMma (one block per key tile of kBlockN =
/// 128 keys, kv head and batch row, walking the query heads of the GQA group
/// and the query tiles of 64 rows that planQueryTiles allows; dilation by
/// residue classes), with two warpgroups: warpgroup wg owns keys
/// [64 wg, 64 wg + 64) of the tile. Shared memory holds every tile in the
/// 128-byte swizzled layout the wgmma descriptors read (detail::
/// swizzle128Offset). Per step:
///   Sᵀ = K Qᵀ, dPᵀ = V dOᵀ     SS, M = 64 keys, N = 64 queries, K = D
///   Pᵀ, dSᵀ                     registers (detail::bwdProbs; plain scores:
///                               Pᵀ first, so that dV starts while dPᵀ ends)
///   dV += Pᵀ dO, dK += dSᵀ Q    RS (Pᵀ, dSᵀ from registers), B N-major
///   dQ = dS K                   SS with A = dSᵀ (written to shared memory by
///                               both warpgroups) M-major and B = K N-major;
///                               D = 128: warpgroup wg takes columns
///                               [64 wg, 64 wg + 64) over all 128 keys;
///                               D = 64: its own 64 keys over all columns (both
///                               warpgroups add to dq_acc); f32 vector atomics.
/// Q, dO, lse and delta are double-buffered by cp.async (every thread copies).
/// grid = (ceil(sk / kTile), hkv, batch); block = kThreads; dynamic smem =
/// kSmemBytes (raise the attribute).
template <typename T, int kHeadDim, typename MaskT = NoMask, typename BiasT = NoBias,
          bool kSoftcap = false, bool kHeadsFirst = true, bool kDeferDQ = false>
struct AttentionBwdWgmma {
  static_assert(IsHalfLike<T>::value, "AttentionBwdWgmma takes __half or __nv_bfloat16");
  static_assert(kHeadDim == 64 || kHeadDim == 128, "AttentionBwdWgmma head dim is 64 or 128");
  static constexpr int D = kHeadDim;
  static constexpr int kBlockN = 128; // keys per block, 64 per warpgroup
  static constexpr int kBlockM = 64;  // queries per step
  using Split = detail::QuerySplit<MaskT, BiasT, NoRope>;
  static constexpr int kStep = Split::kStep; // dilation d when strided, else 1
  using KMask = typename Split::KMask;       // the mask in subsequence indices
  static constexpr long long kRowStride = (long long)kStep * kHeadDim;
  static constexpr int kQT = kBlockM / 8; // 8-query column tiles of Sᵀ
  static constexpr int kDT = D / 8;
  /// dQ: D = 128 splits the columns between the warpgroups, D = 64 the keys.
  static constexpr bool kDQSplitCols = D == 128;
  static constexpr int kDQKSteps = kDQSplitCols ? kBlockN / 16 : 64 / 16;
  static constexpr int kKVBytes = kBlockN * D * 2; // K or V
  static constexpr int kQBytes = kBlockM * D * 2;  // one stage of Q or dO
  static constexpr int kSBytes = kBlockN * kBlockM * 2; // dSᵀ [key][query]
  /// kDeferDQ: the dQ MMA of step st runs during the next step's barrier
  /// and copies, and its atomics are issued while the next step's Sᵀ and
  /// dPᵀ MMAs run; dSᵀ is then double-buffered (the other warpgroup may
  /// still read the previous one).
  static constexpr int kSStages = kDeferDQ ? 2 : 1;
  static constexpr int kTileBytes = 2 * kKVBytes + 4 * kQBytes + kSStages * kSBytes;
  static constexpr int kNB = BiasT::kEnabled ? BiasT::kNumBuckets : 0;
  // + 1 KiB so that the tiles can start on a 1 KiB boundary (swizzle atoms).
  static constexpr int kSmemBytes =
      kTileBytes + (4 * kBlockM + 2 * kNB + BiasT::kTableSize) * 4 + 1024;
  static_assert(kSmemBytes <= 232448, "AttentionBwdWgmma: shared memory over 227 KiB");
  static constexpr int kThreads = 256;
  static constexpr int kTile = kBlockN;
  static constexpr int kMinBlocksPerSM = 1;
  /// Plain scores (no softcap, no bias): Pᵀ is formed before dPᵀ is waited for.
  static constexpr bool kPlain = !kSoftcap && !BiasT::kEnabled;

  using Params = AttentionBwdParams<T>;
  using Unit = detail::BwdUnit<kStep, kBlockN, kBlockM, D, KMask>;
  using Bias = detail::BwdBiasGrad<BiasT, kThreads>;

  template <int kRows>
  __device__ __forceinline__ static void loadTile(unsigned char *s, const T *g, int valid) {
    detail::loadRowsAsync<kThreads, kRows, D / 8>(
        reinterpret_cast<T *>(s), g, valid,
        [](int r, int c) { return detail::swizzle128Offset<kRows>(r, c * 8) / 2; }, kRowStride);
  }

  __device__ static void run(const Params &p) {
#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
    __trap(); // wgmma needs sm_90a; compile for sm_90a or use AttentionBwdMma
#else
    Unit::template forEach<kHeadsFirst>(
        p, [&](const detail::BlockCoord &bc, long long rk, long long tile) {
          runUnit(p, bc, rk, tile);
        });
#endif
  }

  /// Packs rows of an accumulator (m16n8 C layout, 8-column tiles) into the
  /// A fragments of k-step kk (16 columns) of an RS wgmma.
  __device__ __forceinline__ static void packA(unsigned (&a)[4], const float (&acc)[kQT][4],
                                               int kk) {
    a[0] = pack2<T>(acc[2 * kk][0], acc[2 * kk][1]);
    a[1] = pack2<T>(acc[2 * kk][2], acc[2 * kk][3]);
    a[2] = pack2<T>(acc[2 * kk + 1][0], acc[2 * kk + 1][1]);
    a[3] = pack2<T>(acc[2 * kk + 1][2], acc[2 * kk + 1][3]);
  }

  /// acc (+)= A·B over D / 16 k-steps for this warpgroup's 64 keys: A
  /// (K or V rows, K-major) at aDesc, B (Q or dO, K-major) at bDesc;
  /// committed as one group.
  __device__ __forceinline__ static void issueScoresT(float (&acc)[kQT][4],
                                                     unsigned long long aDesc,
                                                     unsigned long long bDesc) {
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
      wgmma::SS<T, kBlockM>::run(
          &acc[0][0], wgmma::descAdd(aDesc, (kk >> 2) * (kBlockN * 128) + (kk & 3) * 32),
          wgmma::descAdd(bDesc, (kk >> 2) * (kBlockM * 128) + (kk & 3) * 32), kk > 0);
    wgmma::commit();
  }

  /// acc += Aᵀ·B with A = src (keys x queries, this thread's part in the
  /// m16n8 C layout) packed into the fragments a, B (dO or Q of the step,
  /// N-major) at bDesc; committed as one group. a must stay unchanged until
  /// the group is complete.
  __device__ __forceinline__ static void issueKeyGrad(float (&acc)[kDT][4],
                                                      unsigned (&a)[kBlockM / 16][4],
                                                      const float (&src)[kQT][4],
                                                      unsigned long long bDesc) {
#pragma unroll
    for (int kk = 0; kk < kBlockM / 16; ++kk)
      packA(a[kk], src, kk);
    wgmma::fence();
#pragma unroll
    for (int kk = 0; kk < kBlockM / 16; ++kk)
      wgmma::RS<T, D>::run(&acc[0][0], a[kk], wgmma::descAdd(bDesc, kk * 16 * 128), 1);
    wgmma::commit();
  }

  __device__ static void runUnit(const Params &p, const detail::BlockCoord &bc, long long rk,
                                 long long tile) {
    unsigned char *base = dynamicSmem();
    base += (1024 - (smemAddr(base) & 1023)) & 1023;
    unsigned char *sK = base;
    unsigned char *sV = sK + kKVBytes;
    unsigned char *sQ = sV + kKVBytes;     // 2 stages
    unsigned char *sG = sQ + 2 * kQBytes;  // dO, 2 stages
    unsigned char *sS = sG + 2 * kQBytes;  // dSᵀ (kSStages)
    float *sLse = reinterpret_cast<float *>(base + kTileBytes); // 2 stages
    float *sDelta = sLse + 2 * kBlockM;                          // 2 stages
    float *sBias = sDelta + 2 * kBlockM;
    float *sDBias = sBias + kNB;
    int *sBucket = reinterpret_cast<int *>(sDBias + kNB);

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int wg = detail::uniformWarpGroup(), wIn = warp & 3;
    const int g = lane >> 2, tq = lane & 3;
    Unit u;
    if (!u.init(p, bc, rk, tile))
      return;
    const long long n0 = u.n0;
    const int nk = u.nk;

    loadTile<kBlockN>(sK, p.k + u.keyBase * D, nk);
    loadTile<kBlockN>(sV, p.v + u.keyBase * D, nk);
    if constexpr (BiasT::kEnabled)
      detail::fillBucketTable<BiasT, kThreads>(sBucket, !MaskT::kCausal);

    auto prefetch = [&](long long st, int stage) {
      u.template prefetch<kThreads>(
          p, st, sQ + stage * kQBytes, sG + stage * kQBytes, sLse + stage * kBlockM,
          sDelta + stage * kBlockM,
          [](unsigned char *dst, const T *src, int valid) { loadTile<kBlockM>(dst, src, valid); });
    };
    if (u.nSteps > 0)
      prefetch(0, 0);
    cpAsyncCommit();

    float dV[kDT][4], dK[kDT][4];
#pragma unroll
    for (int dt = 0; dt < kDT; ++dt)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        dV[dt][e] = dK[dt][e] = 0.f;

    const int krow0 = warp * 16; // = 64 wg + 16 wIn: this warp's keys
    // Sᵀ and dPᵀ: A = this warpgroup's 64 rows of K (V), K-major.
    const unsigned long long kDesc = wgmma::desc128B(smemAddr(sK) + wg * 64 * 128, 16, 1024);
    const unsigned long long vDesc = wgmma::desc128B(smemAddr(sV) + wg * 64 * 128, 16, 1024);
    // dQ: A = dS (from dSᵀ, M-major), B = K (N-major).
    const unsigned long long dsDesc =
        wgmma::desc128B(smemAddr(sS) + (kDQSplitCols ? 0 : wg * 64 * 128), kBlockN * 128, 1024);
    // dQ of a step, added to dq_acc (kDeferDQ: during the next step).
    float dq[8][4];
    long long dqRowBase = 0;
    int dqRows = 0; // 0: nothing pending
    auto addDQ = [&] {
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        const int qr = wIn * 16 + g + 8 * hr;
        if (qr < dqRows) {
          float *dst =
              p.dq_acc + (dqRowBase + kStep * qr) * D + (kDQSplitCols ? wg * 64 : 0) + 2 * tq;
#pragma unroll
          for (int dt = 0; dt < 8; ++dt)
            atomicAddF32x2(dst + dt * 8, dq[dt][2 * hr] * p.scale, dq[dt][2 * hr + 1] * p.scale);
        }
      }
    };
    const unsigned long long kTDesc = wgmma::desc128B(
        smemAddr(sK) + (kDQSplitCols ? wg * kBlockN * 128 : wg * 64 * 128), kBlockN * 128, 1024);

    for (long long st = 0; st < u.nSteps; ++st) {
      const int stage = (int)(st & 1);
      const typename Unit::Step sp = u.step(p, st);
      const int nq = sp.nq;
      if (sp.t == 0) // a new query head
        Bias::startHead(p, sp.gh, sp.h, sBias, sDBias);
      // Stage `stage` has landed; every thread is past step st − 1 (its
      // MMAs are complete), so the other stage and dSᵀ can be rewritten.
      cpAsyncWait<0>();
      wgmma::fenceProxyAsync();
      __syncthreads();
      if (st + 1 < u.nSteps)
        prefetch(st + 1, stage ^ 1);
      cpAsyncCommit();

      const unsigned qAddr = smemAddr(sQ + stage * kQBytes);
      const unsigned gAddr = smemAddr(sG + stage * kQBytes);
      const float *lseS = sLse + stage * kBlockM, *delS = sDelta + stage * kBlockM;
      const int sStage = kSStages == 2 ? stage : 0;

      // Sᵀ = K Qᵀ and dPᵀ = V dOᵀ (this warpgroup's 64 keys x 64 queries).
      float sT[kQT][4], dpT[kQT][4];
      wgmma::fence();
      issueScoresT(sT, kDesc, wgmma::desc128B(qAddr, 16, 1024));
      issueScoresT(dpT, vDesc, wgmma::desc128B(gAddr, 16, 1024));
      if constexpr (kDeferDQ) {
        // The previous step's dQ (committed before Sᵀ and dPᵀ) is complete.
        wgmma::wait<2>();
        detail::fenceRegs(reinterpret_cast<float(&)[32]>(dq));
        addDQ();
      }

      const long long pmin = sp.m0 + u.off, pmax = sp.m0 + nq - 1 + u.off;
      const bool full = nq == kBlockM && nk == kBlockN &&
                        KMask::tileFull(pmin, pmax, n0, n0 + kBlockN - 1);
      const unsigned long long gDescT = wgmma::desc128B(gAddr, kBlockM * 128, 1024);
      const unsigned long long qDescT = wgmma::desc128B(qAddr, kBlockM * 128, 1024);
      unsigned pa[kBlockM / 16][4], sa[kBlockM / 16][4];
      auto issueDV = [&] { issueKeyGrad(dV, pa, sT, gDescT); };
      if constexpr (kPlain) {
        // Pᵀ as soon as Sᵀ is complete; dV += Pᵀ dO runs while dSᵀ is formed.
        wgmma::wait<1>();
        detail::fenceRegs(reinterpret_cast<float(&)[kQT * 4]>(sT));
        const float scaleLog2 = p.scale * detail::kLog2e;
#pragma unroll
        for (int nt = 0; nt < kQT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int kr = krow0 + g + 8 * (e >> 1), qc = nt * 8 + 2 * tq + (e & 1);
            const float l = lseS[qc];
            // exp2(x − (+inf)) = 0: rows without a visible key add nothing.
            const float l2 = l == negInf() ? -negInf() : l * detail::kLog2e;
            const bool vis = full || (qc < nq && kr < nk && KMask::visible(pmin + qc, n0 + kr));
            sT[nt][e] = vis ? exp2Fast(sT[nt][e] * scaleLog2 - l2) : 0.f;
          }
        issueDV();
        wgmma::wait<1>(); // dPᵀ (dV may still run)
        detail::fenceRegs(reinterpret_cast<float(&)[kQT * 4]>(dpT));
#pragma unroll
        for (int nt = 0; nt < kQT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            dpT[nt][e] = sT[nt][e] * (dpT[nt][e] - delS[nt * 8 + 2 * tq + (e & 1)]);
      } else {
        wgmma::wait<0>();
        detail::fenceRegs(reinterpret_cast<float(&)[kQT * 4]>(sT));
        detail::fenceRegs(reinterpret_cast<float(&)[kQT * 4]>(dpT));
        if (full)
          detail::bwdProbs<KMask, BiasT, kSoftcap, false>(sT, dpT, lseS, delS, p, krow0 + g, tq,
                                                          nq, nk, pmin, n0, sBias, sDBias,
                                                          sBucket);
        else
          detail::bwdProbs<KMask, BiasT, kSoftcap, true>(sT, dpT, lseS, delS, p, krow0 + g, tq,
                                                         nq, nk, pmin, n0, sBias, sDBias,
                                                         sBucket);
        issueDV();
      }

      // dK += dSᵀ Q; dSᵀ to shared memory for dQ.
      issueKeyGrad(dK, sa, dpT, qDescT);
#pragma unroll
      for (int kk = 0; kk < kBlockM / 16; ++kk)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int kr = krow0 + g + 8 * (e & 1), qc = kk * 16 + 8 * (e >> 1) + 2 * tq;
          *reinterpret_cast<unsigned *>(sS + sStage * kSBytes +
                                        detail::swizzle128Offset<kBlockN>(kr, qc)) = sa[kk][e];
        }
      wgmma::fenceProxyAsync();
      namedBarrier(1, kThreads); // dSᵀ of both warpgroups is written

      // dQ = dS K (64 queries x 64 columns), added to dq_acc.
      wgmma::fence();
#pragma unroll
      for (int kk = 0; kk < kDQKSteps; ++kk)
        wgmma::SS<T, 64>::template run<1, 1>(
            &dq[0][0], wgmma::descAdd(dsDesc, sStage * kSBytes + kk * 16 * 128),
            wgmma::descAdd(kTDesc, kk * 16 * 128), kk > 0);
      wgmma::commit();
      dqRowBase = sp.rowBase;
      dqRows = nq;
      // dV and dK are complete (their stage may be refilled); kDeferDQ
      // leaves dQ running.
      wgmma::wait<kDeferDQ ? 1 : 0>();
      detail::fenceRegs(reinterpret_cast<float(&)[kDT * 4]>(dV));
      detail::fenceRegs(reinterpret_cast<float(&)[kDT * 4]>(dK));
      detail::useRegs(pa);
      detail::useRegs(sa);
      if constexpr (!kDeferDQ) {
        detail::fenceRegs(reinterpret_cast<float(&)[32]>(dq));
        addDQ();
      }
    }
    if constexpr (kDeferDQ) {
      if (u.nSteps > 0) {
        wgmma::wait<0>();
        detail::fenceRegs(reinterpret_cast<float(&)[32]>(dq));
        addDQ();
      }
    }
    cpAsyncWait<0>();
    if constexpr (BiasT::kEnabled) {
      __syncthreads();
      if (u.nSteps > 0)
        Bias::flush(p, u.h * u.group + u.group - 1, sDBias);
    }
    detail::bwdStoreKV<T, kDT, kStep, D>(p, dK, dV, u.keyBase, krow0, g, tq, nk);
  }
};

/// Whether AttentionBwd takes AttentionBwdWgmma for head dims 64 and 128
/// (default 1; 0 selects AttentionBwdMma, e.g. to compare the two).
/// kernel_check_bwd checks AttentionBwdWgmma against f64 loops and times
/// it next to AttentionBwdMma (1.29x to 1.41x faster on an H100, 2026-12-07:
/// bench/results/cuda-kernels-perf-2026-12-07.md).
#ifndef ROTOR_CUDA_BWD_WGMMA
#define ROTOR_CUDA_BWD_WGMMA 1
#endif

/// The tensor-core attention backward: AttentionBwdWgmma for head dims 64
/// and 128 when ROTOR_CUDA_BWD_WGMMA is 1 (and ROTOR_CUDA_NO_WGMMA is not
/// defined, as for AttentionFwd), AttentionBwdMma otherwise. Same Params and
/// grid rule; the constants are those of the chosen kernel.
template <typename T, int kHeadDim, typename MaskT = NoMask, typename BiasT = NoBias,
          bool kSoftcap = false>
struct AttentionBwd
    : Cond<
#ifdef ROTOR_CUDA_NO_WGMMA
          false,
#else
          ROTOR_CUDA_BWD_WGMMA && (kHeadDim == 64 || kHeadDim == 128),
#endif
          AttentionBwdWgmma<T, kHeadDim, MaskT, BiasT, kSoftcap>,
          AttentionBwdMma<T, kHeadDim, MaskT, BiasT, kSoftcap>>::type {
};

} // namespace cuda
} // namespace rotor

#endif // ROTOR_CUDA_ATTENTION_BWD_CUH
