//===- attention.cuh - Attention forward kernels ------------------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// AttentionFwd: flash attention on tensor cores (bf16 / fp16 in, fp32
// accumulation) with mma.sync m16n8k16, ldmatrix, a two-stage cp.async
// pipeline over key/value tiles and swizzled (or padded) shared memory.
// Structured masks visit only the key tiles that can hold a visible key and
// test elements only on tiles that are not wholly visible.
//
// AttentionSimple: the same op on CUDA cores, one warp per query row, for
// f32 models and short query counts (decode).
//
// Semantics: rotor.attention (RotorOps.td), rotor_ref.attention.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_ATTENTION_CUH
#define ROTOR_CUDA_ATTENTION_CUH

#include "rotor/cuda/common.cuh"
#include "rotor/cuda/mask.cuh"
#include "rotor/cuda/ptx.cuh"
#include "rotor/cuda/wgmma.cuh"

namespace rotor {
namespace cuda {

/// Runtime parameters shared by the attention kernels.
template <typename T, typename RopeT> struct AttentionParams {
  const T *q = nullptr;       // (B, Hq, Sq, D)
  const T *k = nullptr;       // (B, Hkv, Sk, D)
  const T *v = nullptr;       // (B, Hkv, Sk, D)
  T *out = nullptr;           // (B, Hq, Sq, D)
  float *lse = nullptr;       // (B, Hq, Sq), when kReturnLse
  const float *bias = nullptr; // (Hq, num_buckets), with T5Bias
  const typename RopeT::PosT *q_pos = nullptr; // (Sq) or (B, Sq), with RopeQK
  const typename RopeT::PosT *k_pos = nullptr; // (Sk) or (B, Sk), with RopeQK
  const double *inv_freq = nullptr; // RopeInvFreq output, with RopeQK
  const float *q_cs = nullptr; // (Sq or B·Sq, rotary_dim/2, 2) RopeCosSin, with RopeQK<..., true>
  const float *k_cs = nullptr; // (Sk or B·Sk, rotary_dim/2, 2) RopeCosSin, with RopeQK<..., true>
  long long batch = 0, hq = 0, hkv = 0, sq = 0, sk = 0;
  float scale = 1.f;
  float softcap = 0.f;
};

namespace detail {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

/// Turns raw dot products into log2-domain scores: scale, softcap, bias.
template <typename BiasT, bool kSoftcap> struct ScoreFn {
  float scale, cap, invCap, scaleLog2;
  __device__ __forceinline__ ScoreFn(float s, float c) {
    scale = s;
    cap = c;
    invCap = kSoftcap ? 1.f / c : 0.f;
    scaleLog2 = s * kLog2e;
  }
  __device__ __forceinline__ float operator()(float dot, const float *biasTab, int rel) const {
    if constexpr (!kSoftcap && !BiasT::kEnabled) {
      return dot * scaleLog2;
    } else {
      float s = dot * scale;
      if constexpr (kSoftcap)
        s = cap * tanhf(s * invCap);
      if constexpr (BiasT::kEnabled)
        s += BiasT::lookup(biasTab, rel);
      return s * kLog2e;
    }
  }
};

/// First half of the online softmax of one key tile: turns the raw dot
/// products s into log2-domain scores (in place; -inf where masked), updates
/// the running max m, rescales the running sum l and the output o, and
/// returns in mUse the max to subtract (0 for rows with nothing visible yet).
/// kMasked: test each element (key bound and mask).
/// The thread holds rows qp0 + 16 mt + g (+ 8) and key columns
/// kp0 + 8 nt + 2 tq (+ 1) of the tile (the mma.m16n8 C layout).
template <typename MaskT, bool kMasked, int kMT, int kNT, int kDT, typename ScoreT>
__device__ __forceinline__ void
scoreAndRescale(float (&s)[kMT][kNT][4], float (&mrow)[kMT][2], float (&lrow)[kMT][2],
                float (&oacc)[kMT][kDT][4], float (&mUse)[kMT][2], const ScoreT &score,
                const float *biasTab, int qp0, int kp0, int sk, int g, int tq) {
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
    float mx[2] = {negInf(), negInf()};
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int qp = qp0 + mt * 16 + g + (e >= 2 ? 8 : 0);
        int kp = kp0 + nt * 8 + 2 * tq + (e & 1);
        float x = score(s[mt][nt][e], biasTab, kp - qp);
        if (kMasked && !(kp < sk && MaskT::visible(qp, kp)))
          x = negInf();
        s[mt][nt][e] = x;
        mx[e >> 1] = fmaxf(mx[e >> 1], x);
      }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      float mNew = fmaxf(mrow[mt][r], mx[r]);
      mUse[mt][r] = mNew == negInf() ? 0.f : mNew;
      float alpha = exp2Fast(mrow[mt][r] - mUse[mt][r]);
      mrow[mt][r] = mNew;
      lrow[mt][r] *= alpha;
#pragma unroll
      for (int dt = 0; dt < kDT; ++dt) {
        oacc[mt][dt][2 * r] *= alpha;
        oacc[mt][dt][2 * r + 1] *= alpha;
      }
    }
  }
}

