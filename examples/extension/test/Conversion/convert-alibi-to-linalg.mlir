// RUN: rotor-opt %load_alibi %s -split-input-file \
// RUN:   --pass-pipeline='builtin.module(convert-alibi-to-linalg)' | FileCheck %s

// rotor-opt takes mlir-opt's plugin flags; a plugin's passes are named in
// --pass-pipeline (they are registered while the command line is parsed,
// after the per-pass flags were made).

// CHECK-DAG: #[[$Q:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
// CHECK-DAG: #[[$K:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 2, d3, d4)>
// CHECK-DAG: #[[$V:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 2, d4, d3)>
// CHECK-DAG: #[[$HEAD:.*]] = affine_map<(d0, d1, d2, d3) -> (d1)>
// CHECK-LABEL: func.func @gqa_window
// CHECK-SAME: (%[[QA:.*]]: tensor<1x4x?x8xf32>, %[[KA:.*]]: tensor<1x2x?x8xf32>, %[[VA:.*]]: tensor<1x2x?x8xf32>)
// CHECK-NOT: alibi.attention
// CHECK: %[[SQ:.*]] = tensor.dim %[[QA]]
// CHECK: %[[SK:.*]] = tensor.dim %[[KA]]
// CHECK: %[[OFF:.*]] = arith.subi %[[SK]], %[[SQ]] : index
// CHECK: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// The slopes of 4 heads: 2^-2, 2^-4, 2^-6, 2^-8.
// CHECK: %[[SLOPES:.*]] = arith.constant dense<[2.500000e-01, 6.250000e-02, 1.562500e-02, 3.906250e-03]> : tensor<4xf32>
// Scores: Σ_d q·k with the key head h floordiv 2.
// CHECK: %[[S:.*]] = linalg.generic {indexing_maps = [#[[$Q]], #[[$K]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[QA]], %[[KA]] :
// CHECK: arith.mulf
// CHECK: arith.addf
// Bias and mask: p = i + Sk - Sq, d = p - j, visible = d <= 3 && d >= 0.
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[$HEAD]], #{{.*}}], {{.*}} ins(%[[S]], %[[SLOPES]] :
// CHECK: ^bb0(%[[SCORE:.*]]: f32, %[[SLOPE:.*]]: f32, %{{.*}}: f32):
// CHECK: %[[I:.*]] = linalg.index 2
// CHECK: %[[J:.*]] = linalg.index 3
// CHECK: %[[P:.*]] = arith.addi %[[I]], %[[OFF]]
// CHECK: %[[D:.*]] = arith.subi %[[P]], %[[J]]
// CHECK: %[[WIN:.*]] = arith.cmpi sle, %[[D]], %c3
// CHECK: %[[W:.*]] = arith.andi %{{.*}}, %[[WIN]] : i1
// CHECK: %[[CAUSAL:.*]] = arith.cmpi sge, %[[D]], %c0
// CHECK: %[[VIS:.*]] = arith.andi %[[W]], %[[CAUSAL]] : i1
// CHECK: %[[DIST:.*]] = math.absi
// CHECK: %[[DISTF:.*]] = arith.sitofp %[[DIST]] : i64 to f32
// CHECK: %[[SCALED:.*]] = arith.mulf %[[SCORE]], %{{.*}} : f32
// CHECK: %[[BIAS:.*]] = arith.mulf %[[SLOPE]], %[[DISTF]] : f32
// CHECK: %[[BIASED:.*]] = arith.subf %[[SCALED]], %[[BIAS]] : f32
// CHECK: arith.select %[[VIS]], %[[BIASED]], %[[NEGINF]] : f32
// CHECK: arith.maximumf
// CHECK: math.exp
// P · v with the value head h floordiv 2, then the division by the row sum.
// CHECK: linalg.generic {indexing_maps = [#[[$Q]], #[[$V]], #{{.*}}], {{.*}} ins(%{{.*}}, %[[VA]] :
// CHECK: arith.divf
// CHECK: return
func.func @gqa_window(%q: tensor<1x4x?x8xf32>, %k: tensor<1x2x?x8xf32>,
                      %v: tensor<1x2x?x8xf32>) -> tensor<1x4x?x8xf32> {
  %o = alibi.attention %q, %k, %v {mask = #rotor.mask<causal = true, window_left = 3>}
      : tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
  return %o : tensor<1x4x?x8xf32>
}

// -----

// Six heads (not a power of two): the 4-head slopes, then 2^-1 and 2^-3.
// CHECK-LABEL: func.func @six_heads
// CHECK: arith.constant dense<[2.500000e-01, 6.250000e-02, 1.562500e-02, 3.906250e-03, 5.000000e-01, 1.250000e-01]> : tensor<6xf32>
func.func @six_heads(%q: tensor<1x6x5x8xf32>, %k: tensor<1x6x5x8xf32>,
                     %v: tensor<1x6x5x8xf32>) -> tensor<1x6x5x8xf32> {
  %o = alibi.attention %q, %k, %v
      : tensor<1x6x5x8xf32>, tensor<1x6x5x8xf32>, tensor<1x6x5x8xf32>
  return %o : tensor<1x6x5x8xf32>
}

// -----

// max_bias = 4 halves the exponents; explicit slopes win over max_bias.
// CHECK-LABEL: func.func @max_bias
// CHECK: arith.constant dense<[5.000000e-01, 2.500000e-01]> : tensor<2xf32>
// CHECK-LABEL: func.func @explicit_slopes
// CHECK: arith.constant dense<[3.000000e-01, 0.000000e+00]> : tensor<2xf32>
func.func @max_bias(%q: tensor<1x2x5x8xf32>, %k: tensor<1x2x5x8xf32>,
                    %v: tensor<1x2x5x8xf32>) -> tensor<1x2x5x8xf32> {
  %o = alibi.attention %q, %k, %v {max_bias = 2.0 : f64}
      : tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>
  return %o : tensor<1x2x5x8xf32>
}
func.func @explicit_slopes(%q: tensor<1x2x5x8xf32>, %k: tensor<1x2x5x8xf32>,
                           %v: tensor<1x2x5x8xf32>) -> tensor<1x2x5x8xf32> {
  %o = alibi.attention %q, %k, %v {max_bias = 2.0 : f64, slopes = array<f64: 0.3, 0.0>}
      : tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>
  return %o : tensor<1x2x5x8xf32>
}

// -----

// bf16 data: widened to f32 for the products, the result narrowed once.
// CHECK-LABEL: func.func @bf16
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: return {{.*}} : tensor<1x2x5x8xbf16>
func.func @bf16(%q: tensor<1x2x5x8xbf16>, %k: tensor<1x2x5x8xbf16>,
                %v: tensor<1x2x5x8xbf16>) -> tensor<1x2x5x8xbf16> {
  %o = alibi.attention %q, %k, %v
      : tensor<1x2x5x8xbf16>, tensor<1x2x5x8xbf16>, tensor<1x2x5x8xbf16>
  return %o : tensor<1x2x5x8xbf16>
}

// -----

// f64 data accumulates in f64.
// CHECK-LABEL: func.func @f64
// CHECK: arith.constant dense<[2.500000e-01, 6.250000e-02, 1.562500e-02, 3.906250e-03]> : tensor<4xf64>
// CHECK-NOT: arith.truncf
// CHECK: return {{.*}} : tensor<1x4x5x8xf64>
func.func @f64(%q: tensor<1x4x5x8xf64>, %k: tensor<1x4x5x8xf64>,
               %v: tensor<1x4x5x8xf64>) -> tensor<1x4x5x8xf64> {
  %o = alibi.attention %q, %k, %v
      : tensor<1x4x5x8xf64>, tensor<1x4x5x8xf64>, tensor<1x4x5x8xf64>
  return %o : tensor<1x4x5x8xf64>
}

// -----

// The pass lowers only the alibi dialect: rotor.attention is left for
// convert-rotor-to-linalg.
// CHECK-LABEL: func.func @not_alibi
// CHECK-NEXT: %[[O:.*]] = rotor.attention
// CHECK-NEXT: return %[[O]]
func.func @not_alibi(%q: tensor<1x2x5x8xf32>, %k: tensor<1x2x5x8xf32>,
                     %v: tensor<1x2x5x8xf32>) -> tensor<1x2x5x8xf32> {
  %o = rotor.attention %q, %k, %v
      : tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>
  return %o : tensor<1x2x5x8xf32>
}

// -----

// alibi.attention_grad (GQA 2, f32): the probabilities recomputed as in the
// forward lowering and normalized, then dP = dO · vᵀ, Δ = Σ_j dP ⊙ P,
// dS = scale · P ⊙ (dP - Δ), dq = dS · k; the key and value cotangents per
// query head, then summed over each group of 2 heads (an expand_shape
// (1, 4, ...) -> (1, 2, 2, ...) and a reduction). No conversion of f32
// results (the accumulation type).
// CHECK-DAG: #[[$Q:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
// CHECK-DAG: #[[$K:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 2, d3, d4)>
// CHECK-DAG: #[[$KD:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 2, d4, d3)>
// CHECK-DAG: #[[$T:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d2)>
// CHECK-DAG: #[[$QI:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
// CHECK-DAG: #[[$GROUP:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d2, d3)>
// CHECK-LABEL: func.func @grad_gqa
// CHECK-SAME: (%[[QA:.*]]: tensor<1x4x?x8xf32>, %[[KA:.*]]: tensor<1x2x?x8xf32>, %[[VA:.*]]: tensor<1x2x?x6xf32>, %[[DO:.*]]: tensor<1x4x?x6xf32>)
// CHECK-NOT: alibi.attention_grad
// CHECK: linalg.generic {indexing_maps = [#[[$Q]], #[[$K]], #{{.*}}], {{.*}} ins(%[[QA]], %[[KA]] :
// CHECK: math.exp
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x4x?x?xf32>, tensor<1x4x?xf32>)
// CHECK: arith.divf
// CHECK: %[[DP:.*]] = linalg.generic {indexing_maps = [#[[$Q]], #[[$K]], #{{.*}}], {{.*}} ins(%[[DO]], %[[VA]] :
// CHECK: %[[DELTA:.*]] = linalg.generic {{.*}} ins(%[[DP]], %[[P]] :
// CHECK: %[[DS:.*]] = linalg.generic {{.*}} ins(%[[P]], %[[DP]], %[[DELTA]] :
// CHECK: arith.subf
// CHECK: arith.mulf
// CHECK: arith.constant 5.000000e-01 : f32
// CHECK: %[[DQ:.*]] = linalg.generic {indexing_maps = [#[[$Q]], #[[$KD]], #{{.*}}], {{.*}} ins(%[[DS]], %[[KA]] :
// CHECK: %[[DKH:.*]] = linalg.generic {indexing_maps = [#[[$T]], #[[$QI]], #{{.*}}], {{.*}} ins(%[[DS]], %[[QA]] :
// CHECK: %[[DVH:.*]] = linalg.generic {indexing_maps = [#[[$T]], #[[$QI]], #{{.*}}], {{.*}} ins(%[[P]], %[[DO]] :
// CHECK: %[[DKG:.*]] = tensor.expand_shape %[[DKH]] {{\[\[}}0], [1, 2], [3], [4]] output_shape [1, 2, 2, %{{.*}}, 8] : tensor<1x4x?x8xf32> into tensor<1x2x2x?x8xf32>
// CHECK: %[[DK:.*]] = linalg.generic {indexing_maps = [#[[$GROUP]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[DKG]] :
// CHECK: %[[DVG:.*]] = tensor.expand_shape %[[DVH]] {{\[\[}}0], [1, 2], [3], [4]] output_shape [1, 2, 2, %{{.*}}, 6] : tensor<1x4x?x6xf32> into tensor<1x2x2x?x6xf32>
// CHECK: %[[DV:.*]] = linalg.generic {indexing_maps = [#[[$GROUP]], #{{.*}}], {{.*}} ins(%[[DVG]] :
// CHECK: return %[[DQ]], %[[DK]], %[[DV]]
func.func @grad_gqa(%q: tensor<1x4x?x8xf32>, %k: tensor<1x2x?x8xf32>,
                    %v: tensor<1x2x?x6xf32>, %do: tensor<1x4x?x6xf32>)
    -> (tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x6xf32>) {
  %dq, %dk, %dv = alibi.attention_grad %q, %k, %v, %do
      {mask = #rotor.mask<causal = true>, scale = 0.5 : f64}
      : tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x6xf32>, tensor<1x4x?x6xf32>
  return %dq, %dk, %dv : tensor<1x4x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x6xf32>
}

// -----

// bf16: accumulation in f32, the cotangents converted back to bf16 (dq once,
// dk and dv after their group sums).
// CHECK-LABEL: func.func @grad_bf16
// CHECK-COUNT-3: arith.truncf %{{.*}} : f32 to bf16
// CHECK: return
func.func @grad_bf16(%q: tensor<1x2x3x8xbf16>, %k: tensor<1x2x3x8xbf16>,
                     %v: tensor<1x2x3x8xbf16>, %do: tensor<1x2x3x8xbf16>)
    -> (tensor<1x2x3x8xbf16>, tensor<1x2x3x8xbf16>, tensor<1x2x3x8xbf16>) {
  %dq, %dk, %dv = alibi.attention_grad %q, %k, %v, %do
      : tensor<1x2x3x8xbf16>, tensor<1x2x3x8xbf16>, tensor<1x2x3x8xbf16>, tensor<1x2x3x8xbf16>
  return %dq, %dk, %dv : tensor<1x2x3x8xbf16>, tensor<1x2x3x8xbf16>, tensor<1x2x3x8xbf16>
}
