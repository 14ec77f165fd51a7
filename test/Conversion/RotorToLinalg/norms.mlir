// RUN: rotor-opt %s -split-input-file --convert-rotor-to-linalg | FileCheck %s

// Lowering of the norms and softmax: reductions into linalg.fill-ed tensors
// of the accumulation type (f32 for f16/bf16, f64 for f64), then one
// parallel generic that narrows when it stores.

// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$ROW:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[$FEAT:.*]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func @rms_norm_bf16
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x64xbf16>, %[[W:.*]]: tensor<64xbf16>)
// CHECK-DAG: %[[H:.*]] = arith.constant 6.400000e+01 : f32
// CHECK-DAG: %[[EPS:.*]] = arith.constant 9.99999974E-6 : f32
// CHECK: %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<2x?xf32>
// CHECK: %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[INIT:.*]] = linalg.fill ins(%[[Z]] : f32) outs(%[[E]] : tensor<2x?xf32>)
// CHECK: %[[SS:.*]] = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$ROW]]]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%[[X]] : tensor<2x?x64xbf16>) outs(%[[INIT]] : tensor<2x?xf32>)
// CHECK: ^bb0(%[[IN:.*]]: bf16, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[XW:.*]] = arith.extf %[[IN]] : bf16 to f32
// CHECK-NEXT: %[[SQ:.*]] = arith.mulf %[[XW]], %[[XW]] : f32
// CHECK-NEXT: %[[SUM:.*]] = arith.addf %[[ACC]], %[[SQ]] : f32
// CHECK-NEXT: linalg.yield %[[SUM]] : f32
// CHECK: } -> tensor<2x?xf32>
// CHECK: linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$ROW]], #[[$FEAT]], #[[$ID]]]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME: ins(%[[X]], %[[SS]], %[[W]] : tensor<2x?x64xbf16>, tensor<2x?xf32>, tensor<64xbf16>)
// CHECK: ^bb0(%[[IN:.*]]: bf16, %[[S:.*]]: f32, %[[WE:.*]]: bf16, %{{.*}}: bf16):
// CHECK: %[[XW:.*]] = arith.extf %[[IN]] : bf16 to f32
// CHECK: %[[WW:.*]] = arith.extf %[[WE]] : bf16 to f32
// CHECK: %[[MS:.*]] = arith.divf %[[S]], %[[H]] : f32
// CHECK: %[[MSE:.*]] = arith.addf %[[MS]], %[[EPS]] : f32
// CHECK: %[[RMS:.*]] = math.sqrt %[[MSE]] : f32
// CHECK: %[[N:.*]] = arith.divf %[[XW]], %[[RMS]] : f32
// CHECK: %[[Y:.*]] = arith.mulf %[[N]], %[[WW]] : f32
// CHECK: %[[T:.*]] = arith.truncf %[[Y]] : f32 to bf16
// CHECK: linalg.yield %[[T]] : bf16
func.func @rms_norm_bf16(%x: tensor<2x?x64xbf16>, %w: tensor<64xbf16>) -> tensor<2x?x64xbf16> {
  %0 = rotor.rms_norm %x, %w {epsilon = 1.0e-05 : f64} : tensor<2x?x64xbf16>, tensor<64xbf16>
  return %0 : tensor<2x?x64xbf16>
}

// -----

// Two-pass layer norm: the sum, then the sum of squared deviations from the
// mean; a dynamic feature count is converted to float at run time.

// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-DAG: #[[$FEAT:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func @layer_norm_bias
// CHECK-SAME: (%[[X:.*]]: tensor<?x?xf32>, %[[W:.*]]: tensor<?xf32>, %[[B:.*]]: tensor<?xf32>)
// CHECK: %[[C1:.*]] = arith.constant 1 : index
// CHECK: %[[D1:.*]] = tensor.dim %[[X]], %[[C1]]
// CHECK: %[[D1I:.*]] = arith.index_castui %[[D1]] : index to i64
// CHECK: %[[H:.*]] = arith.uitofp %[[D1I]] : i64 to f32
// CHECK: %[[SUM:.*]] = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$ROW]]]
// CHECK-SAME: iterator_types = ["parallel", "reduction"]
// CHECK: arith.addf
// CHECK: %[[DEV:.*]] = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ROW]]]
// CHECK-SAME: iterator_types = ["parallel", "reduction"]
// CHECK-SAME: ins(%[[X]], %[[SUM]] : tensor<?x?xf32>, tensor<?xf32>)
// CHECK: ^bb0(%[[IN:.*]]: f32, %[[S:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[MEAN:.*]] = arith.divf %[[S]], %[[H]] : f32
// CHECK-NEXT: %[[D:.*]] = arith.subf %[[IN]], %[[MEAN]] : f32
// CHECK-NEXT: %[[D2:.*]] = arith.mulf %[[D]], %[[D]] : f32
// CHECK-NEXT: arith.addf %[[ACC]], %[[D2]] : f32
// CHECK: linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ROW]], #[[$FEAT]], #[[$FEAT]], #[[$ID]]]
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK-SAME: ins(%[[X]], %[[SUM]], %[[DEV]], %[[W]], %[[B]] :
// CHECK: math.sqrt
// CHECK: arith.subf
// CHECK: arith.divf
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NEXT: linalg.yield
func.func @layer_norm_bias(%x: tensor<?x?xf32>, %w: tensor<?xf32>, %b: tensor<?xf32>) -> tensor<?x?xf32> {
  %0 = rotor.layer_norm %x, %w bias(%b : tensor<?xf32>) : tensor<?x?xf32>, tensor<?xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// CHECK-LABEL: func @l2_normalize_f16
// CHECK-SAME: (%[[X:.*]]: tensor<4x?xf16>)
// CHECK: %[[EPS:.*]] = arith.constant 9.99999996E-13 : f32
// CHECK: %[[E:.*]] = tensor.empty() : tensor<4xf32>
// CHECK: %[[INIT:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E]] : tensor<4xf32>)
// CHECK: %[[SS:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "reduction"]
// CHECK-SAME: ins(%[[X]] : tensor<4x?xf16>) outs(%[[INIT]] : tensor<4xf32>)
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[X]], %[[SS]] : tensor<4x?xf16>, tensor<4xf32>)
// CHECK: ^bb0(%[[IN:.*]]: f16, %[[S:.*]]: f32, %{{.*}}: f16):
// CHECK: %[[XW:.*]] = arith.extf %[[IN]] : f16 to f32
// CHECK: %[[NORM:.*]] = math.sqrt %[[S]] : f32
// CHECK: %[[DEN:.*]] = arith.maximumf %[[NORM]], %[[EPS]] : f32
// CHECK: %[[Y:.*]] = arith.divf %[[XW]], %[[DEN]] : f32
// CHECK: arith.truncf %[[Y]] : f32 to f16
func.func @l2_normalize_f16(%x: tensor<4x?xf16>) -> tensor<4x?xf16> {
  %0 = rotor.l2_normalize %x : tensor<4x?xf16>
  return %0 : tensor<4x?xf16>
}

