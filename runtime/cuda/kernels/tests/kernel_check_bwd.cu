//===- kernel_check_bwd.cu - The attention backward alone ---------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// A small executable for the attention backward kernels, which builds in a
// fraction of kernel_check's time (two translation units):
//
//   kernel_check_bwd           the backward checks of kernel_check (`--only
//                              bwd`: AttentionBwdSimple, AttentionBwdMma and
//                              AttentionBwdWgmma against f64 loops)
//   kernel_check_bwd --bench   the backward's main kernel alone on the anchor
//                              shape (B=2, Hq=32, Hkv=8, S=8192, D=128 bf16):
//                              AttentionBwdWgmma next to AttentionBwdMma in the
//                              same run, ms and TFLOP/s (10·D FLOPs per visible
//                              pair), and the largest difference between the
//                              two kernels' dK and dQ (relative to the largest
//                              element), so a fast wrong kernel shows.
//
// Exit status: the number of failed checks (0: all passed), or 1 when the
// two kernels disagree by more than 2e-2 in the benchmark.
//
//===----------------------------------------------------------------------===//

#include "check_common.h"
#include "timing.h"

#include <cmath>
#include <cstdio>
#include <cstring>

using namespace rotor::cuda;

namespace check {
int runAttentionBwdChecks();

namespace {

using bf16 = __nv_bfloat16;
constexpr ll kB = 2, kHq = 32, kHkv = 8, kS = 8192;
constexpr int kD = 128;

__global__ void fillConst(float *p, ll n, float v) {
  for (ll i = blockIdx.x * (ll)blockDim.x + threadIdx.x; i < n; i += (ll)gridDim.x * blockDim.x)
    p[i] = v;
}

/// Inputs of the backward on the anchor shape. lse and delta are constants
/// (no forward run): the timing and the two kernels' agreement do not need
/// the forward's values.
struct BwdTensors {
  DevBuf<bf16> q{(size_t)(kB * kHq * kS * kD)}, k{(size_t)(kB * kHkv * kS * kD)},
      v{(size_t)(kB * kHkv * kS * kD)}, o{(size_t)(kB * kHq * kS * kD)},
      dout{(size_t)(kB * kHq * kS * kD)}, dq{(size_t)(kB * kHq * kS * kD)},
      dk{(size_t)(kB * kHkv * kS * kD)}, dv{(size_t)(kB * kHkv * kS * kD)};
  DevBuf<float> lse{(size_t)(kB * kHq * kS)}, delta{(size_t)(kB * kHq * kS)},
      acc{(size_t)(kB * kHq * kS * kD)};
  BwdTensors() {
    fillRandom<<<1024, 256>>>(q.ptr, q.n, 1);
    fillRandom<<<1024, 256>>>(k.ptr, k.n, 2);
    fillRandom<<<1024, 256>>>(v.ptr, v.n, 3);
    fillRandom<<<1024, 256>>>(dout.ptr, dout.n, 4);
    fillConst<<<1024, 256>>>(lse.ptr, lse.n, 4.f);
    fillConst<<<1024, 256>>>(delta.ptr, delta.n, 0.1f);
  }
  AttentionBwdParams<bf16> params() const {
    AttentionBwdParams<bf16> p;
    p.q = q.ptr;
    p.k = k.ptr;
    p.v = v.ptr;
    p.o = o.ptr;
    p.lse = lse.ptr;
    p.dout = dout.ptr;
    p.dq = dq.ptr;
    p.dk = dk.ptr;
    p.dv = dv.ptr;
    p.dq_acc = acc.ptr;
    p.delta = delta.ptr;
    p.batch = kB;
    p.hq = kHq;
    p.hkv = kHkv;
    p.sq = kS;
    p.sk = kS;
    p.scale = (float)(1.0 / std::sqrt((double)kD));
    return p;
  }
};

/// Median time of kernel K, then one run from a zeroed dq_acc whose dK and
/// dq_acc are returned.
template <typename K>
float timeAndRun(BwdTensors &t, std::vector<bf16> &dk, std::vector<float> &dq) {
  const auto p = t.params();
  dim3 grid((unsigned)((kS + K::kTile - 1) / K::kTile), (unsigned)kHkv, (unsigned)kB);
  float ms = medianMs([&] { launch<K>(grid, p); }, 3, 15); // dq_acc grows: timing only
  fillConst<<<1024, 256>>>(t.acc.ptr, t.acc.n, 0.f);
  launch<K>(grid, p);
  CHECK_CUDA(cudaDeviceSynchronize());
  dk = t.dk.download();
  dq = t.acc.download();
  return ms;
}

template <typename G> double relDiff(const std::vector<G> &a, const std::vector<G> &b) {
  double err = 0, top = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double x = toD(a[i]), y = toD(b[i]);
    err = std::max(err, std::fabs(x - y));
    top = std::max(top, std::fabs(y));
  }
  return top > 0 ? err / top : err;
}

/// Visible (query, key) pairs of a causal mask with window w (0: none),
/// dilation d, chunk c (0: none) and g global keys; queries and keys aligned.
double pairsOf(ll w, ll d, ll c, ll g) {
  double n = 0;
  for (ll i = 0; i < kS; ++i)
    for (ll j = c ? i / c * c : 0; j <= i; ++j) {
      ll r = i - j;
      bool vis = (!w || (r % d == 0 && r < w * d)) || j < g;
      n += vis;
    }
  return n;
}

template <typename M> bool benchRow(BwdTensors &t, const char *name, double pairs) {
  std::vector<bf16> dkW, dkM;
  std::vector<float> dqW, dqM;
  float w = timeAndRun<AttentionBwdWgmma<bf16, kD, M>>(t, dkW, dqW);
  float m = timeAndRun<AttentionBwdMma<bf16, kD, M>>(t, dkM, dqM);
  double flop = 10.0 * kB * kHq * kD * pairs;
  double eK = relDiff(dkW, dkM), eQ = relDiff(dqW, dqM);
  bool ok = eK <= 2e-2 && eQ <= 2e-2;
  std::printf("%-32s wgmma %7.3f ms %6.1f TFLOP/s | mma.sync %7.3f ms %6.1f TFLOP/s | %.2fx | "
              "dK diff %.1e dQ diff %.1e %s\n",
              name, w, flop / (w * 1e-3) / 1e12, m, flop / (m * 1e-3) / 1e12, m / w, eK, eQ,
              ok ? "ok" : "DIFFER");
  return ok;
}

int runMainKernelBench() {
  BwdTensors t;
  std::printf("attention backward, main kernel, B=%lld Hq=%lld Hkv=%lld S=%lld D=%d bf16, median "
              "of 15; FLOPs 10·D per visible pair\n",
              kB, kHq, kHkv, kS, kD);
  bool ok = true;
  ok &= benchRow<Mask<true, -1, -1, 1, 0, 0>>(t, "causal", pairsOf(0, 1, 0, 0));
  ok &= benchRow<Mask<true, 1023, -1, 1, 0, 0>>(t, "sliding window 1024", pairsOf(1024, 1, 0, 0));
  ok &= benchRow<Mask<true, 1023, -1, 2, 0, 0>>(t, "dilated window 1024 d=2",
                                                pairsOf(1024, 2, 0, 0));
  ok &= benchRow<Mask<true, -1, -1, 1, 1024, 0>>(t, "chunked 1024", pairsOf(0, 1, 1024, 0));
  ok &= benchRow<Mask<true, 1023, -1, 1, 0, 64>>(t, "hybrid window 1024 + 64 global",
                                                 pairsOf(1024, 1, 0, 64));
  return ok ? 0 : 1;
}

} // namespace
} // namespace check

int main(int argc, char **argv) {
  if (argc > 1 && std::strcmp(argv[1], "--bench") == 0)
    return check::runMainKernelBench();
  if (argc > 1) {
    std::fprintf(stderr, "usage: kernel_check_bwd [--bench]\n");
    return 2;
  }
  int fails = check::runAttentionBwdChecks();
  std::printf("kernel_check_bwd: %d passed, %d failed\n", check::tally().pass,
              check::tally().fail);
  return fails;
}
