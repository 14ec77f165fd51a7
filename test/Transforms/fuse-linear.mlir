// RUN: rotor-opt %s -split-input-file --rotor-fuse-linear | FileCheck %s
// RUN: rotor-opt %s -split-input-file --rotor-fuse-linear="report=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT
// RUN: rotor-opt %s -split-input-file --rotor-fuse-linear="norm-prologue=false" | FileCheck %s --check-prefix=NOPRO

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

// -----

// An RMS norm feeding only the q/k/v projections goes into their prologues;
// the normalized tensor (written once, read three times) disappears.
// CHECK-LABEL: func @norm_into_qkv
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x64xf32>, %[[G:.*]]: tensor<64xf32>, %[[WQ:.*]]: tensor<64x64xf32>, %[[WK:.*]]: tensor<32x64xf32>, %[[WV:.*]]: tensor<32x64xf32>, %[[BV:.*]]: tensor<32xf32>)
// CHECK-NOT: rotor.rms_norm
// CHECK: %[[Q:.*]] = rotor.fused_linear %[[X]], %[[WQ]] rms_norm(%[[G]] : tensor<64xf32>) {norm_epsilon = 1.000000e-05 : f64}
// CHECK: %[[K:.*]] = rotor.fused_linear %[[X]], %[[WK]] rms_norm(%[[G]] : tensor<64xf32>) {norm_epsilon = 1.000000e-05 : f64}
// CHECK: %[[V:.*]] = rotor.fused_linear %[[X]], %[[WV]] bias(%[[BV]] : tensor<32xf32>) rms_norm(%[[G]] : tensor<64xf32>) {norm_epsilon = 1.000000e-05 : f64}
// CHECK: return %[[Q]], %[[K]], %[[V]]
// REPORT-LABEL: rms_norm into the prologue of 3 linear kernel(s) at {{.*}}: saves 1024 bytes per row of tensor<2x?x64xf32>
// NOPRO-LABEL: func @norm_into_qkv
// NOPRO: rotor.rms_norm
// NOPRO-COUNT-3: rotor.linear
func.func @norm_into_qkv(%x: tensor<2x?x64xf32>, %g: tensor<64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<32x64xf32>, %wv: tensor<32x64xf32>, %bv: tensor<32xf32>) -> (tensor<2x?x64xf32>, tensor<2x?x32xf32>, tensor<2x?x32xf32>) {
  %n = rotor.rms_norm %x, %g {epsilon = 1.0e-05 : f64} : tensor<2x?x64xf32>, tensor<64xf32>
  %q = rotor.linear %n, %wq : tensor<2x?x64xf32>, tensor<64x64xf32>
  %k = rotor.linear %n, %wk : tensor<2x?x64xf32>, tensor<32x64xf32>
  %v = rotor.linear %n, %wv bias(%bv : tensor<32xf32>) : tensor<2x?x64xf32>, tensor<32x64xf32>
  return %q, %k, %v : tensor<2x?x64xf32>, tensor<2x?x32xf32>, tensor<2x?x32xf32>
}

// -----

// The feed-forward front half: gate and up become one fused_gate_up (the
// SwiGLU kernel), which then takes the norm: one kernel from norm to
// activation.
// CHECK-LABEL: func @norm_into_gate_up
// CHECK-SAME: (%[[X:.*]]: tensor<3x16xbf16>, %[[G:.*]]: tensor<16xbf16>, %[[WG:.*]]: tensor<40x16xbf16>, %[[WU:.*]]: tensor<40x16xbf16>)
// CHECK-NEXT: %[[F:.*]] = rotor.fused_gate_up %[[X]], %[[WG]], %[[WU]] rms_norm(%[[G]] : tensor<16xbf16>) {norm_epsilon = 9.9999999999999995E-7 : f64}
// CHECK-NEXT: return %[[F]]
// REPORT: rotor.swiglu of two rotor.linear into one kernel at {{.*}}: saves 960 bytes
// REPORT: rms_norm into the prologue of 1 linear kernel(s) at {{.*}}: saves 192 bytes
func.func @norm_into_gate_up(%x: tensor<3x16xbf16>, %g: tensor<16xbf16>, %wg: tensor<40x16xbf16>, %wu: tensor<40x16xbf16>) -> tensor<3x40xbf16> {
  %n = rotor.rms_norm %x, %g {epsilon = 1.0e-06 : f64} : tensor<3x16xbf16>, tensor<16xbf16>
  %0 = rotor.linear %n, %wg : tensor<3x16xbf16>, tensor<40x16xbf16>
  %1 = rotor.linear %n, %wu : tensor<3x16xbf16>, tensor<40x16xbf16>
  %2 = rotor.swiglu %0, %1 : tensor<3x40xbf16>
  return %2 : tensor<3x40xbf16>
}

// -----

