// RUN: rotor-opt %s -split-input-file --convert-rotor-to-linalg="vector-matmul=false" | FileCheck %s
// (vector-matmul=false: the linalg contractions that dynamic weights get;
// matmul.mlir checks the vectorized kernel of static weights.)

// Lowering of the linear layers, embeddings, convolutions, head layout ops,
// sinusoidal embeddings and the cross-entropy loss.

// linear: a contraction over (L..., n, k) into an f32 accumulator, then an
// epilogue that adds the bias and narrows to bf16.

// CHECK-DAG: #[[$X:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[$W:.*]] = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
// CHECK-DAG: #[[$OUT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$BIAS:.*]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func @linear_bias_bf16
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x8xbf16>, %[[W:.*]]: tensor<5x8xbf16>, %[[B:.*]]: tensor<5xbf16>)
// CHECK: %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<2x?x5xf32>
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<2x?x5xf32>)
// CHECK: %[[ACC:.*]] = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$X]], #[[$W]], #[[$OUT]]]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%[[X]], %[[W]] : tensor<2x?x8xbf16>, tensor<5x8xbf16>) outs(%[[INIT]] : tensor<2x?x5xf32>)
// CHECK: ^bb0(%[[XE:.*]]: bf16, %[[WE:.*]]: bf16, %[[A:.*]]: f32):
// CHECK-NEXT: %[[XW:.*]] = arith.extf %[[XE]] : bf16 to f32
// CHECK-NEXT: %[[WW:.*]] = arith.extf %[[WE]] : bf16 to f32
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[XW]], %[[WW]] : f32
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[A]], %[[P]] : f32
// CHECK-NEXT: linalg.yield %[[S]] : f32
// CHECK: } -> tensor<2x?x5xf32>
// CHECK: %[[OE:.*]] = tensor.empty(%{{.*}}) : tensor<2x?x5xbf16>
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$BIAS]], #[[$ID]]]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME: ins(%[[ACC]], %[[B]] : tensor<2x?x5xf32>, tensor<5xbf16>) outs(%[[OE]] : tensor<2x?x5xbf16>)
// CHECK: ^bb0(%[[AE:.*]]: f32, %[[BE:.*]]: bf16, %{{.*}}: bf16):
// CHECK-NEXT: %[[BW:.*]] = arith.extf %[[BE]] : bf16 to f32
// CHECK-NEXT: %[[SUM:.*]] = arith.addf %[[AE]], %[[BW]] : f32
// CHECK-NEXT: %[[T:.*]] = arith.truncf %[[SUM]] : f32 to bf16
// CHECK-NEXT: linalg.yield %[[T]] : bf16
// CHECK: return %[[Y]]
func.func @linear_bias_bf16(%x: tensor<2x?x8xbf16>, %w: tensor<5x8xbf16>, %b: tensor<5xbf16>) -> tensor<2x?x5xbf16> {
  %0 = rotor.linear %x, %w bias(%b : tensor<5xbf16>) : tensor<2x?x8xbf16>, tensor<5x8xbf16>
  return %0 : tensor<2x?x5xbf16>
}

// -----

// Without a bias and with f32 data the contraction is the result.

// CHECK-DAG: #[[$X:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[$W:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[$OUT:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func @linear_f32
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$X]], #[[$W]], #[[$OUT]]]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]] : tensor<?x5xf32>
func.func @linear_f32(%x: tensor<?x8xf32>, %w: tensor<5x8xf32>) -> tensor<?x5xf32> {
  %0 = rotor.linear %x, %w : tensor<?x8xf32>, tensor<5x8xf32>
  return %0 : tensor<?x5xf32>
}

// -----

// embedding: a gather with the row index clamped into [0, V) and a zero row
// for out-of-range ids.