/// Second half: probabilities of the key columns of n-tiles [kBegin, kEnd)
/// (in place), added to the running sums.
template <int kBegin, int kEnd, int kMT, int kNT>
__device__ __forceinline__ void expAndSum(float (&s)[kMT][kNT][4], float (&lrow)[kMT][2],
                                          const float (&mUse)[kMT][2]) {
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float sum = 0.f;
#pragma unroll
      for (int nt = kBegin; nt < kEnd; ++nt) {
        float p0 = exp2Fast(s[mt][nt][2 * r] - mUse[mt][r]);
        float p1 = exp2Fast(s[mt][nt][2 * r + 1] - mUse[mt][r]);
        s[mt][nt][2 * r] = p0;
        s[mt][nt][2 * r + 1] = p1;
        sum += p0 + p1;
      }
      lrow[mt][r] += sum;
    }
}

/// The whole online-softmax step of one key tile.
template <typename MaskT, bool kMasked, int kMT, int kNT, int kDT, typename ScoreT>
__device__ __forceinline__ void
softmaxTile(float (&s)[kMT][kNT][4], float (&mrow)[kMT][2], float (&lrow)[kMT][2],
            float (&oacc)[kMT][kDT][4], const ScoreT &score, const float *biasTab, int qp0,
            int kp0, int sk, int g, int tq) {
  float mUse[kMT][2];
  scoreAndRescale<MaskT, kMasked>(s, mrow, lrow, oacc, mUse, score, biasTab, qp0, kp0, sk, g,
                                  tq);
  expAndSum<0, kNT>(s, lrow, mUse);
}

/// What a block of the tensor-core kernels works on: query tile blockIdx.x
/// (heaviest, i.e. last for causal masks, first), head blockIdx.y, batch row
/// blockIdx.z, the global pointers, the position range and the key tiles to
/// visit.
template <typename T, typename MaskT, int kBlockM, int kBlockN, int D> struct QueryTile {
  long long h, b, sq, sk, m0, pmin, pmax;
  int rowsValid;
  const T *qg, *kg, *vg;
  TilePlan plan;

  template <typename P> __device__ __forceinline__ explicit QueryTile(const P &p) {
    h = blockIdx.y;
    b = blockIdx.z;
    const long long hk = h / (p.hq / p.hkv);
    sq = p.sq;
    sk = p.sk;
    m0 = (long long)(gridDim.x - 1 - blockIdx.x) * kBlockM;
    rowsValid = (int)(sq - m0 < kBlockM ? sq - m0 : kBlockM);
    pmin = m0 + sk - sq;
    pmax = pmin + rowsValid - 1;
    qg = p.q + ((b * p.hq + h) * sq + m0) * D;
    kg = p.k + (b * p.hkv + hk) * sk * D;
    vg = p.v + (b * p.hkv + hk) * sk * D;
    plan = planTiles<MaskT, kBlockN>(pmin, pmax, sk);
  }
  /// Keys of the tile starting at key n0 that exist.
  __device__ __forceinline__ int keysIn(long long n0) const {
    return (int)(sk - n0 < kBlockN ? sk - n0 : kBlockN);
  }
};

} // namespace detail

//===----------------------------------------------------------------------===//
// AttentionFwd
//===----------------------------------------------------------------------===//

/// Flash attention forward on tensor cores with mma.sync (sm_80+), any head
/// dim that is a multiple of 16 up to 128.
/// grid = (ceil(sq / kTile), hq, batch); block = kThreads; dynamic smem =
/// kSmemBytes (raise the attribute above 48 KiB).
template <typename T, int kHeadDim, typename MaskT = NoMask, typename BiasT = NoBias,
          bool kSoftcap = false, bool kReturnLse = false, typename RopeT = NoRope>
struct AttentionFwdMma {
  static_assert(IsHalfLike<T>::value, "AttentionFwdMma takes __half or __nv_bfloat16");
  static_assert(kHeadDim % 16 == 0 && kHeadDim >= 16 && kHeadDim <= 128,
                "AttentionFwdMma head dim must be a multiple of 16 in [16, 128]");
  static_assert(!RopeT::kEnabled || RopeT::kRotaryDim <= kHeadDim, "rotary_dim > head dim");

  static constexpr int D = kHeadDim;
  static constexpr int kWarps = 4;
  static constexpr int kMT = 2;                    // 16-row m-tiles per warp
  static constexpr int kWarpRows = 16 * kMT;
  static constexpr int kBlockM = kWarps * kWarpRows; // 128
  static constexpr int kBlockN = 64;
  static constexpr int kNT = kBlockN / 8;           // 8-key n-tiles per tile
  static constexpr int kDT = D / 8;                 // 8-wide output column tiles
  static constexpr int kChunks = D / 8;             // 16-byte chunks per row
  static constexpr bool kSwizzle = kChunks % 8 == 0;
  static constexpr int kRowElems = kSwizzle ? D : D + 8;
  static constexpr int kQElems = kBlockM * kRowElems;
  static constexpr int kKVElems = kBlockN * kRowElems;
  static constexpr int kTileBytes = (kQElems + 4 * kKVElems) * 2;

  static constexpr int kThreads = kWarps * 32;
  static constexpr int kTile = kBlockM;
  static constexpr int kSmemBytes = kTileBytes + BiasT::kTableSize * 4;
  static constexpr int kMinBlocksPerSM = 2;

  using Params = AttentionParams<T, RopeT>;

  /// Offset (elements) of 16-byte chunk `chunk` of row `row` in a tile.
  __device__ __forceinline__ static int sIdx(int row, int chunk) {
    return row * kRowElems + (kSwizzle ? (chunk ^ (row & 7)) : chunk) * 8;
  }

