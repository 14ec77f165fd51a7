//===- kernels.cuh - Entry header of Rotor's CUDA kernel library --*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The one header that generated kernels.cu files include. The contract (the
// template parameters, Params fields, grid rules and exported constants of
// every kernel) is runtime/cuda/kernels/README.md.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_KERNELS_CUH
#define ROTOR_CUDA_KERNELS_CUH

#include "rotor/cuda/common.cuh"
#include "rotor/cuda/ptx.cuh"
#include "rotor/cuda/wgmma.cuh"
#include "rotor/cuda/mask.cuh"
#include "rotor/cuda/attention.cuh"
#include "rotor/cuda/attention_bwd.cuh"
#include "rotor/cuda/rope.cuh"
#include "rotor/cuda/norms.cuh"
#include "rotor/cuda/layers.cuh"
#include "rotor/cuda/grads.cuh"
#include "rotor/cuda/optim.cuh"

#endif // ROTOR_CUDA_KERNELS_CUH
