//===- kernel_check.cu - Every Rotor CUDA kernel against f64 loops -*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
//   kernel_check            run every check, one PASS/FAIL line each; exit 1
//                           on any failure
//   kernel_check --bench    time the attention patterns of
//                           /work/shared/anchors.md (and rope, givens)
//   kernel_check --only G   run only check groups G (comma-separated: fwd,
//                           simple, unpipelined, onewg, other, ws, tweaks,
//                           bwd)
//   kernel_check --bench --only bwd   forward + backward timings of the
//                           anchor masks (AttentionBwd)
//   kernel_check --bench --rows R[,R...]   only the benchmark rows whose
//                           names hold one of the substrings (profiling)
//
// Tolerances (absolute, on outputs of magnitude ~1): attention out f32 1e-4,
// f16 5e-3, bf16 3e-2; LSE 1e-4 (f32) / 2e-3 (f16, bf16); rope / norms /
// elementwise: f32 1e-5, f16 2e-3, bf16 1e-2 (plus the same relative term
// where outputs grow); inverse-frequency tables 1e-12 relative; attention
// backward (dq, dk, dv, dbias): error relative to the tensor's largest
// reference magnitude, f32 1e-4, f16 1e-2, bf16 2e-2.
//
//===----------------------------------------------------------------------===//

#include "check_common.h"

#include <algorithm>

using namespace rotor::cuda;