  /// Issues cp.async copies of `rows` rows (of which `valid` exist) of D
  /// elements from `g` into tile `s`; missing rows become zeros.
  template <int kRows>
  __device__ __forceinline__ static void loadTile(T *s, const T *g, int valid) {
#pragma unroll 4
    for (int idx = threadIdx.x; idx < kRows * kChunks; idx += kThreads) {
      int r = idx / kChunks, c = idx % kChunks;
      bool ok = r < valid;
      const T *src = g + (ok ? (long long)r * D + c * 8 : 0);
      cpAsync16(smemAddr(s + sIdx(r, c)), src, ok);
    }
  }

  /// Rotates rows [0, valid) of a tile in place (rope prologue), rounding to
  /// T as rotor.rope would.
  template <int kRows>
  __device__ static void ropeTile(T *s, int valid, const RopeRows<RopeT> &rows) {
    if constexpr (RopeT::kEnabled) {
      constexpr int kHalf = RopeT::kRotaryDim / 2;
      for (int idx = threadIdx.x; idx < kRows * kHalf; idx += kThreads) {
        int r = idx / kHalf, i = idx % kHalf;
        if (r >= valid)
          continue;
        float c, sn;
        rows.template get<true>(r, i, &c, &sn);
        int ea = RopeT::first(i), eb = RopeT::second(i);
        T *pa = s + sIdx(r, ea / 8) + ea % 8;
        T *pb = s + sIdx(r, eb / 8) + eb % 8;
        float a = toF32(*pa), b = toF32(*pb);
        *pa = fromF32<T>(a * c - b * sn);
        *pb = fromF32<T>(b * c + a * sn);
      }
    }
  }

  __device__ static void run(const Params &p) {
    T *sQ = reinterpret_cast<T *>(dynamicSmem());
    T *sK = sQ + kQElems;    // 2 stages
    T *sV = sK + 2 * kKVElems; // 2 stages
    float *biasTab = reinterpret_cast<float *>(dynamicSmem() + kTileBytes);

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, tq = lane & 3;
    const detail::QueryTile<T, MaskT, kBlockM, kBlockN, D> qt(p);
    if (qt.m0 >= qt.sq)
      return;
    const long long h = qt.h, b = qt.b, sq = qt.sq, sk = qt.sk, m0 = qt.m0;
    const long long off = sk - sq, pmin = qt.pmin, pmax = qt.pmax;
    const int rowsValid = qt.rowsValid;
    const T *qg = qt.qg, *kg = qt.kg, *vg = qt.vg;
    const TilePlan plan = qt.plan;
    const long long nTiles = plan.count();

    if constexpr (BiasT::kEnabled)
      BiasT::template fillTable<kThreads>(biasTab, p.bias + h * BiasT::kNumBuckets,
                                          !MaskT::kCausal);

    auto loadKV = [&](long long t, int stage) {
      long long n0 = plan.tile(t) * kBlockN;
      int valid = qt.keysIn(n0);
      loadTile<kBlockN>(sK + stage * kKVElems, kg + n0 * D, valid);
      loadTile<kBlockN>(sV + stage * kKVElems, vg + n0 * D, valid);
    };

    loadTile<kBlockM>(sQ, qg, rowsValid);
    if (nTiles > 0)
      loadKV(0, 0);
    cpAsyncCommit();

    float oacc[kMT][kDT][4];
    float mrow[kMT][2], lrow[kMT][2];
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int dt = 0; dt < kDT; ++dt)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          oacc[mt][dt][e] = 0.f;
      mrow[mt][0] = mrow[mt][1] = negInf();
      lrow[mt][0] = lrow[mt][1] = 0.f;
    }

    const detail::ScoreFn<BiasT, kSoftcap> score(p.scale, p.softcap);
    const int warpRow0 = warp * kWarpRows;
    // ldmatrix lane roles (see the fragment layouts of mma.m16n8k16).
    const int aRow = lane & 15, aChunk = lane >> 4;
    const int kRowL = (lane & 7) + ((lane >> 4) << 3), kChunkL = (lane >> 3) & 1;
    const int vRowL = (lane & 7) + (((lane >> 3) & 1) << 3), vChunkL = lane >> 4;
    const unsigned sQaddr = smemAddr(sQ);

    for (long long t = 0; t < nTiles; ++t) {
      const int stage = (int)(t & 1);
      if (t + 1 < nTiles)
        loadKV(t + 1, stage ^ 1);
      cpAsyncCommit();
      cpAsyncWait<1>();
      __syncthreads();

      const long long n0 = plan.tile(t) * kBlockN;
      T *sKs = sK + stage * kKVElems;
      T *sVs = sV + stage * kKVElems;
      if constexpr (RopeT::kEnabled) {
        if (t == 0)
          ropeTile<kBlockM>(sQ, rowsValid,
                            RopeRows<RopeT>(p.q_pos, p.q_cs, p.inv_freq, b, sq, m0));
        int valid = qt.keysIn(n0);
        ropeTile<kBlockN>(sKs, valid,
                          RopeRows<RopeT>(p.k_pos, p.k_cs, p.inv_freq, b, sk, n0));
        __syncthreads();
      }

      // S = Q Kᵀ
      float s[kMT][kNT][4];
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            s[mt][nt][e] = 0.f;
      const unsigned sKaddr = smemAddr(sKs);
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        unsigned a[kMT][4];
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt)
          ldmatrixX4(sQaddr + 2 * sIdx(warpRow0 + mt * 16 + aRow, kk * 2 + aChunk), a[mt][0],
                     a[mt][1], a[mt][2], a[mt][3]);
