// RUN: rotor-opt %s --rotor-expand-memref-copies -split-input-file | FileCheck %s

// Rows not contiguous: a plain linalg.copy.
// CHECK-LABEL: func @strided
// CHECK-NOT: memref.copy
// CHECK-NOT: vector.load
// CHECK: linalg.copy ins(%{{.*}} : memref<?xf32, strided<[2]>>) outs(%{{.*}} : memref<?xf32>)
func.func @strided(%a: memref<?xf32, strided<[2]>>, %b: memref<?xf32>) {
  memref.copy %a, %b : memref<?xf32, strided<[2]>> to memref<?xf32>
  return
}

// -----

// Contiguous rows of 16 in strided buffers (a concat's slice): one vector
// load and store per row.
// CHECK-LABEL: func @rows
// CHECK-SAME: (%[[A:.*]]: memref<?x2x?x16xf32, {{.*}}>, %[[B:.*]]: memref<?x2x?x16xf32, {{.*}}>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK: scf.for %[[I:.*]] =
// CHECK: scf.for %[[J:.*]] =
// CHECK: scf.for %[[K:.*]] =
// CHECK: scf.for %[[L:.*]] = %[[C0]] to %[[C16]] step %[[C16]]
// CHECK: %[[ROW:.*]] = vector.load %[[A]][%[[I]], %[[J]], %[[K]], %[[L]]] : {{.*}}, vector<16xf32>
// CHECK: vector.store %[[ROW]], %[[B]][%[[I]], %[[J]], %[[K]], %[[L]]] : {{.*}}, vector<16xf32>
// CHECK-NOT: memref.copy
// CHECK-NOT: linalg.copy
func.func @rows(%a: memref<?x2x?x16xf32, strided<[?, ?, 16, 1], offset: ?>>,
                %b: memref<?x2x?x16xf32, strided<[?, ?, 16, 1], offset: ?>>) {
  memref.copy %a, %b : memref<?x2x?x16xf32, strided<[?, ?, 16, 1], offset: ?>> to memref<?x2x?x16xf32, strided<[?, ?, 16, 1], offset: ?>>
  return
}

// -----

// A head transpose keeps the innermost dimension: rows of 128 as 8 vectors
// of 16, the source indexed through the permutation.
// CHECK-LABEL: func @transpose
// CHECK-SAME: (%[[A:.*]]: memref<?x?x4x128xbf16>, %[[B:.*]]: memref<?x4x?x128xbf16>)
// CHECK-DAG: %[[C128:.*]] = arith.constant 128 : index
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK: scf.for %[[I:.*]] =
// CHECK: scf.for %[[J:.*]] =
// CHECK: scf.for %[[K:.*]] =
// CHECK: scf.for %[[L:.*]] = %{{.*}} to %[[C128]] step %[[C16]]
// CHECK: %[[ROW:.*]] = vector.load %[[A]][%[[I]], %[[K]], %[[J]], %[[L]]] : memref<?x?x4x128xbf16>, vector<16xbf16>
// CHECK: vector.store %[[ROW]], %[[B]][%[[I]], %[[J]], %[[K]], %[[L]]] : memref<?x4x?x128xbf16>, vector<16xbf16>
// CHECK-NOT: linalg.transpose
func.func @transpose(%a: memref<?x?x4x128xbf16>, %b: memref<?x4x?x128xbf16>) {
  linalg.transpose ins(%a : memref<?x?x4x128xbf16>) outs(%b : memref<?x4x?x128xbf16>) permutation = [0, 2, 1, 3]
  return
}

// -----

// Rows of 6: vectors of 2. linalg.copy is vectorized like memref.copy.
// CHECK-LABEL: func @six
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %[[C2:.*]] {
// CHECK: vector.load %{{.*}} : memref<?x6xf32>, vector<2xf32>
// CHECK: vector.store %{{.*}} : memref<?x6xf32>, vector<2xf32>
// CHECK-NOT: linalg.copy
func.func @six(%a: memref<?x6xf32>, %b: memref<?x6xf32>) {
  linalg.copy ins(%a : memref<?x6xf32>) outs(%b : memref<?x6xf32>)
  return
}

// -----

// Not touched: a transpose that moves the innermost dimension, rows of odd
// or dynamic size, rows contiguous on one side only, copies on tensors.
// CHECK-LABEL: func @untouched
// CHECK-NOT: vector.load
// CHECK: linalg.transpose
// CHECK: linalg.copy ins(%{{.*}} : memref<?x5xf32>)
// CHECK: linalg.copy ins(%{{.*}} : memref<?x?xf32>)
// CHECK: linalg.copy ins(%{{.*}} : memref<?x16xf32, strided<[1, ?]>>)
// CHECK: linalg.copy ins(%{{.*}} : tensor<?x16xf32>)
// CHECK-NOT: vector.load
func.func @untouched(%a: memref<?x16xf32>, %b: memref<16x?xf32>,
                     %c: memref<?x5xf32>, %d: memref<?x5xf32>,
                     %e: memref<?x?xf32>, %f: memref<?x?xf32>,
                     %g: memref<?x16xf32, strided<[1, ?]>>,
                     %t: tensor<?x16xf32>, %u: tensor<?x16xf32>) -> tensor<?x16xf32> {
  linalg.transpose ins(%a : memref<?x16xf32>) outs(%b : memref<16x?xf32>) permutation = [1, 0]
  memref.copy %c, %d : memref<?x5xf32> to memref<?x5xf32>
  memref.copy %e, %f : memref<?x?xf32> to memref<?x?xf32>
  memref.copy %g, %a : memref<?x16xf32, strided<[1, ?]>> to memref<?x16xf32>
  %r = linalg.copy ins(%t : tensor<?x16xf32>) outs(%u : tensor<?x16xf32>) -> tensor<?x16xf32>
  return %r : tensor<?x16xf32>
}
