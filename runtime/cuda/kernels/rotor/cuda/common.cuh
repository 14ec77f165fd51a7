//===- common.cuh - Shared pieces of Rotor's CUDA kernels ---------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The launch argument block, dtype helpers (load/store/convert with fp32
// math inside), tiny traits, warp/block reductions, an accurate sincos of
// f64 angles, and the enums shared with the rotor dialect. Device code only:
// compiles under nvcc and NVRTC without any host standard-library header.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_COMMON_CUH
#define ROTOR_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace rotor {
namespace cuda {

/// The single by-value kernel parameter of every generated wrapper.
struct LaunchArgs {
  void *ptr[16];
  long long dim[24];
  float f[8];
};

/// Rope scaling kinds; values equal rotor::RopeScalingKind.
enum class RopeScaling : int { none = 0, linear = 1, dynamic_ntk = 2, yarn = 3, llama3 = 4 };

/// Epilogue activations; values equal rotor::Activation.
enum class Act : int { none = 0, relu = 1, silu = 2, gelu = 3, gelu_tanh = 4 };

//===----------------------------------------------------------------------===//
// Traits
//===----------------------------------------------------------------------===//

template <typename A, typename B> struct IsSame { static constexpr bool value = false; };
template <typename A> struct IsSame<A, A> { static constexpr bool value = true; };

template <bool C, typename A, typename B> struct Cond { using type = A; };
template <typename A, typename B> struct Cond<false, A, B> { using type = B; };

template <typename T> struct IsHalfLike {
  static constexpr bool value =
      IsSame<T, __half>::value || IsSame<T, __nv_bfloat16>::value;
};

__host__ __device__ constexpr long long ceilDiv(long long a, long long b) {
  return (a + b - 1) / b;
}
__host__ __device__ constexpr int cmax(int a, int b) { return a > b ? a : b; }
__host__ __device__ constexpr int cmin(int a, int b) { return a < b ? a : b; }

/// Floor division (toward negative infinity) for a positive divisor, in the
/// integer type of the dividend.
template <typename I> __host__ __device__ __forceinline__ I floorDiv(I a, I b) {
  I q = a / b;
  return q - ((a % b != 0) && (a < 0));
}

//===----------------------------------------------------------------------===//
// Conversions
//===----------------------------------------------------------------------===//

__device__ __forceinline__ float toF32(float x) { return x; }
__device__ __forceinline__ float toF32(double x) { return (float)x; }
__device__ __forceinline__ float toF32(__half x) { return __half2float(x); }
__device__ __forceinline__ float toF32(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float toF32(int x) { return (float)x; }
__device__ __forceinline__ float toF32(long long x) { return (float)x; }

__device__ __forceinline__ double toF64(float x) { return x; }
__device__ __forceinline__ double toF64(double x) { return x; }
__device__ __forceinline__ double toF64(__half x) { return __half2float(x); }
__device__ __forceinline__ double toF64(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ double toF64(int x) { return x; }
__device__ __forceinline__ double toF64(long long x) { return (double)x; }

template <typename T> __device__ __forceinline__ T fromF32(float x);
template <> __device__ __forceinline__ float fromF32<float>(float x) { return x; }
template <> __device__ __forceinline__ double fromF32<double>(float x) { return x; }
template <> __device__ __forceinline__ __half fromF32<__half>(float x) {
  return __float2half_rn(x);
}
template <> __device__ __forceinline__ __nv_bfloat16 fromF32<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

template <typename T> __device__ __forceinline__ float load(const T *p) { return toF32(*p); }
template <typename T> __device__ __forceinline__ void store(T *p, float v) { *p = fromF32<T>(v); }

/// Two fp32 values packed into one 32-bit register of T (half-like T).
template <typename T> __device__ __forceinline__ unsigned pack2(float a, float b);
template <> __device__ __forceinline__ unsigned pack2<__half>(float a, float b) {
  __half2 h = __floats2half2_rn(a, b);
  return *reinterpret_cast<unsigned *>(&h);
}
template <> __device__ __forceinline__ unsigned pack2<__nv_bfloat16>(float a, float b) {
  __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
  return *reinterpret_cast<unsigned *>(&h);
}

//===----------------------------------------------------------------------===//
// Math
//===----------------------------------------------------------------------===//

__device__ __forceinline__ float negInf() { return __int_as_float(0xff800000); }
__device__ __forceinline__ double negInfF64() { return __longlong_as_double(0xfff0000000000000ULL); }

/// An f64 angle reduced modulo 2*pi in f64 (|result| <= pi), so that angles
/// of positions up to ~10^9 keep ~1e-7 absolute accuracy in fp32.
__device__ __forceinline__ float reduceAngle(double t) {
  const double kTwoPiHi = 6.283185307179586;      // fl64(2 pi)
  const double kTwoPiLo = 2.4492935982947064e-16; // 2 pi - fl64(2 pi)
  const double kInvTwoPi = 0.15915494309189535;
  double k = rint(t * kInvTwoPi);
  double r = fma(-k, kTwoPiHi, t);
  return (float)fma(-k, kTwoPiLo, r);
}

/// sin/cos of an f64 angle: reduced in f64, then an accurate fp32 sincosf.
__device__ __forceinline__ void sincosAccurate(double t, float *s, float *c) {
  sincosf(reduceAngle(t), s, c);
}

/// As sincosAccurate, but the reduced angle goes through the SFU (__sincosf:
/// absolute error about 1e-6, ample for results rounded to 16-bit types).
__device__ __forceinline__ void sincosReducedFast(double t, float *s, float *c) {
  __sincosf(reduceAngle(t), s, c);
}

template <Act kAct> __device__ __forceinline__ float activate(float x) {
  if constexpr (kAct == Act::relu) {
    return x > 0.f ? x : 0.f;
  } else if constexpr (kAct == Act::silu) {
    return x / (1.f + expf(-x));
  } else if constexpr (kAct == Act::gelu) {
    return 0.5f * x * (1.f + erff(x * 0.7071067811865476f));
  } else if constexpr (kAct == Act::gelu_tanh) {
    float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.f + tanhf(u));
  } else {
    return x;
  }
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

struct SumOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
  __device__ __forceinline__ double operator()(double a, double b) const { return a + b; }
};
struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
  __device__ __forceinline__ double operator()(double a, double b) const { return fmax(a, b); }
};

template <typename V, typename Op>
__device__ __forceinline__ V warpReduce(V v, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// Reduction over a 1-D block of kThreads threads (a multiple of 32); every
/// thread gets the result. `scratch` holds at least 32 V; the block must be
/// converged. Ends with a barrier, so scratch can be reused at once.
template <int kThreads, typename V, typename Op>
__device__ __forceinline__ V blockReduce(V v, Op op, V *scratch) {
  static_assert(kThreads % 32 == 0 && kThreads <= 1024, "block size");
  constexpr int kWarps = kThreads / 32;
  v = warpReduce(v, op);
  if constexpr (kWarps == 1) {
    return v;
  } else {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0)
      scratch[warp] = v;
    __syncthreads();
    V r = scratch[0];
#pragma unroll
    for (int w = 1; w < kWarps; ++w)
      r = op(r, scratch[w]);
    __syncthreads();
    return r;
  }
}

/// The first block-wide grid-stride index and the stride.
__device__ __forceinline__ long long gridStart() { return blockIdx.x; }
__device__ __forceinline__ long long gridStride() { return gridDim.x; }

} // namespace cuda
} // namespace rotor

#endif // ROTOR_CUDA_COMMON_CUH
