//===- attention.cuh - Attention forward kernels ------------------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// AttentionFwd: flash attention on tensor cores (bf16 / fp16 in, fp32
// accumulation): wgmma on sm_90a for head dims 64/128 (variant chosen by the
// mask: 64-key tiles x2 blocks per SM for local masks, warp-specialized with
// deferred P·V and ping-pong otherwise), else mma.sync m16n8k16, ldmatrix, a
// two-stage cp.async pipeline and swizzled (or padded) shared memory.
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
  /// A static cache (rotor.attention's query_start): one i64 element
  /// (i32 when !query_start_is_i64) holding P; only the first
  /// clamp(P + sq, 0, sk) keys exist. Read on the device, so that a captured
  /// CUDA graph serves every position. sk stays the caches' capacity (their
  /// row stride).
  const void *query_start = nullptr;
  bool query_start_is_i64 = true;
  long long batch = 0, hq = 0, hkv = 0, sq = 0, sk = 0;
  float scale = 1.f;
  float softcap = 0.f;

  /// The keys that exist: sk, or clamp(P + sq, 0, sk) with a static cache.
  __device__ __forceinline__ long long keyCount() const {
    if (!query_start)
      return sk;
    long long start = query_start_is_i64 ? *static_cast<const long long *>(query_start)
                                         : (long long)*static_cast<const int *>(query_start);
    // Clamp P to [-sq, sk] first: P + sq cannot overflow.
    start = start < -sq ? -sq : (start > sk ? sk : start);
    long long n = start + sq;
    return n < sk ? n : sk;
  }
};

namespace detail {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

/// The warpgroup index, broadcast from lane 0 so that the compiler knows
/// it is warp-uniform: what depends on it (the Q tile's wgmma
/// descriptors) stays in uniform registers.
__device__ __forceinline__ int uniformWarpGroup() {
  return __shfl_sync(0xffffffffu, (int)(threadIdx.x >> 7), 0);
}

/// Keeps the compiler from moving accesses of registers that an in-flight
/// wgmma reads or writes across the wgmma wait before this point.
template <int N> __device__ __forceinline__ void fenceRegs(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
    asm volatile("" : "+f"(r[i])::"memory");
}
/// Keeps registers that an in-flight wgmma reads alive (unchanged) up to
/// this point.
template <int N> __device__ __forceinline__ void useRegs(const unsigned (&r)[N][4]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      asm volatile("" ::"r"(r[i][e]) : "memory");
}

/// How kLanes threads split the copies of a tile of kRows rows of kChunks
/// 16-byte chunks when they cover whole rounds of rows (kWhole): lane l
/// keeps chunk column l % kChunks and copies rows l / kChunks + i·kRowStep,
/// i < kRounds (no per-copy division). test/Target/CUDA/Inputs/copy_plan_check.cu checks that
/// every (row, chunk) is copied once.
template <int kLanes, int kRows, int kChunks> struct CopyRounds {
  static constexpr bool kWhole = kLanes % kChunks == 0 && (kRows * kChunks) % kLanes == 0;
  static constexpr int kRowStep = kLanes / kChunks;
  static constexpr int kRounds = kRows * kChunks / kLanes;
  __host__ __device__ __forceinline__ static int row0(int lane) { return lane / kChunks; }
  __host__ __device__ __forceinline__ static int chunk(int lane) { return lane % kChunks; }
};

/// Byte offset of element (row, col) of a 2-byte tile of kRows rows stored
/// as 64-column blocks of kRows x 128 bytes with the 128-byte swizzle (the
/// layout wgmma descriptors with 128-byte swizzle read). Rows 8 apart differ
/// by 8·128 bytes in every column: the swizzle repeats every 8 rows.
template <int kRows> __host__ __device__ __forceinline__ int swizzle128Offset(int row, int col) {
  return (col >> 6) * (kRows * 128) + row * 128 + ((((col & 63) >> 3) ^ (row & 7)) << 4) +
         ((col & 7) << 1);
}

/// Issues cp.async copies of kRows rows (of which `valid` exist; the others
/// become zeros) of kChunks 16-byte chunks each from g (rows `rowStride`
/// elements apart) to s + idx(row, chunk) in shared memory. When the
/// threads cover whole rounds of rows, each thread keeps one chunk column
/// and steps through rows kThreads / kChunks apart (no per-copy division),
/// and whole tiles (valid ≥ kRows) copy without predicates.
template <int kThreads, int kRows, int kChunks, typename T, typename Idx>
__device__ __forceinline__ void loadRowsAsync(T *s, const T *g, int valid, Idx idx,
                                              long long rowStride = kChunks * 8) {
  using Rounds = CopyRounds<kThreads, kRows, kChunks>;
  if constexpr (Rounds::kWhole) {
    constexpr int kRowStep = Rounds::kRowStep, kRounds = Rounds::kRounds;
    const int r0 = Rounds::row0(threadIdx.x), c = Rounds::chunk(threadIdx.x);
    const T *src = g + (long long)r0 * rowStride + c * 8;
    if (valid >= kRows) {
#pragma unroll
      for (int i = 0; i < kRounds; ++i)
        cpAsync16(smemAddr(s + idx(r0 + i * kRowStep, c)), src + i * kRowStep * rowStride, true);
    } else {
#pragma unroll 2
      for (int i = 0; i < kRounds; ++i) {
        bool ok = r0 + i * kRowStep < valid;
        cpAsync16(smemAddr(s + idx(r0 + i * kRowStep, c)),
                  ok ? src + i * kRowStep * rowStride : g, ok);
      }
    }
  } else {
#pragma unroll 4
    for (int i = threadIdx.x; i < kRows * kChunks; i += kThreads) {
      int r = i / kChunks, c = i % kChunks;
      bool ok = r < valid;
      const T *src = g + (ok ? (long long)r * rowStride + c * 8 : 0);
      cpAsync16(smemAddr(s + idx(r, c)), src, ok);
    }
  }
}

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

/// Lazy rescaling (kLazy below): how far, in log2 units, a row's scores
/// may outgrow the running max before the warp raises it.
constexpr float kLazyMargin = 8.f;

/// True when some row of the warp needs its max raised (kLazy).
__device__ __forceinline__ bool maxRises(const float (&mx)[2], const float (&m)[2]) {
  return __any_sync(0xffffffffu, mx[0] > m[0] + kLazyMargin || mx[1] > m[1] + kLazyMargin);
}

/// First half of the online softmax of one key tile: turns the raw dot
/// products s into log2-domain scores (in place; -inf where masked), updates
/// the running max m, rescales the running sum l and the output o, and
/// returns in mUse the max to subtract (0 for rows with nothing visible yet).
/// kMasked: test each element (key bound and mask).
/// kRaw (plain scores: no softcap, no bias): s keeps the raw dot products
/// (-inf where masked) and the max is taken on them, then scaled (the scale
/// is positive), so that expAndSum<..., true> forms each exponential with
/// one FFMA instead of a multiply and a subtraction.
/// kLazy: the running max is only raised when some row of the warp gains
/// more than kLazyMargin (log2 units) over it; otherwise the warp keeps the
/// stale max, skips the rescaling and its probabilities may reach
/// 2^kLazyMargin (exact all the same: o and l share the reference max,
/// which the LSE also uses). A warp vote keeps the branch uniform.
/// The thread holds rows qp0 + 16 mt + g (+ 8) and key columns
/// kp0 + 8 nt + 2 tq (+ 1) of the tile (the mma.m16n8 C layout).
template <typename MaskT, bool kMasked, bool kRaw = false, bool kLazy = false, int kMT, int kNT,
          int kDT, typename ScoreT>
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
        float x = kRaw ? s[mt][nt][e] : score(s[mt][nt][e], biasTab, kp - qp);
        if (kMasked && !(kp < sk && MaskT::visible(qp, kp)))
          x = negInf();
        s[mt][nt][e] = x;
        mx[e >> 1] = fmaxf(mx[e >> 1], x);
      }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      if (kRaw)
        mx[r] *= score.scaleLog2;
    }
    if constexpr (kLazy) {
      if (!maxRises(mx, mrow[mt])) {
#pragma unroll
        for (int r = 0; r < 2; ++r)
          mUse[mt][r] = mrow[mt][r] == negInf() ? 0.f : mrow[mt][r];
        continue;
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
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

/// scoreAndRescale without touching o (an in-flight wgmma may be writing it):
/// returns the factor alpha by which the caller rescales o later, and
/// whether it has to (false only when kLazy kept the stale max).
template <typename MaskT, bool kMasked, bool kRaw = false, bool kLazy = false, int kNT,
          typename ScoreT>
__device__ __forceinline__ bool
scoreAndMax(float (&s)[1][kNT][4], float (&mrow)[1][2], float (&lrow)[1][2], float (&alpha)[2],
            float (&mUse)[1][2], const ScoreT &score, const float *biasTab, int qp0, int kp0,
            int sk, int g, int tq) {
  float mx[2] = {negInf(), negInf()};
#pragma unroll
  for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      int qp = qp0 + g + (e >= 2 ? 8 : 0);
      int kp = kp0 + nt * 8 + 2 * tq + (e & 1);
      float x = kRaw ? s[0][nt][e] : score(s[0][nt][e], biasTab, kp - qp);
      if (kMasked && !(kp < sk && MaskT::visible(qp, kp)))
        x = negInf();
      s[0][nt][e] = x;
      mx[e >> 1] = fmaxf(mx[e >> 1], x);
    }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    if (kRaw)
      mx[r] *= score.scaleLog2;
  }
  if constexpr (kLazy) {
    if (!maxRises(mx, mrow[0])) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        mUse[0][r] = mrow[0][r] == negInf() ? 0.f : mrow[0][r];
        alpha[r] = 1.f;
      }
      return false;
    }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float mNew = fmaxf(mrow[0][r], mx[r]);
    mUse[0][r] = mNew == negInf() ? 0.f : mNew;
    alpha[r] = exp2Fast(mrow[0][r] - mUse[0][r]);
    mrow[0][r] = mNew;
    lrow[0][r] *= alpha[r];
  }
  return true;
}

