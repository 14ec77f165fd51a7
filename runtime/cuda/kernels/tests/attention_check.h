//===- attention_check.h - One attention case against f64 loops ---*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_KERNEL_CHECK_ATTENTION_H
#define ROTOR_CUDA_KERNEL_CHECK_ATTENTION_H

#include "check_common.h"

#include <algorithm>

namespace check {

struct AttnShape {
  ll B, Hq, Hkv, Sq, Sk;
  float softcap = 0.f;     // used when the kernel has kSoftcap
  ll posOffset = 0;        // rope positions: offset + index
  /// A static cache (query_start): k and v have capacity Sk, of which the
  /// first clamp(start + Sq, 0, Sk) rows exist; the rest hold NaN, so that a
  /// kernel reading one fails the comparison.
  bool staticCache = false;
  ll start = 0;
  bool startIsI64 = true;
  /// > 0: key row j is scaled by 1 + keyGrowth·j/Sk, so that the scores of
  /// later key tiles outgrow the running max by many powers of two (the
  /// lazy rescaling must then raise it).
  float keyGrowth = 0.f;
};

/// Runs kernel K (an AttentionFwd or AttentionSimple instantiation) on random
/// inputs of shape `s` and compares output and LSE with plain f64 loops.
template <typename K, typename T, int D, typename M, typename Bi, bool kSoftcap, bool kLse,
          typename R>
bool attentionCase(const std::string &label, const AttnShape &s) {
  using PosT = typename R::PosT;
  const ll B = s.B, Hq = s.Hq, Hkv = s.Hkv, Sq = s.Sq, Sk = s.Sk;
  std::vector<T> q = randnVec<T>(B * Hq * Sq * D), k = randnVec<T>(B * Hkv * Sk * D),
                 v = randnVec<T>(B * Hkv * Sk * D);
  if (s.keyGrowth > 0.f)
    for (ll bh = 0; bh < B * Hkv; ++bh)
      for (ll j = 0; j < Sk; ++j)
        for (int d = 0; d < D; ++d) {
          T &x = k[(bh * Sk + j) * D + d];
          x = fromD<T>(toD(x) * (1.0 + s.keyGrowth * (double)j / (double)Sk));
        }
  // The keys that exist (all of them without a static cache), written
  // independently of AttentionParams::keyCount.
  const ll nKeys = s.staticCache ? std::max(0LL, std::min(s.start + Sq, Sk)) : Sk;
  for (ll bh = 0; bh < B * Hkv; ++bh)
    for (ll j = nKeys; j < Sk; ++j)
      for (int d = 0; d < D; ++d) {
        k[(bh * Sk + j) * D + d] = fromD<T>(NAN);
        v[(bh * Sk + j) * D + d] = fromD<T>(NAN);
      }
  std::vector<float> bias;
  if (Bi::kEnabled)
    bias = randnVec<float>(Hq * Bi::kNumBuckets);
  // Rope positions (offset + index, queries aligned to the end of the keys;
  // batched positions get a different offset per batch row).
  ll nb = R::kBatchedPos ? B : 1;
  std::vector<PosT> qpos(nb * Sq), kpos(nb * Sk);
  for (ll b = 0; b < nb; ++b) {
    for (ll i = 0; i < Sq; ++i)
      qpos[b * Sq + i] = (PosT)(s.posOffset + 7 * b + i + Sk - Sq);
    for (ll j = 0; j < Sk; ++j)
      kpos[b * Sk + j] = (PosT)(s.posOffset + 7 * b + j);
  }
  std::vector<double> freq;
  if (R::kEnabled)
    freq = ropeFreqRef(R::kRotaryDim, 10000.0, RopeScalingRT{}, 0);
  else
    freq = {1.0};

  DevBuf<T> dq(q), dk(k), dv(v), dout(B * Hq * Sq * D);
  DevBuf<float> dlse(B * Hq * Sq), dbias(bias.empty() ? std::vector<float>{0.f} : bias);
  DevBuf<PosT> dqpos(qpos), dkpos(kpos);
  DevBuf<double> dfreq(freq);
  DevBuf<long long> dstart64(std::vector<long long>{s.start});
  DevBuf<int> dstart32(std::vector<int>{(int)s.start});
  // Table mode: the cos/sin tables come from the RopeCosSin kernel.
  constexpr int kTabR = R::kEnabled ? R::kRotaryDim : 2;
  DevBuf<float> dqcs(R::kTable ? qpos.size() * kTabR : 1), dkcs(R::kTable ? kpos.size() * kTabR : 1);
  if constexpr (R::kTable) {
    using KT = rotor::cuda::RopeCosSin<PosT, kTabR>;
    typename KT::Params tq{dqpos.ptr, dfreq.ptr, dqcs.ptr, (ll)qpos.size()};
    launch<KT>(dim3(gridFor<KT>((ll)qpos.size() * kTabR / 2)), tq);
    typename KT::Params tk{dkpos.ptr, dfreq.ptr, dkcs.ptr, (ll)kpos.size()};
    launch<KT>(dim3(gridFor<KT>((ll)kpos.size() * kTabR / 2)), tk);
  }
  typename K::Params p;
  p.q = dq.ptr;
  p.k = dk.ptr;
  p.v = dv.ptr;
  p.out = dout.ptr;
  p.lse = dlse.ptr;
  p.bias = dbias.ptr;
  p.q_pos = dqpos.ptr;
  p.k_pos = dkpos.ptr;
  p.inv_freq = dfreq.ptr;
  p.q_cs = dqcs.ptr;
  p.k_cs = dkcs.ptr;
  p.batch = B;
  p.hq = Hq;
  p.hkv = Hkv;
  p.sq = Sq;
  p.sk = Sk;
  if (s.staticCache) {
    p.query_start = s.startIsI64 ? (const void *)dstart64.ptr : (const void *)dstart32.ptr;
    p.query_start_is_i64 = s.startIsI64;
  }
  const double scale = 1.0 / std::sqrt((double)D);
  p.scale = (float)scale;
  p.softcap = s.softcap;
  launch<K>(dim3((unsigned)((Sq + K::kTile - 1) / K::kTile), (unsigned)Hq, (unsigned)B), p);
  CHECK_CUDA(cudaDeviceSynchronize());

  // Reference.
  const MaskRT m = maskOf<M>();
  std::vector<double> qd(q.size()), kd(k.size()), vd(v.size());
  for (size_t i = 0; i < q.size(); ++i)
    qd[i] = toD(q[i]);
  for (size_t i = 0; i < k.size(); ++i) {
    kd[i] = toD(k[i]);
    vd[i] = toD(v[i]);
  }
  if (R::kEnabled) {
    for (ll b = 0; b < B; ++b) {
      ll pb = R::kBatchedPos ? b : 0;
      for (ll h = 0; h < Hq; ++h)
        for (ll i = 0; i < Sq; ++i)
          ropeRowRef<T>(&qd[((b * Hq + h) * Sq + i) * D], R::kRotaryDim, R::kInterleaved, freq,
                        (ll)qpos[pb * Sq + i]);
      for (ll h = 0; h < Hkv; ++h)
        for (ll j = 0; j < Sk; ++j)
          ropeRowRef<T>(&kd[((b * Hkv + h) * Sk + j) * D], R::kRotaryDim, R::kInterleaved, freq,
                        (ll)kpos[pb * Sk + j]);
    }
  }
  std::vector<double> want(B * Hq * Sq * D), wantLse(B * Hq * Sq);
  std::vector<double> sc(Sk);
  std::vector<char> vis(Sk);
  for (ll b = 0; b < B; ++b)
    for (ll h = 0; h < Hq; ++h) {
      ll hk = h / (Hq / Hkv);
      for (ll i = 0; i < Sq; ++i) {
        ll pq = i + nKeys - Sq;
        const double *qr = &qd[((b * Hq + h) * Sq + i) * D];
        double mx = -INFINITY;
        for (ll j = 0; j < nKeys; ++j) {
          vis[j] = m.visible(pq, j);
          if (!vis[j])
            continue;
          const double *kr = &kd[((b * Hkv + hk) * Sk + j) * D];
          double dot = 0;
          for (int d = 0; d < D; ++d)
            dot += qr[d] * kr[d];
          double x = scale * dot;
          if (kSoftcap)
            x = s.softcap * std::tanh(x / s.softcap);
          if (Bi::kEnabled)
            x += bias[h * Bi::kNumBuckets +
                      t5Bucket(j - pq, !M::kCausal, Bi::kNumBuckets, Bi::kMaxDistance)];
          sc[j] = x;
          mx = std::max(mx, x);
        }
        double den = 0;
        double *o = &want[((b * Hq + h) * Sq + i) * D];
        std::fill(o, o + D, 0.0);
        for (ll j = 0; j < nKeys; ++j) {
          if (!vis[j])
            continue;
          double e = std::exp(sc[j] - mx);
          den += e;
          const double *vr = &vd[((b * Hkv + hk) * Sk + j) * D];
          for (int d = 0; d < D; ++d)
            o[d] += e * vr[d];
        }
        if (den > 0)
          for (int d = 0; d < D; ++d)
            o[d] /= den;
        wantLse[(b * Hq + h) * Sq + i] = den > 0 ? mx + std::log(den) : -INFINITY;
      }
    }
  std::string name = label + " " + typeName<T>() + " D=" + std::to_string(D) + " B=" +
                     std::to_string(B) + " Hq/Hkv=" + std::to_string(Hq) + "/" +
                     std::to_string(Hkv) + " Sq=" + std::to_string(Sq) +
                     " Sk=" + std::to_string(Sk) +
                     (s.staticCache ? " query_start=" + std::to_string(s.start) : "");
  bool ok = report(name + " out", dout.download(), want, tolOf<T>());
  if (kLse)
    ok &= report(name + " lse", dlse.download(), wantLse,
                 rotor::cuda::IsHalfLike<T>::value ? 2e-3 : 1e-4);
  return ok;
}

} // namespace check

#endif // ROTOR_CUDA_KERNEL_CHECK_ATTENTION_H