// CHECK-DAG: #[[$IDS:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func @embedding
// CHECK-SAME: (%[[IDS:.*]]: tensor<2x?xi32>, %[[T:.*]]: tensor<?x16xbf16>)
// CHECK: %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<2x?x16xbf16>
// CHECK: %[[V:.*]] = tensor.dim %[[T]], %{{.*}} : tensor<?x16xbf16>
// CHECK: linalg.generic
// CHECK-SAME: indexing_maps = [#[[$IDS]], #[[$ID]]]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME: ins(%[[IDS]] : tensor<2x?xi32>) outs(%[[E]] : tensor<2x?x16xbf16>)
// CHECK: ^bb0(%[[I:.*]]: i32, %{{.*}}: bf16):
// CHECK: %[[IDX:.*]] = arith.index_cast %[[I]] : i32 to index
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[GE:.*]] = arith.cmpi sge, %[[IDX]], %[[C0]] : index
// CHECK: %[[LT:.*]] = arith.cmpi slt, %[[IDX]], %[[V]] : index
// CHECK: %[[OK:.*]] = arith.andi %[[GE]], %[[LT]] : i1
// CHECK: %[[ROW:.*]] = arith.select %[[OK]], %[[IDX]], %[[C0]] : index
// CHECK: %[[COL:.*]] = linalg.index 2 : index
// CHECK: %[[VAL:.*]] = tensor.extract %[[T]][%[[ROW]], %[[COL]]] : tensor<?x16xbf16>
// CHECK: %[[Z:.*]] = arith.constant 0.000000e+00 : bf16
// CHECK: %[[R:.*]] = arith.select %[[OK]], %[[VAL]], %[[Z]] : bf16
// CHECK: linalg.yield %[[R]] : bf16
func.func @embedding(%ids: tensor<2x?xi32>, %t: tensor<?x16xbf16>) -> tensor<2x?x16xbf16> {
  %0 = rotor.embedding %ids, %t : tensor<2x?xi32>, tensor<?x16xbf16>
  return %0 : tensor<2x?x16xbf16>
}

// -----

// A table with no rows gives zeros without reading it.

// CHECK-LABEL: func @embedding_empty_table
// CHECK: %[[E:.*]] = tensor.empty() : tensor<3x4xf32>
// CHECK: %[[Y:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E]] : tensor<3x4xf32>)
// CHECK-NOT: tensor.extract
// CHECK: return %[[Y]]
func.func @embedding_empty_table(%ids: tensor<3xi64>, %t: tensor<0x4xf32>) -> tensor<3x4xf32> {
  %0 = rotor.embedding %ids, %t : tensor<3xi64>, tensor<0x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// conv1d, causal, 2 groups: pad K - 1 = 2 before, split the channels into
// (groups, per group), contract over (c, k) reading t + k, add the bias and
// narrow, collapse the groups back.

// CHECK-DAG: #[[$IN:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1 + d5, d2, d4)>
// CHECK-DAG: #[[$WT:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d2, d3, d4, d5)>
// CHECK-DAG: #[[$OUT:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[$BIAS:.*]] = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
// CHECK-LABEL: func @conv1d_causal_grouped
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x6xbf16>, %[[W:.*]]: tensor<4x3x3xbf16>, %[[B:.*]]: tensor<4xbf16>)
// CHECK: %[[PZ:.*]] = arith.constant 0.000000e+00 : bf16
// CHECK: %[[PAD:.*]] = tensor.pad %[[X]] low[0, 2, 0] high[0, 0, 0]
// CHECK: tensor.yield %[[PZ]] : bf16
// CHECK: } : tensor<2x?x6xbf16> to tensor<2x?x6xbf16>
// CHECK: %[[SP:.*]] = tensor.dim %[[PAD]], %{{.*}} : tensor<2x?x6xbf16>
// CHECK: %[[XG:.*]] = tensor.expand_shape %[[PAD]] {{\[}}[0], [1], [2, 3]] output_shape [2, %[[SP]], 2, 3] : tensor<2x?x6xbf16> into tensor<2x?x2x3xbf16>
// CHECK: %[[WG:.*]] = tensor.expand_shape %[[W]] {{\[}}[0, 1], [2], [3]] output_shape [2, 2, 3, 3] : tensor<4x3x3xbf16> into tensor<2x2x3x3xbf16>
// CHECK: %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<2x?x2x2xf32>
// CHECK: %[[INIT:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E]] : tensor<2x?x2x2xf32>)
// CHECK: %[[ACC:.*]] = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$IN]], #[[$WT]], #[[$OUT]]]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]
// CHECK-SAME: ins(%[[XG]], %[[WG]] : tensor<2x?x2x3xbf16>, tensor<2x2x3x3xbf16>) outs(%[[INIT]] : tensor<2x?x2x2xf32>)
// CHECK: ^bb0(%[[XE:.*]]: bf16, %[[WE:.*]]: bf16, %[[A:.*]]: f32):
// CHECK-NEXT: %[[XW:.*]] = arith.extf %[[XE]] : bf16 to f32
// CHECK-NEXT: %[[WW:.*]] = arith.extf %[[WE]] : bf16 to f32
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[XW]], %[[WW]] : f32
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[A]], %[[P]] : f32
// CHECK-NEXT: linalg.yield %[[S]] : f32
// CHECK: %[[BG:.*]] = tensor.expand_shape %[[B]] {{\[}}[0, 1]] output_shape [2, 2] : tensor<4xbf16> into tensor<2x2xbf16>
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$BIAS]], #[[$ID]]]
// CHECK-SAME: ins(%[[ACC]], %[[BG]] : tensor<2x?x2x2xf32>, tensor<2x2xbf16>)
// CHECK: arith.addf
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[Y]] {{\[}}[0], [1], [2, 3]] : tensor<2x?x2x2xbf16> into tensor<2x?x4xbf16>
// CHECK: return %[[R]]
func.func @conv1d_causal_grouped(%x: tensor<2x?x6xbf16>, %w: tensor<4x3x3xbf16>, %b: tensor<4xbf16>) -> tensor<2x?x4xbf16> {
  %0 = rotor.conv1d %x, %w bias(%b : tensor<4xbf16>) {groups = 2 : i64} : tensor<2x?x6xbf16>, tensor<4x3x3xbf16>
  return %0 : tensor<2x?x4xbf16>
}