#pragma unroll
        for (int np = 0; np < kNT / 2; ++np) {
          unsigned b0, b1, b2, b3;
          ldmatrixX4(sKaddr + 2 * sIdx(np * 16 + kRowL, kk * 2 + kChunkL), b0, b1, b2, b3);
#pragma unroll
          for (int mt = 0; mt < kMT; ++mt) {
            mma16816<T>(s[mt][2 * np], a[mt], b0, b1);
            mma16816<T>(s[mt][2 * np + 1], a[mt], b2, b3);
          }
        }
      }

      // Scores, mask, online softmax (the element test only where needed).
      const int qp0 = (int)(m0 + off) + warpRow0; // position of the warp's row 0
      if (n0 + kBlockN <= sk && MaskT::tileFull(pmin, pmax, n0, n0 + kBlockN - 1))
        detail::softmaxTile<MaskT, false>(s, mrow, lrow, oacc, score, biasTab, qp0, (int)n0,
                                          (int)sk, g, tq);
      else
        detail::softmaxTile<MaskT, true>(s, mrow, lrow, oacc, score, biasTab, qp0, (int)n0,
                                         (int)sk, g, tq);

      // O += P V
      const unsigned sVaddr = smemAddr(sVs);
#pragma unroll
      for (int kk = 0; kk < kBlockN / 16; ++kk) {
        unsigned a[kMT][4];
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          a[mt][0] = pack2<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
          a[mt][1] = pack2<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
          a[mt][2] = pack2<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
          a[mt][3] = pack2<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int dp = 0; dp < D / 16; ++dp) {
          unsigned b0, b1, b2, b3;
          ldmatrixX4Trans(sVaddr + 2 * sIdx(kk * 16 + vRowL, dp * 2 + vChunkL), b0, b1, b2,
                          b3);
#pragma unroll
          for (int mt = 0; mt < kMT; ++mt) {
            mma16816<T>(oacc[mt][2 * dp], a[mt], b0, b1);
            mma16816<T>(oacc[mt][2 * dp + 1], a[mt], b2, b3);
          }
        }
      }
      __syncthreads(); // the stage is reloaded by the next iteration
    }
    cpAsyncWait<0>();
    __syncthreads();

    // Normalize, stage the warp's rows in sQ (only this warp read them), and
    // store them with 16-byte writes.
    T *og = p.out + ((b * p.hq + h) * sq + m0) * D;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float l = lrow[mt][r];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        float inv = l > 0.f ? 1.f / l : 0.f;
        int row = warpRow0 + mt * 16 + g + 8 * r;
#pragma unroll
        for (int dt = 0; dt < kDT; ++dt) {
          unsigned v = pack2<T>(oacc[mt][dt][2 * r] * inv, oacc[mt][dt][2 * r + 1] * inv);
          *reinterpret_cast<unsigned *>(sQ + sIdx(row, dt) + 2 * tq) = v;
        }
        if constexpr (kReturnLse) {
          if (tq == 0 && row < rowsValid) {
            float mUse = mrow[mt][r] == negInf() ? 0.f : mrow[mt][r];
            p.lse[(b * p.hq + h) * sq + m0 + row] =
                l > 0.f ? (mUse + log2f(l)) * detail::kLn2 : negInf();
          }
        }
      }
    __syncwarp();
    for (int idx = lane; idx < kWarpRows * kChunks; idx += 32) {
      int r = warpRow0 + idx / kChunks, c = idx % kChunks;
      if (r < rowsValid)
        *reinterpret_cast<uint4 *>(og + (long long)r * D + c * 8) =
            *reinterpret_cast<const uint4 *>(sQ + sIdx(r, c));
    }
  }
};

//===----------------------------------------------------------------------===//
// AttentionFwdWgmma
//===----------------------------------------------------------------------===//

/// Flash attention forward with Hopper warpgroup MMA (sm_90a), head dim 64 or
/// 128: kWarpGroups consumer warpgroups of 64 query rows each; S = Q Kᵀ with
/// both operands in 128-byte-swizzled shared memory, O += P V with P from
/// registers and V read transposed (N-major) from shared memory. Key/value
/// tiles of kBlockN keys stream through a cp.async pipeline.
///  * kPipelined = false: two stages, two block barriers per tile.
///  * kPipelined = true: kStagesWanted stages (fewer when shared memory is
///    short), one barrier per tile, and P·V issued in two halves so that the
///    second half's exponentials overlap the first half's MMAs.
/// grid = (ceil(sq / kTile), hq, batch); block = kThreads; dynamic smem =
/// kSmemBytes (raise the attribute above 48 KiB).
template <typename T, int kHeadDim, typename MaskT = NoMask, typename BiasT = NoBias,
          bool kSoftcap = false, bool kReturnLse = false, typename RopeT = NoRope,
          int kWarpGroups_ = 2, int kBlockN_ = 128, int kStagesWanted = 2,
          bool kPipelined = false>
