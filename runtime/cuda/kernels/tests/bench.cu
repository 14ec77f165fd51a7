//===- bench.cu - Timing of the anchor attention patterns ---------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// B=2, Hq=32, Hkv=8, S=8192, D=128, bf16 (/work/shared/anchors.md): full
// causal, sliding window 1024, dilated window 1024 (d=2), chunked 1024,
// hybrid window 1024 + 64 global, and rope fused into the sliding window.
// cudaEvent timing, 5 warm-up runs, median of 30; FLOPs = 4·B·Hq·D·(visible
// pairs). A few rows of every pattern are checked against f64 loops, so a
// fast wrong kernel cannot pass unnoticed. Also standalone rope and a
// 32-rotation Givens chain on the same tensor. runBwdBench (`--bench --only
// bwd`): forward + backward of the five mask patterns, spot-checked too.
//
//===----------------------------------------------------------------------===//

#include "check_common.h"
#include "timing.h"

#include <algorithm>

using namespace rotor::cuda;

namespace check {
namespace {

using bf16 = __nv_bfloat16;
constexpr ll kB = 2, kHq = 32, kHkv = 8, kS = 8192;
constexpr int kD = 128;

struct Tensors {
  DevBuf<bf16> q{(size_t)(kB * kHq * kS * kD)}, k{(size_t)(kB * kHkv * kS * kD)},
      v{(size_t)(kB * kHkv * kS * kD)}, out{(size_t)(kB * kHq * kS * kD)};
  DevBuf<int> pos{(size_t)kS};
  DevBuf<double> freq;
  DevBuf<float> cs{(size_t)(kS * kD)}; // RopeCosSin table of positions 0..S-1
  std::vector<bf16> hq, hk, hv;
  Tensors() : freq(ropeFreqRef(kD, 10000.0, RopeScalingRT{}, 0)) {
    fillRandom<<<1024, 256>>>(q.ptr, q.n, 1);
    fillRandom<<<1024, 256>>>(k.ptr, k.n, 2);
    fillRandom<<<1024, 256>>>(v.ptr, v.n, 3);
    std::vector<int> p(kS);
    for (ll i = 0; i < kS; ++i)
      p[i] = (int)i;
    pos.upload(p);
    using KT = RopeCosSin<int, kD>;
    typename KT::Params tp{pos.ptr, freq.ptr, cs.ptr, kS};
    launch<KT>(dim3(gridFor<KT>(kS * kD / 2)), tp);
    CHECK_CUDA(cudaDeviceSynchronize());
    hq = q.download();
    hk = k.download();
    hv = v.download();
  }
};

ll visiblePairs(const MaskRT &m) {
  ll n = 0;
  for (ll i = 0; i < kS; ++i)
    for (ll j = 0; j < kS; ++j)
      n += m.visible(i, j);
  return n;
}

/// Max abs error of a few output rows against f64 loops (rope: rotated rows).
double spotCheck(Tensors &t, const MaskRT &m, bool rope) {
  std::vector<bf16> out = t.out.download();
  const double scale = 1.0 / std::sqrt((double)kD);
  const ll rows[][3] = {{0, 0, 0}, {1, 31, kS - 1}, {0, 17, 4097}, {1, 5, 1023}, {0, 8, 63}};
  std::vector<double> freq = ropeFreqRef(kD, 10000.0, RopeScalingRT{}, 0);
  double maxErr = 0;
  for (auto &r : rows) {
    ll b = r[0], h = r[1], i = r[2], hk = h / (kHq / kHkv);
    std::vector<double> q(kD), o(kD, 0.0), sc(kS);
    for (int d = 0; d < kD; ++d)
      q[d] = toD(t.hq[((b * kHq + h) * kS + i) * kD + d]);
    if (rope)
      ropeRowRef<bf16>(q.data(), kD, false, freq, i);
    double mx = -INFINITY, den = 0;
    std::vector<double> kr(kD);
    for (ll j = 0; j < kS; ++j) {
      if (!m.visible(i, j))
        continue;
      for (int d = 0; d < kD; ++d)
        kr[d] = toD(t.hk[((b * kHkv + hk) * kS + j) * kD + d]);
      if (rope)
        ropeRowRef<bf16>(kr.data(), kD, false, freq, j);
      double dot = 0;
      for (int d = 0; d < kD; ++d)
        dot += q[d] * kr[d];
      sc[j] = dot * scale;
      mx = std::max(mx, sc[j]);
    }
    for (ll j = 0; j < kS; ++j) {
      if (!m.visible(i, j))
        continue;
      double e = std::exp(sc[j] - mx);
      den += e;
      for (int d = 0; d < kD; ++d)
        o[d] += e * toD(t.hv[((b * kHkv + hk) * kS + j) * kD + d]);
    }
    for (int d = 0; d < kD; ++d) {
      double got = toD(out[((b * kHq + h) * kS + i) * kD + d]);
      double e = std::fabs(got - o[d] / den);
      maxErr = std::isnan(got) ? INFINITY : std::max(maxErr, e);
    }
  }
  return maxErr;
}

// Variants of AttentionFwdWgmma next to the defaults (AttentionFwd): the
// earlier ones (mma.sync, unpipelined, one warpgroup, the non-deferred
// warp-specialized loops) are measured in
// bench/results/cuda-kernels-perf-2026-11-22.md and checked by kernel_check.
// kTweaks: 1 raw scores (FFMA exponentials), 2 exponentials pinned before
// the P·V wait, 4 heads-first block order (detail::blockCoord), 8 lazy
// rescaling.
enum class Impl { dflt, pp, ppN64, n64x2 };

template <typename M, typename R, Impl kImpl, int kTweaks> struct PickImpl {
  using type = AttentionFwd<bf16, kD, M, NoBias, false, false, R>;
};
/// The causal default: warp-specialized, deferred P·V, ping-pong.
template <typename M, typename R, int kTweaks> struct PickImpl<M, R, Impl::pp, kTweaks> {
  using type =
      AttentionFwdWgmma<bf16, kD, M, NoBias, false, false, R, 2, 128, 3, true, 0, 3, kTweaks>;
};
template <typename M, typename R, int kTweaks> struct PickImpl<M, R, Impl::ppN64, kTweaks> {
  using type =
      AttentionFwdWgmma<bf16, kD, M, NoBias, false, false, R, 2, 64, 4, true, 0, 3, kTweaks>;
};
/// The local default: 64-key tiles, two stages, two blocks per SM.
template <typename M, typename R, int kTweaks> struct PickImpl<M, R, Impl::n64x2, kTweaks> {
  using type =
      AttentionFwdWgmma<bf16, kD, M, NoBias, false, false, R, 2, 64, 2, true, 2, 0, kTweaks>;
};


std::vector<std::string> benchRows; // --rows; empty: every row
bool rowWanted(const std::string &name) {
  if (benchRows.empty())
    return true;
  for (const std::string &r : benchRows)
    if (name.find(r) != std::string::npos)
      return true;
  return false;
}

template <typename M, typename R = NoRope, Impl kImpl = Impl::dflt, int kTweaks = 0>
void benchPattern(Tensors &t, const char *name, const char *peer) {
  if (!rowWanted(name))
    return;
  using K = typename PickImpl<M, R, kImpl, kTweaks>::type;
  typename K::Params p;
  p.q = t.q.ptr;
  p.k = t.k.ptr;
  p.v = t.v.ptr;
  p.out = t.out.ptr;
  p.q_pos = reinterpret_cast<const typename R::PosT *>(t.pos.ptr);
  p.k_pos = reinterpret_cast<const typename R::PosT *>(t.pos.ptr);
  p.inv_freq = t.freq.ptr;
  p.q_cs = t.cs.ptr;
  p.k_cs = t.cs.ptr;
  p.batch = kB;
  p.hq = kHq;
  p.hkv = kHkv;
  p.sq = kS;
  p.sk = kS;
  p.scale = (float)(1.0 / std::sqrt((double)kD));
  dim3 grid((unsigned)((kS + K::kTile - 1) / K::kTile), (unsigned)kHq, (unsigned)kB);
  t.out.poison();
  float ms = medianMs([&] { launch<K>(grid, p); });
  MaskRT m = maskOf<M>();
  ll pairs = visiblePairs(m);
  double tflops = 4.0 * kB * kHq * kD * (double)pairs / (ms * 1e-3) / 1e12;
  double err = spotCheck(t, m, R::kEnabled);
  bool ok = err <= 3e-2;
  std::printf("%-34s %8.3f ms %7.1f TFLOP/s  pairs %12lld  spot-check max err %.2e %s  (peer: "
              "%s)\n",
              name, ms, tflops, pairs, err, ok ? "ok" : "WRONG", peer);
  if (!ok)
    ++tally().fail;
}

/// The anchor patterns (rope aside) on one kernel variant.
template <Impl kImpl, int kTweaks = 0> void benchVariant(Tensors &t, const std::string &name) {
  benchPattern<Mask<true, -1, -1, 1, 0, 0>, NoRope, kImpl, kTweaks>(
      t, ("causal: " + name).c_str(), "");
  benchPattern<Mask<true, 1023, -1, 1, 0, 0>, NoRope, kImpl, kTweaks>(
      t, ("window: " + name).c_str(), "");
  benchPattern<Mask<true, 1023, -1, 2, 0, 0>, NoRope, kImpl, kTweaks>(
      t, ("dilated: " + name).c_str(), "");
  benchPattern<Mask<true, -1, -1, 1, 1024, 0>, NoRope, kImpl, kTweaks>(
      t, ("chunk: " + name).c_str(), "");
  benchPattern<Mask<true, 1023, -1, 1, 0, 64>, NoRope, kImpl, kTweaks>(
      t, ("hybrid: " + name).c_str(), "");
}

//===----------------------------------------------------------------------===//
// Forward + backward
//===----------------------------------------------------------------------===//

/// Relative-to-max error of a few dk/dv rows (keys) and dq rows (queries)
/// against f64 loops that take the forward's o and lse (the backward's
/// inputs) from the device.
double bwdSpotCheck(Tensors &t, const MaskRT &m, const std::vector<bf16> &o,
                    const std::vector<float> &lse, const std::vector<bf16> &dout,
                    const std::vector<bf16> &dq, const std::vector<bf16> &dk,
                    const std::vector<bf16> &dv) {
  const double scale = 1.0 / std::sqrt((double)kD);
  const ll G = kHq / kHkv;
  auto at = [](const std::vector<bf16> &x, ll i) { return toD(x[i]); };
  auto dot = [&](const std::vector<bf16> &a, ll ia, const std::vector<bf16> &b, ll ib) {
    double s = 0;
    for (int d = 0; d < kD; ++d)
      s += at(a, ia + d) * at(b, ib + d);
    return s;
  };
  auto delta = [&](ll r) { return dot(dout, r * kD, o, r * kD); };
  double worst = 0;
  auto cmp = [&](const std::vector<double> &want, const std::vector<bf16> &got, ll base) {
    double mx = 0, err = 0;
    for (int d = 0; d < kD; ++d)
      mx = std::max(mx, std::fabs(want[d]));
    for (int d = 0; d < kD; ++d) {
      double g = at(got, base + d);
      err = std::isnan(g) ? INFINITY : std::max(err, std::fabs(g - want[d]));
    }
    worst = std::max(worst, mx > 0 ? err / mx : err);
  };
  // Keys: dk_j, dv_j summed over the group's query heads.
  const ll keys[][3] = {{0, 0, 0}, {1, 7, kS - 1}, {0, 3, 4097}, {1, 5, 1000}};
  for (auto &kk : keys) {
    ll b = kk[0], hk = kk[1], j = kk[2], kr = ((b * kHkv + hk) * kS + j) * kD;
    std::vector<double> wk(kD, 0.0), wv(kD, 0.0);
    for (ll h = hk * G; h < (hk + 1) * G; ++h)
      for (ll i = 0; i < kS; ++i) {
        if (!m.visible(i, j))
          continue;
        ll r = (b * kHq + h) * kS + i;
        double pij = std::exp(scale * dot(t.hq, r * kD, t.hk, kr) - lse[r]);
        double ds = pij * (dot(dout, r * kD, t.hv, kr) - delta(r));
        for (int d = 0; d < kD; ++d) {
          wk[d] += scale * ds * at(t.hq, r * kD + d);
          wv[d] += pij * at(dout, r * kD + d);
        }
      }
    cmp(wk, dk, kr);
    cmp(wv, dv, kr);
  }
  // Queries: dq_i.
  const ll qs[][3] = {{0, 0, 5}, {1, 31, kS - 1}, {0, 17, 4097}};
  for (auto &qq : qs) {
    ll b = qq[0], h = qq[1], i = qq[2], hk = h / G, r = (b * kHq + h) * kS + i;
    std::vector<double> wq(kD, 0.0);
    double dl = delta(r);
    for (ll j = 0; j < kS; ++j) {
      if (!m.visible(i, j))
        continue;
      ll kr = ((b * kHkv + hk) * kS + j) * kD;
      double pij = std::exp(scale * dot(t.hq, r * kD, t.hk, kr) - lse[r]);
      double ds = pij * (dot(dout, r * kD, t.hv, kr) - dl);
      for (int d = 0; d < kD; ++d)
        wq[d] += scale * ds * at(t.hk, kr + d);
    }
    cmp(wq, dq, r * kD);
  }
  return worst;
}

/// Forward (AttentionFwd with lse) and backward (AttentionBwdPre +
/// AttentionBwdWgmma, or AttentionBwdMma with kMma, + AttentionBwdConvert) of
/// one mask. FLOPs on visible pairs:
/// forward 4·D per pair (Q·Kᵀ, P·V); backward 10·D per pair (Q·Kᵀ
/// recomputed, dO·Vᵀ, Pᵀ·dO, dSᵀ·Q, dS·K: 2.5x the forward).
enum BwdVariant { kBwdWgmma, kBwdMma, kBwdLaunchOrder, kBwdDeferDQ };
template <typename M, BwdVariant kV = kBwdWgmma>
void benchBwdPattern(Tensors &t, const char *name) {
  if (!rowWanted(name))
    return;
  using KF = AttentionFwd<bf16, kD, M, NoBias, false, true>;
  using KB = typename Cond<
      kV == kBwdMma, AttentionBwdMma<bf16, kD, M>,
      AttentionBwdWgmma<bf16, kD, M, NoBias, false, kV != kBwdLaunchOrder,
                        kV == kBwdDeferDQ>>::type;
  using Pre = AttentionBwdPre<bf16, kD>;
  using Cvt = AttentionBwdConvert<bf16, kD>;
  const ll nQ = kB * kHq * kS * kD, nK = kB * kHkv * kS * kD;
  DevBuf<float> lse(kB * kHq * kS), delta(kB * kHq * kS), acc(nQ);
  DevBuf<bf16> dout(nQ), dq(nQ), dk(nK), dv(nK);
  fillRandom<<<1024, 256>>>(dout.ptr, dout.n, 4);
  typename KF::Params pf;
  pf.q = t.q.ptr;
  pf.k = t.k.ptr;
  pf.v = t.v.ptr;
  pf.out = t.out.ptr;
  pf.lse = lse.ptr;
  pf.batch = kB;
  pf.hq = kHq;
  pf.hkv = kHkv;
  pf.sq = kS;
  pf.sk = kS;
  pf.scale = (float)(1.0 / std::sqrt((double)kD));
  dim3 gf((unsigned)((kS + KF::kTile - 1) / KF::kTile), (unsigned)kHq, (unsigned)kB);
  float msF = medianMs([&] { launch<KF>(gf, pf); });
  typename KB::Params pb;
  pb.q = t.q.ptr;
  pb.k = t.k.ptr;
  pb.v = t.v.ptr;
  pb.o = t.out.ptr;
  pb.lse = lse.ptr;
  pb.dout = dout.ptr;
  pb.dq = dq.ptr;
  pb.dk = dk.ptr;
  pb.dv = dv.ptr;
  pb.dq_acc = acc.ptr;
  pb.delta = delta.ptr;
  pb.batch = kB;
  pb.hq = kHq;
  pb.hkv = kHkv;
  pb.sq = kS;
  pb.sk = kS;
  pb.scale = pf.scale;
  dim3 gb((unsigned)((kS + KB::kTile - 1) / KB::kTile), (unsigned)kHkv, (unsigned)kB);
  auto bwd = [&] {
    launch<Pre>(dim3(gridFor<Pre>(kB * kHq * kS)), pb);
    launch<KB>(gb, pb);
    launch<Cvt>(dim3(gridFor<Cvt>(nQ)), pb);
  };
  float msB = medianMs(bwd);
  float msMain = medianMs([&] { launch<KB>(gb, pb); }); // dq_acc grows: timing only
  bwd();                                                // fresh gradients for the check
  CHECK_CUDA(cudaDeviceSynchronize());
  MaskRT m = maskOf<M>();
  ll pairs = visiblePairs(m);
  double work = (double)kB * kHq * kD * (double)pairs;
  double err = bwdSpotCheck(t, m, t.out.download(), lse.download(), dout.download(),
                            dq.download(), dk.download(), dv.download());
  bool ok = err <= 3e-2;
  std::printf("%-30s fwd %7.3f ms %6.1f TFLOP/s | bwd %7.3f ms %6.1f TFLOP/s (main kernel "
              "%7.3f ms %6.1f) | spot-check rel err %.2e %s\n",
              name, msF, 4.0 * work / (msF * 1e-3) / 1e12, msB, 10.0 * work / (msB * 1e-3) / 1e12,
              msMain, 10.0 * work / (msMain * 1e-3) / 1e12, err, ok ? "ok" : "WRONG");
  if (!ok)
    ++tally().fail;
}

} // namespace

void setBenchRows(const std::string &rows) {
  benchRows.clear();
  size_t start = 0;
  while (start <= rows.size()) {
    size_t comma = rows.find(',', start);
    if (comma == std::string::npos)
      comma = rows.size();
    if (comma > start)
      benchRows.push_back(rows.substr(start, comma - start));
    start = comma + 1;
  }
}

int runBwdBench() {
  Tensors t;
  std::printf("attention fwd + bwd, B=%lld Hq=%lld Hkv=%lld S=%lld D=%d bf16, median of 30; "
              "FLOPs: fwd 4·D, bwd 10·D per visible pair (per batch row and query head); bwd = "
              "pre + main + convert\n",
              kB, kHq, kHkv, kS, kD);
  benchBwdPattern<Mask<true, -1, -1, 1, 0, 0>>(t, "causal");
  benchBwdPattern<Mask<true, 1023, -1, 1, 0, 0>>(t, "sliding window 1024");
  benchBwdPattern<Mask<true, -1, -1, 1, 1024, 0>>(t, "chunked 1024");
  benchBwdPattern<Mask<true, 1023, -1, 1, 0, 64>>(t, "hybrid window 1024 + 64 global");
  benchBwdPattern<Mask<true, 1023, -1, 2, 0, 0>>(t, "dilated window 1024 d=2");
  std::printf("-- AttentionBwdWgmma with the deferred dQ (kDeferDQ) --\n");
  benchBwdPattern<Mask<true, -1, -1, 1, 0, 0>, kBwdDeferDQ>(t, "defer-dq causal");
  benchBwdPattern<Mask<true, 1023, -1, 1, 0, 0>, kBwdDeferDQ>(t, "defer-dq sliding window 1024");
  std::printf("-- AttentionBwdMma (mma.sync) --\n");
  benchBwdPattern<Mask<true, -1, -1, 1, 0, 0>, kBwdMma>(t, "mma causal");
  benchBwdPattern<Mask<true, 1023, -1, 1, 0, 0>, kBwdMma>(t, "mma sliding window 1024");
  benchBwdPattern<Mask<true, -1, -1, 1, 1024, 0>, kBwdMma>(t, "mma chunked 1024");
  std::printf("-- AttentionBwdWgmma with the blocks in launch order (not heads-first) --\n");
  benchBwdPattern<Mask<true, -1, -1, 1, 0, 0>, kBwdLaunchOrder>(t, "launch-order causal");
  return tally().fail ? 1 : 0;
}

int runBench() {
  Tensors t;
  std::printf("attention fwd, B=%lld Hq=%lld Hkv=%lld S=%lld D=%d bf16, median of 30\n", kB, kHq,
              kHkv, kS, kD);
  benchPattern<Mask<true, -1, -1, 1, 0, 0>>(t, "full causal", "FA2 3.24 ms, cuDNN 1.92 ms");
  benchPattern<Mask<true, 1023, -1, 1, 0, 0>>(t, "sliding window 1024", "Flex 0.80 ms");
  benchPattern<Mask<true, 1023, -1, 2, 0, 0>>(t, "dilated window 1024 d=2", "Flex 1.70 ms");
  benchPattern<Mask<true, -1, -1, 1, 1024, 0>>(t, "chunked 1024", "Flex 0.49 ms");
  benchPattern<Mask<true, 1023, -1, 1, 0, 64>>(t, "hybrid window 1024 + 64 global",
                                               "Flex 0.89 ms");
  benchPattern<Mask<true, 1023, -1, 1, 0, 0>, RopeQK<kD, false, int, false>>(
      t, "rope + sliding window 1024 (fused)", "compiled rope + Flex 0.913 ms");
  using Causal = Mask<true, -1, -1, 1, 0, 0>;
  using Window = Mask<true, 1023, -1, 1, 0, 0>;
  std::printf("-- kernel variants (default above: AttentionFwd; tweaks: 1 raw scores, "
              "2 pinned exponentials, 4 heads-first order, 8 lazy rescaling) --\n");
  benchPattern<Window, RopeQK<kD, false, int, false, true>>(t, "rope table+window: default", "");
  benchPattern<Causal, NoRope, Impl::pp, 1>(t, "causal: ping-pong tweaks 1", "");
  benchPattern<Causal, NoRope, Impl::pp, 2>(t, "causal: ping-pong tweaks 2", "");
  benchPattern<Causal, NoRope, Impl::pp, 4>(t, "causal: ping-pong tweaks 4", "");
  benchPattern<Causal, NoRope, Impl::pp, 8>(t, "causal: ping-pong tweaks 8", "");
  benchVariant<Impl::pp, 3>(t, "ping-pong tweaks 3");
  benchVariant<Impl::pp, 7>(t, "ping-pong tweaks 7");
  benchVariant<Impl::pp, 15>(t, "ping-pong tweaks 15");
  benchPattern<Causal, NoRope, Impl::ppN64, 15>(t, "causal: ping-pong n64 4st tweaks 15", "");
  benchPattern<NoMask, NoRope, Impl::dflt>(t, "full (no mask): default", "");
  benchPattern<NoMask, NoRope, Impl::pp, 3>(t, "full (no mask): tweaks 3", "");
  benchPattern<NoMask, NoRope, Impl::pp, 15>(t, "full (no mask): tweaks 15", "");
  benchPattern<NoMask, NoRope, Impl::pp, 8>(t, "full (no mask): tweaks 8", "");
  benchPattern<NoMask, NoRope, Impl::n64x2, 13>(t, "full (no mask): n64x2 tweaks 13", "");
  benchVariant<Impl::n64x2, 1>(t, "n64x2 tweaks 1");
  benchVariant<Impl::n64x2, 4>(t, "n64x2 tweaks 4");
  benchVariant<Impl::n64x2, 5>(t, "n64x2 tweaks 5");
  benchVariant<Impl::n64x2, 13>(t, "n64x2 tweaks 13");

  // Standalone rope on q (bytes: read + write).
  if (rowWanted("rope q (standalone)")) {
    using K = Rope<bf16, int, kD, kD, false, false>;
    typename K::Params p{t.q.ptr, t.out.ptr, t.pos.ptr, t.freq.ptr, kB, kHq, kS};
    dim3 grid(gridFor<K>(kB * kS));
    float ms = medianMs([&] { launch<K>(grid, p); });
    double bytes = 2.0 * t.q.n * sizeof(bf16);
    std::printf("%-34s %8.3f ms %7.2f TB/s (torch.compile 0.124 ms on q+k)\n", "rope q (standalone)",
                ms, bytes / (ms * 1e-3) / 1e12);
  }
  // Givens chain of 32 rotations on q.
  if (rowWanted("givens 32 rotations (standalone)")) {
    using Pairs = GivensPairs<0, 64, 1, 65, 2, 66, 3, 67, 4, 68, 5, 69, 6, 70, 7, 71, 8, 72, 9, 73,
                              10, 74, 11, 75, 12, 76, 13, 77, 14, 78, 15, 79, 16, 80, 17, 81, 18,
                              82, 19, 83, 20, 84, 21, 85, 22, 86, 23, 87, 24, 88, 25, 89, 26, 90,
                              27, 91, 28, 92, 29, 93, 30, 94, 31, 95>;
    using K = Givens<bf16, float, kD, Pairs>;
    DevBuf<float> ang(randomVec<float>(32, -3, 3));
    typename K::Params p{t.q.ptr, t.out.ptr, ang.ptr, kB * kHq * kS};
    dim3 grid(gridFor<K>(kB * kHq * kS));
    float ms = medianMs([&] { launch<K>(grid, p); });
    double bytes = 2.0 * t.q.n * sizeof(bf16);
    std::printf("%-34s %8.3f ms %7.2f TB/s (eager torch 5.14 ms incl. a 128x128 rotate)\n",
                "givens 32 rotations (standalone)", ms, bytes / (ms * 1e-3) / 1e12);
  }
  return tally().fail ? 1 : 0;
}

} // namespace check