// -----

// Softmax along a middle axis: the reductions drop d1.

// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$ROW:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func @softmax_axis1_bf16
// CHECK-SAME: (%[[X:.*]]: tensor<4x?x8xbf16>)
// CHECK: %[[E0:.*]] = tensor.empty() : tensor<4x8xf32>
// CHECK: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: %[[MINIT:.*]] = linalg.fill ins(%[[NEGINF]] : f32) outs(%[[E0]] : tensor<4x8xf32>)
// CHECK: %[[MAX:.*]] = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$ROW]]]
// CHECK-SAME: iterator_types = ["parallel", "reduction", "parallel"]
// CHECK-SAME: outs(%[[MINIT]] : tensor<4x8xf32>)
// CHECK: ^bb0(%[[IN:.*]]: bf16, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[XW:.*]] = arith.extf %[[IN]] : bf16 to f32
// CHECK-NEXT: %[[M:.*]] = arith.maximumf %[[ACC]], %[[XW]] : f32
// CHECK-NEXT: linalg.yield %[[M]] : f32
// CHECK: %[[E1:.*]] = tensor.empty() : tensor<4x8xf32>
// CHECK: %[[SINIT:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E1]] : tensor<4x8xf32>)
// CHECK: %[[SUM:.*]] = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ROW]]]
// CHECK-SAME: iterator_types = ["parallel", "reduction", "parallel"]
// CHECK-SAME: ins(%[[X]], %[[MAX]] : tensor<4x?x8xbf16>, tensor<4x8xf32>) outs(%[[SINIT]] : tensor<4x8xf32>)
// CHECK: ^bb0(%[[IN:.*]]: bf16, %[[MV:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[XW:.*]] = arith.extf %[[IN]] : bf16 to f32
// CHECK-NEXT: %[[D:.*]] = arith.subf %[[XW]], %[[MV]] : f32
// CHECK-NEXT: %[[EX:.*]] = math.exp %[[D]] : f32
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[ACC]], %[[EX]] : f32
// CHECK-NEXT: linalg.yield %[[S]] : f32
// CHECK: linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ROW]], #[[$ID]]]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME: ins(%[[X]], %[[MAX]], %[[SUM]] :
// CHECK: ^bb0(%[[IN:.*]]: bf16, %[[MV:.*]]: f32, %[[SV:.*]]: f32, %{{.*}}: bf16):
// CHECK-NEXT: %[[XW:.*]] = arith.extf %[[IN]] : bf16 to f32
// CHECK-NEXT: %[[D:.*]] = arith.subf %[[XW]], %[[MV]] : f32
// CHECK-NEXT: %[[EX:.*]] = math.exp %[[D]] : f32
// CHECK-NEXT: %[[P:.*]] = arith.divf %[[EX]], %[[SV]] : f32
// CHECK-NEXT: %[[T:.*]] = arith.truncf %[[P]] : f32 to bf16
// CHECK-NEXT: linalg.yield %[[T]] : bf16
func.func @softmax_axis1_bf16(%x: tensor<4x?x8xbf16>) -> tensor<4x?x8xbf16> {
  %0 = rotor.softmax %x {axis = 1 : i64} : tensor<4x?x8xbf16>
  return %0 : tensor<4x?x8xbf16>
}

// -----

// f64 data accumulates in f64, with no conversions.

// CHECK-LABEL: func @softmax_f64
// CHECK: %[[NEGINF:.*]] = arith.constant 0xFFF0000000000000 : f64
// CHECK: linalg.fill ins(%[[NEGINF]] : f64) outs(%{{.*}} : tensor<3xf64>)
// CHECK: iterator_types = ["parallel", "reduction"]
// CHECK: arith.maximumf %{{.*}}, %{{.*}} : f64
// CHECK: iterator_types = ["parallel", "reduction"]
// CHECK: math.exp %{{.*}} : f64
// CHECK: iterator_types = ["parallel", "parallel"]
// CHECK: arith.divf %{{.*}}, %{{.*}} : f64
// CHECK-NOT: arith.extf
// CHECK-NOT: arith.truncf
func.func @softmax_f64(%x: tensor<3x5xf64>) -> tensor<3x5xf64> {
  %0 = rotor.softmax %x : tensor<3x5xf64>
  return %0 : tensor<3x5xf64>
}
