// RUN: rotorc %s -emit=cuda 2>&1 | FileCheck %s
// RUN: rotorc %s -emit=cuda -o %t.cu && FileCheck %s --check-prefix=FILE < %t.cu

// The CUDA target: each op becomes a wrapper instantiating a device-library
// template with the op's static parameters; the plan's symbols keep the
// sequence length dynamic.

// CHECK: #include "rotor/cuda/kernels.cuh"
// CHECK: // rotor::cuda::AttentionFwd<__nv_bfloat16, 128, rotor::cuda::Mask<true, 1023, -1, 1, 0, 0>, rotor::cuda::NoBias, false, false>
// CHECK: extern "C" __global__ void __launch_bounds__(rotor_k0_t::kThreads, rotor_k0_t::kMinBlocksPerSM)
// CHECK-NEXT: rotor_k0(const __grid_constant__ rotor::cuda::LaunchArgs a) {
// CHECK: p.q = (const __nv_bfloat16 *)a.ptr[0];
// CHECK: p.out = (__nv_bfloat16 *)a.ptr[3];
// CHECK: p.sq = a.dim[3];
// CHECK: p.scale = 8.83883476483184{{[0-9]*}}e-02f;
// CHECK: extern "C" __constant__ int rotor_k0_cfg[4]
// Decoding (one static query row) takes the CUDA-core kernel; the one query
// sits at the last key, so rotor-specialize-masks dropped `causal`.
// CHECK: // rotor::cuda::AttentionSimple<__nv_bfloat16, 128, rotor::cuda::Mask<false, -1, -1, 2, 0, 64>
// CHECK: // rotor::cuda::RopeInvFreq<64, rotor::cuda::RopeScaling::llama3, long long, void>
// CHECK: p.original_max_position = 8192LL;
// CHECK: // rotor::cuda::Rope<float, long long, 128, 64, false, false>
// CHECK: // rotor::cuda::Givens<float, float, 8, rotor::cuda::GivensPairs<0, 5, 2, 7>>
// CHECK: // rotor::cuda::RmsNorm<float, float>
// CHECK: p.eps = 1.00000000000000008e-05;
// rotor-fuse-linear turned swiglu(linear, linear) into fused_gate_up: two
// cuBLAS products and the Swiglu kernel.
// CHECK: // rotor::cuda::Swiglu<float>
// CHECK: rotor_k6_cfg
// CHECK-NOT: __global__
// CHECK: /* plan.json
// CHECK-DAG: "format": "rotor-cuda-plan"
// CHECK-DAG: "name": "rotor_entry_window"
// CHECK-DAG: "op": "gemm"
// CHECK-DAG: "trans_b": true
// CHECK-DAG: "op": "launch"
// CHECK-DAG: "op": "free"

// FILE: rotor_entry_swiglu

func.func @window(%q: tensor<2x32x?x128xbf16>, %k: tensor<2x8x?x128xbf16>, %v: tensor<2x8x?x128xbf16>) -> tensor<2x32x?x128xbf16> {
  %o = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true, window_left = 1023>}
      : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
  return %o : tensor<2x32x?x128xbf16>
}

func.func @decode(%q: tensor<?x8x1x128xbf16>, %k: tensor<?x2x?x128xbf16>, %v: tensor<?x2x?x128xbf16>) -> tensor<?x8x1x128xbf16> {
  %o = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true, dilation = 2, global = 64>}
      : tensor<?x8x1x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16>
  return %o : tensor<?x8x1x128xbf16>
}

func.func @rope(%x: tensor<1x4x?x128xf32>, %p: tensor<?xi64>) -> tensor<1x4x?x128xf32> {
  %y = rotor.rope %x, %p {base = 500000.0 : f64, rotary_dim = 64 : i64,
      scaling = #rotor.rope_scaling<kind = llama3, factor = 8.0, original_max_position = 8192>}
      : tensor<1x4x?x128xf32>, tensor<?xi64>
  return %y : tensor<1x4x?x128xf32>
}

func.func @givens(%x: tensor<?x8xf32>, %a: tensor<2xf32>) -> tensor<?x8xf32> {
  %y = rotor.givens %x, %a pairs [(0, 5), (2, 7)] : tensor<?x8xf32>, tensor<2xf32>
  return %y : tensor<?x8xf32>
}

func.func @swiglu(%x: tensor<2x?x64xf32>, %w: tensor<64xf32>, %wg: tensor<96x64xf32>, %wu: tensor<96x64xf32>) -> tensor<2x?x96xf32> {
  %n = rotor.rms_norm %x, %w {epsilon = 1.0e-5 : f64} : tensor<2x?x64xf32>, tensor<64xf32>
  %g = rotor.linear %n, %wg : tensor<2x?x64xf32>, tensor<96x64xf32>
  %u = rotor.linear %n, %wu : tensor<2x?x64xf32>, tensor<96x64xf32>
  %s = rotor.swiglu %g, %u : tensor<2x?x96xf32>
  return %s : tensor<2x?x96xf32>
}
