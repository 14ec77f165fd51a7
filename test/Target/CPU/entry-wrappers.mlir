// RUN: rotor-opt %s --rotor-emit-entry-wrappers | FileCheck %s

// The packed entry point loads the input descriptor pointers from args,
// calls the C interface with storage for the result struct, and stores
// each result descriptor to its slot; rotor_free releases with free.

// CHECK-LABEL: llvm.func @rotor_entry_two
// CHECK-SAME: (%[[ARGS:.*]]: !llvm.ptr)
// CHECK: %[[RES:.*]] = llvm.alloca %{{.*}} x !llvm.struct<(struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)>, struct<(ptr, ptr, i64)>)>
// CHECK: %[[P0:.*]] = llvm.getelementptr %[[ARGS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[A0:.*]] = llvm.load %[[P0]] : !llvm.ptr -> !llvm.ptr
// CHECK: llvm.call @_mlir_ciface_two(%[[RES]], %[[A0]])
// CHECK: %[[ALL:.*]] = llvm.load %[[RES]]
// CHECK: %[[D0:.*]] = llvm.extractvalue %[[ALL]][0]
// CHECK: llvm.getelementptr %[[ARGS]][1]
// CHECK: llvm.store %[[D0]]
// CHECK: %[[D1:.*]] = llvm.extractvalue %[[ALL]][1]
// CHECK: llvm.getelementptr %[[ARGS]][2]
// CHECK: llvm.store %[[D1]]
// CHECK-LABEL: llvm.func @rotor_free
// CHECK: llvm.call @free

!d1 = !llvm.struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)>
!d0 = !llvm.struct<(ptr, ptr, i64)>
llvm.func @free(!llvm.ptr)
llvm.func @two(%a: !llvm.ptr, %b: !llvm.ptr, %c: i64, %d: i64, %e: i64) -> !llvm.struct<(!d1, !d0)> attributes {rotor.num_results = 2 : i64} {
  %0 = llvm.mlir.poison : !llvm.struct<(!d1, !d0)>
  llvm.return %0 : !llvm.struct<(!d1, !d0)>
}
llvm.func @_mlir_ciface_two(%res: !llvm.ptr, %a: !llvm.ptr) {
  llvm.return
}
