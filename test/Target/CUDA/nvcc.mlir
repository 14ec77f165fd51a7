// REQUIRES: nvcc
// RUN: rm -rf %t.rotor
// RUN: rotorc %s --target=cuda --cuda-compile=nvcc -q -o %t.rotor
// RUN: FileCheck %s --check-prefix=PLAN < %t.rotor/plan.json
// RUN: FileCheck %s --check-prefix=MANIFEST < %t.rotor/manifest.json
// RUN: test -s %t.rotor/kernels.cubin
// RUN: test -f %t.rotor/include/rotor/cuda/kernels.cuh

// CI has the CUDA toolkit but no GPU: the generated kernels of every kind
// are compiled for sm_90a by nvcc, so that code generation breakage is caught
// without a GPU.

// PLAN-DAG: "cubin": "kernels.cubin"
// PLAN-DAG: "cubin_arch": "sm_90a"
// MANIFEST: "library": "plan.json"
// MANIFEST: "target": "cuda"

func.func @attention(%q: tensor<1x8x?x64xbf16>, %k: tensor<1x2x?x64xbf16>, %v: tensor<1x2x?x64xbf16>, %t: tensor<8x16xbf16>) -> (tensor<1x8x?x64xbf16>, tensor<1x8x?xf32>) {
  %o, %l = rotor.attention %q, %k, %v bias(%t : tensor<8x16xbf16>) return_lse
      {mask = #rotor.mask<causal = true, window_left = 100, chunk = 64, global = 4>, softcap = 30.0 : f64}
      : tensor<1x8x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>
  return %o, %l : tensor<1x8x?x64xbf16>, tensor<1x8x?xf32>
}

func.func @attention_f16_d96(%q: tensor<1x6x?x96xf16>, %k: tensor<1x3x?x96xf16>, %v: tensor<1x3x?x96xf16>) -> tensor<1x6x?x96xf16> {
  %o = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true, window_left = 15, dilation = 3>}
      : tensor<1x6x?x96xf16>, tensor<1x3x?x96xf16>, tensor<1x3x?x96xf16>
  return %o : tensor<1x6x?x96xf16>
}

func.func @attention_f32(%q: tensor<1x4x?x80xf32>, %k: tensor<1x4x?x80xf32>, %v: tensor<1x4x?x80xf32>) -> tensor<1x4x?x80xf32> {
  %o = rotor.attention %q, %k, %v : tensor<1x4x?x80xf32>, tensor<1x4x?x80xf32>, tensor<1x4x?x80xf32>
  return %o : tensor<1x4x?x80xf32>
}

func.func @layers(%ids: tensor<2x?xi32>, %tab: tensor<50x64xbf16>, %w: tensor<64xbf16>, %b: tensor<64xbf16>,
                  %cw: tensor<64x1x4xbf16>, %lw: tensor<32x64xbf16>, %a: tensor<3xbf16>, %p: tensor<?xi32>,
                  %base: tensor<bf16>) -> (tensor<2x?x32xbf16>, tensor<2x4x?x16xbf16>) {
  %e = rotor.embedding %ids, %tab : tensor<2x?xi32>, tensor<50x64xbf16>
  %n = rotor.layer_norm %e, %w bias(%b : tensor<64xbf16>) : tensor<2x?x64xbf16>, tensor<64xbf16>
  %c = rotor.conv1d %n, %cw {groups = 64 : i64, padding = #rotor.conv_padding<same>} : tensor<2x?x64xbf16>, tensor<64x1x4xbf16>
  %g = rotor.givens %c, %a pairs [(0, 1), (2, 63), (5, 9)] : tensor<2x?x64xbf16>, tensor<3xbf16>
  %l = rotor.l2_normalize %g : tensor<2x?x64xbf16>
  %h = rotor.split_heads %l into 4 heads : tensor<2x?x64xbf16>
  %r = rotor.rope %h, %p base(%base : tensor<bf16>) {layout = #rotor.rope_layout<interleaved>}
      : tensor<2x4x?x16xbf16>, tensor<?xi32>
  %m = rotor.merge_heads %r : tensor<2x4x?x16xbf16>
  %y = rotor.linear %m, %lw : tensor<2x?x64xbf16>, tensor<32x64xbf16>
  %s = rotor.softmax %y : tensor<2x?x32xbf16>
  %z = rotor.gelu %s : tensor<2x?x32xbf16>
  return %z, %r : tensor<2x?x32xbf16>, tensor<2x4x?x16xbf16>
}

func.func @loss(%x: tensor<?x40xf32>, %labels: tensor<?xi64>, %pos: tensor<?xi64>, %f: tensor<8xf32>) -> (tensor<f32>, tensor<?x16xf32>) {
  %l = rotor.cross_entropy %x, %labels : tensor<?x40xf32>, tensor<?xi64>
  %s = rotor.sinusoidal_embedding %pos, %f : tensor<?xi64>, tensor<8xf32>
  return %l, %s : tensor<f32>, tensor<?x16xf32>
}

func.func @givens_grad(%x: tensor<2x?x80xf16>, %dy: tensor<2x?x80xf16>, %t: tensor<4xbf16>) -> (tensor<2x?x80xf16>, tensor<4xbf16>) {
  %dx, %dt = rotor.givens_grad %x, %dy, %t pairs [(0, 79), (40, 41), (41, 79), (0, 79)] : tensor<2x?x80xf16>, tensor<4xbf16>
  return %dx, %dt : tensor<2x?x80xf16>, tensor<4xbf16>
}

// A decoding step over static caches, and a chunk of queries appended to
// them (the tensor-core kernel with query_start).
func.func @static_cache_step(%q: tensor<1x8x1x64xbf16>, %k: tensor<1x2x1x64xbf16>, %kc: tensor<1x2x?x64xbf16>, %vc: tensor<1x2x?x64xbf16>, %p: tensor<1xi64>) -> (tensor<1x8x1x64xbf16>, tensor<1x2x?x64xbf16>) {
  %kc2 = rotor.cache_write %k into %kc at %p {axis = 2 : i64} : tensor<1x2x1x64xbf16> into tensor<1x2x?x64xbf16>, tensor<1xi64>
  %o = rotor.attention %q, %kc2, %vc query_start(%p : tensor<1xi64>) {mask = #rotor.mask<causal = true, window_left = 31>} : tensor<1x8x1x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>
  return %o, %kc2 : tensor<1x8x1x64xbf16>, tensor<1x2x?x64xbf16>
}

func.func @static_cache_chunk(%q: tensor<1x8x?x128xbf16>, %kc: tensor<1x2x?x128xbf16>, %vc: tensor<1x2x?x128xbf16>, %p: tensor<i32>) -> tensor<1x8x?x128xbf16> {
  %o = rotor.attention %q, %kc, %vc query_start(%p : tensor<i32>) {mask = #rotor.mask<causal = true>} : tensor<1x8x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>
  return %o : tensor<1x8x?x128xbf16>
}