// -----

// Depthwise, same padding with an even kernel: (K - 1) / 2 = 1 before, 2
// after; f32 without bias needs no epilogue.

// CHECK-LABEL: func @conv1d_same_depthwise
// CHECK: %[[PAD:.*]] = tensor.pad %{{.*}} low[0, 1, 0] high[0, 2, 0]
// CHECK: tensor.expand_shape %[[PAD]] {{\[}}[0], [1], [2, 3]] output_shape [1, %{{.*}}, 8, 1] : tensor<1x?x8xf32> into tensor<1x?x8x1xf32>
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2], [3]] output_shape [8, 1, 1, 4] : tensor<8x1x4xf32> into tensor<8x1x1x4xf32>
// CHECK: %[[ACC:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]
// CHECK-NOT: linalg.generic
// CHECK: tensor.collapse_shape %[[ACC]] {{\[}}[0], [1], [2, 3]] : tensor<1x?x8x1xf32> into tensor<1x?x8xf32>
func.func @conv1d_same_depthwise(%x: tensor<1x?x8xf32>, %w: tensor<8x1x4xf32>) -> tensor<1x?x8xf32> {
  %0 = rotor.conv1d %x, %w {groups = 8 : i64, padding = #rotor.conv_padding<same>} : tensor<1x?x8xf32>, tensor<8x1x4xf32>
  return %0 : tensor<1x?x8xf32>
}

// -----

// A dynamic kernel size gives run-time padding amounts.

// CHECK-LABEL: func @conv1d_dynamic_kernel
// CHECK-SAME: (%[[X:.*]]: tensor<1x?x4xf32>, %[[W:.*]]: tensor<4x4x?xf32>)
// CHECK: %[[K:.*]] = tensor.dim %[[W]], %{{.*}} : tensor<4x4x?xf32>
// CHECK: %[[C1:.*]] = arith.constant 1 : index
// CHECK: %[[KM1:.*]] = arith.subi %[[K]], %[[C1]] : index
// CHECK: %[[C2:.*]] = arith.constant 2 : index
// CHECK: %[[LOW:.*]] = arith.divui %[[KM1]], %[[C2]] : index
// CHECK: %[[HIGH:.*]] = arith.subi %[[KM1]], %[[LOW]] : index
// CHECK: tensor.pad %[[X]] low[0, %[[LOW]], 0] high[0, %[[HIGH]], 0]
func.func @conv1d_dynamic_kernel(%x: tensor<1x?x4xf32>, %w: tensor<4x4x?xf32>) -> tensor<1x?x4xf32> {
  %0 = rotor.conv1d %x, %w {padding = #rotor.conv_padding<same>} : tensor<1x?x4xf32>, tensor<4x4x?xf32>
  return %0 : tensor<1x?x4xf32>
}

// -----

// CHECK-LABEL: func @split_heads
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x64xf32>)
// CHECK: %[[S:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<2x?x64xf32>
// CHECK: %[[EXP:.*]] = tensor.expand_shape %[[X]] {{\[}}[0], [1], [2, 3]] output_shape [2, %[[S]], 4, 16] : tensor<2x?x64xf32> into tensor<2x?x4x16xf32>
// CHECK: %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<2x4x?x16xf32>
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[EXP]] : tensor<2x?x4x16xf32>) outs(%[[E]] : tensor<2x4x?x16xf32>) permutation = [0, 2, 1, 3]
// CHECK: return %[[T]]
func.func @split_heads(%x: tensor<2x?x64xf32>) -> tensor<2x4x?x16xf32> {
  %0 = rotor.split_heads %x into 4 heads : tensor<2x?x64xf32>
  return %0 : tensor<2x4x?x16xf32>
}

