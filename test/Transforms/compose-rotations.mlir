// RUN: rotor-opt %s -split-input-file --rotor-compose-rotations | FileCheck %s
// RUN: rotor-opt %s -split-input-file --rotor-compose-rotations="report=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT
// RUN: rotor-opt %s -split-input-file --rotor-compose-rotations="min-rows=100000" | FileCheck %s --check-prefix=MIN

// A learned chain then a learned matrix, on a dynamic number of rows: the
// chain applied to the identity, times the matrix, then one product.
// CHECK-LABEL: func @givens_then_rotate
// CHECK-SAME: (%[[X:.*]]: tensor<2x8x?x16xbf16>, %[[T:.*]]: tensor<2xbf16>, %[[R:.*]]: tensor<16x16xbf16>)
// CHECK: %[[I:.*]] = arith.constant dense<"0x803F{{(0000)+}}803F{{.*}}"> : tensor<16x16xbf16>
// CHECK: %[[G:.*]] = rotor.givens %[[I]], %[[T]] pairs [(0, 1), (2, 5)] : tensor<16x16xbf16>, tensor<2xbf16>
// CHECK: %[[M:.*]] = rotor.rotate %[[G]], %[[R]] : tensor<16x16xbf16>, tensor<16x16xbf16>
// CHECK: %[[Y:.*]] = rotor.rotate %[[X]], %[[M]] : tensor<2x8x?x16xbf16>, tensor<16x16xbf16>
// CHECK-NEXT: return %[[Y]]
// REPORT: rotor-compose-rotations: rotor.givens then rotor.rotate composed into one 16x16 matrix at
func.func @givens_then_rotate(%x: tensor<2x8x?x16xbf16>, %t: tensor<2xbf16>, %r: tensor<16x16xbf16>) -> tensor<2x8x?x16xbf16> {
  %g = rotor.givens %x, %t pairs [(0, 1), (2, 5)] : tensor<2x8x?x16xbf16>, tensor<2xbf16>
  %y = rotor.rotate %g, %r : tensor<2x8x?x16xbf16>, tensor<16x16xbf16>
  return %y : tensor<2x8x?x16xbf16>
}

// -----

// Two matrices: (x A) B = x (A B).
// CHECK-LABEL: func @rotate_then_rotate
// CHECK-SAME: (%[[X:.*]]: tensor<64x16xf32>, %[[A:.*]]: tensor<16x16xf32>, %[[B:.*]]: tensor<16x16xf32>)
// CHECK: %[[M:.*]] = rotor.rotate %[[A]], %[[B]] : tensor<16x16xf32>, tensor<16x16xf32>
// CHECK: %[[Y:.*]] = rotor.rotate %[[X]], %[[M]] : tensor<64x16xf32>, tensor<16x16xf32>
// CHECK-NEXT: return %[[Y]]
// REPORT: rotor-compose-rotations: rotor.rotate then rotor.rotate composed into one 16x16 matrix at
// With min-rows above its 64 static rows, it stays as it is.
// MIN-LABEL: func @rotate_then_rotate
// MIN: %[[XA:.*]] = rotor.rotate %arg0, %arg1
// MIN: rotor.rotate %[[XA]], %arg2
func.func @rotate_then_rotate(%x: tensor<64x16xf32>, %a: tensor<16x16xf32>, %b: tensor<16x16xf32>) -> tensor<64x16xf32> {
  %xa = rotor.rotate %x, %a : tensor<64x16xf32>, tensor<16x16xf32>
  %y = rotor.rotate %xa, %b : tensor<64x16xf32>, tensor<16x16xf32>
  return %y : tensor<64x16xf32>
}

// -----