struct AttentionFwdWgmma {
  static_assert(IsHalfLike<T>::value, "AttentionFwdWgmma takes __half or __nv_bfloat16");
  static_assert(kHeadDim == 64 || kHeadDim == 128, "AttentionFwdWgmma head dim is 64 or 128");
  static_assert(!RopeT::kEnabled || RopeT::kRotaryDim <= kHeadDim, "rotary_dim > head dim");
  static_assert(kWarpGroups_ == 1 || kWarpGroups_ == 2, "one or two warpgroups");
  static_assert(kBlockN_ == 64 || kBlockN_ == 128, "key tiles of 64 or 128");
  static_assert(kStagesWanted >= 2 && kStagesWanted <= 4, "2 to 4 stages");
  static_assert(kPipelined || kStagesWanted == 2, "the unpipelined loop has two stages");

  static constexpr int D = kHeadDim;
  static constexpr int kWarpGroups = kWarpGroups_;
  static constexpr int kBlockM = 64 * kWarpGroups;
  static constexpr int kBlockN = kBlockN_;
  static constexpr int kNT = kBlockN / 8;
  static constexpr int kDT = D / 8;
  static constexpr int kColBlocks = D / 64; // 128-byte column blocks
  static constexpr int kQBytes = kBlockM * D * 2;
  static constexpr int kKVBytes = kBlockN * D * 2;
  static constexpr int kMinBlocksPerSM = kWarpGroups == 1 ? 2 : 1;
  /// Shared memory of one block: what 227 KiB per SM leaves per block.
  static constexpr int kSmemBudget = 232448 / kMinBlocksPerSM - 1024;
  static constexpr int kExtraBytes = BiasT::kTableSize * 4 + 1024;
  static constexpr int kStages =
      kQBytes + 2 * kStagesWanted * kKVBytes + kExtraBytes <= kSmemBudget ? kStagesWanted : 2;
  static constexpr int kTileBytes = kQBytes + 2 * kStages * kKVBytes;

  static constexpr int kThreads = 128 * kWarpGroups;
  static constexpr int kTile = kBlockM;
  // + 1 KiB so that the tiles can start on a 1 KiB boundary (swizzle atoms).
  static constexpr int kSmemBytes = kTileBytes + kExtraBytes;
  static_assert(kSmemBytes <= 232448, "AttentionFwdWgmma: shared memory over 227 KiB");

  using Params = AttentionParams<T, RopeT>;

  /// Byte offset of element (row, col) in a tile of `rows` rows stored as
  /// kColBlocks blocks of rows x 128 bytes with the 128-byte swizzle.
  template <int kRows> __device__ __forceinline__ static int offB(int row, int col) {
    return (col >> 6) * (kRows * 128) + row * 128 + ((((col & 63) >> 3) ^ (row & 7)) << 4) +
           ((col & 7) << 1);
  }

  template <int kRows>
  __device__ __forceinline__ static void loadTile(unsigned char *s, const T *g, int valid) {
    constexpr int kChunks = D / 8;
#pragma unroll 4
    for (int idx = threadIdx.x; idx < kRows * kChunks; idx += kThreads) {
      int r = idx / kChunks, c = idx % kChunks;
      bool ok = r < valid;
      const T *src = g + (ok ? (long long)r * D + c * 8 : 0);
      cpAsync16(smemAddr(s + offB<kRows>(r, c * 8)), src, ok);
    }
  }

  template <int kRows>
  __device__ static void ropeTile(unsigned char *s, int valid, const RopeRows<RopeT> &rows) {
    if constexpr (RopeT::kEnabled) {
      constexpr int kHalf = RopeT::kRotaryDim / 2;
      for (int idx = threadIdx.x; idx < kRows * kHalf; idx += kThreads) {
        int r = idx / kHalf, i = idx % kHalf;
        if (r >= valid)
          continue;
        float c, sn;
        rows.template get<true>(r, i, &c, &sn);
        T *pa = reinterpret_cast<T *>(s + offB<kRows>(r, RopeT::first(i)));
        T *pb = reinterpret_cast<T *>(s + offB<kRows>(r, RopeT::second(i)));
        float a = toF32(*pa), b = toF32(*pb);
        *pa = fromF32<T>(a * c - b * sn);
        *pb = fromF32<T>(b * c + a * sn);
      }
    }
  }

