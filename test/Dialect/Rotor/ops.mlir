// RUN: rotor-opt %s -split-input-file | rotor-opt -split-input-file | FileCheck %s
// RUN: rotor-opt %s -split-input-file --mlir-print-op-generic | rotor-opt -split-input-file | FileCheck %s

// Round trip of every rotor op, in the pretty and the generic form.

// CHECK-LABEL: func @rope
func.func @rope(%x: tensor<2x32x?x128xbf16>, %pos: tensor<?xi64>, %pos2: tensor<2x?xi32>, %b: tensor<f32>) -> tensor<2x32x?x128xbf16> {
  // CHECK: %[[A:.*]] = rotor.rope %{{.*}}, %{{.*}} {base = 1.000000e+04 : f64, rotary_dim = 64 : i64} : tensor<2x32x?x128xbf16>, tensor<?xi64>
  %0 = rotor.rope %x, %pos {base = 10000.0 : f64, rotary_dim = 64 : i64} : tensor<2x32x?x128xbf16>, tensor<?xi64>
  // CHECK: %[[B:.*]] = rotor.rope %[[A]], %{{.*}} base(%{{.*}} : tensor<f32>) {layout = #rotor.rope_layout<interleaved>} : tensor<2x32x?x128xbf16>, tensor<2x?xi32>
  %1 = rotor.rope %0, %pos2 base(%b : tensor<f32>) {layout = #rotor.rope_layout<interleaved>} : tensor<2x32x?x128xbf16>, tensor<2x?xi32>
  // CHECK: rotor.rope %[[B]], %{{.*}} {scaling = #rotor.rope_scaling<kind = yarn, factor = 4.000000e+00, original_max_position = 4096, beta_fast = 1.600000e+01>}
  %2 = rotor.rope %1, %pos {scaling = #rotor.rope_scaling<kind = yarn, factor = 4.0, original_max_position = 4096, beta_fast = 16.0>} : tensor<2x32x?x128xbf16>, tensor<?xi64>
  // CHECK: #rotor.rope_scaling<kind = llama3, factor = 8.000000e+00, original_max_position = 8192>
  %3 = rotor.rope %2, %pos {scaling = #rotor.rope_scaling<kind = llama3, factor = 8.0, original_max_position = 8192>} : tensor<2x32x?x128xbf16>, tensor<?xi64>
  // CHECK: #rotor.rope_scaling<kind = dynamic_ntk, factor = 2.000000e+00, original_max_position = 2048>
  %4 = rotor.rope %3, %pos {scaling = #rotor.rope_scaling<kind = dynamic_ntk, factor = 2.0, original_max_position = 2048>} : tensor<2x32x?x128xbf16>, tensor<?xi64>
  // CHECK: #rotor.rope_scaling<kind = linear, factor = 2.000000e+00>
  %5 = rotor.rope %4, %pos {scaling = #rotor.rope_scaling<kind = linear, factor = 2.0>} : tensor<2x32x?x128xbf16>, tensor<?xi64>
  return %5 : tensor<2x32x?x128xbf16>
}

// -----

// CHECK-LABEL: func @rotations
func.func @rotations(%x: tensor<2x8x?x64xf32>, %theta: tensor<2xf32>, %r: tensor<64x64xf32>) -> tensor<2x8x?x64xf32> {
  // CHECK: %[[G:.*]] = rotor.givens %{{.*}}, %{{.*}} pairs [(0, 1), (2, 5)] : tensor<2x8x?x64xf32>, tensor<2xf32>
  %0 = rotor.givens %x, %theta pairs [(0, 1), (2, 5)] : tensor<2x8x?x64xf32>, tensor<2xf32>
  // CHECK: rotor.rotate %[[G]], %{{.*}} : tensor<2x8x?x64xf32>, tensor<64x64xf32>
  %1 = rotor.rotate %0, %r : tensor<2x8x?x64xf32>, tensor<64x64xf32>
  return %1 : tensor<2x8x?x64xf32>
}

// -----

// CHECK-LABEL: func @attention
func.func @attention(%q: tensor<2x32x?x128xbf16>, %k: tensor<2x8x?x128xbf16>, %v: tensor<2x8x?x128xbf16>, %t: tensor<32x32xf32>) -> (tensor<2x32x?x128xbf16>, tensor<2x32x?xf32>, tensor<2x32x?x128xbf16>) {
  // CHECK: rotor.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #rotor.mask<causal = true, window_left = 1023>} : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
  %0 = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true, window_left = 1023>} : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
  // CHECK: %{{.*}}, %{{.*}} = rotor.attention %{{.*}}, %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<32x32xf32>) return_lse {bias_max_distance = 64 : i64, mask = #rotor.mask<window_left = 16, window_right = 16, dilation = 2, chunk = 256, global = 4>, scale = 1.250000e-01 : f64, softcap = 5.000000e+01 : f64}
  %1, %lse = rotor.attention %q, %k, %v bias(%t : tensor<32x32xf32>) return_lse {bias_max_distance = 64 : i64, mask = #rotor.mask<window_left = 16, window_right = 16, dilation = 2, chunk = 256, global = 4>, scale = 0.125 : f64, softcap = 50.0 : f64} : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
  // CHECK: rotor.attention %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x32x?x128xbf16>
  %2 = rotor.attention %q, %k, %v : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
  return %0, %lse, %2 : tensor<2x32x?x128xbf16>, tensor<2x32x?xf32>, tensor<2x32x?x128xbf16>
}

// -----

// Fused rotary embedding of the queries and the keys.
// CHECK-LABEL: func @attention_rope
// CHECK-SAME: (%[[Q:.*]]: tensor<2x32x?x128xbf16>, %[[K:.*]]: tensor<2x8x?x128xbf16>, %[[V:.*]]: tensor<2x8x?x128xbf16>, %[[P:.*]]: tensor<?xi64>, %[[PB:.*]]: tensor<2x?xi32>, %[[B:.*]]: tensor<f32>)
func.func @attention_rope(%q: tensor<2x32x?x128xbf16>, %k: tensor<2x8x?x128xbf16>, %v: tensor<2x8x?x128xbf16>, %pos: tensor<?xi64>, %bpos: tensor<2x?xi32>, %b: tensor<f32>) -> (tensor<2x32x?x128xbf16>, tensor<2x32x?x128xbf16>) {
  // CHECK: rotor.attention %[[Q]], %[[K]], %[[V]] rope_q(%[[P]] : tensor<?xi64>) rope_k(%[[P]] : tensor<?xi64>) {mask = #rotor.mask<causal = true>, rope_base = 5.000000e+05 : f64, rope_rotary_dim = 64 : i64, rope_scaling = #rotor.rope_scaling<kind = linear, factor = 2.000000e+00>}
  %0 = rotor.attention %q, %k, %v rope_q(%pos : tensor<?xi64>) rope_k(%pos : tensor<?xi64>) {mask = #rotor.mask<causal = true>, rope_base = 500000.0 : f64, rope_rotary_dim = 64 : i64, rope_scaling = #rotor.rope_scaling<kind = linear, factor = 2.0>} : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
  // CHECK: rotor.attention %[[Q]], %[[K]], %[[V]] rope_q(%[[PB]] : tensor<2x?xi32>) rope_learned_base(%[[B]] : tensor<f32>) {rope_layout = #rotor.rope_layout<interleaved>}
  %1 = rotor.attention %q, %k, %v rope_q(%bpos : tensor<2x?xi32>) rope_learned_base(%b : tensor<f32>) {rope_layout = #rotor.rope_layout<interleaved>} : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
  return %0, %1 : tensor<2x32x?x128xbf16>, tensor<2x32x?x128xbf16>
}

// -----

// A fused query rotation, alone and after a fused rope.
// CHECK-LABEL: func @attention_query_rotation
// CHECK-SAME: (%[[Q:.*]]: tensor<2x32x?x128xbf16>, %[[K:.*]]: tensor<2x8x?x128xbf16>, %[[V:.*]]: tensor<2x8x?x128xbf16>, %[[P:.*]]: tensor<?xi64>, %[[T:.*]]: tensor<3xf32>, %[[R:.*]]: tensor<128x128xbf16>)
func.func @attention_query_rotation(%q: tensor<2x32x?x128xbf16>, %k: tensor<2x8x?x128xbf16>, %v: tensor<2x8x?x128xbf16>, %pos: tensor<?xi64>, %t: tensor<3xf32>, %r: tensor<128x128xbf16>) -> (tensor<2x32x?x128xbf16>, tensor<2x32x?x128xbf16>, tensor<2x32x?x128xbf16>) {
  // CHECK: rotor.attention %[[Q]], %[[K]], %[[V]] givens_q(%[[T]] : tensor<3xf32>) pairs [(0, 1), (127, 5), (1, 0)] {mask = #rotor.mask<causal = true>}
  %0 = rotor.attention %q, %k, %v givens_q(%t : tensor<3xf32>) pairs [(0, 1), (127, 5), (1, 0)] {mask = #rotor.mask<causal = true>} : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
  // CHECK: rotor.attention %[[Q]], %[[K]], %[[V]] rotate_q(%[[R]] : tensor<128x128xbf16>) :
  %1 = rotor.attention %q, %k, %v rotate_q(%r : tensor<128x128xbf16>) : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
  // CHECK: rotor.attention %[[Q]], %[[K]], %[[V]] rope_q(%[[P]] : tensor<?xi64>) givens_q(%[[T]] : tensor<3xf32>) pairs [(2, 3), (4, 5), (6, 7)] rotate_q(%[[R]] : tensor<128x128xbf16>) {rope_base = 5.000000e+05 : f64}
  %2 = rotor.attention %q, %k, %v rope_q(%pos : tensor<?xi64>) givens_q(%t : tensor<3xf32>) pairs [(2, 3), (4, 5), (6, 7)] rotate_q(%r : tensor<128x128xbf16>) {rope_base = 500000.0 : f64} : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
  return %0, %1, %2 : tensor<2x32x?x128xbf16>, tensor<2x32x?x128xbf16>, tensor<2x32x?x128xbf16>
}

// -----

// Multi-query attention with a value head_dim different from the key's.
// CHECK-LABEL: func @attention_mqa
func.func @attention_mqa(%q: tensor<?x7x?x80xf32>, %k: tensor<?x1x?x80xf32>, %v: tensor<?x1x?x96xf32>) -> tensor<?x7x?x96xf32> {
  // CHECK: rotor.attention {{.*}} : tensor<?x7x?x80xf32>, tensor<?x1x?x80xf32>, tensor<?x1x?x96xf32>
  %0 = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true>} : tensor<?x7x?x80xf32>, tensor<?x1x?x80xf32>, tensor<?x1x?x96xf32>
  return %0 : tensor<?x7x?x96xf32>
}

// -----

// CHECK-LABEL: func @model_ops
func.func @model_ops(%ids: tensor<2x?xi64>, %table: tensor<100x64xf32>, %w: tensor<192x64xf32>, %b: tensor<192xf32>,
                     %g: tensor<64xf32>, %conv: tensor<64x1x4xf32>, %freqs: tensor<16xf32>, %pos: tensor<?xi64>)
    -> (tensor<2x?x64xf32>, tensor<?x32xf32>, tensor<f32>) {
  // CHECK: %[[E:.*]] = rotor.embedding %{{.*}}, %{{.*}} : tensor<2x?xi64>, tensor<100x64xf32>
  %e = rotor.embedding %ids, %table : tensor<2x?xi64>, tensor<100x64xf32>
  // CHECK: rotor.rms_norm %[[E]], %{{.*}} {epsilon = 1.000000e-05 : f64} : tensor<2x?x64xf32>, tensor<64xf32>
  %n = rotor.rms_norm %e, %g {epsilon = 1.0e-5 : f64} : tensor<2x?x64xf32>, tensor<64xf32>
  // CHECK: rotor.layer_norm %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<64xf32>) : tensor<2x?x64xf32>, tensor<64xf32>
  %ln = rotor.layer_norm %n, %g bias(%g : tensor<64xf32>) : tensor<2x?x64xf32>, tensor<64xf32>
  // CHECK: rotor.l2_normalize %{{.*}} {epsilon = 9.9999999999999995E-7 : f64} : tensor<2x?x64xf32>
  %l2 = rotor.l2_normalize %ln {epsilon = 1.0e-6 : f64} : tensor<2x?x64xf32>
  // CHECK: rotor.linear %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<192xf32>) : tensor<2x?x64xf32>, tensor<192x64xf32>
  %qkv = rotor.linear %l2, %w bias(%b : tensor<192xf32>) : tensor<2x?x64xf32>, tensor<192x64xf32>
  // CHECK: rotor.split_heads %{{.*}} into 3 heads : tensor<2x?x192xf32>
  %h = rotor.split_heads %qkv into 3 heads : tensor<2x?x192xf32>
  // CHECK: rotor.merge_heads %{{.*}} : tensor<2x3x?x64xf32>
  %m = rotor.merge_heads %h : tensor<2x3x?x64xf32>
  // CHECK: rotor.linear %{{.*}}, %{{.*}} : tensor<2x?x192xf32>, tensor<64x192xf32>
  %wo = arith.constant dense<0.5> : tensor<64x192xf32>
  %o = rotor.linear %m, %wo : tensor<2x?x192xf32>, tensor<64x192xf32>
  // CHECK: rotor.conv1d %{{.*}}, %{{.*}} {groups = 64 : i64} : tensor<2x?x64xf32>, tensor<64x1x4xf32>
  %c = rotor.conv1d %o, %conv {groups = 64 : i64} : tensor<2x?x64xf32>, tensor<64x1x4xf32>
  // CHECK: rotor.conv1d %{{.*}}, %{{.*}} {padding = #rotor.conv_padding<same>} : tensor<2x?x64xf32>, tensor<64x64x3xf32>
  %wf = arith.constant dense<0.1> : tensor<64x64x3xf32>
  %c2 = rotor.conv1d %c, %wf {padding = #rotor.conv_padding<same>} : tensor<2x?x64xf32>, tensor<64x64x3xf32>
  // CHECK: rotor.gelu %{{.*}} : tensor<2x?x64xf32>
  %a0 = rotor.gelu %c2 : tensor<2x?x64xf32>
  // CHECK: rotor.gelu %{{.*}} {approximate = #rotor.gelu_approximation<tanh>} : tensor<2x?x64xf32>
  %a1 = rotor.gelu %a0 {approximate = #rotor.gelu_approximation<tanh>} : tensor<2x?x64xf32>
  // CHECK: rotor.relu %{{.*}} : tensor<2x?x64xf32>
  %a2 = rotor.relu %a1 : tensor<2x?x64xf32>
  // CHECK: rotor.silu %{{.*}} : tensor<2x?x64xf32>
  %a3 = rotor.silu %a2 : tensor<2x?x64xf32>
  // CHECK: rotor.swiglu %{{.*}}, %{{.*}} : tensor<2x?x64xf32>
  %a4 = rotor.swiglu %a3, %a2 : tensor<2x?x64xf32>
  // CHECK: rotor.add %{{.*}}, %{{.*}} : tensor<2x?x64xf32>, tensor<64xf32>
  %s = rotor.add %a4, %g : tensor<2x?x64xf32>, tensor<64xf32>
  // CHECK: rotor.mul %{{.*}}, %{{.*}} : tensor<2x?x64xf32>, tensor<2x?x64xf32>
  %p = rotor.mul %s, %e : tensor<2x?x64xf32>, tensor<2x?x64xf32>
  // CHECK: rotor.softmax %{{.*}} {axis = 1 : i64} : tensor<2x?x64xf32>
  %sm = rotor.softmax %p {axis = 1 : i64} : tensor<2x?x64xf32>
  // CHECK: rotor.sinusoidal_embedding %{{.*}}, %{{.*}} : tensor<?xi64>, tensor<16xf32>
  %se = rotor.sinusoidal_embedding %pos, %freqs : tensor<?xi64>, tensor<16xf32>
  // CHECK: rotor.cross_entropy %{{.*}}, %{{.*}} {ignore_index = -1 : i64} : tensor<2x?x64xf32>, tensor<2x?xi64>
  %loss = rotor.cross_entropy %sm, %ids {ignore_index = -1 : i64} : tensor<2x?x64xf32>, tensor<2x?xi64>
  return %sm, %se, %loss : tensor<2x?x64xf32>, tensor<?x32xf32>, tensor<f32>
}

// -----

// f64 data gives an f64 log-sum-exp and loss.
// CHECK-LABEL: func @f64_results
func.func @f64_results(%q: tensor<1x2x5x8xf64>, %logits: tensor<5x10xf64>, %labels: tensor<5xi32>) -> (tensor<1x2x5xf64>, tensor<f64>) {
  %o, %lse = rotor.attention %q, %q, %q return_lse : tensor<1x2x5x8xf64>, tensor<1x2x5x8xf64>, tensor<1x2x5x8xf64>
  %loss = rotor.cross_entropy %logits, %labels : tensor<5x10xf64>, tensor<5xi32>
  // CHECK: return %{{.*}}, %{{.*}} : tensor<1x2x5xf64>, tensor<f64>
  return %lse, %loss : tensor<1x2x5xf64>, tensor<f64>
}

// -----

// CHECK-LABEL: func @fused
func.func @fused(%x: tensor<2x?x64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>, %h: tensor<2x?x32xf32>, %u: tensor<32x64xf32>) -> (tensor<2x?x32xf32>, tensor<2x?x32xf32>) {
  // CHECK: rotor.fused_linear %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<32xf32>) residual(%{{.*}} : tensor<2x?x32xf32>) {activation = #rotor.activation<gelu_tanh>} : tensor<2x?x64xf32>, tensor<32x64xf32>
  %0 = rotor.fused_linear %x, %w bias(%b : tensor<32xf32>) residual(%h : tensor<2x?x32xf32>) {activation = #rotor.activation<gelu_tanh>} : tensor<2x?x64xf32>, tensor<32x64xf32>
  // CHECK: rotor.fused_gate_up %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x?x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>
  %1 = rotor.fused_gate_up %x, %w, %u : tensor<2x?x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>
  return %0, %1 : tensor<2x?x32xf32>, tensor<2x?x32xf32>
}

// -----

// The RMS-norm prologue.
// CHECK-LABEL: func @fused_norm
func.func @fused_norm(%x: tensor<2x?x64xf32>, %w: tensor<32x64xf32>, %g: tensor<64xf32>, %h: tensor<2x?x32xf32>, %u: tensor<32x64xf32>) -> (tensor<2x?x32xf32>, tensor<2x?x32xf32>) {
  // CHECK: rotor.fused_linear %{{.*}}, %{{.*}} residual(%{{.*}} : tensor<2x?x32xf32>) rms_norm(%{{.*}} : tensor<64xf32>) {activation = #rotor.activation<silu>, norm_epsilon = 1.000000e-05 : f64} : tensor<2x?x64xf32>, tensor<32x64xf32>
  %0 = rotor.fused_linear %x, %w residual(%h : tensor<2x?x32xf32>) rms_norm(%g : tensor<64xf32>) {activation = #rotor.activation<silu>, norm_epsilon = 1.0e-05 : f64} : tensor<2x?x64xf32>, tensor<32x64xf32>
  // CHECK: rotor.fused_gate_up %{{.*}}, %{{.*}}, %{{.*}} rms_norm(%{{.*}} : tensor<64xf32>) {norm_epsilon = 1.000000e-05 : f64} : tensor<2x?x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>
  %1 = rotor.fused_gate_up %x, %w, %u rms_norm(%g : tensor<64xf32>) {norm_epsilon = 1.0e-05 : f64} : tensor<2x?x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>
  return %0, %1 : tensor<2x?x32xf32>, tensor<2x?x32xf32>
}

// -----

// A decoding step over static caches.
// CHECK-LABEL: func @static_cache
func.func @static_cache(%q: tensor<2x8x1x64xbf16>, %k: tensor<2x2x1x64xbf16>, %kc: tensor<2x2x?x64xbf16>, %vc: tensor<2x2x?x64xbf16>, %p: tensor<1xi64>, %s: tensor<i32>) -> (tensor<2x8x1x64xbf16>, tensor<2x2x?x64xbf16>) {
  // CHECK: rotor.cache_write %{{.*}} into %{{.*}} at %{{.*}} {axis = 2 : i64} : tensor<2x2x1x64xbf16> into tensor<2x2x?x64xbf16>, tensor<1xi64>
  %0 = rotor.cache_write %k into %kc at %p {axis = 2 : i64} : tensor<2x2x1x64xbf16> into tensor<2x2x?x64xbf16>, tensor<1xi64>
  // CHECK: rotor.attention %{{.*}}, %{{.*}}, %{{.*}} query_start(%{{.*}} : tensor<1xi64>) {mask = #rotor.mask<causal = true>}
  %1 = rotor.attention %q, %0, %vc query_start(%p : tensor<1xi64>) {mask = #rotor.mask<causal = true>} : tensor<2x8x1x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16>
  // CHECK: rotor.attention %{{.*}}, %{{.*}}, %{{.*}} query_start(%{{.*}} : tensor<i32>) : tensor<2x8x1x64xbf16>
  %2 = rotor.attention %q, %0, %vc query_start(%s : tensor<i32>) : tensor<2x8x1x64xbf16>, tensor<2x2x?x64xbf16>, tensor<2x2x?x64xbf16>
  return %2, %0 : tensor<2x8x1x64xbf16>, tensor<2x2x?x64xbf16>
}
