// RUN: rotor-opt %s --convert-rotor-to-linalg --cse | FileCheck %s

// Two kernel calls reading one computed matrix (the transposed rotation in
// the backward of q and k rotated by one matrix) keep a to_buffer each, even
// after CSE: the bufferization analysis sees a kernel's read only at its
// to_buffer, so a merged one would let the fill below (an in-place write
// into a CSE'd tensor.empty) clobber the matrix before the second call.

// CHECK-LABEL: func @shared_transposed_rotation
// CHECK: %[[T:.*]] = linalg.transpose
// CHECK: bufferization.to_buffer %[[T]] read_only {rotor.kernel_operand = 2 : i64}
// CHECK: linalg.fill ins
// CHECK: bufferization.to_buffer %[[T]] read_only {rotor.kernel_operand = 4 : i64}
func.func @shared_transposed_rotation(%q: tensor<4x16xf32>, %k: tensor<2x16xf32>, %r: tensor<16x16xf32>) -> (tensor<4x16xf32>, tensor<16x16xf32>, tensor<2x16xf32>) {
  %e = tensor.empty() : tensor<16x16xf32>
  %rt = linalg.transpose ins(%r : tensor<16x16xf32>) outs(%e : tensor<16x16xf32>) permutation = [1, 0]
  %dq = rotor.rotate %q, %rt : tensor<4x16xf32>, tensor<16x16xf32>
  %e2 = tensor.empty() : tensor<16x16xf32>
  %zero = arith.constant 0.0 : f32
  %z = linalg.fill ins(%zero : f32) outs(%e2 : tensor<16x16xf32>) -> tensor<16x16xf32>
  %dk = rotor.rotate %k, %rt : tensor<2x16xf32>, tensor<16x16xf32>
  return %dq, %z, %dk : tensor<4x16xf32>, tensor<16x16xf32>, tensor<2x16xf32>
}
