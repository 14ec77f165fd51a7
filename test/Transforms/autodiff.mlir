// RUN: rotor-opt %s -split-input-file --rotor-autodiff | FileCheck %s
// RUN: rotor-opt %s -split-input-file --rotor-autodiff="function=loss output=step no-grad=x" | FileCheck %s --check-prefix=NOGRAD
// RUN: rotor-opt %s -split-input-file --rotor-autodiff="report=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT

// The loss of a linear layer: the cotangent of the logits comes from
// cross_entropy_grad seeded with 1; the input's through the transposed
// weight, the weight's from linear_weight_grad, the bias's by summing the
// rows. Labels (integers) get no gradient.

// CHECK-LABEL: func.func @loss_grad
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32> {rotor.name = "x"}, %[[W:.*]]: tensor<3x8xf32> {rotor.name = "w"}, %[[B:.*]]: tensor<3xf32> {rotor.name = "b"}, %[[T:.*]]: tensor<4xi64> {rotor.name = "labels"})
// CHECK-SAME: -> (tensor<f32> {rotor.name = "loss"}, tensor<4x8xf32> {rotor.name = "grad.x"}, tensor<3x8xf32> {rotor.name = "grad.w"}, tensor<3xf32> {rotor.name = "grad.b"})
// CHECK: %[[Y:.*]] = rotor.linear %[[X]], %[[W]] bias(%[[B]] : tensor<3xf32>)
// CHECK: %[[L:.*]] = rotor.cross_entropy %[[Y]], %[[T]]
// CHECK: %[[ONE:.*]] = arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK: %[[DY:.*]] = rotor.cross_entropy_grad %[[Y]], %[[T]], %[[ONE]]
// CHECK: %[[WT:.*]] = linalg.transpose ins(%[[W]] : tensor<3x8xf32>)
// CHECK: %[[DX:.*]] = rotor.linear %[[DY]], %[[WT]] : tensor<4x3xf32>, tensor<8x3xf32>
// CHECK: %[[DW:.*]] = rotor.linear_weight_grad %[[DY]], %[[X]]
// CHECK: %[[DB:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]{{.*}} ins(%[[DY]]
// CHECK: return %[[L]], %[[DX]], %[[DW]], %[[DB]]
// CHECK-LABEL: func.func @loss(

// NOGRAD-LABEL: func.func @step
// NOGRAD-SAME: -> (tensor<f32> {rotor.name = "loss"}, tensor<3x8xf32> {rotor.name = "grad.w"}, tensor<3xf32> {rotor.name = "grad.b"})
// NOGRAD-NOT: linalg.transpose
// NOGRAD: return

// REPORT: rotor-autodiff: @loss_grad (checkpoint=none) keeps 1 forward values for the backward pass: 48 bytes per unit of the dynamic dimensions
func.func @loss(%x: tensor<4x8xf32> {rotor.name = "x"}, %w: tensor<3x8xf32> {rotor.name = "w"}, %b: tensor<3xf32> {rotor.name = "b"}, %labels: tensor<4xi64> {rotor.name = "labels"}) -> tensor<f32> {
  %y = rotor.linear %x, %w bias(%b : tensor<3xf32>) : tensor<4x8xf32>, tensor<3x8xf32>
  %l = rotor.cross_entropy %y, %labels : tensor<4x3xf32>, tensor<4xi64>
  return %l : tensor<f32>
}

// -----

// Calls are inlined; a value used twice accumulates its cotangents; an
// argument the loss does not depend on gets zeros.

// CHECK-LABEL: func.func @loss_grad
// CHECK-NOT: call
// CHECK: %[[S:.*]] = rotor.silu %[[X:.*]] : tensor<?x5xf32>
// CHECK: rotor.activation_grad %[[X]], %{{.*}} {activation = #rotor.activation<silu>}
// CHECK: %[[ACC:.*]] = rotor.add
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<2xf32>)
// CHECK: return %{{.*}}, %[[ACC]], %[[Z]]
func.func private @block(%x: tensor<?x5xf32>) -> tensor<?x5xf32> {
  %s = rotor.silu %x : tensor<?x5xf32>
  %m = rotor.mul %s, %x : tensor<?x5xf32>, tensor<?x5xf32>
  return %m : tensor<?x5xf32>
}
func.func @loss(%x: tensor<?x5xf32> {rotor.name = "x"}, %unused: tensor<2xf32>, %labels: tensor<?xi64>) -> tensor<f32> {
  %y = func.call @block(%x) : (tensor<?x5xf32>) -> tensor<?x5xf32>
  %l = rotor.cross_entropy %y, %labels : tensor<?x5xf32>, tensor<?xi64>
  return %l : tensor<f32>
}

