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
//  2. AttentionBwd / AttentionBwdSimple: one block per (key tile, kv head,
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
  __device__ __forceinline__ long long count() const { return (a1 - a0) + (b1 - b0); }
  __device__ __forceinline__ long long tile(long long t) const {
    return t < a1 - a0 ? a0 + t : b0 + (t - (a1 - a0));
  }
};

/// The query tiles (of kBlockM rows; queries aligned to the end of the keys)
/// that can hold a query seeing some key in [jmin, jmax]: the inverse of
/// planTiles. A superset from the mask's bounds: the local range (causal,
/// window, chunk; every causal query when the keys include global tokens)
/// and the global query prefix (positions [0, kGlobal) see every key).
template <typename MaskT, int kBlockM>
__device__ __forceinline__ TileRanges planQueryTiles(long long jmin, long long jmax, long long sq,
                                                     long long sk) {
  const long long off = sk - sq; // position of query row 0
  long long lo = off, hi = off + sq;
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

    const TileRanges plan = planQueryTiles<MaskT, kB>(n0, n0 + nk - 1, sq, sk);
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

} // namespace cuda
} // namespace rotor

#endif // ROTOR_CUDA_ATTENTION_BWD_CUH
