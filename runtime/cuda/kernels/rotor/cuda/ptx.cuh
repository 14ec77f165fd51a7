//===- ptx.cuh - Inline PTX for async copies and tensor-core MMA --*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// cp.async (16-byte, zero-filling), ldmatrix and mma.sync m16n8k16 wrappers
// written as inline PTX so that no <cuda_pipeline.h> / <mma.h> is needed
// (NVRTC-friendly). sm_80+.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_PTX_CUH
#define ROTOR_CUDA_PTX_CUH

#include "rotor/cuda/common.cuh"

namespace rotor {
namespace cuda {

/// The dynamic shared memory of the block (128-byte aligned).
__device__ __forceinline__ unsigned char *dynamicSmem() {
  extern __shared__ __align__(128) unsigned char rotorDynamicSmem[];
  return rotorDynamicSmem;
}

__device__ __forceinline__ unsigned smemAddr(const void *p) {
  return (unsigned)__cvta_generic_to_shared(p);
}

/// 16-byte global -> shared copy; with `valid` false the destination is
/// zero-filled and nothing is read (src must still be a mapped address).
__device__ __forceinline__ void cpAsync16(unsigned dst, const void *src, bool valid) {
  int size = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(size)
               : "memory");
}
/// 4-byte global -> shared copy (cp.async.ca); zero-filled when !valid.
__device__ __forceinline__ void cpAsync4(unsigned dst, const void *src, bool valid) {
  int size = valid ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(size)
               : "memory");
}
/// Atomic add of two consecutive floats at an 8-byte aligned global address
/// (one vector reduction on sm_90+).
__device__ __forceinline__ void atomicAddF32x2(float *p, float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("red.global.add.v2.f32 [%0], {%1, %2};\n" ::"l"(p), "f"(a), "f"(b) : "memory");
#else
  atomicAdd(p, a);
  atomicAdd(p + 1, b);
#endif
}
__device__ __forceinline__ void cpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int kPending> __device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

__device__ __forceinline__ void ldmatrixX4(unsigned addr, unsigned &r0, unsigned &r1,
                                           unsigned &r2, unsigned &r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrixX4Trans(unsigned addr, unsigned &r0, unsigned &r1,
                                                unsigned &r2, unsigned &r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}

/// d += a · b for one m16n8k16 tile, fp32 accumulators, T = __half or
/// __nv_bfloat16.
template <typename T>
__device__ __forceinline__ void mma16816(float *d, const unsigned *a, unsigned b0,
                                         unsigned b1) {
  if constexpr (IsSame<T, __nv_bfloat16>::value) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

/// mbarrier (shared::cta): init with an arrival count, arrive, and wait for
/// the completion of the phase of parity `parity`.
__device__ __forceinline__ void mbarInit(unsigned addr, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(addr), "r"(count) : "memory");
}
__device__ __forceinline__ void mbarArrive(unsigned addr) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(addr) : "memory");
}
/// An arrival on `addr` when every cp.async this thread issued so far has
/// landed (counts as one of the expected arrivals).
__device__ __forceinline__ void cpAsyncMbarArrive(unsigned addr) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(addr) : "memory");
}
__device__ __forceinline__ void mbarWait(unsigned addr, unsigned parity) {
  unsigned done;
  do {
    asm volatile("{\n.reg .pred p;\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                 "selp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done)
                 : "r"(addr), "r"(parity)
                 : "memory");
  } while (!done);
}
/// Barrier `id` (1..15; 0 is __syncthreads) over `count` threads.
__device__ __forceinline__ void namedBarrier(int id, int count) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}

/// 2^x (ex2.approx, flushes denormals; 2^-inf = 0).
__device__ __forceinline__ float exp2Fast(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

} // namespace cuda
} // namespace rotor

#endif // ROTOR_CUDA_PTX_CUH
