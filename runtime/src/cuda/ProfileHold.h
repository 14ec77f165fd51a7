//===- ProfileHold.h - ROTOR_CUDA_PROFILE's hold kernel ---------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The PTX of the kernel that CudaBackend launches ahead of a profiled call
// (docs/cuda-backend.md, "Profiling"). A header of its own so that
// test/Target/CUDA/profile-hold-ptx.test can assemble it without a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_CUDA_PROFILEHOLD_H
#define ROTOR_SRC_CUDA_PROFILEHOLD_H

namespace rotor::cuda {

/// ROTOR_CUDA_PROFILE's hold kernel: one thread spins until %globaltimer
/// has advanced by `ns` nanoseconds. Launched ahead of the first event of a
/// call, it keeps the stream busy while the host queues the call's steps, so
/// that the events time the device's work back to back (as a benchmark loop
/// with a full queue sees it), not the host's allocation and launch latency.
inline constexpr char profileHoldPtx[] = R"(.version 7.0
.target sm_52
.address_size 64
.visible .entry rotor_profile_hold(.param .u64 ns)
{
  .reg .pred %p;
  .reg .b64 %rd<5>;
  ld.param.u64 %rd1, [ns];
  mov.u64 %rd2, %globaltimer;
$spin:
  mov.u64 %rd3, %globaltimer;
  sub.s64 %rd4, %rd3, %rd2;
  setp.lt.s64 %p, %rd4, %rd1;
  @%p bra $spin;
  ret;
}
)";

} // namespace rotor::cuda

#endif // ROTOR_SRC_CUDA_PROFILEHOLD_H
