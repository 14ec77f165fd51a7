// RUN: rotor-opt %s -split-input-file --rotor-fuse-linear | FileCheck %s
// RUN: rotor-opt %s -split-input-file --rotor-fuse-linear="report=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT

// CHECK-LABEL: func @activation_and_residual
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x64xf32>, %[[W:.*]]: tensor<32x64xf32>, %[[B:.*]]: tensor<32xf32>, %[[H:.*]]: tensor<2x?x32xf32>)
// CHECK-NEXT: %[[F:.*]] = rotor.fused_linear %[[X]], %[[W]] bias(%[[B]] : tensor<32xf32>) residual(%[[H]] : tensor<2x?x32xf32>) {activation = #rotor.activation<silu>}
// CHECK-NEXT: return %[[F]]
// REPORT: rotor-fuse-linear: rotor.silu into rotor.linear at {{.*}}: saves 256 bytes per row of tensor<2x?x32xf32>
// REPORT: rotor-fuse-linear: residual rotor.add into rotor.linear at {{.*}}: saves 256 bytes per row
func.func @activation_and_residual(%x: tensor<2x?x64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>, %h: tensor<2x?x32xf32>) -> tensor<2x?x32xf32> {
  %0 = rotor.linear %x, %w bias(%b : tensor<32xf32>) : tensor<2x?x64xf32>, tensor<32x64xf32>
  %1 = rotor.silu %0 : tensor<2x?x32xf32>
  %2 = rotor.add %h, %1 : tensor<2x?x32xf32>, tensor<2x?x32xf32>
  return %2 : tensor<2x?x32xf32>
}

// -----

// CHECK-LABEL: func @gelu_tanh
// CHECK: rotor.fused_linear {{.*}} {activation = #rotor.activation<gelu_tanh>}
// CHECK-NOT: rotor.gelu
func.func @gelu_tanh(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>) -> tensor<4x8xf32> {
  %0 = rotor.linear %x, %w : tensor<4x16xf32>, tensor<8x16xf32>
  %1 = rotor.gelu %0 {approximate = #rotor.gelu_approximation<tanh>} : tensor<4x8xf32>
  return %1 : tensor<4x8xf32>
}

// -----

// The linear result has another use: fusing would compute it twice.
// CHECK-LABEL: func @shared_linear
// CHECK: rotor.linear
// CHECK: rotor.relu
// CHECK-NOT: rotor.fused_linear
func.func @shared_linear(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = rotor.linear %x, %w : tensor<4x16xf32>, tensor<8x16xf32>
  %1 = rotor.relu %0 : tensor<4x8xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// A broadcast add is not a residual of the result's shape.
// CHECK-LABEL: func @broadcast_add
// CHECK: rotor.linear
// CHECK: rotor.add
// CHECK-NOT: rotor.fused_linear
func.func @broadcast_add(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %0 = rotor.linear %x, %w : tensor<4x16xf32>, tensor<8x16xf32>
  %1 = rotor.add %0, %b : tensor<4x8xf32>, tensor<8xf32>
  return %1 : tensor<4x8xf32>
}

// -----

// A second residual add stays outside.
// CHECK-LABEL: func @two_residuals
// CHECK: %[[F:.*]] = rotor.fused_linear {{.*}} residual
// CHECK: rotor.add %[[F]]
func.func @two_residuals(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %r: tensor<4x8xf32>, %s: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = rotor.linear %x, %w : tensor<4x16xf32>, tensor<8x16xf32>
  %1 = rotor.add %0, %r : tensor<4x8xf32>, tensor<4x8xf32>
  %2 = rotor.add %1, %s : tensor<4x8xf32>, tensor<4x8xf32>
  return %2 : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func @gate_up
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x16xbf16>, %[[G:.*]]: tensor<40x16xbf16>, %[[U:.*]]: tensor<40x16xbf16>)
// CHECK-NEXT: %[[F:.*]] = rotor.fused_gate_up %[[X]], %[[G]], %[[U]]
// CHECK-NEXT: return %[[F]]
// REPORT: rotor-fuse-linear: rotor.swiglu of two rotor.linear into one kernel at {{.*}}: saves 320 bytes per row
func.func @gate_up(%x: tensor<2x?x16xbf16>, %g: tensor<40x16xbf16>, %u: tensor<40x16xbf16>) -> tensor<2x?x40xbf16> {
  %0 = rotor.linear %x, %g : tensor<2x?x16xbf16>, tensor<40x16xbf16>
  %1 = rotor.linear %x, %u : tensor<2x?x16xbf16>, tensor<40x16xbf16>
  %2 = rotor.swiglu %0, %1 : tensor<2x?x40xbf16>
  return %2 : tensor<2x?x40xbf16>
}

// -----

// Different inputs or a bias: the gate and up projections stay apart.
// CHECK-LABEL: func @gate_up_not_fused
// CHECK-COUNT-2: rotor.linear
// CHECK: rotor.swiglu
func.func @gate_up_not_fused(%x: tensor<4x16xf32>, %y: tensor<4x16xf32>, %g: tensor<8x16xf32>, %u: tensor<8x16xf32>) -> tensor<4x8xf32> {
  %0 = rotor.linear %x, %g : tensor<4x16xf32>, tensor<8x16xf32>
  %1 = rotor.linear %y, %u : tensor<4x16xf32>, tensor<8x16xf32>
  %2 = rotor.swiglu %0, %1 : tensor<4x8xf32>
  return %2 : tensor<4x8xf32>
}
