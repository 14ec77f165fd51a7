// REQUIRES: nvcc
// RUN: rm -rf %t.rotor
// RUN: rotor-opt %s --rotor-autodiff="function=f seed-args=true" \
// RUN:   | rotorc - --target=cuda --cuda-compile=nvcc -q -o %t.rotor
// RUN: test -s %t.rotor/kernels.cubin
// RUN: FileCheck %s < %t.rotor/kernels.cu

// The backward rules of softmax and l2_normalize are linalg.generic ops (row
// sums over the last axis and elementwise terms): on the CUDA target they are
// generated kernels, compiled here for sm_90a.

// CHECK: // linalg.generic: 3 loops (parallel, parallel, reduction)
func.func @f(%x: tensor<2x?x40xf32>) -> tensor<2x?x40xf32> {
  %y = rotor.softmax %x {axis = -1 : i64} : tensor<2x?x40xf32>
  %z = rotor.l2_normalize %y {epsilon = 1.0e-6 : f64} : tensor<2x?x40xf32>
  return %z : tensor<2x?x40xf32>
}