// -----

// A dynamic feature count is divided by the number of heads at run time.

// CHECK-LABEL: func @split_heads_dynamic_features
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x?xf32>)
// CHECK: %[[F:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<2x3x?xf32>
// CHECK: %[[C8:.*]] = arith.constant 8 : index
// CHECK: %[[D:.*]] = arith.divui %[[F]], %[[C8]] : index
// CHECK: tensor.expand_shape %[[X]] {{\[}}[0], [1], [2, 3]] output_shape [2, 3, 8, %[[D]]] : tensor<2x3x?xf32> into tensor<2x3x8x?xf32>
// CHECK: linalg.transpose
// CHECK-SAME: outs(%{{.*}} : tensor<2x8x3x?xf32>) permutation = [0, 2, 1, 3]
func.func @split_heads_dynamic_features(%x: tensor<2x3x?xf32>) -> tensor<2x8x3x?xf32> {
  %0 = rotor.split_heads %x into 8 heads : tensor<2x3x?xf32>
  return %0 : tensor<2x8x3x?xf32>
}

// -----

// CHECK-LABEL: func @merge_heads
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x?x16xbf16>)
// CHECK: %[[E:.*]] = tensor.empty(%{{.*}}) : tensor<2x?x4x16xbf16>
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[X]] : tensor<2x4x?x16xbf16>) outs(%[[E]] : tensor<2x?x4x16xbf16>) permutation = [0, 2, 1, 3]
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[T]] {{\[}}[0], [1], [2, 3]] : tensor<2x?x4x16xbf16> into tensor<2x?x64xbf16>
// CHECK: return %[[R]]
func.func @merge_heads(%x: tensor<2x4x?x16xbf16>) -> tensor<2x?x64xbf16> {
  %0 = rotor.merge_heads %x : tensor<2x4x?x16xbf16>
  return %0 : tensor<2x?x64xbf16>
}

// -----

// sinusoidal_embedding: the sine half and the cosine half are each computed
// into a slice of the result and inserted back, angles in f64.

// CHECK-DAG: #[[$POS:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-DAG: #[[$FREQ:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func @sinusoidal
// CHECK-SAME: (%[[P:.*]]: tensor<?xi64>, %[[F:.*]]: tensor<32xbf16>)
// CHECK: %[[N:.*]] = tensor.dim %[[P]], %{{.*}} : tensor<?xi64>
// CHECK: %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x64xbf16>
// CHECK: %[[S0:.*]] = tensor.extract_slice %[[E]][0, 0] [%[[N]], 32] [1, 1] : tensor<?x64xbf16> to tensor<?x32xbf16>
// CHECK: %[[SIN:.*]] = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$POS]], #[[$FREQ]], #[[$ID]]]
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK-SAME: ins(%[[P]], %[[F]] : tensor<?xi64>, tensor<32xbf16>) outs(%[[S0]] : tensor<?x32xbf16>)
// CHECK: ^bb0(%[[PE:.*]]: i64, %[[FE:.*]]: bf16, %{{.*}}: bf16):
// CHECK-NEXT: %[[PF:.*]] = arith.sitofp %[[PE]] : i64 to f64
// CHECK-NEXT: %[[FW:.*]] = arith.extf %[[FE]] : bf16 to f64
// CHECK-NEXT: %[[ANG:.*]] = arith.mulf %[[PF]], %[[FW]] : f64
// CHECK-NEXT: %[[V:.*]] = math.sin %[[ANG]] : f64
// CHECK-NEXT: %[[V32:.*]] = arith.truncf %[[V]] : f64 to f32
// CHECK-NEXT: %[[T:.*]] = arith.truncf %[[V32]] : f32 to bf16
// CHECK-NEXT: linalg.yield %[[T]] : bf16
// CHECK: %[[I0:.*]] = tensor.insert_slice %[[SIN]] into %[[E]][0, 0] [%[[N]], 32] [1, 1]
// CHECK: %[[S1:.*]] = tensor.extract_slice %[[I0]][0, 32] [%[[N]], 32] [1, 1]
// CHECK: %[[COS:.*]] = linalg.generic
// CHECK-SAME: outs(%[[S1]] : tensor<?x32xbf16>)
// CHECK: math.cos
// CHECK: %[[I1:.*]] = tensor.insert_slice %[[COS]] into %[[I0]][0, 32] [%[[N]], 32] [1, 1]
// CHECK: return %[[I1]]
func.func @sinusoidal(%p: tensor<?xi64>, %f: tensor<32xbf16>) -> tensor<?x64xbf16> {
  %0 = rotor.sinusoidal_embedding %p, %f : tensor<?xi64>, tensor<32xbf16>
  return %0 : tensor<?x64xbf16>
}

