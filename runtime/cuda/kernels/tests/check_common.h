//===- check_common.h - Host helpers of kernel_check --------------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Device buffers, random inputs, dtype conversion on the host, the launch
// helper, result comparison and reporting, and the plain f64 reference
// pieces shared by the attention and the other checks. The references are
// written from the op descriptions (RotorOps.td, RotorBase.td, rotor_ref.py)
// and call no kernel code.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_KERNEL_CHECK_COMMON_H
#define ROTOR_CUDA_KERNEL_CHECK_COMMON_H

#include "rotor/cuda/kernels.cuh"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#define CHECK_CUDA(expr)                                                                   \
  do {                                                                                     \
    cudaError_t err_ = (expr);                                                             \
    if (err_ != cudaSuccess) {                                                             \
      std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorName(err_),         \
                   __FILE__, __LINE__, cudaGetErrorString(err_));                          \
      std::exit(2);                                                                        \
    }                                                                                      \
  } while (0)

namespace check {

using ll = long long;

// ---- dtype conversion on the host ----
inline double toD(float x) { return x; }
inline double toD(double x) { return x; }
inline double toD(__half x) { return (double)__half2float(x); }
inline double toD(__nv_bfloat16 x) { return (double)__bfloat162float(x); }
template <typename T> T fromD(double x);
template <> inline float fromD<float>(double x) { return (float)x; }
template <> inline double fromD<double>(double x) { return x; }
template <> inline __half fromD<__half>(double x) { return __float2half_rn((float)x); }
template <> inline __nv_bfloat16 fromD<__nv_bfloat16>(double x) {
  return __float2bfloat16_rn((float)x);
}
/// x rounded to T and back.
template <typename T> double roundT(double x) { return toD(fromD<T>(x)); }

template <typename T> const char *typeName();
template <> inline const char *typeName<float>() { return "f32"; }
template <> inline const char *typeName<__half>() { return "f16"; }
template <> inline const char *typeName<__nv_bfloat16>() { return "bf16"; }

/// Absolute tolerance of results computed in fp32 and rounded to T, for
/// values of magnitude about 1-4.
template <typename T> double tolOf();
template <> inline double tolOf<float>() { return 1e-4; }
template <> inline double tolOf<__half>() { return 5e-3; }
template <> inline double tolOf<__nv_bfloat16>() { return 3e-2; }

// ---- random inputs ----
inline std::mt19937_64 &rng() {
  static std::mt19937_64 g(20261122);
  return g;
}
template <typename T> std::vector<T> randomVec(size_t n, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> v(n);
  for (auto &x : v)
    x = fromD<T>(d(rng()));
  return v;
}
template <typename T> std::vector<T> randnVec(size_t n, double sigma = 1.0) {
  std::normal_distribution<double> d(0.0, sigma);
  std::vector<T> v(n);
  for (auto &x : v)
    x = fromD<T>(d(rng()));
  return v;
}
inline ll randInt(ll lo, ll hi) { // [lo, hi]
  std::uniform_int_distribution<ll> d(lo, hi);
  return d(rng());
}

// ---- device buffers ----
template <typename T> struct DevBuf {
  T *ptr = nullptr;
  size_t n = 0;
  DevBuf() = default;
  explicit DevBuf(size_t count) : n(count) {
    CHECK_CUDA(cudaMalloc(&ptr, (n ? n : 1) * sizeof(T)));
    poison();
  }
  explicit DevBuf(const std::vector<T> &h) : DevBuf(h.size()) { upload(h); }
  DevBuf(const DevBuf &) = delete;
  DevBuf &operator=(const DevBuf &) = delete;
  ~DevBuf() {
    if (ptr)
      cudaFree(ptr);
  }
  void upload(const std::vector<T> &h) {
    CHECK_CUDA(cudaMemcpy(ptr, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  /// Fills with all-ones bytes: NaN for every float type, so that any element
  /// a kernel fails to write is caught.
  void poison() { CHECK_CUDA(cudaMemset(ptr, 0xff, (n ? n : 1) * sizeof(T))); }
  std::vector<T> download() const {
    std::vector<T> h(n);
    CHECK_CUDA(cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};

// ---- launching ----
template <typename K>
__global__ void __launch_bounds__(K::kThreads, K::kMinBlocksPerSM)
    entry(const __grid_constant__ typename K::Params p) {
  K::run(p);
}

template <typename K> void launch(dim3 grid, const typename K::Params &p, cudaStream_t s = 0) {
  static bool attrSet = false;
  if (K::kSmemBytes > 48 * 1024 && !attrSet) {
    CHECK_CUDA(cudaFuncSetAttribute(entry<K>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    K::kSmemBytes));
    attrSet = true;
  }
  if (grid.x == 0 || grid.y == 0 || grid.z == 0)
    return;
  entry<K><<<grid, K::kThreads, K::kSmemBytes, s>>>(p);
  CHECK_CUDA(cudaGetLastError());
}

/// grid.x for a grid-stride kernel with `units` work units.
template <typename K> unsigned gridFor(ll units) {
  ll g = (units + K::kTile - 1) / K::kTile;
  if (g < 1)
    g = 1;
  if (g > 65535 * 8)
    g = 65535 * 8;
  return (unsigned)g;
}

// ---- reporting ----
struct Tally {
  int pass = 0, fail = 0;
};
inline Tally &tally() {
  static Tally t;
  return t;
}

/// Compares got with want elementwise: |got - want| <= atol + rtol |want|;
/// -inf must match -inf, NaN in `want` must be NaN in got; NaN in got fails
/// otherwise. Prints one PASS/FAIL line; returns the verdict.
template <typename G>
bool report(const std::string &name, const std::vector<G> &got, const std::vector<double> &want,
            double atol, double rtol = 0.0) {
  double maxErr = 0.0;
  size_t bad = 0, firstBad = (size_t)-1;
  if (got.size() != want.size()) {
    std::printf("FAIL %-58s size %zu != %zu\n", name.c_str(), got.size(), want.size());
    ++tally().fail;
    return false;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    double g = toD(got[i]), w = want[i];
    bool ok;
    if (std::isnan(w))
      ok = std::isnan(g);
    else if (std::isinf(w))
      ok = g == w;
    else {
      double e = std::fabs(g - w);
      ok = e <= atol + rtol * std::fabs(w); // false for NaN
      if (std::isfinite(e) && e > maxErr)
        maxErr = e;
    }
    if (!ok) {
      if (!bad)
        firstBad = i;
      ++bad;
    }
  }
  if (bad) {
    std::printf("FAIL %-58s %zu/%zu bad, first at %zu: got %.6g want %.6g (atol %.1e)\n",
                name.c_str(), bad, got.size(), firstBad, toD(got[firstBad]), want[firstBad],
                atol);
    ++tally().fail;
    return false;
  }
  std::printf("PASS %-58s max err %.2e (atol %.1e rtol %.1e)\n", name.c_str(), maxErr, atol,
              rtol);
  ++tally().pass;
  return true;
}

inline void reportBool(const std::string &name, bool ok, const char *what) {
  std::printf("%s %-58s %s\n", ok ? "PASS" : "FAIL", name.c_str(), what);
  ++(ok ? tally().pass : tally().fail);
}

// ---- f64 references shared by several checks ----

/// The #rotor.mask rule (RotorBase.td), with -1 = unbounded window and
/// 0 = no chunk.
struct MaskRT {
  bool causal = false;
  ll wl = -1, wr = -1, dil = 1, chunk = 0, global = 0;
  bool visible(ll p, ll j) const {
    if (causal && j > p)
      return false;
    if (j < global || (p >= 0 && p < global))
      return true;
    ll d = p - j;
    if (d % dil != 0)
      return false;
    ll steps = d / dil; // exact
    if (wl >= 0 && steps > wl)
      return false;
    if (wr >= 0 && -steps > wr)
      return false;
    if (chunk > 0 && (ll)std::floor((double)p / chunk) != (ll)std::floor((double)j / chunk))
      return false;
    return true;
  }
};
template <typename M> MaskRT maskOf() {
  MaskRT m;
  m.causal = M::kCausal;
  m.wl = M::kWindowLeft;
  m.wr = M::kWindowRight;
  m.dil = M::kDilation;
  m.chunk = M::kChunk;
  m.global = M::kGlobal;
  return m;
}

/// T5 relative position bucket of rel = key - query (rotor_ref).
inline int t5Bucket(ll rel, bool bidirectional, int numBuckets, int maxDistance) {
  int ret = 0;
  ll n;
  if (bidirectional) {
    numBuckets /= 2;
    if (rel > 0)
      ret += numBuckets;
    n = std::llabs(rel);
  } else {
    n = rel < 0 ? -rel : 0;
  }
  int maxExact = numBuckets / 2;
  if (n < maxExact)
    return ret + (int)n;
  ll large = maxExact + (ll)std::trunc(std::log((double)n / maxExact) /
                                       std::log((double)maxDistance / maxExact) *
                                       (numBuckets - maxExact));
  if (large > numBuckets - 1)
    large = numBuckets - 1;
  return ret + (int)large;
}

struct RopeScalingRT {
  int kind = 0; // rotor::cuda::RopeScaling values
  double factor = 1, betaFast = 32, betaSlow = 1, lowFreq = 1, highFreq = 4, attnFactor = 0;
  ll original = 0;
};

/// rotor_ref.rope_frequencies: inv_freq (R/2) followed by the attention
/// factor.
inline std::vector<double> ropeFreqRef(int R, double base, const RopeScalingRT &s, ll seqLen) {
  const double pi = 3.141592653589793;
  int half = R / 2;
  if (s.kind == 2 && seqLen > s.original)
    base = base * std::pow(s.factor * seqLen / (double)s.original - (s.factor - 1.0),
                           (double)R / (R - 2));
  std::vector<double> f(half + 1);
  for (int i = 0; i < half; ++i)
    f[i] = std::pow(base, -((2.0 * i) / R));
  double attn = 1.0;
  if (s.kind == 1) {
    for (int i = 0; i < half; ++i)
      f[i] /= s.factor;
  } else if (s.kind == 3) {
    auto corr = [&](double n) {
      return R * std::log(s.original / (n * 2 * pi)) / (2 * std::log(base));
    };
    double low = std::max(std::floor(corr(s.betaFast)), 0.0);
    double high = std::min(std::ceil(corr(s.betaSlow)), (double)R - 1);
    if (low == high)
      high += 0.001;
    for (int i = 0; i < half; ++i) {
      double ramp = std::min(std::max((i - low) / (high - low), 0.0), 1.0);
      double extra = 1.0 - ramp;
      f[i] = f[i] / s.factor * (1.0 - extra) + f[i] * extra;
    }
    attn = s.attnFactor != 0.0 ? s.attnFactor
                               : (s.factor <= 1.0 ? 1.0 : 0.1 * std::log(s.factor) + 1.0);
  } else if (s.kind == 4) {
    double loW = s.original / s.lowFreq, hiW = s.original / s.highFreq;
    for (int i = 0; i < half; ++i) {
      double wl = 2 * pi / f[i];
      double smooth = (s.original / wl - s.lowFreq) / (s.highFreq - s.lowFreq);
      if (wl > loW)
        f[i] = f[i] / s.factor;
      else if (wl < hiW)
        f[i] = f[i];
      else
        f[i] = (1.0 - smooth) * f[i] / s.factor + smooth * f[i];
    }
  }
  f[half] = attn;
  return f;
}

/// Rotates one row of D doubles in place (rotor_ref.rope), rounding the
/// rotated features to T.
template <typename T>
void ropeRowRef(double *x, int R, bool interleaved, const std::vector<double> &freq, ll pos) {
  int half = R / 2;
  double a = freq[half];
  for (int i = 0; i < half; ++i) {
    int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
    double t = (double)pos * freq[i];
    double c = std::cos(t) * a, s = std::sin(t) * a;
    double u = x[ia], w = x[ib];
    x[ia] = roundT<T>(u * c - w * s);
    x[ib] = roundT<T>(w * c + u * s);
  }
}

int runAttentionChecks();       // attention_checks.cu
int runAttentionSimpleChecks(); // attention_simple_checks.cu
int runUnpipelinedChecks();     // attention_unpipelined_checks.cu
int runOneWarpGroupChecks();    // attention_onewg_checks.cu
int runWarpSpecializedChecks(); // attention_ws_checks.cu
int runTweakChecks();           // attention_tweak_checks.cu
int runAttentionBwdChecks();    // attention_bwd_checks.cu
int runOtherChecks();           // kernel_check.cu
int runBench();                 // bench.cu
int runBwdBench();              // bench.cu
/// --rows: the benchmark rows to run (names holding one of the
/// comma-separated substrings; empty: all), e.g. to profile one row.
void setBenchRows(const std::string &rows); // bench.cu

} // namespace check

#endif // ROTOR_CUDA_KERNEL_CHECK_COMMON_H
