// RUN: rotor-opt %s -split-input-file -verify-diagnostics --rotor-prepare-entries | FileCheck %s

// Public functions become entry points; private ones are left alone.
// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%{{.*}}: tensor<?x4xf32> {bufferization.writable = false}, %{{.*}}: tensor<?xi64> {bufferization.writable = false})
// CHECK-SAME: attributes {llvm.emit_c_interface, rotor.num_results = 2 : i64}
// CHECK-LABEL: func.func private @helper
// CHECK-NOT: llvm.emit_c_interface
func.func @forward(%x: tensor<?x4xf32>, %ids: tensor<?xi64>) -> (tensor<?x4xf32>, tensor<bf16>) {
  %c = arith.constant dense<1.0> : tensor<bf16>
  return %x, %c : tensor<?x4xf32>, tensor<bf16>
}
func.func private @helper(%x: index) -> index {
  return %x : index
}

// -----

// expected-error @+1 {{entry point 'bad' argument 1 has type 'index'; entry points take and return ranked tensors of f16, bf16, f32, f64, i32 or i64}}
func.func @bad(%x: tensor<4xf32>, %i: index) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// expected-error @+1 {{entry point 'unranked' argument 0 has type 'tensor<*xf32>'}}
func.func @unranked(%x: tensor<*xf32>) -> tensor<*xf32> {
  return %x : tensor<*xf32>
}

// -----

// expected-error @+1 {{entry point 'ints' argument 0 has type 'tensor<4xi8>'}}
func.func @ints(%x: tensor<4xi8>) -> tensor<4xi8> {
  return %x : tensor<4xi8>
}