// -----

// Float positions are widened like the frequencies; f64 positions make the
// angle f64.

// CHECK-LABEL: func @sinusoidal_f64_positions
// CHECK: ^bb0(%[[PE:.*]]: f64, %[[FE:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[FW:.*]] = arith.extf %[[FE]] : f32 to f64
// CHECK-NEXT: %[[ANG:.*]] = arith.mulf %[[PE]], %[[FW]] : f64
// CHECK-NEXT: %[[V:.*]] = math.sin %[[ANG]] : f64
// CHECK-NEXT: arith.truncf %[[V]] : f64 to f32
func.func @sinusoidal_f64_positions(%p: tensor<2x3xf64>, %f: tensor<4xf32>) -> tensor<2x3x8xf32> {
  %0 = rotor.sinusoidal_embedding %p, %f : tensor<2x3xf64>, tensor<4xf32>
  return %0 : tensor<2x3x8xf32>
}

// -----

// cross_entropy: row max and sum of exponentials in f32, then an
// all-reduction generic summing logsumexp - logit[label] over the counted
// rows with an i64 count, then the mean (0 when nothing is counted).

// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$ROW:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[$ROWS:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$TOTAL:.*]] = affine_map<(d0, d1) -> ()>
// CHECK-DAG: #[[$SCALAR:.*]] = affine_map<() -> ()>
// CHECK-LABEL: func @cross_entropy
// CHECK-SAME: (%[[L:.*]]: tensor<2x?x100xbf16>, %[[T:.*]]: tensor<2x?xi64>)
// CHECK: %[[MAX:.*]] = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ID]], #[[$ROW]]]
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.maximumf
// CHECK: } -> tensor<2x?xf32>
// CHECK: %[[SUM:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: math.exp
// CHECK: } -> tensor<2x?xf32>
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[IGNORE:.*]] = arith.constant -1 : i64
// CHECK-DAG: %[[NAN:.*]] = arith.constant 0x7FC00000 : f32
// CHECK: %[[LINIT:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<f32>)
// CHECK: %[[CINIT:.*]] = linalg.fill ins(%[[ZERO]] : i64) outs(%{{.*}} : tensor<i64>)
// CHECK: %[[V:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK: %[[TOT:.*]]:2 = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$ROWS]], #[[$ROWS]], #[[$ROWS]], #[[$TOTAL]], #[[$TOTAL]]]
// CHECK-SAME: iterator_types = ["reduction", "reduction"]
// CHECK-SAME: ins(%[[T]], %[[MAX]], %[[SUM]] : tensor<2x?xi64>, tensor<2x?xf32>, tensor<2x?xf32>)
// CHECK-SAME: outs(%[[LINIT]], %[[CINIT]] : tensor<f32>, tensor<i64>)
// CHECK: ^bb0(%[[LABEL:.*]]: i64, %[[M:.*]]: f32, %[[S:.*]]: f32, %[[LACC:.*]]: f32, %[[CACC:.*]]: i64):
// CHECK: %[[COUNTED:.*]] = arith.cmpi ne, %[[LABEL]], %[[IGNORE]] : i64
// CHECK: %[[GE:.*]] = arith.cmpi sge, %[[LABEL]], %[[ZERO]] : i64
// CHECK: %[[LT:.*]] = arith.cmpi slt, %[[LABEL]], %[[V]] : i64
// CHECK: %[[OK:.*]] = arith.andi %[[GE]], %[[LT]] : i1
// CHECK: %[[CLS64:.*]] = arith.select %[[OK]], %[[LABEL]], %[[ZERO]] : i64
// CHECK: %[[CLS:.*]] = arith.index_cast %[[CLS64]] : i64 to index
// CHECK: %[[I0:.*]] = linalg.index 0 : index
// CHECK: %[[I1:.*]] = linalg.index 1 : index
// CHECK: %[[LOGIT:.*]] = tensor.extract %[[L]][%[[I0]], %[[I1]], %[[CLS]]] : tensor<2x?x100xbf16>
// CHECK: %[[LOGITW:.*]] = arith.extf %[[LOGIT]] : bf16 to f32
// CHECK: %[[LOG:.*]] = math.log %[[S]] : f32
// CHECK: %[[LSE:.*]] = arith.addf %[[LOG]], %[[M]] : f32
// CHECK: %[[LOSS:.*]] = arith.subf %[[LSE]], %[[LOGITW]] : f32
// CHECK: %[[ROWLOSS:.*]] = arith.select %[[OK]], %[[LOSS]], %[[NAN]] : f32
// CHECK: %[[NEWSUM:.*]] = arith.addf %[[LACC]], %[[ROWLOSS]] : f32
// CHECK: %[[SUMSEL:.*]] = arith.select %[[COUNTED]], %[[NEWSUM]], %[[LACC]] : f32
// CHECK: %[[NEWCNT:.*]] = arith.addi %[[CACC]], %[[ONE]] : i64
// CHECK: %[[CNTSEL:.*]] = arith.select %[[COUNTED]], %[[NEWCNT]], %[[CACC]] : i64
// CHECK: linalg.yield %[[SUMSEL]], %[[CNTSEL]] : f32, i64
// CHECK: %[[RES:.*]] = linalg.generic
// CHECK-SAME: indexing_maps = [#[[$SCALAR]], #[[$SCALAR]], #[[$SCALAR]]]
// CHECK-SAME: iterator_types = []
// CHECK-SAME: ins(%[[TOT]]#0, %[[TOT]]#1 : tensor<f32>, tensor<i64>)
// CHECK: ^bb0(%[[TS:.*]]: f32, %[[TC:.*]]: i64, %{{.*}}: f32):
// CHECK: %[[CF:.*]] = arith.uitofp %[[TC]] : i64 to f32
// CHECK: %[[ANY:.*]] = arith.cmpi ne, %[[TC]], %[[ZERO]] : i64
// CHECK: %[[MEAN:.*]] = arith.divf %[[TS]], %[[CF]] : f32
// CHECK: %[[OUT:.*]] = arith.select %[[ANY]], %[[MEAN]], %{{.*}} : f32
// CHECK: linalg.yield %[[OUT]] : f32
// CHECK: return %[[RES]] : tensor<f32>
func.func @cross_entropy(%l: tensor<2x?x100xbf16>, %t: tensor<2x?xi64>) -> tensor<f32> {
  %0 = rotor.cross_entropy %l, %t {ignore_index = -1 : i64} : tensor<2x?x100xbf16>, tensor<2x?xi64>
  return %0 : tensor<f32>
}

// -----

// f64 logits give an f64 loss; i32 labels are sign-extended before the
// comparison with ignore_index.

// CHECK-LABEL: func @cross_entropy_f64_i32
// CHECK: %[[IGNORE:.*]] = arith.constant -100 : i64
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["reduction"]
// CHECK: ^bb0(%[[LABEL:.*]]: i32, %{{.*}}: f64, %{{.*}}: f64, %{{.*}}: f64, %{{.*}}: i64):
// CHECK-NEXT: %[[L64:.*]] = arith.extsi %[[LABEL]] : i32 to i64
// CHECK-NEXT: arith.cmpi ne, %[[L64]], %[[IGNORE]] : i64
// CHECK: math.log %{{.*}} : f64
// CHECK: -> tensor<f64>
func.func @cross_entropy_f64_i32(%l: tensor<?x10xf64>, %t: tensor<?xi32>) -> tensor<f64> {
  %0 = rotor.cross_entropy %l, %t : tensor<?x10xf64>, tensor<?xi32>
  return %0 : tensor<f64>
}
