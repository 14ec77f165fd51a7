// RUN: rotorc %s -emit=rotor | FileCheck %s --check-prefix=ROTOR
// RUN: rotorc %s -emit=opt | FileCheck %s --check-prefix=OPT
// RUN: rotorc %s -emit=linalg | FileCheck %s --check-prefix=LINALG
// RUN: rotorc %s -emit=llvm | FileCheck %s --check-prefix=LLVM
// RUN: rotorc %s -emit=llvm-ir | FileCheck %s --check-prefix=IR
// RUN: rotorc %s -emit=opt -o %t.mlir && FileCheck %s --check-prefix=OPT < %t.mlir

// Each -emit stage of the CPU pipeline.

// ROTOR-LABEL: func.func @f
// ROTOR: rotor.relu
// ROTOR: rotor.relu

// OPT-LABEL: func.func @f
// OPT: rotor.relu
// OPT-NOT: rotor.relu

// LINALG-LABEL: func.func @f
// LINALG-SAME: llvm.emit_c_interface
// LINALG-NOT: rotor.relu
// LINALG: linalg.generic
// LINALG: arith.maximumf

// LLVM-DAG: llvm.func @f(
// LLVM-DAG: llvm.func @_mlir_ciface_f(
// LLVM-DAG: llvm.func @rotor_entry_f(
// LLVM-DAG: llvm.func @rotor_free(

// IR-DAG: define void @rotor_entry_f(ptr
// IR-DAG: define void @rotor_free(ptr
func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = rotor.relu %x : tensor<?x8xf32>
  %1 = rotor.relu %0 : tensor<?x8xf32>
  return %1 : tensor<?x8xf32>
}