namespace check {
namespace {

using bf16 = __nv_bfloat16;
using f16 = __half;

template <typename T> double tolSmall();
template <> double tolSmall<float>() { return 1e-5; }
template <> double tolSmall<f16>() { return 2e-3; }
template <> double tolSmall<bf16>() { return 1e-2; }

template <typename T> std::vector<double> toDoubles(const std::vector<T> &v) {
  std::vector<double> d(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    d[i] = toD(v[i]);
  return d;
}

//===----------------------------------------------------------------------===//
// Rope
//===----------------------------------------------------------------------===//

template <int R, RopeScaling kKind, typename PosT = int, typename LB = void>
void invFreqCase(const std::string &label, RopeScalingRT s, double base,
                 const std::vector<PosT> &positions, double learned = 0.0) {
  using K = RopeInvFreq<R, kKind, PosT, LB>;
  DevBuf<double> out(R / 2 + 1);
  DevBuf<PosT> pos(positions.empty() ? std::vector<PosT>{0} : positions);
  using BT = typename K::BaseT;
  DevBuf<BT> lb(std::vector<BT>{fromD<BT>(learned)});
  typename K::Params p;
  p.inv_freq = out.ptr;
  p.base = base;
  p.learned_base = lb.ptr;
  p.positions = pos.ptr;
  p.num_positions = (ll)positions.size();
  p.factor = s.factor;
  p.beta_fast = s.betaFast;
  p.beta_slow = s.betaSlow;
  p.low_freq_factor = s.lowFreq;
  p.high_freq_factor = s.highFreq;
  p.attention_factor = s.attnFactor;
  p.original_max_position = s.original;
  launch<K>(dim3(1), p);
  CHECK_CUDA(cudaDeviceSynchronize());
  ll seqLen = 0;
  for (PosT v : positions)
    seqLen = std::max<ll>(seqLen, (ll)v + 1);
  double b = IsSame<LB, void>::value ? base : roundT<BT>(learned);
  report("rope_inv_freq " + label, out.download(), ropeFreqRef(R, b, s, seqLen), 0.0, 1e-12);
}

template <typename T, typename PosT, int D, int R, bool kInter, bool kBatched>
void ropeCase(const std::string &label, ll B, ll H, ll S, ll posOffset,
              const std::vector<double> &freq, bool inPlace) {
  using K = Rope<T, PosT, D, R, kInter, kBatched>;
  std::vector<T> x = randnVec<T>(B * H * S * D);
  ll np = kBatched ? B * S : S;
  std::vector<PosT> pos(np);
  for (ll i = 0; i < np; ++i)
    pos[i] = (PosT)(posOffset + randInt(0, 5000));
  DevBuf<T> dx(x), dout(inPlace ? 1 : x.size());
  DevBuf<PosT> dpos(pos);
  DevBuf<double> dfreq(freq);
  typename K::Params p;
  p.x = dx.ptr;
  p.out = inPlace ? dx.ptr : dout.ptr;
  p.pos = dpos.ptr;
  p.inv_freq = dfreq.ptr;
  p.batch = B;
  p.heads = H;
  p.seq = S;
  launch<K>(dim3(gridFor<K>(B * S)), p);
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> want = toDoubles(x);
  for (ll b = 0; b < B; ++b)
    for (ll h = 0; h < H; ++h)
      for (ll s = 0; s < S; ++s)
        ropeRowRef<double>(&want[((b * H + h) * S + s) * D], R, kInter, freq,
                           (ll)pos[kBatched ? b * S + s : s]);
  std::string name = "rope " + label + " " + typeName<T>() + " D=" + std::to_string(D) +
                     " R=" + std::to_string(R);
  report(name, (inPlace ? dx : dout).download(), want, tolSmall<T>(), tolSmall<T>());
}

void ropeChecks() {
  RopeScalingRT none;
  invFreqCase<128, RopeScaling::none>("none R=128", none, 10000.0, std::vector<int>{});
  RopeScalingRT lin;
  lin.kind = 1;
  lin.factor = 4;
  invFreqCase<64, RopeScaling::linear>("linear", lin, 10000.0, std::vector<int>{});
  RopeScalingRT ntk;
  ntk.kind = 2;
  ntk.factor = 2;
  ntk.original = 2048;
  std::vector<ll> longPos(3000);
  for (ll i = 0; i < 3000; ++i)
    longPos[i] = (i * 7919) % 5001; // max 5000 > 2048
  invFreqCase<128, RopeScaling::dynamic_ntk, ll>("dynamic_ntk L>M", ntk, 10000.0, longPos);
  std::vector<int> shortPos = {0, 1, 2, 1000, 17};
  invFreqCase<128, RopeScaling::dynamic_ntk, int>("dynamic_ntk L<=M", ntk, 10000.0, shortPos);
  RopeScalingRT yarn;
  yarn.kind = 3;
  yarn.factor = 4;
  yarn.original = 4096;
  invFreqCase<64, RopeScaling::yarn>("yarn default mscale", yarn, 10000.0, std::vector<int>{});
  yarn.attnFactor = 0.75;
  yarn.betaFast = 16;
  yarn.betaSlow = 2;
  invFreqCase<128, RopeScaling::yarn>("yarn attention_factor", yarn, 500000.0,
                                      std::vector<int>{});
  RopeScalingRT l3;
  l3.kind = 4;
  l3.factor = 8;
  l3.lowFreq = 1;
  l3.highFreq = 4;
  l3.original = 8192;
  invFreqCase<128, RopeScaling::llama3>("llama3", l3, 500000.0, std::vector<int>{});
  invFreqCase<64, RopeScaling::none, int, bf16>("learned bf16 base", none, 0.0,
                                                std::vector<int>{}, 5000.0);
  invFreqCase<64, RopeScaling::none, int, float>("learned f32 base", none, 0.0,
                                                 std::vector<int>{}, 12345.5);

  std::vector<double> f128 = ropeFreqRef(128, 10000.0, none, 0);
  std::vector<double> f64 = ropeFreqRef(64, 10000.0, yarn, 0);
  std::vector<double> f80 = ropeFreqRef(80, 10000.0, l3, 0);
  ropeCase<bf16, ll, 128, 128, false, false>("rotate_half pos~1e6", 2, 3, 37, 995000, f128,
                                             false);
  ropeCase<float, int, 96, 64, true, true>("interleaved partial batched yarn in-place", 2, 3,
                                           29, 0, f64, true);
  ropeCase<float, ll, 128, 128, false, true>("rotate_half batched pos~1e6", 2, 2, 41, 1000000,
                                             f128, false);
  ropeCase<f16, int, 80, 80, false, false>("llama3", 1, 5, 33, 0, f80, false);
  std::vector<double> f10 = ropeFreqRef(10, 10000.0, none, 0);
  ropeCase<bf16, int, 64, 10, false, true>("scalar path partial", 2, 3, 17, 0, f10, false);
  ropeCase<f16, ll, 64, 10, true, false>("scalar path interleaved in-place", 1, 4, 19, 123456,
                                         f10, true);

  // RopeCosSin: the attention prologue's table, positions near 10^6.
  {
    using K = RopeCosSin<ll, 64>;
    std::vector<ll> pos(53);
    for (size_t i = 0; i < pos.size(); ++i)
      pos[i] = 999990 + (ll)i * 3;
    DevBuf<ll> dpos(pos);
    DevBuf<double> dfreq(f64);
    DevBuf<float> dout(pos.size() * 64);
    typename K::Params p{dpos.ptr, dfreq.ptr, dout.ptr, (ll)pos.size()};
    launch<K>(dim3(gridFor<K>((ll)pos.size() * 32)), p);
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<double> want(pos.size() * 64);
    for (size_t r = 0; r < pos.size(); ++r)
      for (int i = 0; i < 32; ++i) {
        double t = (double)pos[r] * f64[i];
        want[(r * 32 + i) * 2] = std::cos(t) * f64[32];
        want[(r * 32 + i) * 2 + 1] = std::sin(t) * f64[32];
      }
    report("rope_cos_sin table yarn pos~1e6", dout.download(), want, 2e-6);
  }

  // The chain RopeInvFreq (device) -> Rope.
  {
    using KF = RopeInvFreq<64, RopeScaling::yarn>;
    DevBuf<double> freq(33);
    KF::Params pf;
    pf.inv_freq = freq.ptr;
    pf.base = 10000.0;
    pf.factor = 4;
    pf.original_max_position = 4096;
    launch<KF>(dim3(1), pf);
    CHECK_CUDA(cudaDeviceSynchronize());
    RopeScalingRT y;
    y.kind = 3;
    y.factor = 4;
    y.original = 4096;
    std::vector<double> want = ropeFreqRef(64, 10000.0, y, 0);
    std::vector<double> got = freq.download();
    double maxRel = 0;
    for (size_t i = 0; i < want.size(); ++i)
      maxRel = std::max(maxRel, std::fabs(got[i] - want[i]) / std::fabs(want[i]));
    reportBool("rope_inv_freq yarn -> rope chain table", maxRel <= 1e-12, "device table");
  }
}

//===----------------------------------------------------------------------===//
// Givens
//===----------------------------------------------------------------------===//

template <typename T, typename AT, int D, typename Pairs>
void givensCase(const std::string &label, ll rows, bool inPlace) {
  using K = Givens<T, AT, D, Pairs>;
  constexpr int N = Pairs::kCount;
  std::vector<T> x = randnVec<T>(rows * D);
  std::vector<AT> ang = randomVec<AT>(N, -3.2, 3.2);
  DevBuf<T> dx(x), dout(inPlace ? 1 : x.size());
  DevBuf<AT> da(ang);
  typename K::Params p;
  p.x = dx.ptr;
  p.out = inPlace ? dx.ptr : dout.ptr;
  p.angles = da.ptr;
  p.rows = rows;
  launch<K>(dim3(gridFor<K>(rows)), p);
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> want = toDoubles(x);
  for (ll r = 0; r < rows; ++r) {
    double *y = &want[r * D];
    for (int k = 0; k < N; ++k) {
      int i = Pairs::at(2 * k), j = Pairs::at(2 * k + 1);
      double t = toD(ang[k]);
      double xi = y[i], xj = y[j];
      y[i] = xi * std::cos(t) - xj * std::sin(t);
      y[j] = xi * std::sin(t) + xj * std::cos(t);
    }
  }
  report("givens " + label + " " + typeName<T>() + " D=" + std::to_string(D) +
             " N=" + std::to_string(N),
         (inPlace ? dx : dout).download(), want, 4 * tolSmall<T>(), tolSmall<T>());
}

void givensChecks() {
  givensCase<float, float, 64, GivensPairs<0, 1, 2, 5, 5, 63, 10, 3, 0, 63>>("chain", 1000,
                                                                             false);
  givensCase<bf16, bf16, 128,
             GivensPairs<0, 64, 1, 65, 2, 66, 127, 0, 5, 6, 6, 7, 7, 8, 100, 3>>(
      "in-place", 777, true);
  givensCase<f16, float, 80, GivensPairs<79, 0, 40, 41, 41, 79>>("D=80", 333, false);
  givensCase<float, bf16, 6, GivensPairs<0, 5, 1, 4, 5, 2>>("unstaged row", 301, true);
}

/// GivensGrad + GivensGradReduce against an f64 reference that stores the
/// row after every rotation (the kernel recovers them by undoing rotations).
template <typename T, typename AT, int D, typename Pairs>
void givensGradCase(const std::string &label, ll rows, unsigned blocks, bool dxAliasesDy) {
  using K = GivensGrad<T, AT, D, Pairs>;
  using R = GivensGradReduce<AT>;
  constexpr int N = Pairs::kCount;
  std::vector<T> x = randnVec<T>(rows * D), dy = randnVec<T>(rows * D);
  std::vector<AT> ang = randomVec<AT>(N, -3.2, 3.2);
  DevBuf<T> dX(x), dDy(dy), dDx(dxAliasesDy ? 1 : x.size());
  DevBuf<AT> dA(ang), dOut(N);
  DevBuf<float> partial((size_t)blocks * (N > 0 ? N : 1));
  typename K::Params p;
  p.x = dX.ptr;
  p.dy = dDy.ptr;
  p.dx = dxAliasesDy ? dDy.ptr : dDx.ptr;
  p.angles = dA.ptr;
  p.partial = partial.ptr;
  p.rows = rows;
  launch<K>(dim3(blocks), p);
  typename R::Params pr;
  pr.partial = partial.ptr;
  pr.out = dOut.ptr;
  pr.blocks = blocks;
  pr.n = N;
  launch<R>(dim3(1), pr);
  CHECK_CUDA(cudaDeviceSynchronize());

  std::vector<double> wantDx(rows * D), wantDa(N, 0.0);
  std::vector<double> states((size_t)(N + 1) * D), g(D);
  for (ll r = 0; r < rows; ++r) {
    for (int e = 0; e < D; ++e) {
      states[e] = toD(x[r * D + e]);
      g[e] = toD(dy[r * D + e]);
    }
    for (int k = 0; k < N; ++k) { // states[k + 1] = row after rotation k
      double *z = &states[(size_t)(k + 1) * D];
      std::copy(&states[(size_t)k * D], &states[(size_t)k * D] + D, z);
      int i = Pairs::at(2 * k), j = Pairs::at(2 * k + 1);
      double t = toD(ang[k]), zi = z[i], zj = z[j];
      z[i] = zi * std::cos(t) - zj * std::sin(t);
      z[j] = zi * std::sin(t) + zj * std::cos(t);
    }
    for (int k = N - 1; k >= 0; --k) {
      const double *z = &states[(size_t)(k + 1) * D];
      int i = Pairs::at(2 * k), j = Pairs::at(2 * k + 1);
      double t = toD(ang[k]);
      wantDa[k] += g[j] * z[i] - g[i] * z[j];
      double gi = g[i], gj = g[j]; // g <- g G_k^T
      g[i] = gi * std::cos(t) + gj * std::sin(t);
      g[j] = -gi * std::sin(t) + gj * std::cos(t);
    }
    std::copy(g.begin(), g.end(), &wantDx[r * D]);
  }
  std::string name = "givens_grad " + label + " " + typeName<T>() + " D=" + std::to_string(D) +
                     " N=" + std::to_string(N);
  report(name + " dx", (dxAliasesDy ? dDy : dDx).download(), wantDx, 4 * tolSmall<T>(),
         tolSmall<T>());
  report(name + " dangles", dOut.download(), wantDa,
         4 * tolSmall<AT>() * std::sqrt((double)std::max<ll>(rows, 1)), tolSmall<AT>());
}

void givensGradChecks() {
  // The emitter's grid (kGivensGradBlocks = 264), overlapping planes.
  givensGradCase<float, float, 64, GivensPairs<0, 1, 2, 5, 5, 63, 10, 3, 0, 63, 63, 0>>(
      "overlapping", 1000, 264, false);
  givensGradCase<bf16, bf16, 128,
                 GivensPairs<0, 64, 1, 65, 2, 66, 127, 0, 5, 6, 6, 7, 7, 8, 100, 3>>(
      "dx in dy", 777, 264, true);
  // Fewer blocks than row tiles: each thread takes several rows.
  givensGradCase<f16, float, 80, GivensPairs<79, 0, 40, 41, 41, 79>>("grid 7", 3333, 7, false);
  givensGradCase<float, bf16, 96, GivensPairs<0, 95, 1, 94, 2, 93, 0, 1>>("D=96", 301, 264,
                                                                          false);
  givensGradCase<float, float, 6, GivensPairs<0, 5, 1, 4, 5, 2>>("no rows", 0, 3, false);
}

//===----------------------------------------------------------------------===//
// Norms and softmax
//===----------------------------------------------------------------------===//

template <typename T, typename WT> void rmsCase(ll rows, ll cols, double eps) {
  using K = RmsNorm<T, WT>;
  auto x = randnVec<T>(rows * cols);
  auto w = randomVec<WT>(cols, 0.5, 1.5);
  DevBuf<T> dx(x), dy(x.size());
  DevBuf<WT> dw(w);
  typename K::Params p{dx.ptr, dw.ptr, dy.ptr, rows, cols, eps};
  launch<K>(dim3(gridFor<K>(rows)), p);
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> want(x.size());
  for (ll r = 0; r < rows; ++r) {
    double ss = 0;
    for (ll c = 0; c < cols; ++c)
      ss += toD(x[r * cols + c]) * toD(x[r * cols + c]);
    double inv = 1.0 / std::sqrt(ss / cols + eps);
    for (ll c = 0; c < cols; ++c)
      want[r * cols + c] = toD(x[r * cols + c]) * inv * toD(w[c]);
  }
  report(std::string("rms_norm ") + typeName<T>() + " rows=" + std::to_string(rows) +
             " cols=" + std::to_string(cols),
         dy.download(), want, tolSmall<T>(), tolSmall<T>());
}

template <typename T, typename WT, bool kBias> void layerNormCase(ll rows, ll cols, double eps) {
  using K = LayerNorm<T, WT, kBias>;
  auto x = randnVec<T>(rows * cols, 2.0);
  for (auto &v : x)
    v = fromD<T>(toD(v) + 3.0); // a mean far from 0
  auto w = randomVec<WT>(cols, 0.5, 1.5);
  auto b = randomVec<WT>(cols);
  DevBuf<T> dx(x);
  DevBuf<WT> dw(w), db(b);
  typename K::Params p{dx.ptr, dw.ptr, db.ptr, dx.ptr, rows, cols, eps}; // in-place
  launch<K>(dim3(gridFor<K>(rows)), p);
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> want(x.size());
  for (ll r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (ll c = 0; c < cols; ++c)
      mean += toD(x[r * cols + c]);
    mean /= cols;
    for (ll c = 0; c < cols; ++c)
      var += (toD(x[r * cols + c]) - mean) * (toD(x[r * cols + c]) - mean);
    var /= cols;
    for (ll c = 0; c < cols; ++c)
      want[r * cols + c] = (toD(x[r * cols + c]) - mean) / std::sqrt(var + eps) * toD(w[c]) +
                           (kBias ? toD(b[c]) : 0.0);
  }
  report(std::string("layer_norm ") + (kBias ? "bias " : "no-bias in-place ") + typeName<T>() +
             " cols=" + std::to_string(cols),
         dx.download(), want, tolSmall<T>(), tolSmall<T>());
}

template <typename T> void l2Case(ll rows, ll cols, double eps) {
  using K = L2Normalize<T>;
  auto x = randnVec<T>(rows * cols);
  for (ll c = 0; c < cols; ++c)
    x[c] = fromD<T>(0.0); // a zero row: eps guards it
  for (ll c = 0; c < cols; ++c)
    x[cols + c] = fromD<T>(c == 3 ? 1e-7 : 0.0); // a tiny row, below eps
  DevBuf<T> dx(x), dy(x.size());
  typename K::Params p{dx.ptr, dy.ptr, rows, cols, eps};
  launch<K>(dim3(gridFor<K>(rows)), p);
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> want(x.size());
  for (ll r = 0; r < rows; ++r) {
    double ss = 0;
    for (ll c = 0; c < cols; ++c)
      ss += toD(x[r * cols + c]) * toD(x[r * cols + c]);
    double inv = 1.0 / std::sqrt(std::max(ss, eps * eps));
    for (ll c = 0; c < cols; ++c)
      want[r * cols + c] = toD(x[r * cols + c]) * inv;
  }
  report(std::string("l2_normalize ") + typeName<T>() + " zero/tiny rows eps=" +
             std::to_string(eps),
         dy.download(), want, tolSmall<T>(), tolSmall<T>());
}

template <typename T> void softmaxCase(ll rows, ll cols) {
  using K = Softmax<T>;
  auto x = randnVec<T>(rows * cols, 3.0);
  DevBuf<T> dx(x), dy(x.size());
  typename K::Params p{dx.ptr, dy.ptr, rows, cols};
  launch<K>(dim3(gridFor<K>(rows)), p);
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> want(x.size());
  for (ll r = 0; r < rows; ++r) {
    double m = -INFINITY, s = 0;
    for (ll c = 0; c < cols; ++c)
      m = std::max(m, toD(x[r * cols + c]));
    for (ll c = 0; c < cols; ++c)
      s += std::exp(toD(x[r * cols + c]) - m);
    for (ll c = 0; c < cols; ++c)
      want[r * cols + c] = std::exp(toD(x[r * cols + c]) - m) / s;
  }
  report(std::string("softmax ") + typeName<T>() + " cols=" + std::to_string(cols),
         dy.download(), want, tolSmall<T>() * 0.1, tolSmall<T>());
}

void normChecks() {
  rmsCase<float, float>(37, 1000, 1e-6);
  rmsCase<bf16, bf16>(5, 4096, 1e-5);
  rmsCase<f16, float>(3, 77, 1e-6);
  layerNormCase<float, float, true>(13, 777, 1e-5);
  layerNormCase<f16, float, false>(4, 1024, 1e-5);
  l2Case<float>(9, 64, 1e-12);
  l2Case<bf16>(4, 130, 1e-6);
  softmaxCase<float>(7, 3001);
  softmaxCase<bf16>(33, 50);
}

//===----------------------------------------------------------------------===//
// Embedding, conv1d, sinusoidal embedding
//===----------------------------------------------------------------------===//

template <typename IdT, typename T> void embeddingCase(bool withBad) {
  using K = Embedding<IdT, T>;
  const ll V = 100, H = 67, n = 41;
  auto table = randnVec<T>(V * H);
  std::vector<IdT> ids(n);
  for (ll i = 0; i < n; ++i)
    ids[i] = (IdT)randInt(0, V - 1);
  if (withBad) {
    ids[3] = (IdT)-1;
    ids[10] = (IdT)V;
  }
  DevBuf<T> dt(table), dout(n * H);
  DevBuf<IdT> di(ids);
  DevBuf<int> err(std::vector<int>{0});
  typename K::Params p{di.ptr, dt.ptr, dout.ptr, n, V, H, err.ptr};
  launch<K>(dim3(gridFor<K>(n)), p);
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> want(n * H, 0.0);
  for (ll i = 0; i < n; ++i)
    if (ids[i] >= 0 && ids[i] < V)
      for (ll c = 0; c < H; ++c)
        want[i * H + c] = toD(table[ids[i] * H + c]);
  std::string name = std::string("embedding ") + typeName<T>() +
                     (withBad ? " out-of-range ids -> zero rows" : " valid ids");
  report(name, dout.download(), want, 0.0);
  reportBool(name + " err flag", err.download()[0] == (withBad ? 1 : 0),
             withBad ? "err set" : "err clear");
}

/// CacheWrite: `rows` rows of (outer, rows, inner) written in place into a
/// (outer, capacity, inner) cache at `start`; rows outside the cache are
/// dropped and every other element keeps its value.
template <typename T, typename StartT>
void cacheWriteCase(ll outer, ll rows, ll capacity, ll inner, ll start) {
  using K = CacheWrite<T, StartT>;
  auto cache = randnVec<T>(outer * capacity * inner);
  auto update = randnVec<T>(outer * rows * inner);
  DevBuf<T> dc(cache), du(update);
  DevBuf<StartT> ds(std::vector<StartT>{(StartT)start});
  typename K::Params p{du.ptr, dc.ptr, ds.ptr, outer, rows, capacity, inner};
  launch<K>(dim3(gridFor<K>(outer * rows)), p);
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> want(cache.size());
  for (size_t i = 0; i < cache.size(); ++i)
    want[i] = toD(cache[i]);
  for (ll o = 0; o < outer; ++o)
    for (ll s = 0; s < rows; ++s)
      if (start + s >= 0 && start + s < capacity)
        for (ll c = 0; c < inner; ++c)
          want[(o * capacity + start + s) * inner + c] = toD(update[(o * rows + s) * inner + c]);
  report(std::string("cache_write ") + typeName<T>() + " outer=" + std::to_string(outer) +
             " rows=" + std::to_string(rows) + " capacity=" + std::to_string(capacity) +
             " start=" + std::to_string(start),
         dc.download(), want, 0.0);
}

template <typename T, typename WT, int kK, bool kCausal, bool kBias>
void convCase(ll B, ll S, ll cin, ll cout, ll groups) {
  using K = Conv1d<T, WT, kK, kCausal, kBias>;
  auto x = randnVec<T>(B * S * cin);
  auto w = randnVec<WT>(cout * (cin / groups) * kK, 0.5);
  auto bias = randnVec<WT>(cout);
  DevBuf<T> dx(x), dy(B * S * cout);
  DevBuf<WT> dw(w), db(bias);
  typename K::Params p{dx.ptr, dw.ptr, db.ptr, dy.ptr, B, S, cin, cout, groups};
  launch<K>(dim3(gridFor<K>(B * S * cout)), p);
  CHECK_CUDA(cudaDeviceSynchronize());
  const ll left = kCausal ? kK - 1 : (kK - 1) / 2, cg = cin / groups, og = cout / groups;
  std::vector<double> want(B * S * cout);
  for (ll b = 0; b < B; ++b)
    for (ll t = 0; t < S; ++t)
      for (ll o = 0; o < cout; ++o) {
        double acc = kBias ? toD(bias[o]) : 0.0;
        ll g = o / og;
        for (ll c = 0; c < cg; ++c)
          for (ll k = 0; k < kK; ++k) {
            ll ts = t + k - left;
            if (ts >= 0 && ts < S)
              acc += toD(w[(o * cg + c) * kK + k]) * toD(x[(b * S + ts) * cin + g * cg + c]);
          }
        want[(b * S + t) * cout + o] = acc;
      }
  report(std::string("conv1d ") + typeName<T>() + (kCausal ? " causal" : " same") +
             " K=" + std::to_string(kK) + " groups=" + std::to_string(groups) +
             (kBias ? " bias" : ""),
         dy.download(), want, tolSmall<T>() * 2, tolSmall<T>());
}

template <typename PosT, typename T> void sinusoidalCase(const std::vector<double> &posVals) {
  using K = SinusoidalEmbedding<PosT, T>;
  const ll n = (ll)posVals.size(), F = 16;
  std::vector<PosT> pos(n);
  for (ll i = 0; i < n; ++i)
    pos[i] = (PosT)posVals[i];
  auto freqs = randomVec<T>(F, 0.0, 1.0);
  DevBuf<PosT> dp(pos);
  DevBuf<T> df(freqs), dy(n * 2 * F);
  typename K::Params p{dp.ptr, df.ptr, dy.ptr, n, F};
  launch<K>(dim3(gridFor<K>(n * 2 * F)), p);
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> want(n * 2 * F);
  for (ll i = 0; i < n; ++i)
    for (ll f = 0; f < F; ++f) {
      double t = (double)pos[i] * toD(freqs[f]);
      want[i * 2 * F + f] = std::sin(t);
      want[i * 2 * F + F + f] = std::cos(t);
    }
  report(std::string("sinusoidal_embedding ") + typeName<T>() + " positions to 1e6",
         dy.download(), want, tolSmall<T>());
}

void layerChecks() {
  embeddingCase<ll, float>(true);
  embeddingCase<int, bf16>(false);
  cacheWriteCase<bf16, ll>(2 * 8, 1, 300, 128, 137);
  cacheWriteCase<float, int>(3, 5, 40, 80, 37); // the last 2 rows dropped
  cacheWriteCase<f16, ll>(4, 3, 20, 64, -1);    // the first row dropped
  cacheWriteCase<float, ll>(2, 2, 9, 16, 9);    // nothing written
  convCase<float, float, 4, true, false>(2, 37, 24, 24, 24);
  convCase<bf16, bf16, 3, false, true>(2, 19, 8, 6, 2);
  convCase<float, float, 4, false, true>(1, 23, 6, 9, 3);
  std::vector<double> pv;
  for (int i = 0; i < 50; ++i)
    pv.push_back(i < 25 ? i : 1000000 - 3 * i);
  sinusoidalCase<ll, float>(pv);
  std::vector<double> pf = {0.0, 0.5, 1.25, 100.75, 3.0e4};
  sinusoidalCase<float, float>(pf);
  sinusoidalCase<int, f16>(std::vector<double>{0, 1, 2, 3, 50, 511});
}

//===----------------------------------------------------------------------===//
// Cross-entropy
//===----------------------------------------------------------------------===//

template <typename T, typename LT, typename OutT>
void ceCase(const std::string &label, ll N, ll V, int ignoreEvery, bool badLabel,
            bool allIgnored) {
  using KR = CrossEntropyRows<T, LT>;
  using KM = CrossEntropyMean<LT, OutT>;
  const ll ignore = -100;
  auto logits = randnVec<T>(N * V, 2.0);
  std::vector<LT> labels(N);
  for (ll i = 0; i < N; ++i) {
    labels[i] = (LT)randInt(0, V - 1);
    if (allIgnored || (ignoreEvery && i % ignoreEvery == 0))
      labels[i] = (LT)ignore;
  }
  if (badLabel)
    labels[1] = (LT)V;
  DevBuf<T> dl(logits);
  DevBuf<LT> dlab(labels);
  DevBuf<float> rows(N);
  DevBuf<OutT> loss(1);
  DevBuf<int> err(std::vector<int>{0});
  typename KR::Params pr{dl.ptr, dlab.ptr, rows.ptr, N, V, ignore, err.ptr};
  launch<KR>(dim3(gridFor<KR>(N)), pr);
  typename KM::Params pm{rows.ptr, dlab.ptr, N, ignore, loss.ptr};
  launch<KM>(dim3(1), pm);
  CHECK_CUDA(cudaDeviceSynchronize());
  double sum = 0;
  ll cnt = 0;
  for (ll i = 0; i < N; ++i) {
    if ((ll)labels[i] == ignore)
      continue;
    ++cnt;
    if (labels[i] < 0 || labels[i] >= V) {
      sum = NAN;
      continue;
    }
    double m = -INFINITY, s = 0;
    for (ll c = 0; c < V; ++c)
      m = std::max(m, toD(logits[i * V + c]));
    for (ll c = 0; c < V; ++c)
      s += std::exp(toD(logits[i * V + c]) - m);
    sum += m + std::log(s) - toD(logits[i * V + labels[i]]);
  }
  double want = cnt ? sum / cnt : 0.0;
  std::string name = "cross_entropy " + label + " " + typeName<T>() + " N=" +
                     std::to_string(N) + " V=" + std::to_string(V);
  report(name, loss.download(), std::vector<double>{want}, 1e-4, 1e-5);
  reportBool(name + " err flag", err.download()[0] == (badLabel ? 1 : 0),
             badLabel ? "err set" : "err clear");
}

void ceChecks() {
  ceCase<float, ll, float>("ignore rows", 50, 1000, 7, false, false);
  ceCase<bf16, int, double>("f64 loss", 33, 5000, 0, false, false);
  ceCase<float, ll, float>("all ignored -> 0", 9, 100, 0, false, true);
  ceCase<f16, ll, float>("out-of-range label -> NaN", 12, 300, 5, true, false);
}

//===----------------------------------------------------------------------===//
// Layouts and elementwise
//===----------------------------------------------------------------------===//

template <typename T> void headsCase(ll B, ll S, ll H, ll D) {
  auto x = randnVec<T>(B * S * H * D);
  DevBuf<T> dx(x), dsplit(x.size()), dmerge(x.size());
  typename SplitHeads<T>::Params ps{dx.ptr, dsplit.ptr, B, S, H, D};
  launch<SplitHeads<T>>(dim3(gridFor<SplitHeads<T>>(B * S * H * D)), ps);
  typename MergeHeads<T>::Params pm{dsplit.ptr, dmerge.ptr, B, S, H, D};
  launch<MergeHeads<T>>(dim3(1), pm); // one block: grid-stride must cover it all
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> want(x.size());
  for (ll b = 0; b < B; ++b)
    for (ll s = 0; s < S; ++s)
      for (ll h = 0; h < H; ++h)
        for (ll d = 0; d < D; ++d)
          want[((b * H + h) * S + s) * D + d] = toD(x[((b * S + s) * H + h) * D + d]);
  std::string shape = std::string(typeName<T>()) + " B=" + std::to_string(B) +
                      " S=" + std::to_string(S) + " H=" + std::to_string(H) +
                      " D=" + std::to_string(D);
  report("split_heads " + shape, dsplit.download(), want, 0.0);
  report("merge_heads(split_heads) " + shape, dmerge.download(), toDoubles(x), 0.0);
}

template <typename T> void swigluCase(ll n) {
  auto g = randnVec<T>(n, 3.0), u = randnVec<T>(n);
  DevBuf<T> dg(g), du(u), dy(n);
  typename Swiglu<T>::Params p{dg.ptr, du.ptr, dy.ptr, n};
  launch<Swiglu<T>>(dim3(gridFor<Swiglu<T>>(n)), p);
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> want(n);
  for (ll i = 0; i < n; ++i)
    want[i] = toD(g[i]) / (1.0 + std::exp(-toD(g[i]))) * toD(u[i]);
  report(std::string("swiglu ") + typeName<T>() + " n=" + std::to_string(n), dy.download(), want,
         tolSmall<T>(), tolSmall<T>());
}

double actRef(Act a, double x) {
  switch (a) {
  case Act::relu:
    return x > 0 ? x : 0;
  case Act::silu:
    return x / (1 + std::exp(-x));
  case Act::gelu:
    return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  case Act::gelu_tanh:
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / 3.141592653589793) * (x + 0.044715 * x * x * x)));
  default:
    return x;
  }
}