  __device__ static void run(const Params &p) {
#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
    __trap(); // wgmma needs sm_90a; compile for sm_90a or use AttentionFwdMma
#else
    unsigned char *smem = dynamicSmem();
    smem += (1024 - (smemAddr(smem) & 1023)) & 1023;
    unsigned char *sQ = smem;
    unsigned char *sK = sQ + kQBytes;          // kStages stages
    unsigned char *sV = sK + kStages * kKVBytes; // kStages stages
    float *biasTab = reinterpret_cast<float *>(smem + kTileBytes);

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wg = warp >> 2, wIn = warp & 3;
    const int g = lane >> 2, tq = lane & 3;
    const detail::QueryTile<T, MaskT, kBlockM, kBlockN, D> qt(p);
    if (qt.m0 >= qt.sq)
      return;
    const long long h = qt.h, b = qt.b, sq = qt.sq, sk = qt.sk, m0 = qt.m0;
    const long long off = sk - sq, pmin = qt.pmin, pmax = qt.pmax;
    const int rowsValid = qt.rowsValid;
    const T *qg = qt.qg, *kg = qt.kg, *vg = qt.vg;
    const TilePlan plan = qt.plan;
    const long long nTiles = plan.count();

    if constexpr (BiasT::kEnabled)
      BiasT::template fillTable<kThreads>(biasTab, p.bias + h * BiasT::kNumBuckets,
                                          !MaskT::kCausal);

    auto loadKV = [&](long long t, int stage) {
      long long n0 = plan.tile(t) * kBlockN;
      int valid = qt.keysIn(n0);
      loadTile<kBlockN>(sK + stage * kKVBytes, kg + n0 * D, valid);
      loadTile<kBlockN>(sV + stage * kKVBytes, vg + n0 * D, valid);
    };
    loadTile<kBlockM>(sQ, qg, rowsValid);
    if (nTiles > 0)
      loadKV(0, 0);
    cpAsyncCommit();
#pragma unroll
    for (int st = 1; st < kStages - 1; ++st) {
      if (st < nTiles)
        loadKV(st, st);
      cpAsyncCommit();
    }

    float oacc[1][kDT][4];
    float mrow[1][2] = {{negInf(), negInf()}}, lrow[1][2] = {{0.f, 0.f}};
#pragma unroll
    for (int dt = 0; dt < kDT; ++dt)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        oacc[0][dt][e] = 0.f;

    const detail::ScoreFn<BiasT, kSoftcap> score(p.scale, p.softcap);
    const unsigned qAddr = smemAddr(sQ) + wg * 64 * 128;
    const int qp0 = (int)(m0 + off) + wg * 64 + wIn * 16;

    int stage = 0; // t % kStages
    for (long long t = 0; t < nTiles; ++t) {
      if constexpr (!kPipelined) {
        if (t + 1 < nTiles)
          loadKV(t + 1, stage ^ 1);
        cpAsyncCommit();
        cpAsyncWait<1>();
      } else {
        cpAsyncWait<kStages - 2>();
      }
      const long long n0 = plan.tile(t) * kBlockN;
      unsigned char *sKs = sK + stage * kKVBytes;
      unsigned char *sVs = sV + stage * kKVBytes;
      if constexpr (RopeT::kEnabled) {
        __syncthreads();
        if (t == 0)
          ropeTile<kBlockM>(sQ, rowsValid,
                            RopeRows<RopeT>(p.q_pos, p.q_cs, p.inv_freq, b, sq, m0));
        int valid = qt.keysIn(n0);
        ropeTile<kBlockN>(sKs, valid,
                          RopeRows<RopeT>(p.k_pos, p.k_cs, p.inv_freq, b, sk, n0));
      }
      wgmma::fenceProxyAsync();
      __syncthreads();
      if constexpr (kPipelined) {
        // Every thread is past tile t - 1: its stage can be refilled.
        long long tn = t + kStages - 1;
        if (tn < nTiles)
          loadKV(tn, stage == 0 ? kStages - 1 : stage - 1);
        cpAsyncCommit();
      }

      // S = Q Kᵀ (64 x kBlockN per warpgroup).
      float s[1][kNT][4];
      const unsigned kAddr = smemAddr(sKs);
      wgmma::fence();
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        unsigned long long da = wgmma::desc128B(
            qAddr + (kk >> 2) * (kBlockM * 128) + (kk & 3) * 32, 16, 1024);
        unsigned long long db = wgmma::desc128B(
            kAddr + (kk >> 2) * (kBlockN * 128) + (kk & 3) * 32, 16, 1024);
        wgmma::SS<T, kBlockN>::run(&s[0][0][0], da, db, kk > 0 ? 1 : 0);
      }
      wgmma::commit();
      wgmma::wait<0>();

      // O += P V: P from registers (the S accumulator layout is the A
      // fragment layout), V transposed from shared memory.
      const unsigned vAddr = smemAddr(sVs);
      auto packP = [&](unsigned(&a)[4], int kk) {
        a[0] = pack2<T>(s[0][2 * kk][0], s[0][2 * kk][1]);
        a[1] = pack2<T>(s[0][2 * kk][2], s[0][2 * kk][3]);
        a[2] = pack2<T>(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);
        a[3] = pack2<T>(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);
      };
      auto issuePV = [&](unsigned(&a)[4], int kk) {
        unsigned long long db = wgmma::desc128B(vAddr + kk * 16 * 128, kBlockN * 128, 1024);
        wgmma::RS<T, D>::run(&oacc[0][0][0], a, db, 1);
      };
      const bool full =
          n0 + kBlockN <= sk && MaskT::tileFull(pmin, pmax, n0, n0 + kBlockN - 1);
      unsigned a[kBlockN / 16][4];
      if constexpr (!kPipelined) {
        if (full)
          detail::softmaxTile<MaskT, false>(s, mrow, lrow, oacc, score, biasTab, qp0, (int)n0,
                                            (int)sk, g, tq);
        else
          detail::softmaxTile<MaskT, true>(s, mrow, lrow, oacc, score, biasTab, qp0, (int)n0,
                                           (int)sk, g, tq);
#pragma unroll
        for (int kk = 0; kk < kBlockN / 16; ++kk)
          packP(a[kk], kk);
        wgmma::fence();
#pragma unroll
        for (int kk = 0; kk < kBlockN / 16; ++kk)
          issuePV(a[kk], kk);
      } else {
        float mUse[1][2];
        if (full)
          detail::scoreAndRescale<MaskT, false>(s, mrow, lrow, oacc, mUse, score, biasTab, qp0,
                                                (int)n0, (int)sk, g, tq);
        else
          detail::scoreAndRescale<MaskT, true>(s, mrow, lrow, oacc, mUse, score, biasTab, qp0,
                                               (int)n0, (int)sk, g, tq);
        constexpr int kHalfK = kBlockN / 32; // k-steps per half
        detail::expAndSum<0, kNT / 2>(s, lrow, mUse);
#pragma unroll
        for (int kk = 0; kk < kHalfK; ++kk)
          packP(a[kk], kk);
        wgmma::fence();
#pragma unroll
        for (int kk = 0; kk < kHalfK; ++kk)
          issuePV(a[kk], kk);
        detail::expAndSum<kNT / 2, kNT>(s, lrow, mUse);
#pragma unroll
        for (int kk = kHalfK; kk < 2 * kHalfK; ++kk)
          packP(a[kk], kk);
        wgmma::fence();
#pragma unroll
        for (int kk = kHalfK; kk < 2 * kHalfK; ++kk)
          issuePV(a[kk], kk);
      }
      wgmma::commit();
      wgmma::wait<0>();
      if constexpr (!kPipelined)
        __syncthreads(); // the stage is reloaded by the next iteration
      stage = stage + 1 == kStages ? 0 : stage + 1;
    }
    cpAsyncWait<0>();
    __syncthreads();

