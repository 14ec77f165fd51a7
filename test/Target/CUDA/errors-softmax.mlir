// RUN: not rotorc %s -emit=cuda 2>&1 | FileCheck %s

// CHECK: error: the CUDA target supports softmax over the last axis only (axis 0 of a rank-2 tensor)
func.func @softmax_axis0(%x: tensor<4x?xf32>) -> tensor<4x?xf32> {
  %y = rotor.softmax %x {axis = 0 : i64} : tensor<4x?xf32>
  return %y : tensor<4x?xf32>
}