/// Second half: probabilities of the key columns of n-tiles [kBegin, kEnd)
/// (in place), added to the running sums. kRaw: s holds raw dot products
/// (scoreAndRescale<..., true>), scaled by `scaleLog2` in the same FFMA.
template <int kBegin, int kEnd, bool kRaw = false, int kMT, int kNT>
__device__ __forceinline__ void expAndSum(float (&s)[kMT][kNT][4], float (&lrow)[kMT][2],
                                          const float (&mUse)[kMT][2],
                                          float scaleLog2 = 1.f) {
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float sum = 0.f;
#pragma unroll
      for (int nt = kBegin; nt < kEnd; ++nt) {
        float p0 = kRaw ? exp2Fast(fmaf(s[mt][nt][2 * r], scaleLog2, -mUse[mt][r]))
                        : exp2Fast(s[mt][nt][2 * r] - mUse[mt][r]);
        float p1 = kRaw ? exp2Fast(fmaf(s[mt][nt][2 * r + 1], scaleLog2, -mUse[mt][r]))
                        : exp2Fast(s[mt][nt][2 * r + 1] - mUse[mt][r]);
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

/// How the tensor-core kernels split the queries of one (batch, head) into
/// work units. With dilation d > 1 (and no global tokens, chunk, bias or
/// rope), query i only sees keys j with j ≡ i + sk − sq (mod d): a unit takes
/// query rows of one residue class r (i ≡ r mod d, row stride d·D) and only
/// the keys of the matching class, so the dilated window becomes a dense
/// window over the subsequence (no masked-out half of every tile).
/// kStrided selects that; `DenseMask` is then the mask in subsequence
/// indices (w = (j − rk) / d): Mask<causal, left, right, 1, 0, 0>.
template <typename MaskT, typename BiasT, typename RopeT> struct QuerySplit {
  static constexpr bool kStrided = MaskT::kDilation > 1 && MaskT::kGlobal == 0 &&
                                   MaskT::kChunk == 0 && !BiasT::kEnabled && !RopeT::kEnabled;
  static constexpr int kStep = kStrided ? MaskT::kDilation : 1;
  using KMask = typename Cond<kStrided,
                              Mask<MaskT::kCausal, MaskT::kWindowLeft, MaskT::kWindowRight,
                                   1, 0, 0>,
                              MaskT>::type;
};

/// What a block of the tensor-core kernels computes: unit column x (units
/// x, x + gridDim.x, ...), head h, batch row b. The grid is (units, hq,
/// batch). kHeadsFirst = false: (blockIdx.x, .y, .z). kHeadsFirst = true:
/// the block's linear index L = x + X·(y + Y·z), the order in which blocks
/// are dispatched, is split with the head and batch row fastest, so the
/// same unit column of every (batch, head) runs before the next column:
/// with heaviest-first units (causal masks) the heaviest tiles of all heads
/// start first and the last wave holds only light ones.
struct BlockCoord {
  long long x, h, b;
};
template <bool kHeadsFirst> __device__ __forceinline__ BlockCoord blockCoord() {
  if constexpr (!kHeadsFirst) {
    return {(long long)blockIdx.x, (long long)blockIdx.y, (long long)blockIdx.z};
  } else {
    const long long hb = (long long)gridDim.y * gridDim.z;
    const long long linear =
        blockIdx.x + (long long)gridDim.x * (blockIdx.y + (long long)gridDim.y * blockIdx.z);
    const long long rest = linear % hb;
    return {linear / hb, rest % gridDim.y, rest / gridDim.y};
  }
}

/// What one work unit of the tensor-core kernels covers: query tile `tile`
/// (of kBlockM rows) of residue class `r` (kStep > 1; else all rows), head
/// and batch row of the block (BlockCoord), the global pointers, the position range
/// and the key tiles to visit. Positions and key indices are those of the
/// subsequence (kStep = 1: the ordinary ones): query row u of the class has
/// position u + off, key row w is key rk + kStep·w.
/// Units are numbered so that, for each class, heavier tiles come first:
/// later query tiles of causal masks, and for chunks the last tiles of each
/// chunk (they see the most keys).
template <typename T, typename MaskT, int kBlockM, int kBlockN, int D, int kStep = 1>
struct QueryTile {
  long long h, b, sq, sk, m0, off, pmin, pmax;
  long long qRow0;     // full query index of the tile's row 0
  int rowsValid;
  const T *qg, *kg, *vg;
  TilePlan plan;
  /// Elements between consecutive rows of the unit in q, k, v and out.
  static constexpr long long kRowStride = (long long)kStep * D;

  /// Query tiles of one residue class.
  __device__ __forceinline__ static long long tilesPerClass(long long sqFull) {
    return ceilDiv(ceilDiv(sqFull, kStep), kBlockM);
  }
  /// Work units of one (batch, head): at most ceil(sq / kBlockM) + kStep − 1.
  __device__ __forceinline__ static long long units(long long sqFull) {
    return kStep * tilesPerClass(sqFull);
  }

  /// Tile order of a class: heaviest first.
  __device__ __forceinline__ static long long tileOf(long long i, long long n) {
    if constexpr (MaskT::kChunk > 0 && MaskT::kChunk % kBlockM == 0 && kStep == 1 &&
                  MaskT::kCausal) {
      // Tiles of one chunk grow with their index inside the chunk: order by
      // that index (descending), then by chunk.
      constexpr long long kPer = MaskT::kChunk / kBlockM;
      long long full = n / kPer * kPer; // tiles of whole chunks; the rest last
      if (i < full) {
        long long nChunks = full / kPer;
        long long inChunk = kPer - 1 - i / nChunks;
        return (i % nChunks) * kPer + inChunk;
      }
      return i;
    } else {
      return n - 1 - i;
    }
  }

  /// Unit `unit` of head bc.h, batch row bc.b.
  template <typename P>
  __device__ __forceinline__ QueryTile(const P &p, long long unit, const BlockCoord &bc) {
    h = bc.h;
    b = bc.b;
    const long long hk = h / (p.hq / p.hkv);
    const long long r = unit % kStep;
    // The keys that exist (a static cache holds fewer than its capacity
    // p.sk, which stays the row stride of k and v).
    const long long skAll = p.keyCount();
    const long long offFull = skAll - p.sq;
    // Query i = r + kStep·u has position r + offFull + kStep·u; its keys
    // are rk + kStep·w with rk = (r + offFull) mod kStep, so its position in
    // key-subsequence units is u + off.
    off = floorDiv(r + offFull, (long long)kStep);
    const long long rk = r + offFull - off * kStep;
    sq = p.sq > r ? (p.sq - r + kStep - 1) / kStep : 0;
    sk = skAll > rk ? (skAll - rk + kStep - 1) / kStep : 0;
    m0 = tileOf(unit / kStep, tilesPerClass(p.sq)) * kBlockM;
    rowsValid = (int)(sq - m0 < kBlockM ? sq - m0 : kBlockM);
    pmin = m0 + off;
    pmax = pmin + rowsValid - 1;
    qRow0 = r + m0 * kStep;
    qg = p.q + ((b * p.hq + h) * p.sq + qRow0) * D;
    kg = p.k + ((b * p.hkv + hk) * p.sk + rk) * D;
    vg = p.v + ((b * p.hkv + hk) * p.sk + rk) * D;
    plan = planTiles<MaskT, kBlockN>(pmin, pmax, sk);
  }
  /// Keys of the tile starting at (subsequence) key n0 that exist.
  __device__ __forceinline__ int keysIn(long long n0) const {
    return (int)(sk - n0 < kBlockN ? sk - n0 : kBlockN);
  }
  /// Full query index of row `row` of the tile.
  __device__ __forceinline__ long long queryIndex(int row) const {
    return qRow0 + (long long)row * kStep;
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
    detail::loadRowsAsync<kThreads, kRows, kChunks>(s, g, valid,
                                                    [](int r, int c) { return sIdx(r, c); });
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
    // The grid is exactly ceil(sq / kTile) wide: one unit per block.
    const detail::QueryTile<T, MaskT, kBlockM, kBlockN, D> qt(p, blockIdx.x,
                                                               detail::blockCoord<false>());
    if (qt.m0 >= qt.sq)
      return;
    const long long h = qt.h, b = qt.b, sq = qt.sq, sk = qt.sk, m0 = qt.m0;
    const long long off = qt.off, pmin = qt.pmin, pmax = qt.pmax;
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
///  * kWarpSpecialized = 1..3 (pipelined, two warpgroups, no rope): a
///    producer warpgroup and full/empty mbarriers instead of block barriers;
///    2: deferred P·V; 3: deferred P·V and ping-pong (see kDeferPV).
/// Work units: QueryTile (strided residue classes for dilation, see
/// QuerySplit); each block walks units x, x + gridDim.x, ... (x from
/// detail::blockCoord: blockIdx.x, or heads-first with kTweaks bit 2).
/// grid = (ceil(sq / kTile), hq, batch); block = kThreads; dynamic smem =
/// kSmemBytes (raise the attribute above 48 KiB).
template <typename T, int kHeadDim, typename MaskT = NoMask, typename BiasT = NoBias,
          bool kSoftcap = false, bool kReturnLse = false, typename RopeT = NoRope,
          int kWarpGroups_ = 2, int kBlockN_ = 128, int kStagesWanted = 2,
          bool kPipelined = false, int kBlocksPerSM = 0, int kWarpSpecialized = 0,
          int kTweaks = 0>
struct AttentionFwdWgmma {
  static_assert(IsHalfLike<T>::value, "AttentionFwdWgmma takes __half or __nv_bfloat16");
  static_assert(kHeadDim == 64 || kHeadDim == 128, "AttentionFwdWgmma head dim is 64 or 128");
  static_assert(!RopeT::kEnabled || RopeT::kRotaryDim <= kHeadDim, "rotary_dim > head dim");
  static_assert(kWarpGroups_ == 1 || kWarpGroups_ == 2, "one or two warpgroups");
  static_assert(kBlockN_ == 64 || kBlockN_ == 128, "key tiles of 64 or 128");
  static_assert(kStagesWanted >= 2 && kStagesWanted <= 4, "2 to 4 stages");
  static_assert(kPipelined || kStagesWanted == 2, "the unpipelined loop has two stages");
  static_assert(kWarpSpecialized >= 0 && kWarpSpecialized <= 3, "kWarpSpecialized is 0..3");
  static_assert(!kWarpSpecialized || (kPipelined && kWarpGroups_ == 2),
                "the warp-specialized loop is pipelined, with two consumer warpgroups");

  static constexpr int D = kHeadDim;
  static constexpr int kWarpGroups = kWarpGroups_;
  static constexpr int kBlockM = 64 * kWarpGroups;
  static constexpr int kBlockN = kBlockN_;
  static constexpr int kNT = kBlockN / 8;
  static constexpr int kDT = D / 8;
  static constexpr int kColBlocks = D / 64; // 128-byte column blocks
  static constexpr int kQBytes = kBlockM * D * 2;
  static constexpr int kKVBytes = kBlockN * D * 2;
  static constexpr int kMinBlocksPerSM =
      kBlocksPerSM > 0 ? kBlocksPerSM : (kWarpGroups == 1 ? 2 : 1);
  /// Shared memory of one block: what 227 KiB per SM leaves per block.
  static constexpr int kSmemBudget = 232448 / kMinBlocksPerSM - 1024;
  /// (The rope prologue rotates tiles with every thread: block-synchronous
  /// loop.)
  static constexpr bool kWs = kWarpSpecialized > 0 && !RopeT::kEnabled;
  /// kWarpSpecialized >= 2: P·V of tile t − 1 is issued with Q·Kᵀ of tile t
  /// and runs during the softmax of tile t (FlashAttention-3's intra-
  /// warpgroup overlap); 3: the two consumer warpgroups also take turns to
  /// issue their MMAs (ping-pong), so one's softmax overlaps the other's MMAs.
  static constexpr bool kDeferPV = kWs && kWarpSpecialized >= 2;
  static constexpr bool kPingPong = kWs && kWarpSpecialized == 3;
  /// kTweaks bit 0: plain scores (no softcap, no bias) stay raw dot products
  /// until the exponential, one FFMA each (detail::scoreAndRescale's kRaw).
  static constexpr bool kRawScores = (kTweaks & 1) && !kSoftcap && !BiasT::kEnabled;
  /// kTweaks bit 1 (deferred P·V): every exponential of the tile before the
  /// wait for P·V; without it ptxas hoists that wait into the middle of the
  /// exponentials, which then no longer overlap the MMAs.
  static constexpr bool kPinSoftmax = (kTweaks & 2) != 0;
  /// kTweaks bit 2: blocks in heads-first order (detail::blockCoord).
  static constexpr bool kHeadsFirst = (kTweaks & 4) != 0;
  /// kTweaks bit 3: lazy rescaling (detail::scoreAndRescale's kLazy): a
  /// warp raises its running max, and rescales o and l, only when a row
  /// gains more than 2^8 over it.
  static constexpr bool kLazyRescale = (kTweaks & 8) != 0;
  /// Warp specialization: a producer warpgroup (after the consumer
  /// warpgroups) issues every copy; full/empty mbarriers per stage replace
  /// the block barriers, so the consumer warpgroups run independently;
  /// setmaxnreg moves registers from the producer to the consumers.
  static constexpr int kConsumerThreads = 128 * kWarpGroups;
  static constexpr int kProducerThreads = kWs ? 128 : 0;
  static constexpr int kProducerRegs = 56;
  static constexpr int kConsumerRegs = kWarpGroups == 2 ? 224 : 240;
  static constexpr int kBarBytes = kWs ? 64 : 0; // full[4], empty[4]
  static constexpr int kExtraBytes = BiasT::kTableSize * 4 + kBarBytes + 1024;
  static constexpr int kStages =
      kQBytes + 2 * kStagesWanted * kKVBytes + kExtraBytes <= kSmemBudget ? kStagesWanted : 2;
  static constexpr int kTileBytes = kQBytes + 2 * kStages * kKVBytes;

  static constexpr int kThreads = kConsumerThreads + kProducerThreads;
  static constexpr int kTile = kBlockM;
  // + 1 KiB so that the tiles can start on a 1 KiB boundary (swizzle atoms).
  static constexpr int kSmemBytes = kTileBytes + kExtraBytes;
  static_assert(kSmemBytes <= 232448, "AttentionFwdWgmma: shared memory over 227 KiB");

  using Params = AttentionParams<T, RopeT>;
  using Split = detail::QuerySplit<MaskT, BiasT, RopeT>;
  using KMask = typename Split::KMask; // the mask in the unit's indices
  using QT = detail::QueryTile<T, KMask, kBlockM, kBlockN, D, Split::kStep>;

  /// Byte offset of element (row, col) in a tile of `rows` rows stored as
  /// kColBlocks blocks of rows x 128 bytes with the 128-byte swizzle.
  template <int kRows> __device__ __forceinline__ static int offB(int row, int col) {
    return detail::swizzle128Offset<kRows>(row, col);
  }

  /// Copies of a tile issued by kLanes threads (this one: `lane`).
  /// Each lane copies the 16-byte chunk lane % kChunks of rows
  /// lane / kChunks + i·kRowStep: the row step is a multiple of 8, so the
  /// swizzle is the same on all of them and both addresses advance by
  /// constants (no per-copy index arithmetic). Whole tiles (valid ≥ kRows,
  /// uniform) copy without predicates.
  /// (kLanes: the threads that copy; all of them without warp
  /// specialization, where kThreads == kConsumerThreads.)
  template <int kRows, int kLanes = kConsumerThreads>
  __device__ __forceinline__ static void loadTile(unsigned char *s, const T *g, int valid,
                                                  int lane = threadIdx.x) {
    using Rounds = detail::CopyRounds<kLanes, kRows, D / 8>;
    static_assert(Rounds::kWhole, "whole rounds of copies");
    constexpr int kRowStep = Rounds::kRowStep, kRounds = Rounds::kRounds;
    static_assert(kRowStep % 8 == 0, "the swizzle repeats every 8 rows");
    const int r0 = Rounds::row0(lane), c = Rounds::chunk(lane);
    const T *src = g + (long long)r0 * QT::kRowStride + c * 8;
    const unsigned dst = smemAddr(s + offB<kRows>(r0, c * 8));
    if (valid >= kRows) {
#pragma unroll
      for (int i = 0; i < kRounds; ++i)
        cpAsync16(dst + i * kRowStep * 128, src + i * kRowStep * QT::kRowStride, true);
    } else {
      // (Not unrolled whole: the producer warpgroup has few registers.)
#pragma unroll 2
      for (int i = 0; i < kRounds; ++i) {
        bool ok = r0 + i * kRowStep < valid;
        cpAsync16(dst + i * kRowStep * 128, ok ? src + i * kRowStep * QT::kRowStride : g, ok);
      }
    }
  }

  /// Rotates rows [0, valid) of a tile in place (rope prologue). Batches of
  /// kBatch pairs per thread: every cos/sin (table reads or angles) of a
  /// batch is fetched before the first rotation, so their latencies overlap.
  template <int kRows>
  __device__ static void ropeTile(unsigned char *s, int valid, const RopeRows<RopeT> &rows) {
    if constexpr (RopeT::kEnabled) {
      constexpr int kHalf = RopeT::kRotaryDim / 2;
      constexpr int kTotal = kRows * kHalf;
      // (Computed angles: one at a time; their f64 reduction is register-hungry.)
      constexpr int kBatch = RopeT::kTable ? 8 : 1;
      for (int base = threadIdx.x; base < kTotal; base += kThreads * kBatch) {
        float c[kBatch], sn[kBatch];
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
          int idx = base + u * kThreads;
          int r = idx / kHalf, i = idx % kHalf;
          c[u] = 1.f;
          sn[u] = 0.f;
          if (idx < kTotal && r < valid)
            rows.template get<true>(r, i, &c[u], &sn[u]);
        }
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
          int idx = base + u * kThreads;
          int r = idx / kHalf, i = idx % kHalf;
          if (idx < kTotal && r < valid) {
            T *pa = reinterpret_cast<T *>(s + offB<kRows>(r, RopeT::first(i)));
            T *pb = reinterpret_cast<T *>(s + offB<kRows>(r, RopeT::second(i)));
            float a = toF32(*pa), b = toF32(*pb);
            *pa = fromF32<T>(a * c[u] - b * sn[u]);
            *pb = fromF32<T>(b * c[u] + a * sn[u]);
          }
        }
      }
    }
  }

  /// Walks the work units x, x + gridDim.x, ... (x: detail::blockCoord): one per
  /// block with the documented grid, except with strided dilation, whose
  /// up to kStep − 1 extra units fall to the first blocks.
  __device__ static void run(const Params &p) {
#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
    __trap(); // wgmma needs sm_90a; compile for sm_90a or use AttentionFwdMma
#else
    const long long units = QT::units(p.sq);
    const detail::BlockCoord bc = detail::blockCoord<kHeadsFirst>();
    if constexpr (kWs) {
      if (threadIdx.x == 0) {
        unsigned bars = smemAddr(barriers());
        for (int st = 0; st < kStages; ++st) {
          mbarInit(bars + 8 * st, kProducerThreads);      // full: producer threads
          mbarInit(bars + 32 + 8 * st, kConsumerThreads); // empty: consumers
        }
      }
      __syncthreads();
      long long it = 0; // key tiles so far (the stage and phase of the next)
      // Each role is one branch (setmaxnreg applies to the code inside it).
      if (threadIdx.x >= kConsumerThreads) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kProducerRegs));
        for (long long u = bc.x; u < units; u += gridDim.x) {
          if (u != bc.x)
            namedBarrier(2, kThreads); // the last unit's output staging is done
          runUnit<kProducer>(p, u, bc, it);
        }
      } else {
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kConsumerRegs));
        if constexpr (kPingPong) {
          // Warpgroup 0 takes the first turn. Both warpgroups pass the same
          // number of turns in every unit, so this one extra arrival stays
          // pending from unit to unit and opens warpgroup 0's next turn.
          if (threadIdx.x >= 128)
            asm volatile("bar.arrive 3, %0;\n" ::"n"(kConsumerThreads) : "memory");
        }
        for (long long u = bc.x; u < units; u += gridDim.x) {
          if (u != bc.x)
            namedBarrier(2, kThreads);
          runUnit<kConsumer>(p, u, bc, it);
        }
      }
    } else {
      long long it = 0;
      for (long long u = bc.x; u < units; u += gridDim.x) {
        if (u != bc.x)
          __syncthreads(); // the last unit's output staging is done
        runUnit<kAll>(p, u, bc, it);
      }
    }