template <typename T, typename BT, Act kAct, bool kBias, bool kRes> void epilogueCase(ll M, ll N) {
  using K = Epilogue<T, BT, kAct, kBias, kRes>;
  auto x = randnVec<T>(M * N, 2.0), r = randnVec<T>(M * N);
  auto b = randnVec<BT>(N);
  DevBuf<T> dx(x), dr(r);
  DevBuf<BT> db(b);
  typename K::Params p{dx.ptr, db.ptr, dr.ptr, dx.ptr, M, N}; // in-place
  launch<K>(dim3(gridFor<K>(M * N)), p);
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> want(M * N);
  for (ll i = 0; i < M * N; ++i)
    want[i] = actRef(kAct, toD(x[i]) + (kBias ? toD(b[i % N]) : 0.0)) + (kRes ? toD(r[i]) : 0.0);
  static const char *names[] = {"none", "relu", "silu", "gelu", "gelu_tanh"};
  report(std::string("epilogue ") + typeName<T>() + " act=" + names[(int)kAct] +
             (kBias ? " bias" : "") + (kRes ? " residual" : ""),
         dx.download(), want, tolSmall<T>() * 2, tolSmall<T>());
}

void elementwiseChecks() {
  headsCase<bf16>(2, 13, 3, 40);
  headsCase<float>(1, 7, 5, 64);
  swigluCase<float>(1001);
  swigluCase<bf16>(4099);
  epilogueCase<float, float, Act::none, true, true>(7, 33);
  epilogueCase<float, float, Act::relu, true, false>(7, 33);
  epilogueCase<float, float, Act::silu, false, true>(7, 33);
  epilogueCase<float, float, Act::gelu, true, true>(7, 33);
  epilogueCase<float, float, Act::gelu_tanh, true, true>(7, 33);
  epilogueCase<bf16, float, Act::gelu_tanh, true, false>(5, 300);
  epilogueCase<f16, f16, Act::silu, true, true>(3, 129);
}

} // namespace

