//===- timing.h - Random fill and event timing for the benchmarks -*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Shared by bench.cu (kernel_check --bench) and kernel_check_bwd.cu: a
// counter-based random fill of bf16 tensors, and the median of cudaEvent
// timings with a spin kernel queued ahead of each timed launch.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_KERNEL_TESTS_TIMING_H
#define ROTOR_CUDA_KERNEL_TESTS_TIMING_H

#include "check_common.h"

#include <algorithm>
#include <vector>

namespace check {
namespace {

__global__ void fillRandom(__nv_bfloat16 *x, ll n, unsigned long long seed) {
  for (ll i = blockIdx.x * (ll)blockDim.x + threadIdx.x; i < n; i += (ll)gridDim.x * blockDim.x) {
    unsigned long long z = (unsigned long long)i * 0x9E3779B97F4A7C15ull + seed;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    float u = (float)(z >> 40) * (1.0f / 16777216.0f); // [0, 1)
    x[i] = __float2bfloat16_rn(2.f * u - 1.f);
  }
}

/// One thread spinning for `ns` nanoseconds: queued ahead of a timed
/// launch, it keeps the GPU busy while the host issues that launch, so that
/// the events time the kernel and not the launch latency of an idle GPU.
__global__ void holdGpu(long long ns) {
  long long t0, t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  do
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  while (t - t0 < ns);
}

template <typename F> float medianMs(F &&launchOnce, int warmup = 5, int reps = 30) {
  for (int i = 0; i < warmup; ++i)
    launchOnce();
  CHECK_CUDA(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    holdGpu<<<1, 1>>>(200000);
    CHECK_CUDA(cudaEventRecord(a));
    launchOnce();
    CHECK_CUDA(cudaEventRecord(b));
    CHECK_CUDA(cudaEventSynchronize(b));
    float t;
    CHECK_CUDA(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  CHECK_CUDA(cudaEventDestroy(a));
  CHECK_CUDA(cudaEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

} // namespace
} // namespace check

#endif // ROTOR_CUDA_KERNEL_TESTS_TIMING_H
