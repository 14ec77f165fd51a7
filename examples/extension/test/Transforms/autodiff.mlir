// RUN: rotor-opt %load_alibi %s -split-input-file \
// RUN:   --pass-pipeline='builtin.module(rotor-autodiff{function=f seed-args=true})' \
// RUN:   | FileCheck %s

// rotor-autodiff (a Rotor pass) differentiates alibi.attention through the
// DifferentiableOpInterface model that the plugin attaches: the backward is
// alibi.attention_grad on the forward operands and the output cotangent,
// with every attribute of the forward op (the bias is constant, so only
// query, key and value get cotangents).

// CHECK-LABEL: func.func @f_grad
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x?x64xf32> {rotor.name = "q"}, %[[K:.*]]: tensor<1x2x?x64xf32> {rotor.name = "k"}, %[[V:.*]]: tensor<1x2x?x48xf32> {rotor.name = "v"}, %[[DO:.*]]: tensor<1x8x?x48xf32> {rotor.name = "d.result0"})
// CHECK-SAME: -> (tensor<1x8x?x48xf32> {rotor.name = "result0"}, tensor<1x8x?x64xf32> {rotor.name = "grad.q"}, tensor<1x2x?x64xf32> {rotor.name = "grad.k"}, tensor<1x2x?x48xf32> {rotor.name = "grad.v"})
// CHECK: %[[O:.*]] = alibi.attention %[[Q]], %[[K]], %[[V]]
// CHECK: %[[DQ:.*]], %[[DK:.*]], %[[DV:.*]] = alibi.attention_grad %[[Q]], %[[K]], %[[V]], %[[DO]]
// CHECK-SAME: mask = #rotor.mask<causal = true, window_left = 7>
// CHECK-SAME: max_bias = 4.000000e+00 : f64
// CHECK-SAME: scale = 1.250000e-01 : f64
// CHECK-SAME: : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x48xf32>, tensor<1x8x?x48xf32>
// CHECK: return %[[O]], %[[DQ]], %[[DK]], %[[DV]]
// CHECK-LABEL: func.func @f(

func.func @f(%q: tensor<1x8x?x64xf32> {rotor.name = "q"},
             %k: tensor<1x2x?x64xf32> {rotor.name = "k"},
             %v: tensor<1x2x?x48xf32> {rotor.name = "v"}) -> tensor<1x8x?x48xf32> {
  %o = alibi.attention %q, %k, %v {mask = #rotor.mask<causal = true, window_left = 7>,
                                   max_bias = 4.0 : f64, scale = 0.125 : f64}
      : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x48xf32>
  return %o : tensor<1x8x?x48xf32>
}

// -----

// Explicit slopes travel to the backward op; the cotangents of the two uses
// of q (as query and, through the second op, as key and value) add up.
// CHECK-LABEL: func.func @f_grad
// CHECK: %[[A:.*]] = alibi.attention %[[Q:.*]], %[[Q]], %[[Q]] {slopes = array<f64: 5.000000e-01, 0.000000e+00>}
// CHECK: %[[B:.*]] = alibi.attention %[[A]], %[[Q]], %[[Q]] {slopes = array<f64: 1.000000e+00, 2.000000e+00>}
// CHECK: %[[DA:.*]], %[[DK2:.*]], %[[DV2:.*]] = alibi.attention_grad %[[A]], %[[Q]], %[[Q]], %{{.*}} {slopes = array<f64: 1.000000e+00, 2.000000e+00>}
// CHECK: %[[S1:.*]] = rotor.add %[[DK2]], %[[DV2]]
// CHECK: %[[DQ1:.*]], %[[DK1:.*]], %[[DV1:.*]] = alibi.attention_grad %[[Q]], %[[Q]], %[[Q]], %[[DA]] {slopes = array<f64: 5.000000e-01, 0.000000e+00>}
// CHECK: %[[S2:.*]] = rotor.add %[[S1]], %[[DQ1]]
// CHECK: %[[S3:.*]] = rotor.add %[[S2]], %[[DK1]]
// CHECK: %[[S4:.*]] = rotor.add %[[S3]], %[[DV1]]
// CHECK: return %[[B]], %[[S4]] :
func.func @f(%q: tensor<1x2x5x8xf64> {rotor.name = "q"}) -> tensor<1x2x5x8xf64> {
  %a = alibi.attention %q, %q, %q {slopes = array<f64: 0.5, 0.0>}
      : tensor<1x2x5x8xf64>, tensor<1x2x5x8xf64>, tensor<1x2x5x8xf64>
  %b = alibi.attention %a, %q, %q {slopes = array<f64: 1.0, 2.0>}
      : tensor<1x2x5x8xf64>, tensor<1x2x5x8xf64>, tensor<1x2x5x8xf64>
  return %b : tensor<1x2x5x8xf64>
}

// -----

// An attention whose output the result does not depend on gets no backward
// op (the pass does not ask its rule).
// CHECK-LABEL: func.func @f_grad
// CHECK-NOT: alibi.attention_grad
// CHECK: return
func.func @f(%q: tensor<1x2x5x8xf64> {rotor.name = "q"}) -> tensor<1x2x5x8xf64> {
  %a = alibi.attention %q, %q, %q
      : tensor<1x2x5x8xf64>, tensor<1x2x5x8xf64>, tensor<1x2x5x8xf64>
  %b = rotor.add %q, %q : tensor<1x2x5x8xf64>, tensor<1x2x5x8xf64>
  return %b : tensor<1x2x5x8xf64>
}