// A matrix then a chain: x R G = x (R G), the chain applied to R's rows.
// CHECK-LABEL: func @rotate_then_givens
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[R:.*]]: tensor<16x16xf32>, %[[T:.*]]: tensor<1xf32>)
// CHECK: %[[M:.*]] = rotor.givens %[[R]], %[[T]] pairs [(3, 9)] : tensor<16x16xf32>, tensor<1xf32>
// CHECK: %[[Y:.*]] = rotor.rotate %[[X]], %[[M]] : tensor<?x16xf32>, tensor<16x16xf32>
// CHECK-NEXT: return %[[Y]]
func.func @rotate_then_givens(%x: tensor<?x16xf32>, %r: tensor<16x16xf32>, %t: tensor<1xf32>) -> tensor<?x16xf32> {
  %xr = rotor.rotate %x, %r : tensor<?x16xf32>, tensor<16x16xf32>
  %y = rotor.givens %xr, %t pairs [(3, 9)] : tensor<?x16xf32>, tensor<1xf32>
  return %y : tensor<?x16xf32>
}

// -----

// A chain of three: composed into one matrix, one product over x.
// CHECK-LABEL: func @three_in_a_row
// CHECK-COUNT-1: rotor.rotate %arg0,
// CHECK-NOT: rotor.givens %arg0
func.func @three_in_a_row(%x: tensor<4x32x16xf32>, %t: tensor<1xf32>, %a: tensor<16x16xf32>, %b: tensor<16x16xf32>) -> tensor<4x32x16xf32> {
  %0 = rotor.givens %x, %t pairs [(0, 1)] : tensor<4x32x16xf32>, tensor<1xf32>
  %1 = rotor.rotate %0, %a : tensor<4x32x16xf32>, tensor<16x16xf32>
  %2 = rotor.rotate %1, %b : tensor<4x32x16xf32>, tensor<16x16xf32>
  return %2 : tensor<4x32x16xf32>
}

// -----

// Fewer static rows (2 x 1 x 8 = 16) than 4 x D = 64: composing would cost
// more than it saves, as in a decoding step.
// CHECK-LABEL: func @few_rows
// CHECK: %[[G:.*]] = rotor.givens %arg0
// CHECK: rotor.rotate %[[G]], %arg2
func.func @few_rows(%x: tensor<2x1x8x16xf32>, %t: tensor<1xf32>, %r: tensor<16x16xf32>) -> tensor<2x1x8x16xf32> {
  %g = rotor.givens %x, %t pairs [(0, 1)] : tensor<2x1x8x16xf32>, tensor<1xf32>
  %y = rotor.rotate %g, %r : tensor<2x1x8x16xf32>, tensor<16x16xf32>
  return %y : tensor<2x1x8x16xf32>
}

// -----

// The rotated copy has another use (e.g. saved for a backward): left alone.
// CHECK-LABEL: func @inner_has_other_use
// CHECK: %[[G:.*]] = rotor.givens %arg0
// CHECK: %[[Y:.*]] = rotor.rotate %[[G]], %arg2
// CHECK: return %[[Y]], %[[G]]
func.func @inner_has_other_use(%x: tensor<?x16xf32>, %t: tensor<1xf32>, %r: tensor<16x16xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %g = rotor.givens %x, %t pairs [(0, 1)] : tensor<?x16xf32>, tensor<1xf32>
  %y = rotor.rotate %g, %r : tensor<?x16xf32>, tensor<16x16xf32>
  return %y, %g : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// Two chains are the canonicalizer's to merge (O(D) per row): left alone.
// CHECK-LABEL: func @two_chains
// CHECK: %[[G:.*]] = rotor.givens %arg0, %arg1
// CHECK: rotor.givens %[[G]], %arg2
func.func @two_chains(%x: tensor<?x16xf32>, %s: tensor<1xf32>, %t: tensor<1xf32>) -> tensor<?x16xf32> {
  %g = rotor.givens %x, %s pairs [(0, 1)] : tensor<?x16xf32>, tensor<1xf32>
  %y = rotor.givens %g, %t pairs [(2, 3)] : tensor<?x16xf32>, tensor<1xf32>
  return %y : tensor<?x16xf32>
}
