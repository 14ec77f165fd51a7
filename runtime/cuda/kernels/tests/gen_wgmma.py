# Generates runtime/cuda/kernels/rotor/cuda/wgmma.cuh (inline PTX wrappers).
Ns = [64, 128]
types = [("__nv_bfloat16", "bf16"), ("__half", "f16")]
out = []
out.append('''//===- wgmma.cuh - Inline PTX for Hopper warpgroup MMA ------------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// wgmma.mma_async m64nNk16 (N = 64, 128) with fp32 accumulators for bf16 and
// fp16, A from shared memory (SS, either operand K- or MN-major) or
// registers (RS), and the fences. sm_90a
// only. The accumulator d[4 * i + e] holds, for the calling thread (warp w of
// the warpgroup, lane l), row 16 w + l / 4 + 8 (e / 2) and column
// 8 i + 2 (l % 4) + e % 2: per 8-column tile, the mma.m16n8 C layout.
// The wrappers are written out (not generated at build time) because NVRTC
// has no preprocessor loops; tests/gen_wgmma.py regenerates this file.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_WGMMA_CUH
#define ROTOR_CUDA_WGMMA_CUH

#include "rotor/cuda/common.cuh"

namespace rotor {
namespace cuda {
namespace wgmma {

__device__ __forceinline__ void fence() {
  asm volatile("wgmma.fence.sync.aligned;\\n" ::: "memory");
}
__device__ __forceinline__ void commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\\n" ::: "memory");
}
template <int kPending> __device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\\n" ::"n"(kPending) : "memory");
}
/// Orders generic-proxy shared-memory writes (st.shared, cp.async) before
/// async-proxy reads (wgmma operands).
__device__ __forceinline__ void fenceProxyAsync() {
  asm volatile("fence.proxy.async.shared::cta;\\n" ::: "memory");
}

/// Shared-memory matrix descriptor: 128-byte swizzle.
__host__ __device__ __forceinline__ unsigned long long desc128B(unsigned smemByteAddr, unsigned lbo,
                                                       unsigned sbo) {
  return (unsigned long long)((smemByteAddr & 0x3FFFF) >> 4) |
         ((unsigned long long)((lbo & 0x3FFFF) >> 4) << 16) |
         ((unsigned long long)((sbo & 0x3FFFF) >> 4) << 32) | (1ull << 62);
}

/// The descriptor `desc` (desc128B) moved `bytes` further. The start address
/// field is the low 14 bits and shared memory ends below 256 KiB, so the sum
/// never carries out of the low word: one 32-bit add (the high word, fixed
/// by the strides, is reused) instead of rebuilding every field.
/// (On the host, for tests/copy_plan_check.cu, the same words joined in C++.)
__host__ __device__ __forceinline__ unsigned long long descAdd(unsigned long long desc,
                                                               unsigned bytes) {
  const unsigned lo = (unsigned)desc + (bytes >> 4), hi = (unsigned)(desc >> 32);
#ifdef __CUDA_ARCH__
  unsigned long long r;
  asm("mov.b64 %0, {%1, %2};" : "=l"(r) : "r"(lo), "r"(hi));
  return r;
#else
  return (unsigned long long)hi << 32 | lo;
#endif
}

/// d (+)= A(smem) * B(smem); scaleD = 0 overwrites d. Both operands are
/// K-major by default; run<1, 0> takes A M-major, run<0, 1> B N-major
/// (the instruction's transpose bits, 16-bit types only).
template <typename T, int N> struct SS;
/// d (+)= A(registers) * B(smem, N-major, i.e. transposed); scaleD = 0 overwrites d.
template <typename T, int N> struct RS;
''')
for ctype, ptx in types:
    for N in Ns:
        nreg = N // 2
        regs = ", ".join(f"%{i}" for i in range(nreg))
        cons = ", ".join(f'"+f"(d[{i}])' for i in range(nreg))
        # SS
        out.append(f'''template <> struct SS<{ctype}, {N}> {{
  template <int kTransA = 0, int kTransB = 0>
  __device__ __forceinline__ static void run(float *d, unsigned long long descA,
                                             unsigned long long descB, int scaleD) {{
    asm volatile("{{\\n.reg .pred p;\\nsetp.ne.b32 p, %{nreg+2}, 0;\\n"
                 "wgmma.mma_async.sync.aligned.m64n{N}k16.f32.{ptx}.{ptx} "
                 "{{{regs}}}, %{nreg}, %{nreg+1}, p, 1, 1, %{nreg+3}, %{nreg+4};\\n}}\\n"
                 : {cons}
                 : "l"(descA), "l"(descB), "r"(scaleD), "n"(kTransA), "n"(kTransB));
  }}
}};
''')
        out.append(f'''template <> struct RS<{ctype}, {N}> {{
  __device__ __forceinline__ static void run(float *d, const unsigned *a,
                                             unsigned long long descB, int scaleD) {{
    asm volatile("{{\\n.reg .pred p;\\nsetp.ne.b32 p, %{nreg+5}, 0;\\n"
                 "wgmma.mma_async.sync.aligned.m64n{N}k16.f32.{ptx}.{ptx} "
                 "{{{regs}}}, {{%{nreg}, %{nreg+1}, %{nreg+2}, %{nreg+3}}}, %{nreg+4}, p, 1, 1, 1;\\n}}\\n"
                 : {cons}
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(descB), "r"(scaleD));
  }}
}};
''')
out.append('''} // namespace wgmma
} // namespace cuda
} // namespace rotor

#endif // ROTOR_CUDA_WGMMA_CUH
''')
import sys
if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
    sys.exit("usage: gen_wgmma.py OUT (writes the wgmma.cuh wrappers to OUT)")
open(sys.argv[1], "w").write("\n".join(out))
