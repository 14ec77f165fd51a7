// RUN: rotor-opt %s -split-input-file --rotor-specialize-masks | FileCheck %s
// RUN: rotor-opt %s -split-input-file --rotor-specialize-masks="report=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT

// A window as long as the sequence is plain causal.
// CHECK-LABEL: func @window_covers_sequence
// CHECK: rotor.attention {{.*}} {mask = #rotor.mask<causal = true>}
// REPORT: rotor-specialize-masks: #rotor.mask<causal = true, window_left = 4095> => #rotor.mask<causal = true> at
func.func @window_covers_sequence(%q: tensor<1x4x100x16xf32>, %k: tensor<1x4x100x16xf32>, %v: tensor<1x4x100x16xf32>) -> tensor<1x4x100x16xf32> {
  %o = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true, window_left = 4095>}
      : tensor<1x4x100x16xf32>, tensor<1x4x100x16xf32>, tensor<1x4x100x16xf32>
  return %o : tensor<1x4x100x16xf32>
}

// -----

// One key short of the sequence: the window still hides key 0 from the
// last query.
// CHECK-LABEL: func @window_shorter_than_sequence
// CHECK: {mask = #rotor.mask<causal = true, window_left = 98>}
func.func @window_shorter_than_sequence(%q: tensor<1x4x100x16xf32>, %k: tensor<1x4x100x16xf32>, %v: tensor<1x4x100x16xf32>) -> tensor<1x4x100x16xf32> {
  %o = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true, window_left = 98>}
      : tensor<1x4x100x16xf32>, tensor<1x4x100x16xf32>, tensor<1x4x100x16xf32>
  return %o : tensor<1x4x100x16xf32>
}

// -----

// Dynamic key length: the window cannot be judged.
// CHECK-LABEL: func @dynamic_length
// CHECK: {mask = #rotor.mask<causal = true, window_left = 4095>}
func.func @dynamic_length(%q: tensor<1x4x?x16xf32>, %k: tensor<1x4x?x16xf32>, %v: tensor<1x4x?x16xf32>) -> tensor<1x4x?x16xf32> {
  %o = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true, window_left = 4095>}
      : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
  return %o : tensor<1x4x?x16xf32>
}

// -----

// A chunk as long as the keys, dilation kept.
// CHECK-LABEL: func @chunk_covers_sequence
// CHECK: {mask = #rotor.mask<causal = true, dilation = 2>}
func.func @chunk_covers_sequence(%q: tensor<1x4x64x16xf32>, %k: tensor<1x4x64x16xf32>, %v: tensor<1x4x64x16xf32>) -> tensor<1x4x64x16xf32> {
  %o = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true, dilation = 2, chunk = 64>}
      : tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32>
  return %o : tensor<1x4x64x16xf32>
}

// -----

// More queries than keys: the queries before position 0 fall in chunk -1.
// CHECK-LABEL: func @chunk_with_more_queries
// CHECK: {mask = #rotor.mask<causal = true, chunk = 64>}
func.func @chunk_with_more_queries(%q: tensor<1x4x80x16xf32>, %k: tensor<1x4x64x16xf32>, %v: tensor<1x4x64x16xf32>) -> tensor<1x4x80x16xf32> {
  %o = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true, chunk = 64>}
      : tensor<1x4x80x16xf32>, tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32>
  return %o : tensor<1x4x80x16xf32>
}

// -----

// Global tokens covering every key leave the causal bound only; global
// tokens next to no local restriction go (any length).
// CHECK-LABEL: func @global_tokens
// CHECK: {mask = #rotor.mask<causal = true>}
// CHECK: {mask = #rotor.mask<causal = true>}
func.func @global_tokens(%q: tensor<1x4x32x16xf32>, %k: tensor<1x4x32x16xf32>, %v: tensor<1x4x32x16xf32>, %q2: tensor<1x4x?x16xf32>, %k2: tensor<1x4x?x16xf32>) -> (tensor<1x4x32x16xf32>, tensor<1x4x?x16xf32>) {
  %o = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true, window_left = 3, dilation = 2, global = 32>}
      : tensor<1x4x32x16xf32>, tensor<1x4x32x16xf32>, tensor<1x4x32x16xf32>
  %o2 = rotor.attention %q2, %k2, %k2 {mask = #rotor.mask<causal = true, global = 8>}
      : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
  return %o, %o2 : tensor<1x4x32x16xf32>, tensor<1x4x?x16xf32>
}

// -----

// Decoding (one query, after every key): causal restricts nothing, but a
// relative position bias buckets by it, so it stays there.
// CHECK-LABEL: func @decode
// CHECK: %[[O:.*]] = rotor.attention %{{.*}}, %{{.*}}, %{{.*}} :
// CHECK: rotor.attention {{.*}} bias({{.*}}) {mask = #rotor.mask<causal = true>}
// REPORT: rotor-specialize-masks: #rotor.mask<causal = true> => no mask
func.func @decode(%q: tensor<1x4x1x16xf32>, %k: tensor<1x4x?x16xf32>, %t: tensor<4x32xf32>) -> (tensor<1x4x1x16xf32>, tensor<1x4x1x16xf32>) {
  %o = rotor.attention %q, %k, %k {mask = #rotor.mask<causal = true>}
      : tensor<1x4x1x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
  %o2 = rotor.attention %q, %k, %k bias(%t : tensor<4x32xf32>) {mask = #rotor.mask<causal = true>}
      : tensor<1x4x1x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
  return %o, %o2 : tensor<1x4x1x16xf32>, tensor<1x4x1x16xf32>
}

// -----

// Nothing to simplify.
// CHECK-LABEL: func @already_simple
// CHECK: {mask = #rotor.mask<window_left = 5, window_right = 5, chunk = 16>}
func.func @already_simple(%q: tensor<1x4x64x16xf32>, %k: tensor<1x4x64x16xf32>, %v: tensor<1x4x64x16xf32>) -> tensor<1x4x64x16xf32> {
  %o = rotor.attention %q, %k, %v {mask = #rotor.mask<window_left = 5, window_right = 5, chunk = 16>}
      : tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32>, tensor<1x4x64x16xf32>
  return %o : tensor<1x4x64x16xf32>
}