// -----

// An attention with a fused rope is differentiated as rotor.rope ops on q
// and k (with the fused parameters) and a plain attention returning its
// log-sum-exp; the cotangents of q and k go through transposed ropes.

// CHECK-LABEL: func.func @loss_grad
// CHECK: %[[QR:.*]] = rotor.rope %[[Q:[^,]*]], %[[P:[^ ]*]] base(%[[B:.*]] : tensor<f32>) {layout = #rotor.rope_layout<interleaved>, rotary_dim = 8 : i64}
// CHECK: %[[KR:.*]] = rotor.rope %{{.*}}, %[[P]] base(%[[B]] : tensor<f32>) {layout = #rotor.rope_layout<interleaved>, rotary_dim = 8 : i64}
// CHECK: %{{.*}}, %[[LSE:.*]] = rotor.attention %[[QR]], %[[KR]], %{{.*}} return_lse {mask = #rotor.mask<causal = true>}
// CHECK-NOT: rope_q
// CHECK: rotor.attention_grad
// CHECK-DAG: rotor.rope %{{.*}}, %[[P]] base(%[[B]] : tensor<f32>) {layout = #rotor.rope_layout<interleaved>, rotary_dim = 8 : i64, transpose}
// CHECK-DAG: rotor.rope_base_grad
func.func @loss(%q: tensor<1x4x5x16xf32> {rotor.name = "x"}, %k: tensor<1x2x5x16xf32>, %v: tensor<1x2x5x16xf32>, %pos: tensor<5xi64>, %b: tensor<f32>, %labels: tensor<1x4x5xi64>) -> tensor<f32> {
  %o = rotor.attention %q, %k, %v rope_q(%pos : tensor<5xi64>) rope_k(%pos : tensor<5xi64>) rope_learned_base(%b : tensor<f32>) {mask = #rotor.mask<causal = true>, rope_layout = #rotor.rope_layout<interleaved>, rope_rotary_dim = 8 : i64} : tensor<1x4x5x16xf32>, tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>
  %l = rotor.cross_entropy %o, %labels : tensor<1x4x5x16xf32>, tensor<1x4x5xi64>
  return %l : tensor<f32>
}

// -----

// A fused query rotation is differentiated un-fused, in the op's order:
// rope, then the matrix; its backward rotates back by the transpose.
// CHECK-LABEL: func.func @loss_grad
// CHECK: %[[QR:.*]] = rotor.rope %[[Q:[^,]*]], %[[P:[^ ]*]] {base = 1.000000e+04 : f64}
// CHECK: %[[QM:.*]] = rotor.rotate %[[QR]], %[[M:[^ ]*]] :
// CHECK: %{{.*}}, %[[LSE:.*]] = rotor.attention %[[QM]], %{{.*}}, %{{.*}} return_lse {mask = #rotor.mask<causal = true>}
// CHECK-NOT: rotate_q
// CHECK: %[[DQ:.*]], %{{.*}}, %{{.*}} = rotor.attention_grad %[[QM]]
// CHECK: %[[MT:.*]] = linalg.transpose ins(%[[M]] : tensor<16x16xf32>)
// CHECK: %[[DQR:.*]] = rotor.rotate %[[DQ]], %[[MT]]
// CHECK: rotor.linear_weight_grad %[[QR]], %[[DQ]]
// CHECK: rotor.rope %[[DQR]], %[[P]] {base = 1.000000e+04 : f64, transpose}
func.func @loss(%q: tensor<1x4x5x16xf32> {rotor.name = "x"}, %k: tensor<1x2x5x16xf32>, %v: tensor<1x2x5x16xf32>, %pos: tensor<5xi64>, %m: tensor<16x16xf32>, %labels: tensor<1x4x5xi64>) -> tensor<f32> {
  %o = rotor.attention %q, %k, %v rope_q(%pos : tensor<5xi64>) rotate_q(%m : tensor<16x16xf32>) {mask = #rotor.mask<causal = true>, rope_base = 10000.0 : f64} : tensor<1x4x5x16xf32>, tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>
  %l = rotor.cross_entropy %o, %labels : tensor<1x4x5x16xf32>, tensor<1x4x5xi64>
  return %l : tensor<f32>
}
