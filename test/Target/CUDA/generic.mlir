// RUN: rotorc %s -emit=cuda 2>&1 | FileCheck %s

// linalg.generic ops that are not a ColumnSum (the layer-norm, l2-normalize
// and convolution backward of rotor-autodiff) become generated kernels: one
// thread per point of the parallel loops, the reduction loops in order
// inside it (deterministic sums), operands read through their indexing maps
// (test/numerics/test_cpu_cuda_generic.py runs these kernels on the host).

#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
// CHECK: // linalg.generic: 2 loops (parallel, reduction), 2 inputs, 2 outputs
// CHECK: const long long n = 1LL * b0;
// CHECK: float acc0 = ((const float *)a.ptr[2])[d0];
// CHECK: float acc1 = ((const float *)a.ptr[3])[d0];
// CHECK: for (long long d1 = 0; d1 < b1; ++d1)
// CHECK: const float x1 = rotor::cuda::toF32(((const __nv_bfloat16 *)a.ptr[1])[(d0) * s1_1 + d1]);
// CHECK: const bool v3 = (v0 > ((float)0.00000000000000000e+00));
// CHECK: const float v6 = (acc1 != acc1 ? acc1 : v5 != v5 ? v5 : fmax(acc1, v5));
// CHECK: ((float *)a.ptr[4])[d0] = (float)acc0;
// CHECK: ((float *)a.ptr[5])[d0] = (float)acc1;
func.func @norm_terms(%x: tensor<?x32xf32>, %g: tensor<?x32xbf16>) -> (tensor<?xf32>, tensor<?xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x32xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty(%n) : tensor<?xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<?xf32>) -> tensor<?xf32>
  %r:2 = linalg.generic {indexing_maps = [#id2, #id2, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x, %g : tensor<?x32xf32>, tensor<?x32xbf16>) outs(%init, %init : tensor<?xf32>, tensor<?xf32>) {
  ^bb0(%a: f32, %b: bf16, %s: f32, %m: f32):
    %bf = arith.extf %b : bf16 to f32
    %sq = arith.mulf %a, %a : f32
    %s2 = arith.addf %s, %sq : f32
    %pos = arith.cmpf ogt, %bf, %zero : f32
    %abs = math.absf %bf : f32
    %sel = arith.select %pos, %bf, %abs : f32
    %m2 = arith.maximumf %m, %sel : f32
    linalg.yield %s2, %m2 : f32, f32
  } -> (tensor<?xf32>, tensor<?xf32>)
  return %r#0, %r#1 : tensor<?xf32>, tensor<?xf32>
}

// A sum over every dimension but the last stays the library's ColumnSum.
// CHECK: // rotor::cuda::ColumnSum<float, float>
// CHECK-NOT: linalg.generic:
// CHECK: // fill
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#last = affine_map<(d0, d1, d2) -> (d2)>
func.func @column_sum(%x: tensor<?x?x16xf32>, %i: tensor<16xf32>) -> tensor<16xf32> {
  %r = linalg.generic {indexing_maps = [#id3, #last], iterator_types = ["reduction", "reduction", "parallel"]}
      ins(%x : tensor<?x?x16xf32>) outs(%i : tensor<16xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  } -> tensor<16xf32>
  return %r : tensor<16xf32>
}

// Padding, slice insertion and reshapes: a fill and 2-D copies, and views.
// CHECK-LABEL: "name": "rotor_entry_norm_terms"
// CHECK-LABEL: "name": "rotor_entry_column_sum"
// CHECK-LABEL: "name": "rotor_entry_pad_insert_reshape"
// CHECK: "kernel": 2,
// CHECK: "op": "copy2d",
// CHECK: "op": "copy2d",
// CHECK: "op": "copy2d",
// CHECK: "op": "view",
// CHECK: "op": "view",
func.func @pad_insert_reshape(%x: tensor<2x?x8xf32>, %y: tensor<2x?x8xf32>) -> (tensor<2x?x8xf32>, tensor<2x?x8xf32>, tensor<2x?x2x4xf32>, tensor<?x8xf32>) {
  %c1 = arith.constant 1 : index
  %n = tensor.dim %x, %c1 : tensor<2x?x8xf32>
  %cst = arith.constant 0.5 : f32
  %p = tensor.pad %x low[0, 3, 0] high[0, 0, 0] {
  ^bb0(%i: index, %j: index, %k: index):
    tensor.yield %cst : f32
  } : tensor<2x?x8xf32> to tensor<2x?x8xf32>
  %ins = tensor.insert_slice %y into %p[0, 3, 0] [2, %n, 8] [1, 1, 1] : tensor<2x?x8xf32> into tensor<2x?x8xf32>
  %e = tensor.expand_shape %x [[0], [1], [2, 3]] output_shape [2, %n, 2, 4] : tensor<2x?x8xf32> into tensor<2x?x2x4xf32>
  %c = tensor.collapse_shape %y [[0, 1], [2]] : tensor<2x?x8xf32> into tensor<?x8xf32>
  return %p, %ins, %e, %c : tensor<2x?x8xf32>, tensor<2x?x8xf32>, tensor<2x?x2x4xf32>, tensor<?x8xf32>
}
