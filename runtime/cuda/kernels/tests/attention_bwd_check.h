//===- attention_bwd_check.h - One attention_grad case vs f64 loops -*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Random q, k, v, dout; o and lse from an f64 forward, rounded to T and f32
// (the kernels' inputs). The reference gradients are computed in f64 from
// exactly those rounded inputs, written from the formulas of
// AttentionGradOp (RotorOps.td), not from the kernels:
//   s_ij = softcap(scale q_i·k_j) + bias, p_ij = exp(s_ij − lse_i),
//   delta_i = Σ dout_i·o_i, ds_ij = p_ij (dout_i·v_j − delta_i),
//   dbias[h, bucket] += ds_ij, ds_raw = ds (1 − tanh²(raw/c)),
//   dq_i += scale ds_raw k_j, dk_j += scale ds_raw q_i, dv_j += p_ij dout_i
// (dk, dv summed over the query heads of a GQA group). Tolerance: error
// relative to the largest reference magnitude of each tensor.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_KERNEL_CHECK_ATTENTION_BWD_H
#define ROTOR_CUDA_KERNEL_CHECK_ATTENTION_BWD_H

#include "check_common.h"

#include <algorithm>

namespace check {

struct BwdShape {
  ll B, Hq, Hkv, Sq, Sk;
  float softcap = 0.f; // used when the kernel has kSoftcap
};

/// Relative-to-max tolerance of the gradients: f32 1e-4, f16 1e-2, bf16 2e-2.
template <typename T> double bwdTol();
template <> inline double bwdTol<float>() { return 1e-4; }
template <> inline double bwdTol<__half>() { return 1e-2; }
template <> inline double bwdTol<__nv_bfloat16>() { return 2e-2; }

template <typename G>
bool reportRelMax(const std::string &name, const std::vector<G> &got,
                  const std::vector<double> &want, double tol) {
  double mx = 0;
  for (double w : want)
    mx = std::max(mx, std::fabs(w));
  return report(name + " (rel. to max " + std::to_string(mx).substr(0, 7) + ")", got, want,
                tol * (mx > 0 ? mx : 1.0));
}

/// Runs AttentionBwdPre, the backward kernel K and AttentionBwdConvert and
/// compares dq, dk, dv (and dbias) with the f64 reference.
template <typename K, typename T, int D, typename M, typename Bi, bool kSoftcap>
bool attentionBwdCase(const std::string &label, const BwdShape &s) {
  const ll B = s.B, Hq = s.Hq, Hkv = s.Hkv, Sq = s.Sq, Sk = s.Sk, G = Hq / Hkv;
  const ll nQ = B * Hq * Sq * D, nK = B * Hkv * Sk * D;
  std::vector<T> q = randnVec<T>(nQ), k = randnVec<T>(nK), v = randnVec<T>(nK),
                 dout = randnVec<T>(nQ);
  std::vector<float> bias;
  if (Bi::kEnabled)
    bias = randnVec<float>(Hq * Bi::kNumBuckets);
  const double scale = 1.0 / std::sqrt((double)D);
  const MaskRT m = maskOf<M>();
  auto qd = [&](ll b, ll h, ll i, int d) { return toD(q[((b * Hq + h) * Sq + i) * D + d]); };
  auto kd = [&](ll b, ll h, ll j, int d) { return toD(k[((b * Hkv + h) * Sk + j) * D + d]); };
  auto vd = [&](ll b, ll h, ll j, int d) { return toD(v[((b * Hkv + h) * Sk + j) * D + d]); };
  auto gd = [&](ll b, ll h, ll i, int d) { return toD(dout[((b * Hq + h) * Sq + i) * D + d]); };
  // Raw score (scale q·k), the score s and the softcap factor of one pair.
  auto pairScore = [&](ll b, ll h, ll i, ll j, double *dcap) {
    ll hk = h / G, pq = i + Sk - Sq;
    double dot = 0;
    for (int d = 0; d < D; ++d)
      dot += qd(b, h, i, d) * kd(b, hk, j, d);
    double x = scale * dot;
    *dcap = 1.0;
    if (kSoftcap) {
      double th = std::tanh(x / s.softcap);
      x = s.softcap * th;
      *dcap = 1.0 - th * th;
    }
    if (Bi::kEnabled)
      x += bias[h * Bi::kNumBuckets +
                t5Bucket(j - pq, !M::kCausal, Bi::kNumBuckets, Bi::kMaxDistance)];
    return x;
  };

  // Forward in f64: o (rounded to T) and lse (rounded to f32).
  std::vector<T> o(nQ);
  std::vector<float> lse(B * Hq * Sq);
  std::vector<double> sc(Sk);
  for (ll b = 0; b < B; ++b)
    for (ll h = 0; h < Hq; ++h)
      for (ll i = 0; i < Sq; ++i) {
        ll pq = i + Sk - Sq, hk = h / G;
        double mx = -INFINITY, den = 0, dc;
        for (ll j = 0; j < Sk; ++j)
          if (m.visible(pq, j)) {
            sc[j] = pairScore(b, h, i, j, &dc);
            mx = std::max(mx, sc[j]);
          }
        std::vector<double> acc(D, 0.0);
        for (ll j = 0; j < Sk; ++j)
          if (m.visible(pq, j)) {
            double e = std::exp(sc[j] - mx);
            den += e;
            for (int d = 0; d < D; ++d)
              acc[d] += e * vd(b, hk, j, d);
          }
        for (int d = 0; d < D; ++d)
          o[((b * Hq + h) * Sq + i) * D + d] = fromD<T>(den > 0 ? acc[d] / den : 0.0);
        lse[(b * Hq + h) * Sq + i] = den > 0 ? (float)(mx + std::log(den)) : -INFINITY;
      }

  // Backward in f64 from the rounded o and lse.
  std::vector<double> wdq(nQ, 0.0), wdk(nK, 0.0), wdv(nK, 0.0),
      wdb(Bi::kEnabled ? Hq * Bi::kNumBuckets : 0, 0.0);
  for (ll b = 0; b < B; ++b)
    for (ll h = 0; h < Hq; ++h)
      for (ll i = 0; i < Sq; ++i) {
        ll pq = i + Sk - Sq, hk = h / G, r = (b * Hq + h) * Sq + i;
        double l = lse[r];
        if (std::isinf(l))
          continue; // no visible key: contributes nothing
        double delta = 0;
        for (int d = 0; d < D; ++d)
          delta += gd(b, h, i, d) * toD(o[r * D + d]);
        for (ll j = 0; j < Sk; ++j) {
          if (!m.visible(pq, j))
            continue;
          double dcap;
          double pij = std::exp(pairScore(b, h, i, j, &dcap) - l);
          double dp = 0;
          for (int d = 0; d < D; ++d)
            dp += gd(b, h, i, d) * vd(b, hk, j, d);
          double ds = pij * (dp - delta);
          if (Bi::kEnabled)
            wdb[h * Bi::kNumBuckets +
                t5Bucket(j - pq, !M::kCausal, Bi::kNumBuckets, Bi::kMaxDistance)] += ds;
          double dr = ds * dcap * scale;
          ll kr = ((b * Hkv + hk) * Sk + j) * D;
          for (int d = 0; d < D; ++d) {
            wdq[r * D + d] += dr * kd(b, hk, j, d);
            wdk[kr + d] += dr * qd(b, h, i, d);
            wdv[kr + d] += pij * gd(b, h, i, d);
          }
        }
      }

  // Device.
  DevBuf<T> dq_(q), dk_(k), dv_(v), do_(o), dgo(dout), gq(nQ), gk(nK), gv(nK);
  DevBuf<float> dlse(lse), dacc(nQ), ddelta(B * Hq * Sq);
  DevBuf<float> dbias(bias.empty() ? std::vector<float>{0.f} : bias);
  DevBuf<float> gbias(wdb.empty() ? 1 : wdb.size());
  typename K::Params p;
  p.q = dq_.ptr;
  p.k = dk_.ptr;
  p.v = dv_.ptr;
  p.o = do_.ptr;
  p.lse = dlse.ptr;
  p.dout = dgo.ptr;
  p.dq = gq.ptr;
  p.dk = gk.ptr;
  p.dv = gv.ptr;
  p.dq_acc = dacc.ptr;
  p.delta = ddelta.ptr;
  p.bias = dbias.ptr;
  p.dbias = gbias.ptr;
  p.batch = B;
  p.hq = Hq;
  p.hkv = Hkv;
  p.sq = Sq;
  p.sk = Sk;
  p.scale = (float)scale;
  p.softcap = s.softcap;
  using Pre = rotor::cuda::AttentionBwdPre<T, D, Bi>;
  using Cvt = rotor::cuda::AttentionBwdConvert<T, D>;
  launch<Pre>(dim3(gridFor<Pre>(B * Hq * Sq)), p);
  launch<K>(dim3((unsigned)((Sk + K::kTile - 1) / K::kTile), (unsigned)Hkv, (unsigned)B), p);
  launch<Cvt>(dim3(gridFor<Cvt>(nQ)), p);
  CHECK_CUDA(cudaDeviceSynchronize());

  std::string name = label + " " + typeName<T>() + " D=" + std::to_string(D) + " B=" +
                     std::to_string(B) + " Hq/Hkv=" + std::to_string(Hq) + "/" +
                     std::to_string(Hkv) + " Sq=" + std::to_string(Sq) +
                     " Sk=" + std::to_string(Sk);
  const double tol = bwdTol<T>();
  bool ok = reportRelMax(name + " dq", gq.download(), wdq, tol);
  ok &= reportRelMax(name + " dk", gk.download(), wdk, tol);
  ok &= reportRelMax(name + " dv", gv.download(), wdv, tol);
  if (Bi::kEnabled)
    ok &= reportRelMax(name + " dbias", gbias.download(), wdb, tol);
  return ok;
}

} // namespace check

#endif // ROTOR_CUDA_KERNEL_CHECK_ATTENTION_BWD_H