    // Normalize, stage row-major (padded) in the K stages, store 16 bytes
    // per thread.
    constexpr int kStride = D + 8;
    T *obuf = reinterpret_cast<T *>(sK);
    T *og = p.out + ((b * p.hq + h) * sq + m0) * D;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float l = lrow[0][r];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      float inv = l > 0.f ? 1.f / l : 0.f;
      int row = wg * 64 + wIn * 16 + g + 8 * r;
#pragma unroll
      for (int dt = 0; dt < kDT; ++dt)
        *reinterpret_cast<unsigned *>(obuf + row * kStride + dt * 8 + 2 * tq) =
            pack2<T>(oacc[0][dt][2 * r] * inv, oacc[0][dt][2 * r + 1] * inv);
      if constexpr (kReturnLse) {
        if (tq == 0 && row < rowsValid) {
          float mUse = mrow[0][r] == negInf() ? 0.f : mrow[0][r];
          p.lse[(b * p.hq + h) * sq + m0 + row] =
              l > 0.f ? (mUse + log2f(l)) * detail::kLn2 : negInf();
        }
      }
    }
    __syncthreads();
    constexpr int kChunks = D / 8;
    for (int idx = tid; idx < kBlockM * kChunks; idx += kThreads) {
      int r = idx / kChunks, c = idx % kChunks;
      if (r < rowsValid)
        *reinterpret_cast<uint4 *>(og + (long long)r * D + c * 8) =
            *reinterpret_cast<const uint4 *>(obuf + r * kStride + c * 8);
    }
#endif
  }
};

//===----------------------------------------------------------------------===//
// AttentionFwd: the tensor-core kernel for the head dim
//===----------------------------------------------------------------------===//

/// The pipelined AttentionFwdWgmma (two warpgroups, 128-key tiles, three
/// stages where shared memory allows) for head dims 64 and 128, unless
/// ROTOR_CUDA_NO_WGMMA is defined (then code for targets other than sm_90a
/// can be built); AttentionFwdMma otherwise. Same Params and grid rule; the
/// constants are those of the chosen kernel.
template <typename T, int kHeadDim, typename MaskT = NoMask, typename BiasT = NoBias,
          bool kSoftcap = false, bool kReturnLse = false, typename RopeT = NoRope>
struct AttentionFwd
    : Cond<
#ifdef ROTOR_CUDA_NO_WGMMA
          false,
#else
          (kHeadDim == 64 || kHeadDim == 128),
#endif
          AttentionFwdWgmma<T, kHeadDim, MaskT, BiasT, kSoftcap, kReturnLse, RopeT, 2, 128, 3,
                            true>,
          AttentionFwdMma<T, kHeadDim, MaskT, BiasT, kSoftcap, kReturnLse, RopeT>>::type {
};

//===----------------------------------------------------------------------===//
// AttentionSimple
//===----------------------------------------------------------------------===//

/// Attention on CUDA cores, one warp per query row (any T, D <= 256).
/// grid = (ceil(sq / kTile), hq, batch); block = kThreads.
template <typename T, int kHeadDim, typename MaskT = NoMask, typename BiasT = NoBias,
          bool kSoftcap = false, bool kReturnLse = false, typename RopeT = NoRope>
struct AttentionSimple {
  static_assert(kHeadDim >= 1 && kHeadDim <= 256, "AttentionSimple head dim in [1, 256]");
  static_assert(!RopeT::kEnabled || RopeT::kRotaryDim <= kHeadDim, "rotary_dim > head dim");
  static constexpr int D = kHeadDim;
  static constexpr int kWarps = 4;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kTile = kWarps;
  static constexpr int kPer = (D + 31) / 32; // output features per lane
  static constexpr int kSmemBytes = (kWarps * D + BiasT::kTableSize) * 4;
  static constexpr int kMinBlocksPerSM = 1;

  using Params = AttentionParams<T, RopeT>;