#endif
  }

  /// The 1 KiB-aligned start of the tiles.
  __device__ __forceinline__ static unsigned char *tilesBase() {
    unsigned char *smem = dynamicSmem();
    return smem + ((1024 - (smemAddr(smem) & 1023)) & 1023);
  }
  /// full[kStages] then (at + 32 bytes) empty[kStages] mbarriers.
  __device__ __forceinline__ static unsigned long long *barriers() {
    return reinterpret_cast<unsigned long long *>(tilesBase() + kTileBytes +
                                                  BiasT::kTableSize * 4);
  }

  /// Issues (and commits) S = Q Kᵀ for one warpgroup: 64 query rows of the
  /// Q tile at qAddr, the key tile at kAddr.
  __device__ __forceinline__ static void issueScores(float (&s)[1][kNT][4], unsigned qAddr,
                                                     unsigned kAddr) {
    const unsigned long long da0 = wgmma::desc128B(qAddr, 16, 1024);
    const unsigned long long db0 = wgmma::desc128B(kAddr, 16, 1024);
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      unsigned long long da = wgmma::descAdd(da0, (kk >> 2) * (kBlockM * 128) + (kk & 3) * 32);
      unsigned long long db = wgmma::descAdd(db0, (kk >> 2) * (kBlockN * 128) + (kk & 3) * 32);
      wgmma::SS<T, kBlockN>::run(&s[0][0][0], da, db, kk > 0 ? 1 : 0);
    }
    wgmma::commit();
  }

  /// The consumer loop with deferred P·V (kDeferPV): per tile t, issue
  /// Q·K_tᵀ and P_{t−1}·V_{t−1} together (ping-pong: in this warpgroup's
  /// turn), wait for the scores, run the softmax of tile t while P·V runs,
  /// then wait for P·V, release stage t − 1 and rescale O by the new max.
  __device__ static void consumeDeferred(const Params &p, const QT &qt, unsigned char *sK,
                                         unsigned char *sV, const float *biasTab,
                                         unsigned fullBar, unsigned emptyBar, long long &it,
                                         float (&oacc)[1][kDT][4], float (&mrow)[1][2],
                                         float (&lrow)[1][2]) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wg = warp >> 2, wIn = warp & 3;
    const int g = lane >> 2, tq = lane & 3;
    const long long nTiles = qt.plan.count();
    const detail::ScoreFn<BiasT, kSoftcap> score(p.scale, p.softcap);
    const unsigned qAddr = smemAddr(sK) - kQBytes + detail::uniformWarpGroup() * 64 * 128;
    const int qp0 = (int)(qt.m0 + qt.off) + wg * 64 + wIn * 16;
    constexpr int kKSteps = kBlockN / 16;
    auto waitFull = [&](int st) {
      mbarWait(fullBar + 8 * st, (unsigned)((it / kStages) & 1));
      wgmma::fenceProxyAsync();
      if constexpr (kPingPong)
        namedBarrier(3 + wg, kConsumerThreads); // this warpgroup's turn
      wgmma::fence();
    };
    auto endTurn = [&] {
      if constexpr (kPingPong)
        asm volatile("bar.arrive %0, %1;\n" ::"r"(3 + (wg ^ 1)), "r"(kConsumerThreads)
                     : "memory"); // the other warpgroup's turn
    };
    auto issueQK = [&](float(&s)[1][kNT][4], int st) {
      issueScores(s, qAddr, smemAddr(sK + st * kKVBytes));
    };
    auto issuePV = [&](unsigned(&pk)[kKSteps][4], int st) {
      const unsigned long long db0 =
          wgmma::desc128B(smemAddr(sV + st * kKVBytes), kBlockN * 128, 1024);
#pragma unroll
      for (int kk = 0; kk < kKSteps; ++kk)
        wgmma::RS<T, D>::run(&oacc[0][0][0], pk[kk], wgmma::descAdd(db0, kk * 16 * 128), 1);
      wgmma::commit();
    };
    bool rescale = true; // false: alpha is 1 (kLazyRescale kept the max)
    // Scores of tile t (complete after the wait) to probabilities in place,
    // online-softmax statistics; o is left alone (alpha returned).
    auto softmaxInPlace = [&](float(&s)[1][kNT][4], long long t, float(&alpha)[2]) {
      detail::fenceRegs(reinterpret_cast<float(&)[kNT * 4]>(s));
      const long long n0 = qt.plan.tile(t) * kBlockN;
      const bool full =
          n0 + kBlockN <= qt.sk && KMask::tileFull(qt.pmin, qt.pmax, n0, n0 + kBlockN - 1);
      float mUse[1][2];
      if (full)
        rescale = detail::scoreAndMax<KMask, false, kRawScores, kLazyRescale>(
            s, mrow, lrow, alpha, mUse, score, biasTab, qp0, (int)n0, (int)qt.sk, g, tq);
      else
        rescale = detail::scoreAndMax<KMask, true, kRawScores, kLazyRescale>(
            s, mrow, lrow, alpha, mUse, score, biasTab, qp0, (int)n0, (int)qt.sk, g, tq);
      detail::expAndSum<0, kNT, kRawScores>(s, lrow, mUse, score.scaleLog2);
      if constexpr (kPinSoftmax) {
        // A branch on the row sums, which need every exponential: ptxas
        // keeps the P·V wait that follows after it. (The sums are >= 0 or
        // NaN, so the store never happens.)
        if (lrow[0][0] < 0.f || lrow[0][1] < 0.f)
          asm volatile("st.shared.f32 [%0], %1;" ::"r"(emptyBar), "f"(lrow[0][0]) : "memory");
      }
    };
    // P (after every wgmma of the warpgroup has retired) as A fragments.
    auto packP = [&](const float(&s)[1][kNT][4], unsigned(&pk)[kKSteps][4]) {
#pragma unroll
      for (int kk = 0; kk < kKSteps; ++kk) {
        pk[kk][0] = pack2<T>(s[0][2 * kk][0], s[0][2 * kk][1]);
        pk[kk][1] = pack2<T>(s[0][2 * kk][2], s[0][2 * kk][3]);
        pk[kk][2] = pack2<T>(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);
        pk[kk][3] = pack2<T>(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);
      }
    };
    auto rescaleO = [&](const float(&alpha)[2]) {
      if (kLazyRescale && !rescale)
        return; // (warp-uniform)
#pragma unroll
      for (int dt = 0; dt < kDT; ++dt) {
        oacc[0][dt][0] *= alpha[0];
        oacc[0][dt][1] *= alpha[0];
        oacc[0][dt][2] *= alpha[1];
        oacc[0][dt][3] *= alpha[1];
      }
    };
    if (nTiles == 0)
      return;
    float s[1][kNT][4]; // scores, then probabilities, of the latest tile
    float alpha[2];     // rescaling of o that P·V of the latest tile needs
    unsigned pk[kKSteps][4];
    int stPrev = (int)(it % kStages);
    waitFull(stPrev);
    issueQK(s, stPrev);
    endTurn();
    wgmma::wait<0>();
    softmaxInPlace(s, 0, alpha);
    packP(s, pk);
    ++it;
    for (long long t = 1; t < nTiles; ++t) {
      const int st = (int)(it % kStages);
      waitFull(st);
      issueQK(s, st); // s was packed into pk
      rescaleO(alpha);  // o is no operand of Q·Kᵀ
      wgmma::fence();
      issuePV(pk, stPrev);
      endTurn();
      wgmma::wait<1>(); // the scores of tile t
      softmaxInPlace(s, t, alpha);
      wgmma::wait<0>(); // P·V of tile t − 1
      detail::fenceRegs(reinterpret_cast<float(&)[kDT * 4]>(oacc));
      detail::useRegs(pk);
      mbarArrive(emptyBar + 8 * stPrev); // the producer may refill it
      packP(s, pk);
      stPrev = st;
      ++it;
    }
    rescaleO(alpha);
    wgmma::fence();
    issuePV(pk, stPrev);
    wgmma::wait<0>();
    detail::fenceRegs(reinterpret_cast<float(&)[kDT * 4]>(oacc));
    detail::useRegs(pk);
    mbarArrive(emptyBar + 8 * stPrev);
  }

  /// Which threads run runUnit: all (no warp specialization), the producer
  /// warpgroup or the consumer warpgroups.
  enum Role { kAll, kProducer, kConsumer };

  template <Role kRole>
  __device__ static void runUnit(const Params &p, long long unit, const detail::BlockCoord &bc,
                                 long long &it) {
#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
    __trap();
#else
    unsigned char *smem = tilesBase();
    unsigned char *sQ = smem;
    unsigned char *sK = sQ + kQBytes;          // kStages stages
    unsigned char *sV = sK + kStages * kKVBytes; // kStages stages
    float *biasTab = reinterpret_cast<float *>(smem + kTileBytes);
    const unsigned fullBar = smemAddr(barriers()), emptyBar = fullBar + 32;

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wg = warp >> 2, wIn = warp & 3;
    const int g = lane >> 2, tq = lane & 3;
    const QT qt(p, unit, bc);
    if (qt.m0 >= qt.sq)
      return;
    const long long h = qt.h, b = qt.b, sk = qt.sk, m0 = qt.m0;
    const long long off = qt.off, pmin = qt.pmin, pmax = qt.pmax;
    const int rowsValid = qt.rowsValid;
    const T *qg = qt.qg, *kg = qt.kg, *vg = qt.vg;
    const TilePlan plan = qt.plan;
    const long long nTiles = plan.count();

    if constexpr (BiasT::kEnabled) {
      BiasT::template fillTable<kThreads>(biasTab, p.bias + h * BiasT::kNumBuckets,
                                          !MaskT::kCausal);
      if constexpr (kWs)
        namedBarrier(2, kThreads); // (the block barrier of the loop does it otherwise)
    }

    if constexpr (kRole == kProducer) {
      {
        // Producer: Q with the first tile, then each K/V tile once the
        // consumers have released its stage; every thread's arrival on
        // full[stage] fires when its copies have landed.
        const int ptid = tid - kConsumerThreads;
        for (long long t = 0; t < nTiles; ++t, ++it) {
          const int st = (int)(it % kStages);
          mbarWait(emptyBar + 8 * st, (unsigned)((it / kStages) & 1) ^ 1u);
          if (t == 0)
            loadTile<kBlockM, kProducerThreads>(sQ, qg, rowsValid, ptid);
          long long n0 = plan.tile(t) * kBlockN;
          int valid = qt.keysIn(n0);
          loadTile<kBlockN, kProducerThreads>(sK + st * kKVBytes, kg + n0 * QT::kRowStride,
                                              valid, ptid);
          loadTile<kBlockN, kProducerThreads>(sV + st * kKVBytes, vg + n0 * QT::kRowStride,
                                              valid, ptid);
          cpAsyncMbarArrive(fullBar + 8 * st);
        }
        return;
      }
    }
    auto loadKV = [&](long long t, int stage) {
      long long n0 = plan.tile(t) * kBlockN;
      int valid = qt.keysIn(n0);
      loadTile<kBlockN>(sK + stage * kKVBytes, kg + n0 * QT::kRowStride, valid);
      loadTile<kBlockN>(sV + stage * kKVBytes, vg + n0 * QT::kRowStride, valid);
    };
    if constexpr (!kWs) {
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
    }

    float oacc[1][kDT][4];
    float mrow[1][2] = {{negInf(), negInf()}}, lrow[1][2] = {{0.f, 0.f}};
#pragma unroll
    for (int dt = 0; dt < kDT; ++dt)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        oacc[0][dt][e] = 0.f;

    const detail::ScoreFn<BiasT, kSoftcap> score(p.scale, p.softcap);
    const unsigned qAddr = smemAddr(sQ) + detail::uniformWarpGroup() * 64 * 128;
    const int qp0 = (int)(m0 + off) + wg * 64 + wIn * 16;

    if constexpr (kDeferPV && kRole == kConsumer) {
      consumeDeferred(p, qt, sK, sV, biasTab, fullBar, emptyBar, it, oacc, mrow, lrow);
    } else {
    int stage = kWs ? (int)(it % kStages) : 0; // t % kStages (kWs: it % kStages)
    for (long long t = 0; t < nTiles; ++t) {
      if constexpr (kWs) {
        mbarWait(fullBar + 8 * stage, (unsigned)((it / kStages) & 1));
      } else if constexpr (!kPipelined) {
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
                            RopeRows<RopeT>(p.q_pos, p.q_cs, p.inv_freq, b, p.sq, qt.qRow0));
        int valid = qt.keysIn(n0);
        ropeTile<kBlockN>(sKs, valid,
                          RopeRows<RopeT>(p.k_pos, p.k_cs, p.inv_freq, b, p.sk, n0));
      }
      wgmma::fenceProxyAsync();
      if constexpr (!kWs)
        __syncthreads();
      if constexpr (kPipelined && !kWs) {
        // Every thread is past tile t - 1: its stage can be refilled.
        long long tn = t + kStages - 1;
        if (tn < nTiles)
          loadKV(tn, stage == 0 ? kStages - 1 : stage - 1);
        cpAsyncCommit();
      }

      // S = Q Kᵀ (64 x kBlockN per warpgroup).
      float s[1][kNT][4];
      wgmma::fence();
      issueScores(s, qAddr, smemAddr(sKs));
      wgmma::wait<0>();

      // O += P V: P from registers (the S accumulator layout is the A
      // fragment layout), V transposed from shared memory.
      const unsigned long long vDesc = wgmma::desc128B(smemAddr(sVs), kBlockN * 128, 1024);
      auto packP = [&](unsigned(&a)[4], int kk) {
        a[0] = pack2<T>(s[0][2 * kk][0], s[0][2 * kk][1]);
        a[1] = pack2<T>(s[0][2 * kk][2], s[0][2 * kk][3]);
        a[2] = pack2<T>(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);
        a[3] = pack2<T>(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);
      };
      auto issuePV = [&](unsigned(&a)[4], int kk) {
        wgmma::RS<T, D>::run(&oacc[0][0][0], a, wgmma::descAdd(vDesc, kk * 16 * 128), 1);
      };
      const bool full =
          n0 + kBlockN <= sk && KMask::tileFull(pmin, pmax, n0, n0 + kBlockN - 1);
      unsigned a[kBlockN / 16][4];
      if constexpr (!kPipelined) {
        if (full)
          detail::softmaxTile<KMask, false>(s, mrow, lrow, oacc, score, biasTab, qp0, (int)n0,
                                            (int)sk, g, tq);
        else
          detail::softmaxTile<KMask, true>(s, mrow, lrow, oacc, score, biasTab, qp0, (int)n0,
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
          detail::scoreAndRescale<KMask, false, kRawScores, kLazyRescale>(
              s, mrow, lrow, oacc, mUse, score, biasTab, qp0, (int)n0, (int)sk, g, tq);
        else
          detail::scoreAndRescale<KMask, true, kRawScores, kLazyRescale>(
              s, mrow, lrow, oacc, mUse, score, biasTab, qp0, (int)n0, (int)sk, g, tq);
        constexpr int kHalfK = kBlockN / 32; // k-steps per half
        detail::expAndSum<0, kNT / 2, kRawScores>(s, lrow, mUse, score.scaleLog2);
#pragma unroll
        for (int kk = 0; kk < kHalfK; ++kk)
          packP(a[kk], kk);
        wgmma::fence();
#pragma unroll
        for (int kk = 0; kk < kHalfK; ++kk)
          issuePV(a[kk], kk);
        detail::expAndSum<kNT / 2, kNT, kRawScores>(s, lrow, mUse, score.scaleLog2);
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
      if constexpr (kWs) {
        mbarArrive(emptyBar + 8 * stage); // the producer may refill it
        ++it;
      }
      if constexpr (!kPipelined)
        __syncthreads(); // the stage is reloaded by the next iteration
      stage = stage + 1 == kStages ? 0 : stage + 1;
    }
    } // !kDeferPV
    if constexpr (kWs) {
      namedBarrier(1, kConsumerThreads); // both warpgroups are past the K stages
    } else {
      cpAsyncWait<0>();
      __syncthreads();
    }

    // Normalize, stage row-major (padded) in the K stages, store 16 bytes
    // per thread.
    constexpr int kStride = D + 8;
    T *obuf = reinterpret_cast<T *>(sK);
    T *og = p.out + ((b * p.hq + h) * p.sq + qt.qRow0) * D;
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
          p.lse[(b * p.hq + h) * p.sq + qt.queryIndex(row)] =
              l > 0.f ? (mUse + log2f(l)) * detail::kLn2 : negInf();
        }
      }
    }
    if constexpr (kWs)
      namedBarrier(1, kConsumerThreads);
    else
      __syncthreads();
    constexpr int kChunks = D / 8;
    for (int idx = tid; idx < kBlockM * kChunks; idx += kConsumerThreads) {
      int r = idx / kChunks, c = idx % kChunks;
      if (r < rowsValid)
        *reinterpret_cast<uint4 *>(og + (long long)r * QT::kRowStride + c * 8) =
            *reinterpret_cast<const uint4 *>(obuf + r * kStride + c * 8);
    }
