//===- compile_check.cu - Every kernel template, as rotorc wraps it -*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Device code only, in the shape of a generated kernels.cu: one
// `extern "C" __global__` wrapper per kernel taking LaunchArgs, and its
// `rotor_kN_cfg` constants. ctest compiles it for sm_90a with nvcc and with
// NVRTC (tests/nvrtc_check.cpp), so codegen breakage shows without a GPU.
// The instantiation set is kept small (CI compiles it twice on 2 cores).
//
//===----------------------------------------------------------------------===//

#include "rotor/cuda/kernels.cuh"

namespace rc = rotor::cuda;

#define ROTOR_CFG(N, K)                                                                    \
  extern "C" __constant__ int rotor_##N##_cfg[4] = {K::kThreads, K::kSmemBytes, K::kTile,     \
                                                    K::kMinBlocksPerSM};

// Attention: ptr = q, k, v, out, lse, bias, q_pos, k_pos, inv_freq;
// q_cs, k_cs; dim = batch, hq, hkv, sq, sk; f = scale, softcap.
#define ROTOR_ATTENTION(N, ...)                                                            \
  using N##_K = __VA_ARGS__;                                                                \
  extern "C" __global__ void __launch_bounds__(N##_K::kThreads, N##_K::kMinBlocksPerSM)     \
      N(const __grid_constant__ rc::LaunchArgs a) {                                         \
    N##_K::Params p;                                                                        \
    p.q = (decltype(p.q))a.ptr[0];                                                          \
    p.k = (decltype(p.k))a.ptr[1];                                                          \
    p.v = (decltype(p.v))a.ptr[2];                                                          \
    p.out = (decltype(p.out))a.ptr[3];                                                      \
    p.lse = (float *)a.ptr[4];                                                              \
    p.bias = (const float *)a.ptr[5];                                                       \
    p.q_pos = (decltype(p.q_pos))a.ptr[6];                                                  \
    p.k_pos = (decltype(p.k_pos))a.ptr[7];                                                  \
    p.inv_freq = (const double *)a.ptr[8];                                                  \
    p.q_cs = (const float *)a.ptr[9];                                                       \
    p.k_cs = (const float *)a.ptr[10];                                                      \
    p.batch = a.dim[0];                                                                     \
    p.hq = a.dim[1];                                                                        \
    p.hkv = a.dim[2];                                                                       \
    p.sq = a.dim[3];                                                                        \
    p.sk = a.dim[4];                                                                        \
    p.scale = a.f[0];                                                                       \
    p.softcap = a.f[1];                                                                     \
    N##_K::run(p);                                                                          \
  }                                                                                         \
  ROTOR_CFG(N, N##_K)

ROTOR_ATTENTION(rotor_k0, rc::AttentionFwd<__nv_bfloat16, 128, rc::Mask<true, -1, -1, 1, 0, 0>>)
ROTOR_ATTENTION(rotor_k1,
                rc::AttentionFwd<__half, 80, rc::NoMask, rc::T5Bias<32, 128>, true, true,
                                 rc::RopeQK<64, true, long long, true>>)
ROTOR_ATTENTION(rotor_k2, rc::AttentionFwd<__nv_bfloat16, 96,
                                           rc::Mask<true, 1023, -1, 2, 0, 64>, rc::NoBias,
                                           false, true>)
ROTOR_ATTENTION(rotor_k3, rc::AttentionFwd<__nv_bfloat16, 64,
                                           rc::Mask<false, 127, 127, 1, 256, 0>>)
ROTOR_ATTENTION(rotor_k22, rc::AttentionFwdWgmma<__nv_bfloat16, 128,
                                                 rc::Mask<true, 1023, -1, 1, 0, 0>, rc::NoBias,
                                                 false, false,
                                                 rc::RopeQK<128, false, int, false, true>, 1,
                                                 64, 2, true>)
ROTOR_ATTENTION(rotor_k4,
                rc::AttentionSimple<float, 128, rc::Mask<true, 511, -1, 1, 0, 4>,
                                    rc::T5Bias<32, 128>, true, true,
                                    rc::RopeQK<128, false, int, false>>)

using k5_K = rc::RopeInvFreq<128, rc::RopeScaling::yarn>;
extern "C" __global__ void __launch_bounds__(k5_K::kThreads)
    rotor_k5(const __grid_constant__ rc::LaunchArgs a) {
  k5_K::Params p;
  p.inv_freq = (double *)a.ptr[0];
  p.base = 10000.0;
  p.factor = 4.0;
  p.original_max_position = 4096;
  k5_K::run(p);
}
ROTOR_CFG(rotor_k5, k5_K)

using k6_K = rc::RopeInvFreq<64, rc::RopeScaling::dynamic_ntk, long long, __nv_bfloat16>;
extern "C" __global__ void __launch_bounds__(k6_K::kThreads)
    rotor_k6(const __grid_constant__ rc::LaunchArgs a) {
  k6_K::Params p;
  p.inv_freq = (double *)a.ptr[0];
  p.learned_base = (const __nv_bfloat16 *)a.ptr[1];
  p.positions = (const long long *)a.ptr[2];
  p.num_positions = a.dim[0];
  p.factor = 2.0;
  p.original_max_position = 2048;
  k6_K::run(p);
}
ROTOR_CFG(rotor_k6, k6_K)

using k7_K = rc::Rope<__nv_bfloat16, long long, 128, 64, false, true>;
extern "C" __global__ void __launch_bounds__(k7_K::kThreads)
    rotor_k7(const __grid_constant__ rc::LaunchArgs a) {
  k7_K::Params p{(const __nv_bfloat16 *)a.ptr[0], (__nv_bfloat16 *)a.ptr[1],
                 (const long long *)a.ptr[2], (const double *)a.ptr[3], a.dim[0], a.dim[1],
                 a.dim[2]};
  k7_K::run(p);
}
ROTOR_CFG(rotor_k7, k7_K)

using k8_K = rc::Givens<__nv_bfloat16, float, 128, rc::GivensPairs<0, 1, 2, 5, 127, 3>>;
extern "C" __global__ void __launch_bounds__(k8_K::kThreads)
    rotor_k8(const __grid_constant__ rc::LaunchArgs a) {
  k8_K::Params p{(const __nv_bfloat16 *)a.ptr[0], (__nv_bfloat16 *)a.ptr[1],
                 (const float *)a.ptr[2], a.dim[0]};
  k8_K::run(p);
}
ROTOR_CFG(rotor_k8, k8_K)

// Row kernels and elementwise kernels: one wrapper each.
#define ROTOR_SIMPLE(N, INIT, ...)                                                         \
  using N##_K = __VA_ARGS__;                                                                \
  extern "C" __global__ void __launch_bounds__(N##_K::kThreads)                             \
      N(const __grid_constant__ rc::LaunchArgs a) {                                         \
    N##_K::Params p INIT;                                                                   \
    N##_K::run(p);                                                                          \
  }                                                                                         \
  ROTOR_CFG(N, N##_K)

#define P(i, T) (T) a.ptr[i]
ROTOR_SIMPLE(rotor_k9, ({P(0, const __nv_bfloat16 *), P(1, const float *), P(2, __nv_bfloat16 *),
                        a.dim[0], a.dim[1], 1e-6}),
             rc::RmsNorm<__nv_bfloat16, float>)
ROTOR_SIMPLE(rotor_k10, ({P(0, const float *), P(1, const float *), P(2, const float *),
                         P(3, float *), a.dim[0], a.dim[1], 1e-5}),
             rc::LayerNorm<float, float, true>)
ROTOR_SIMPLE(rotor_k11, ({P(0, const __half *), P(1, __half *), a.dim[0], a.dim[1], 1e-12}),
             rc::L2Normalize<__half>)
ROTOR_SIMPLE(rotor_k12, ({P(0, const float *), P(1, float *), a.dim[0], a.dim[1]}),
             rc::Softmax<float>)
ROTOR_SIMPLE(rotor_k13, ({P(0, const long long *), P(1, const __nv_bfloat16 *),
                         P(2, __nv_bfloat16 *), a.dim[0], a.dim[1], a.dim[2], P(3, int *)}),
             rc::Embedding<long long, __nv_bfloat16>)
ROTOR_SIMPLE(rotor_k14, ({P(0, const float *), P(1, const float *), P(2, const float *),
                         P(3, float *), a.dim[0], a.dim[1], a.dim[2], a.dim[3], a.dim[4]}),
             rc::Conv1d<float, float, 4, true, true>)
ROTOR_SIMPLE(rotor_k15, ({P(0, const long long *), P(1, const float *), P(2, float *), a.dim[0],
                         a.dim[1]}),
             rc::SinusoidalEmbedding<long long, float>)
ROTOR_SIMPLE(rotor_k16, ({P(0, const __nv_bfloat16 *), P(1, const long long *), P(2, float *),
                         a.dim[0], a.dim[1], -100, P(3, int *)}),
             rc::CrossEntropyRows<__nv_bfloat16, long long>)
ROTOR_SIMPLE(rotor_k50, ({P(0, const __nv_bfloat16 *), P(1, __nv_bfloat16 *),
                         P(2, const long long *), a.dim[0], a.dim[1], a.dim[2], a.dim[3]}),
             rc::CacheWrite<__nv_bfloat16, long long>)
ROTOR_SIMPLE(rotor_k17, ({P(0, const float *), P(1, const long long *), a.dim[0], -100,
                         P(2, float *)}),
             rc::CrossEntropyMean<long long, float>)
ROTOR_SIMPLE(rotor_k18, ({P(0, const __nv_bfloat16 *), P(1, __nv_bfloat16 *), a.dim[0],
                         a.dim[1], a.dim[2], a.dim[3]}),
             rc::SplitHeads<__nv_bfloat16>)
ROTOR_SIMPLE(rotor_k19, ({P(0, const __nv_bfloat16 *), P(1, __nv_bfloat16 *), a.dim[0],
                         a.dim[1], a.dim[2], a.dim[3]}),
             rc::MergeHeads<__nv_bfloat16>)
ROTOR_SIMPLE(rotor_k20, ({P(0, const __half *), P(1, const __half *), P(2, __half *), a.dim[0]}),
             rc::Swiglu<__half>)
ROTOR_SIMPLE(rotor_k21, ({P(0, const __nv_bfloat16 *), P(1, const float *),
                         P(2, const __nv_bfloat16 *), P(3, __nv_bfloat16 *), a.dim[0],
                         a.dim[1]}),
             rc::Epilogue<__nv_bfloat16, float, rc::Act::gelu_tanh, true, true>)
ROTOR_SIMPLE(rotor_k23, ({P(0, const int *), P(1, const double *), P(2, float *), a.dim[0]}),
             rc::RopeCosSin<int, 128>)
// Backward kernels (grads.cuh).
ROTOR_SIMPLE(rotor_k40, ({P(0, const long long *), a.dim[0], -100, P(1, float *)}),
             rc::CountLabels<long long>)
ROTOR_SIMPLE(rotor_k41, ({P(0, const __nv_bfloat16 *), P(1, const long long *),
                         P(2, const float *), P(3, const float *), P(4, __nv_bfloat16 *),
                         a.dim[0], a.dim[1], -100, P(5, int *)}),
             rc::CrossEntropyGrad<__nv_bfloat16, long long, float>)
ROTOR_SIMPLE(rotor_k42, ({P(0, const __nv_bfloat16 *), P(1, const float *),
                         P(2, const __nv_bfloat16 *), P(3, __nv_bfloat16 *), P(4, float *),
                         a.dim[0], a.dim[1], 1e-5}),
             rc::RmsNormGrad<__nv_bfloat16, float>)
ROTOR_SIMPLE(rotor_k43, ({P(0, const __nv_bfloat16 *), P(1, const __nv_bfloat16 *),
                         P(2, const float *), P(3, float *), a.dim[0], a.dim[1]}),
             rc::RmsNormWeightGrad<__nv_bfloat16, float>)
ROTOR_SIMPLE(rotor_k44, ({P(0, const int *), P(1, const __half *), P(2, float *), a.dim[0],
                         a.dim[1], a.dim[2]}),
             rc::EmbeddingGrad<int, __half>)
ROTOR_SIMPLE(rotor_k45, ({P(0, const float *), P(1, __nv_bfloat16 *), a.dim[0]}),
             rc::Convert<float, __nv_bfloat16>)
ROTOR_SIMPLE(rotor_k46, ({P(0, const float *), P(1, float *), a.dim[0], a.dim[1]}),
             rc::Transpose2D<float>)
ROTOR_SIMPLE(rotor_k49, ({P(0, const __nv_bfloat16 *), P(1, const float *), P(2, float *),
                         a.dim[0], a.dim[1]}),
             rc::ColumnSum<__nv_bfloat16, float>)
ROTOR_SIMPLE(rotor_k47, ({P(0, const __nv_bfloat16 *), P(1, const __nv_bfloat16 *),
                         P(2, __nv_bfloat16 *), P(3, const float *), P(4, float *), a.dim[0]}),
             rc::GivensGrad<__nv_bfloat16, float, 128, rc::GivensPairs<0, 1, 1, 127, 0, 1>>)
ROTOR_SIMPLE(rotor_k48, ({P(0, const float *), P(1, float *), a.dim[0], a.dim[1]}),
             rc::GivensGradReduce<float>)
ROTOR_SIMPLE(rotor_k51, ({P(0, const __nv_bfloat16 *), P(1, const __nv_bfloat16 *),
                         P(2, const long long *), P(3, const double *), P(4, const float *),
                         P(5, float *), a.dim[0], a.dim[1], a.dim[2]}),
             rc::RopeBaseGrad<__nv_bfloat16, long long, float, 128, 64, true, false>)
#undef P

// Attention backward (pre, main, convert share AttentionBwdParams): ptr = q,
// k, v, o, lse, dout, dq, dk, dv, dq_acc, delta, bias, dbias; dim = batch,
// hq, hkv, sq, sk; f = scale, softcap.
template <typename P>
__device__ __forceinline__ void attentionBwdParams(P &p, const rc::LaunchArgs &a) {
  p.q = (decltype(p.q))a.ptr[0];
  p.k = (decltype(p.k))a.ptr[1];
  p.v = (decltype(p.v))a.ptr[2];
  p.o = (decltype(p.o))a.ptr[3];
  p.lse = (const float *)a.ptr[4];
  p.dout = (decltype(p.dout))a.ptr[5];
  p.dq = (decltype(p.dq))a.ptr[6];
  p.dk = (decltype(p.dk))a.ptr[7];
  p.dv = (decltype(p.dv))a.ptr[8];
  p.dq_acc = (float *)a.ptr[9];
  p.delta = (float *)a.ptr[10];
  p.bias = (const float *)a.ptr[11];
  p.dbias = (float *)a.ptr[12];
  p.batch = a.dim[0];
  p.hq = a.dim[1];
  p.hkv = a.dim[2];
  p.sq = a.dim[3];
  p.sk = a.dim[4];
  p.scale = a.f[0];
  p.softcap = a.f[1];
}
#define ROTOR_ATTENTION_BWD(N, ...)                                                        \
  using N##_K = __VA_ARGS__;                                                                \
  extern "C" __global__ void __launch_bounds__(N##_K::kThreads, N##_K::kMinBlocksPerSM)     \
      N(const __grid_constant__ rc::LaunchArgs a) {                                         \
    N##_K::Params p;                                                                        \
    attentionBwdParams(p, a);                                                               \
    N##_K::run(p);                                                                          \
  }                                                                                         \
  ROTOR_CFG(N, N##_K)

ROTOR_ATTENTION_BWD(rotor_k24, rc::AttentionBwdPre<float, 64, rc::T5Bias<32, 128>>)
ROTOR_ATTENTION_BWD(rotor_k25, rc::AttentionBwdSimple<float, 64, rc::Mask<true, 50, -1, 2, 0, 4>,
                                                      rc::T5Bias<32, 128>, true>)
ROTOR_ATTENTION_BWD(rotor_k26, rc::AttentionBwdConvert<__nv_bfloat16, 128>)
ROTOR_ATTENTION_BWD(rotor_k27, rc::AttentionBwdSimple<__half, 200, rc::NoMask>)
ROTOR_ATTENTION_BWD(rotor_k28,
                    rc::AttentionBwd<__nv_bfloat16, 128, rc::Mask<true, -1, -1, 1, 0, 0>>)
ROTOR_ATTENTION_BWD(rotor_k29, rc::AttentionBwd<__half, 80, rc::NoMask, rc::T5Bias<32, 128>, true>)
ROTOR_ATTENTION_BWD(rotor_k30, rc::AttentionBwd<__nv_bfloat16, 96,
                                                rc::Mask<true, 1023, -1, 2, 0, 0>>)
ROTOR_ATTENTION_BWD(rotor_k31, rc::AttentionBwd<__nv_bfloat16, 64,
                                                rc::Mask<false, 127, 127, 1, 256, 0>>)
ROTOR_ATTENTION_BWD(rotor_k32,
                    rc::AttentionBwdMma<__nv_bfloat16, 128, rc::Mask<true, -1, -1, 1, 0, 0>>)
ROTOR_ATTENTION_BWD(rotor_k33, rc::AttentionBwdWgmma<__half, 64, rc::Mask<true, 100, -1, 3, 0, 0>,
                                                     rc::T5Bias<32, 128>, true>)
ROTOR_ATTENTION_BWD(rotor_k34,
                    rc::AttentionBwdWgmma<__nv_bfloat16, 128, rc::Mask<true, -1, -1, 1, 0, 0>>)
ROTOR_ATTENTION_BWD(rotor_k35, rc::AttentionBwdWgmma<__nv_bfloat16, 128,
                                                     rc::Mask<true, 1023, -1, 2, 0, 0>>)