  __device__ static void run(const Params &p) {
    float *sq_ = reinterpret_cast<float *>(dynamicSmem());
    float *biasTab = sq_ + kWarps * D;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const long long h = blockIdx.y, b = blockIdx.z;
    const long long hk = h / (p.hq / p.hkv);
    const long long sq = p.sq, sk = p.sk;
    if constexpr (BiasT::kEnabled) {
      BiasT::template fillTable<kThreads>(biasTab, p.bias + h * BiasT::kNumBuckets,
                                          !MaskT::kCausal);
      __syncthreads();
    }
    const long long row = (long long)blockIdx.x * kWarps + warp;
    if (row >= sq)
      return;
    const long long pos = row + sk - sq;
    float *qs = sq_ + warp * D;
    const T *qr = p.q + ((b * p.hq + h) * sq + row) * D;
    for (int e = lane; e < D; e += 32)
      qs[e] = toF32(qr[e]);
    __syncwarp();
    if constexpr (RopeT::kEnabled) {
      constexpr int kHalf = RopeT::kRotaryDim / 2;
      const RopeRows<RopeT> qrows(p.q_pos, p.q_cs, p.inv_freq, b, sq, row);
      float tmp[(kHalf + 31) / 32][2];
#pragma unroll
      for (int u = 0; u < (kHalf + 31) / 32; ++u) {
        int i = lane + 32 * u;
        if (i < kHalf) {
          float c, sn;
          qrows.template get<false>(0, i, &c, &sn);
          float a = qs[RopeT::first(i)], bb = qs[RopeT::second(i)];
          tmp[u][0] = toF32(fromF32<T>(a * c - bb * sn));
          tmp[u][1] = toF32(fromF32<T>(bb * c + a * sn));
        }
      }
      __syncwarp();
#pragma unroll
      for (int u = 0; u < (kHalf + 31) / 32; ++u) {
        int i = lane + 32 * u;
        if (i < kHalf) {
          qs[RopeT::first(i)] = tmp[u][0];
          qs[RopeT::second(i)] = tmp[u][1];
        }
      }
      __syncwarp();
    }

    const T *kg = p.k + (b * p.hkv + hk) * sk * D;
    const T *vg = p.v + (b * p.hkv + hk) * sk * D;
    const detail::ScoreFn<BiasT, kSoftcap> score(p.scale, p.softcap);
    const TilePlan plan = planTiles<MaskT, 32>(pos, pos, sk);
    float o[kPer];
#pragma unroll
    for (int u = 0; u < kPer; ++u)
      o[u] = 0.f;
    float m = negInf(), l = 0.f;
    for (long long t = 0; t < plan.count(); ++t) {
      const long long n0 = plan.tile(t) * 32;
      const long long j = n0 + lane;
      float x = negInf();
      if (j < sk && MaskT::visible(pos, j)) {
        const T *kr = kg + j * D;
        float dot = 0.f;
        if constexpr (RopeT::kEnabled) {
          constexpr int kHalf = RopeT::kRotaryDim / 2;
          const RopeRows<RopeT> krows(p.k_pos, p.k_cs, p.inv_freq, b, sk, j);
          for (int i = 0; i < kHalf; ++i) {
            float c, sn;
            krows.template get<false>(0, i, &c, &sn);
            int ea = RopeT::first(i), eb = RopeT::second(i);
            float a = toF32(kr[ea]), bb = toF32(kr[eb]);
            dot += qs[ea] * toF32(fromF32<T>(a * c - bb * sn)) +
                   qs[eb] * toF32(fromF32<T>(bb * c + a * sn));
          }
          for (int e = RopeT::kRotaryDim; e < D; ++e)
            dot += qs[e] * toF32(kr[e]);
        } else {
          for (int e = 0; e < D; ++e)
            dot += qs[e] * toF32(kr[e]);
        }
        x = score(dot, biasTab, (int)(j - pos));
      }
      float mx = warpReduce(x, MaxOp());
      float mNew = fmaxf(m, mx);
      float mUse = mNew == negInf() ? 0.f : mNew;
      float alpha = exp2f(m - mUse);
      float pr = exp2f(x - mUse);
      l = l * alpha + warpReduce(pr, SumOp());
      m = mNew;
#pragma unroll
      for (int u = 0; u < kPer; ++u)
        o[u] *= alpha;
      for (int jj = 0; jj < 32; ++jj) {
        float pj = __shfl_sync(0xffffffffu, pr, jj);
        if (pj == 0.f)
          continue; // warp-uniform
        const T *vr = vg + (n0 + jj) * D;
#pragma unroll
        for (int u = 0; u < kPer; ++u) {
          int e = lane + 32 * u;
          if (e < D)
            o[u] += pj * toF32(vr[e]);
        }
      }
    }
    float inv = l > 0.f ? 1.f / l : 0.f;
    T *orow = p.out + ((b * p.hq + h) * sq + row) * D;
#pragma unroll
    for (int u = 0; u < kPer; ++u) {
      int e = lane + 32 * u;
      if (e < D)
        orow[e] = fromF32<T>(o[u] * inv);
    }
    if constexpr (kReturnLse) {
      if (lane == 0) {
        float mUse = m == negInf() ? 0.f : m;
        p.lse[(b * p.hq + h) * sq + row] = l > 0.f ? (mUse + log2f(l)) * detail::kLn2 : negInf();
      }
    }
  }
};

} // namespace cuda
} // namespace rotor

#endif // ROTOR_CUDA_ATTENTION_CUH
