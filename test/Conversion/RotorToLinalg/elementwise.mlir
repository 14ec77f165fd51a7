// RUN: rotor-opt %s -split-input-file --convert-rotor-to-linalg | FileCheck %s

// Lowering of the elementwise ops and activations to parallel linalg.generic
// ops: NumPy broadcasting through the indexing maps, f16/bf16 widened to f32
// in the body and narrowed only when stored.

// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$LAST:.*]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func @add_broadcast
// CHECK-SAME: (%[[A:.*]]: tensor<2x?x64xf32>, %[[B:.*]]: tensor<64xf32>)
// CHECK: %[[C1:.*]] = arith.constant 1 : index
// CHECK: %[[D1:.*]] = tensor.dim %[[A]], %[[C1]]
// CHECK: %[[E:.*]] = tensor.empty(%[[D1]]) : tensor<2x?x64xf32>
// CHECK: linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$LAST]], #[[$ID]]]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME: ins(%[[A]], %[[B]] : tensor<2x?x64xf32>, tensor<64xf32>)
// CHECK-SAME: outs(%[[E]] : tensor<2x?x64xf32>)
// CHECK: ^bb0(%[[X:.*]]: f32, %[[Y:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[X]], %[[Y]] : f32
// CHECK-NEXT: linalg.yield %[[S]] : f32
func.func @add_broadcast(%a: tensor<2x?x64xf32>, %b: tensor<64xf32>) -> tensor<2x?x64xf32> {
  %0 = rotor.add %a, %b : tensor<2x?x64xf32>, tensor<64xf32>
  return %0 : tensor<2x?x64xf32>
}

// -----

// Static size-1 dimensions of both operands broadcast (constant 0 in the
// map); the dynamic batch comes from the only operand that has it.

// CHECK-DAG: #[[$LHS:.*]] = affine_map<(d0, d1, d2) -> (d0, 0, d2)>
// CHECK-DAG: #[[$RHS:.*]] = affine_map<(d0, d1, d2) -> (d1, 0)>
// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func @mul_broadcast_both
// CHECK-SAME: (%[[A:.*]]: tensor<?x1x4xbf16>, %[[B:.*]]: tensor<3x1xbf16>)
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[D0:.*]] = tensor.dim %[[A]], %[[C0]]
// CHECK: %[[E:.*]] = tensor.empty(%[[D0]]) : tensor<?x3x4xbf16>
// CHECK: linalg.generic
// CHECK-SAME: indexing_maps = [#[[$LHS]], #[[$RHS]], #[[$ID]]]
// CHECK-SAME: outs(%[[E]] : tensor<?x3x4xbf16>)
// CHECK: ^bb0(%[[X:.*]]: bf16, %[[Y:.*]]: bf16, %{{.*}}: bf16):
// CHECK-NEXT: %[[XW:.*]] = arith.extf %[[X]] : bf16 to f32
// CHECK-NEXT: %[[YW:.*]] = arith.extf %[[Y]] : bf16 to f32
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[XW]], %[[YW]] : f32
// CHECK-NEXT: %[[N:.*]] = arith.truncf %[[P]] : f32 to bf16
// CHECK-NEXT: linalg.yield %[[N]] : bf16
func.func @mul_broadcast_both(%a: tensor<?x1x4xbf16>, %b: tensor<3x1xbf16>) -> tensor<?x3x4xbf16> {
  %0 = rotor.mul %a, %b : tensor<?x1x4xbf16>, tensor<3x1xbf16>
  return %0 : tensor<?x3x4xbf16>
}

// -----

// A static 1 facing a dynamic result dimension broadcasts; the result size
// is the dynamic operand's.

// CHECK-DAG: #[[$LHS:.*]] = affine_map<(d0, d1) -> (0, d1)>
// CHECK-DAG: #[[$RHS:.*]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func @add_unit_vs_dynamic
// CHECK-SAME: (%{{.*}}: tensor<1x5xf32>, %[[B:.*]]: tensor<?x1xf32>)
// CHECK: %[[D0:.*]] = tensor.dim %[[B]], %{{.*}} : tensor<?x1xf32>
// CHECK: tensor.empty(%[[D0]]) : tensor<?x5xf32>
// CHECK: linalg.generic
// CHECK-SAME: indexing_maps = [#[[$LHS]], #[[$RHS]], #[[$ID]]]
func.func @add_unit_vs_dynamic(%a: tensor<1x5xf32>, %b: tensor<?x1xf32>) -> tensor<?x5xf32> {
  %0 = rotor.add %a, %b : tensor<1x5xf32>, tensor<?x1xf32>
  return %0 : tensor<?x5xf32>
}

// -----

// A 0-D operand has an empty map; f64 is computed in f64.

// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$SCALAR:.*]] = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func @mul_scalar
// CHECK: linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$SCALAR]], #[[$ID]]]
// CHECK: ^bb0(%[[X:.*]]: f64, %[[Y:.*]]: f64, %{{.*}}: f64):
// CHECK-NEXT: arith.mulf %[[X]], %[[Y]] : f64
// CHECK-NOT: arith.extf
// CHECK-NOT: arith.truncf
func.func @mul_scalar(%a: tensor<4x?xf64>, %b: tensor<f64>) -> tensor<4x?xf64> {
  %0 = rotor.mul %a, %b : tensor<4x?xf64>, tensor<f64>
  return %0 : tensor<4x?xf64>
}

// -----