#endif
  }
};

//===----------------------------------------------------------------------===//
// AttentionFwd: the tensor-core kernel for the head dim
//===----------------------------------------------------------------------===//

/// True for masks whose visible keys per query are bounded (window, chunk)
/// or thinned (dilation): few key tiles per query tile.
template <typename MaskT> struct IsLocalMask {
  static constexpr bool value = MaskT::kWindowLeft >= 0 || MaskT::kWindowRight >= 0 ||
                                MaskT::kChunk > 0 || MaskT::kDilation > 1;
};

/// AttentionFwdWgmma for head dims 64 and 128, unless ROTOR_CUDA_NO_WGMMA is
/// defined (then code for targets other than sm_90a can be built);
/// AttentionFwdMma otherwise. The variant depends on the mask (H100
/// measurements in bench/results/cuda-kernels-perf-2026-12-07.md):
///  * local and causal masks (IsLocalMask, kCausal): 64-key tiles, two
///    stages, two blocks per SM (kThreads = 256), so that one block's
///    prologue, epilogue and barriers overlap the other's MMAs; kTweaks 13
///    (raw scores, heads-first order, lazy rescaling). The fastest measured
///    on every anchor pattern, causal included;
///  * otherwise (full, global tokens without causality): warp-specialized
///    with deferred P·V and ping-pong, three stages (kThreads = 384: two
///    consumer warpgroups and a producer warpgroup; with a rope prologue
///    the block-synchronous loop, kThreads = 256), lazy rescaling.
/// Same Params and grid rule; the constants are those of the chosen kernel.
template <typename T, int kHeadDim, typename MaskT = NoMask, typename BiasT = NoBias,
          bool kSoftcap = false, bool kReturnLse = false, typename RopeT = NoRope>
struct AttentionFwd
    : Cond<
#ifdef ROTOR_CUDA_NO_WGMMA
          false,
#else
          (kHeadDim == 64 || kHeadDim == 128),
#endif
          typename Cond<IsLocalMask<MaskT>::value || MaskT::kCausal,
                        AttentionFwdWgmma<T, kHeadDim, MaskT, BiasT, kSoftcap, kReturnLse, RopeT,
                                          2, 64, 2, true, 2, 0, 13>,
                        AttentionFwdWgmma<T, kHeadDim, MaskT, BiasT, kSoftcap, kReturnLse, RopeT,
                                          2, 128, 3, true, 0, 3, 8>>::type,
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
    // sk: the keys that exist; p.sk: the row stride (a static cache's
    // capacity).
    const long long sq = p.sq, sk = p.keyCount();
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

    const T *kg = p.k + (b * p.hkv + hk) * p.sk * D;
    const T *vg = p.v + (b * p.hkv + hk) * p.sk * D;
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