// Prologue and epilogue on one kernel; a second pass run keeps the norm
// when it fuses nothing more.
// RUN: rotor-opt %s -split-input-file --rotor-fuse-linear --rotor-fuse-linear | FileCheck %s --check-prefix=TWICE
// CHECK-LABEL: func @norm_and_epilogue
// CHECK-SAME: (%[[X:.*]]: tensor<4x16xf32>, %[[G:.*]]: tensor<16xf32>, %[[W:.*]]: tensor<8x16xf32>, %[[R:.*]]: tensor<4x8xf32>)
// CHECK-NEXT: %[[F:.*]] = rotor.fused_linear %[[X]], %[[W]] residual(%[[R]] : tensor<4x8xf32>) rms_norm(%[[G]] : tensor<16xf32>) {activation = #rotor.activation<relu>, norm_epsilon = 1.000000e-05 : f64}
// CHECK-NEXT: return %[[F]]
// TWICE-LABEL: func @norm_and_epilogue
// TWICE-NEXT: rotor.fused_linear {{.*}} residual({{.*}}) rms_norm({{.*}}) {activation = #rotor.activation<relu>, norm_epsilon = 1.000000e-05 : f64}
// TWICE-NEXT: return
func.func @norm_and_epilogue(%x: tensor<4x16xf32>, %g: tensor<16xf32>, %w: tensor<8x16xf32>, %r: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %n = rotor.rms_norm %x, %g {epsilon = 1.0e-05 : f64} : tensor<4x16xf32>, tensor<16xf32>
  %0 = rotor.linear %n, %w : tensor<4x16xf32>, tensor<8x16xf32>
  %1 = rotor.relu %0 : tensor<4x8xf32>
  %2 = rotor.add %1, %r : tensor<4x8xf32>, tensor<4x8xf32>
  return %2 : tensor<4x8xf32>
}

// -----

// The normalized tensor is also the residual: it must exist anyway.
// CHECK-LABEL: func @norm_used_elsewhere
// CHECK: %[[N:.*]] = rotor.rms_norm
// CHECK: rotor.fused_linear %[[N]], {{.*}} residual(%[[N]] : tensor<4x16xf32>)
// CHECK-NOT: rms_norm(
func.func @norm_used_elsewhere(%x: tensor<4x16xf32>, %g: tensor<16xf32>, %w: tensor<16x16xf32>) -> tensor<4x16xf32> {
  %n = rotor.rms_norm %x, %g {epsilon = 1.0e-05 : f64} : tensor<4x16xf32>, tensor<16xf32>
  %0 = rotor.linear %n, %w : tensor<4x16xf32>, tensor<16x16xf32>
  %1 = rotor.add %0, %n : tensor<4x16xf32>, tensor<4x16xf32>
  return %1 : tensor<4x16xf32>
}

// -----

// A norm returned beside its linear use.
// CHECK-LABEL: func @norm_returned
// CHECK: %[[N:.*]] = rotor.rms_norm
// CHECK: rotor.linear %[[N]]
func.func @norm_returned(%x: tensor<4x16xf32>, %g: tensor<16xf32>, %w: tensor<8x16xf32>) -> (tensor<4x16xf32>, tensor<4x8xf32>) {
  %n = rotor.rms_norm %x, %g {epsilon = 1.0e-05 : f64} : tensor<4x16xf32>, tensor<16xf32>
  %0 = rotor.linear %n, %w : tensor<4x16xf32>, tensor<8x16xf32>
  return %n, %0 : tensor<4x16xf32>, tensor<4x8xf32>
}

// -----

// A weight of dynamic shape has no vector kernel to take the prologue.
// CHECK-LABEL: func @norm_dynamic_weight
// CHECK: %[[N:.*]] = rotor.rms_norm
// CHECK: rotor.linear %[[N]]
// CHECK: rotor.linear %[[N]]
func.func @norm_dynamic_weight(%x: tensor<4x16xf32>, %g: tensor<16xf32>, %w: tensor<8x16xf32>, %d: tensor<?x16xf32>) -> (tensor<4x8xf32>, tensor<4x?xf32>) {
  %n = rotor.rms_norm %x, %g {epsilon = 1.0e-05 : f64} : tensor<4x16xf32>, tensor<16xf32>
  %0 = rotor.linear %n, %w : tensor<4x16xf32>, tensor<8x16xf32>
  %1 = rotor.linear %n, %d : tensor<4x16xf32>, tensor<?x16xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<4x?xf32>
}

// -----

// The norm used as a weight, not as an input.
// CHECK-LABEL: func @norm_as_weight
// CHECK: %[[N:.*]] = rotor.rms_norm
// CHECK: rotor.linear %{{.*}}, %[[N]]
func.func @norm_as_weight(%x: tensor<4x16xf32>, %m: tensor<8x16xf32>, %g: tensor<16xf32>) -> tensor<4x8xf32> {
  %n = rotor.rms_norm %m, %g {epsilon = 1.0e-05 : f64} : tensor<8x16xf32>, tensor<16xf32>
  %0 = rotor.linear %x, %n : tensor<4x16xf32>, tensor<8x16xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Layer norm (mean subtraction, bias) is not fused.
// CHECK-LABEL: func @layer_norm_stays
// CHECK: %[[N:.*]] = rotor.layer_norm
// CHECK: rotor.linear %[[N]]
func.func @layer_norm_stays(%x: tensor<4x16xf32>, %g: tensor<16xf32>, %w: tensor<8x16xf32>) -> tensor<4x8xf32> {
  %n = rotor.layer_norm %x, %g : tensor<4x16xf32>, tensor<16xf32>
  %0 = rotor.linear %n, %w : tensor<4x16xf32>, tensor<8x16xf32>
  return %0 : tensor<4x8xf32>
}