// CHECK-LABEL: func @relu
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK: ^bb0(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[M:.*]] = arith.maximumf %[[X]], %[[ZERO]] : f32
// CHECK: linalg.yield %[[M]] : f32
func.func @relu(%x: tensor<4x?xf32>) -> tensor<4x?xf32> {
  %0 = rotor.relu %x : tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// -----

// silu(x) = x * (x >= 0 ? 1 : e) / (1 + e) with e = exp(-|x|).

// CHECK-LABEL: func @silu_bf16
// CHECK: linalg.generic
// CHECK: ^bb0(%[[X:.*]]: bf16, %{{.*}}: bf16):
// CHECK: %[[XW:.*]] = arith.extf %[[X]] : bf16 to f32
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[ABS:.*]] = math.absf %[[XW]] : f32
// CHECK: %[[NEG:.*]] = arith.negf %[[ABS]] : f32
// CHECK: %[[E:.*]] = math.exp %[[NEG]] : f32
// CHECK: %[[NONNEG:.*]] = arith.cmpf oge, %[[XW]], %[[ZERO]] : f32
// CHECK: %[[SEL:.*]] = arith.select %[[NONNEG]], %[[ONE]], %[[E]] : f32
// CHECK: %[[NUM:.*]] = arith.mulf %[[XW]], %[[SEL]] : f32
// CHECK: %[[DEN:.*]] = arith.addf %[[ONE]], %[[E]] : f32
// CHECK: %[[Y:.*]] = arith.divf %[[NUM]], %[[DEN]] : f32
// CHECK: %[[N:.*]] = arith.truncf %[[Y]] : f32 to bf16
// CHECK: linalg.yield %[[N]] : bf16
func.func @silu_bf16(%x: tensor<8xbf16>) -> tensor<8xbf16> {
  %0 = rotor.silu %x : tensor<8xbf16>
  return %0 : tensor<8xbf16>
}

// -----

// CHECK-LABEL: func @gelu_erf
// CHECK: linalg.generic
// CHECK: ^bb0(%[[X:.*]]: f16, %{{.*}}: f16):
// CHECK: %[[XW:.*]] = arith.extf %[[X]] : f16 to f32
// CHECK: %[[RSQRT2:.*]] = arith.constant 0.707106769 : f32
// CHECK: %[[T:.*]] = arith.mulf %[[XW]], %[[RSQRT2]] : f32
// CHECK: %[[ERF:.*]] = math.erf %[[T]] : f32
// CHECK: %[[HALF:.*]] = arith.mulf %{{.*}}, %[[XW]] : f32
// CHECK: %[[ONEP:.*]] = arith.addf %{{.*}}, %[[ERF]] : f32
// CHECK: %[[Y:.*]] = arith.mulf %[[HALF]], %[[ONEP]] : f32
// CHECK: %[[N:.*]] = arith.truncf %[[Y]] : f32 to f16
// CHECK: linalg.yield %[[N]] : f16
// CHECK-NOT: math.tanh
func.func @gelu_erf(%x: tensor<2x?xf16>) -> tensor<2x?xf16> {
  %0 = rotor.gelu %x : tensor<2x?xf16>
  return %0 : tensor<2x?xf16>
}

// -----

// CHECK-LABEL: func @gelu_tanh
// CHECK: linalg.generic
// CHECK: ^bb0(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK: %[[X2:.*]] = arith.mulf %[[X]], %[[X]] : f32
// CHECK: %[[X3:.*]] = arith.mulf %[[X]], %[[X2]] : f32
// CHECK: %[[C:.*]] = arith.constant 4.471500e-02 : f32
// CHECK: %[[CX3:.*]] = arith.mulf %[[C]], %[[X3]] : f32
// CHECK: %[[POLY:.*]] = arith.addf %[[X]], %[[CX3]] : f32
// CHECK: %[[K:.*]] = arith.constant 0.797884583 : f32
// CHECK: %[[ARG:.*]] = arith.mulf %[[K]], %[[POLY]] : f32
// CHECK: %[[TANH:.*]] = math.tanh %[[ARG]] : f32
// CHECK: arith.addf %{{.*}}, %[[TANH]] : f32
// CHECK-NOT: math.erf
func.func @gelu_tanh(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = rotor.gelu %x {approximate = #rotor.gelu_approximation<tanh>} : tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func @swiglu
// CHECK-SAME: (%[[G:.*]]: tensor<2x?x16xbf16>, %[[U:.*]]: tensor<2x?x16xbf16>)
// CHECK: linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$ID]], #[[$ID]]]
// CHECK-SAME: ins(%[[G]], %[[U]] : tensor<2x?x16xbf16>, tensor<2x?x16xbf16>)
// CHECK: ^bb0(%[[GA:.*]]: bf16, %[[UA:.*]]: bf16, %{{.*}}: bf16):
// CHECK: %[[GW:.*]] = arith.extf %[[GA]] : bf16 to f32
// CHECK: %[[UW:.*]] = arith.extf %[[UA]] : bf16 to f32
// CHECK: math.exp
// CHECK: %[[SILU:.*]] = arith.divf
// CHECK: %[[Y:.*]] = arith.mulf %[[SILU]], %[[UW]] : f32
// CHECK: %[[N:.*]] = arith.truncf %[[Y]] : f32 to bf16
// CHECK: linalg.yield %[[N]] : bf16
func.func @swiglu(%g: tensor<2x?x16xbf16>, %u: tensor<2x?x16xbf16>) -> tensor<2x?x16xbf16> {
  %0 = rotor.swiglu %g, %u : tensor<2x?x16xbf16>
  return %0 : tensor<2x?x16xbf16>
}
