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
// fp16, A from shared memory (SS) or registers (RS), and the fences. sm_90a
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
__device__ __forceinline__ unsigned long long desc128B(unsigned smemByteAddr, unsigned lbo,
                                                       unsigned sbo) {
  return (unsigned long long)((smemByteAddr & 0x3FFFF) >> 4) |
         ((unsigned long long)((lbo & 0x3FFFF) >> 4) << 16) |
         ((unsigned long long)((sbo & 0x3FFFF) >> 4) << 32) | (1ull << 62);
}

/// d (+)= A(smem, K-major) * B(smem, K-major); scaleD = 0 overwrites d.
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
  __device__ __forceinline__ static void run(float *d, unsigned long long descA,
                                             unsigned long long descB, int scaleD) {{
    asm volatile("{{\\n.reg .pred p;\\nsetp.ne.b32 p, %{nreg+2}, 0;\\n"
                 "wgmma.mma_async.sync.aligned.m64n{N}k16.f32.{ptx}.{ptx} "
                 "{{{regs}}}, %{nreg}, %{nreg+1}, p, 1, 1, 0, 0;\\n}}\\n"
                 : {cons}
                 : "l"(descA), "l"(descB), "r"(scaleD));
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
open(sys.argv[1], "w").write("\n".join(out))