int runOtherChecks() {
  int before = tally().fail;
  ropeChecks();
  givensChecks();
  givensGradChecks();
  normChecks();
  layerChecks();
  ceChecks();
  elementwiseChecks();
  return tally().fail - before;
}

} // namespace check

int main(int argc, char **argv) {
  bool bench = false;
  std::string only; // comma-separated groups; empty = all
  const char *groups = "fwd, simple, unpipelined, onewg, other, ws, tweaks, bwd";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--bench"))
      bench = true;
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc)
      only = argv[++i];
    else if (!std::strcmp(argv[i], "--rows") && i + 1 < argc)
      check::setBenchRows(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: %s [--bench [--rows NAME[,NAME...]]] [--only GROUP[,GROUP...]]\n"
                   "  groups: %s\n",
                   argv[0], groups);
      return 2;
    }
  }
  auto want = [&](const char *g) {
    if (only.empty())
      return true;
    std::string list = "," + only + ",";
    return list.find("," + std::string(g) + ",") != std::string::npos;
  };
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor,
              prop.multiProcessorCount);
  if (bench) {
    // --bench: the forward anchors; --bench --only bwd: forward + backward.
    if (!only.empty() && want("bwd"))
      return check::runBwdBench();
    return check::runBench();
  }
  if (want("fwd"))
    check::runAttentionChecks();
  if (want("simple"))
    check::runAttentionSimpleChecks();
  if (want("unpipelined"))
    check::runUnpipelinedChecks();
  if (want("onewg"))
    check::runOneWarpGroupChecks();
  if (want("other"))
    check::runOtherChecks();
  if (want("ws"))
    check::runWarpSpecializedChecks();
  if (want("tweaks"))
    check::runTweakChecks();
  if (want("bwd"))
    check::runAttentionBwdChecks();
  std::printf("%d passed, %d failed\n", check::tally().pass, check::tally().fail);
  if (check::tally().pass + check::tally().fail == 0) {
    std::fprintf(stderr, "no check selected by --only %s (groups: %s)\n", only.c_str(), groups);
    return 2;
  }
  return check::tally().fail ? 1 : 0;
}
