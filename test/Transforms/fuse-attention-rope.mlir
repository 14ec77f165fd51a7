// RUN: rotor-opt %s -split-input-file --rotor-fuse-attention-rope | FileCheck %s
// RUN: rotor-opt %s -split-input-file --rotor-fuse-attention-rope="keys=false" | FileCheck %s --check-prefix=QONLY
// RUN: rotor-opt %s -split-input-file --rotor-fuse-attention-rope="report=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT

// Both sides, with the rope parameters moved onto the attention.
// CHECK-LABEL: func @queries_and_keys
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x?x64xf32>, %[[K:.*]]: tensor<1x2x?x64xf32>, %[[V:.*]]: tensor<1x2x?x64xf32>, %[[P:.*]]: tensor<?xi64>)
// CHECK-NOT: rotor.rope
// CHECK: %[[O:.*]] = rotor.attention %[[Q]], %[[K]], %[[V]] rope_q(%[[P]] : tensor<?xi64>) rope_k(%[[P]] : tensor<?xi64>) {mask = #rotor.mask<causal = true>, rope_base = 5.000000e+05 : f64, rope_rotary_dim = 32 : i64}
// CHECK-NEXT: return %[[O]]
// QONLY-LABEL: func @queries_and_keys
// QONLY: %[[KR:.*]] = rotor.rope %{{.*}}, %{{.*}} {base = 5.000000e+05 : f64, rotary_dim = 32 : i64} : tensor<1x2x?x64xf32>
// QONLY: rotor.attention %{{.*}}, %[[KR]], %{{.*}} rope_q(%{{.*}} : tensor<?xi64>) {
// REPORT: rotor-fuse-attention-rope: rotor.rope of the queries into rotor.attention at {{.*}}: saves 4096 bytes per token of tensor<1x8x?x64xf32>
// REPORT: rotor-fuse-attention-rope: rotor.rope of the keys into rotor.attention at {{.*}}: saves 1024 bytes per token of tensor<1x2x?x64xf32>
func.func @queries_and_keys(%q: tensor<1x8x?x64xf32>, %k: tensor<1x2x?x64xf32>, %v: tensor<1x2x?x64xf32>, %pos: tensor<?xi64>) -> tensor<1x8x?x64xf32> {
  %qr = rotor.rope %q, %pos {base = 500000.0 : f64, rotary_dim = 32 : i64} : tensor<1x8x?x64xf32>, tensor<?xi64>
  %kr = rotor.rope %k, %pos {base = 500000.0 : f64, rotary_dim = 32 : i64} : tensor<1x2x?x64xf32>, tensor<?xi64>
  %o = rotor.attention %qr, %kr, %v {mask = #rotor.mask<causal = true>} : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
  return %o : tensor<1x8x?x64xf32>
}

// -----

// Decoding: the rotated keys are also the KV cache (another use), so only
// the queries' rope fuses.
// CHECK-LABEL: func @keys_cached
// CHECK: %[[KR:.*]] = rotor.rope
// CHECK: %[[KV:.*]] = tensor.concat dim(2) %{{.*}}, %[[KR]]
// CHECK: rotor.attention %{{.*}}, %[[KV]], %{{.*}} rope_q(%{{.*}} : tensor<1x?xi64>) rope_learned_base(%{{.*}} : tensor<f32>) {rope_layout = #rotor.rope_layout<interleaved>}
// CHECK: return
// REPORT: rotor.rope of the queries into rotor.attention at {{.*}}: saves 512 bytes{{$}}
func.func @keys_cached(%q: tensor<1x4x1x16xf32>, %k: tensor<1x4x1x16xf32>, %past: tensor<1x4x?x16xf32>, %pos: tensor<1x?xi64>, %b: tensor<f32>) -> (tensor<1x4x1x16xf32>, tensor<1x4x?x16xf32>) {
  %c1 = arith.constant 1 : index
  %qr = rotor.rope %q, %pos base(%b : tensor<f32>) {layout = #rotor.rope_layout<interleaved>} : tensor<1x4x1x16xf32>, tensor<1x?xi64>
  %kr = rotor.rope %k, %pos base(%b : tensor<f32>) {layout = #rotor.rope_layout<interleaved>} : tensor<1x4x1x16xf32>, tensor<1x?xi64>
  %kv = tensor.concat dim(2) %past, %kr : (tensor<1x4x?x16xf32>, tensor<1x4x1x16xf32>) -> tensor<1x4x?x16xf32>
  %o = rotor.attention %qr, %kv, %kv : tensor<1x4x1x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
  return %o, %kv : tensor<1x4x1x16xf32>, tensor<1x4x?x16xf32>
}

// -----

// The rotated queries have another use: they must stay materialized.
// CHECK-LABEL: func @queries_shared
// CHECK: %[[QR:.*]] = rotor.rope
// CHECK: rotor.attention %[[QR]], %{{.*}}, %{{.*}} rope_k(
// QONLY-LABEL: func @queries_shared
// QONLY: rotor.rope
// QONLY: rotor.rope
// QONLY: rotor.attention %{{.*}}, %{{.*}}, %{{.*}} :
// REPORT: rotor.rope of the keys into rotor.attention at {{.*}}: saves 2048 bytes{{$}}
func.func @queries_shared(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %pos: tensor<8xi64>) -> (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) {
  %qr = rotor.rope %q, %pos : tensor<1x2x8x16xf32>, tensor<8xi64>
  %kr = rotor.rope %k, %pos : tensor<1x2x8x16xf32>, tensor<8xi64>
  %o = rotor.attention %qr, %kr, %k : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  return %o, %qr : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
}

// -----

// Different rope parameters on q and k: one set fits the op, the keys'
// rope stays.
// CHECK-LABEL: func @different_params
// CHECK: %[[KR:.*]] = rotor.rope %{{.*}}, %{{.*}} {base = 1.000000e+04 : f64}
// CHECK: rotor.attention %{{.*}}, %[[KR]], %{{.*}} rope_q(%{{.*}} : tensor<8xi64>) {rope_base = 5.000000e+05 : f64}
// REPORT: rotor.rope of the queries into rotor.attention at {{.*}}: saves 2048 bytes{{$}}
func.func @different_params(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %pos: tensor<8xi64>) -> tensor<1x2x8x16xf32> {
  %qr = rotor.rope %q, %pos {base = 500000.0 : f64} : tensor<1x2x8x16xf32>, tensor<8xi64>
  %kr = rotor.rope %k, %pos {base = 10000.0 : f64} : tensor<1x2x8x16xf32>, tensor<8xi64>
  %o = rotor.attention %qr, %kr, %k : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// The value is never rotated; a rope on it stays. Static shapes report the
// whole tensor.
// CHECK-LABEL: func @value_rope
// CHECK: %[[VR:.*]] = rotor.rope
// CHECK: rotor.attention %{{.*}}, %{{.*}}, %[[VR]] rope_q(
// REPORT: rotor.rope of the queries into rotor.attention at {{.*}}: saves 2048 bytes{{$}}
// REPORT-NOT: rotor-fuse-attention-rope
func.func @value_rope(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %pos: tensor<8xi64>) -> tensor<1x2x8x16xf32> {
  %qr = rotor.rope %q, %pos : tensor<1x2x8x16xf32>, tensor<8xi64>
  %vr = rotor.rope %k, %pos : tensor<1x2x8x16xf32>, tensor<8xi64>
  %o = rotor.attention %qr, %k, %vr : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// -----

// A transposed rope (the backward of a rope) has no fused form: must not
// fuse.
// CHECK-LABEL: func @transposed_rope
// CHECK: %[[QR:.*]] = rotor.rope %{{.*}}, %{{.*}} {transpose}
// CHECK: rotor.attention %[[QR]], %{{.*}}, %{{.*}} :
// REPORT-NOT: rotor-fuse-attention-rope
func.func @transposed_rope(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %pos: tensor<8xi64>) -> tensor<1x2x8x16xf32> {
  %qr = rotor.rope %q, %pos {transpose} : tensor<1x2x8x16xf32>, tensor<8xi64>
  %o = rotor.attention %qr, %k, %k : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}
