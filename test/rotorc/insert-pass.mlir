// RUN: rotorc %s -emit=rotor | FileCheck %s --check-prefix=NONE
// RUN: rotorc %s -emit=rotor --insert-pass-after=rotor:symbol-dce \
// RUN:   | FileCheck %s --check-prefix=DCE
// RUN: rotorc %s -emit=rotor --insert-pass-after='rotor:symbol-privatize{exclude=f}' \
// RUN:   --insert-pass-after=rotor:symbol-dce | FileCheck %s --check-prefix=ORDER
// RUN: rotorc %s -emit=rotor --insert-pass-after=rotor:symbol-dce \
// RUN:   --insert-pass-after='rotor:symbol-privatize{exclude=f}' \
// RUN:   | FileCheck %s --check-prefix=REVERSED
// RUN: rotorc %s -emit=opt --insert-pass-after='opt:func.func(canonicalize),symbol-dce' \
// RUN:   | FileCheck %s --check-prefix=NESTED
// RUN: rotorc %s -emit=linalg --insert-pass-after=llvm:symbol-dce \
// RUN:   | FileCheck %s --check-prefix=LATER
// RUN: rotorc %s -o %t.rotor -q --insert-pass-after='opt:symbol-privatize{exclude=f}' \
// RUN:   --insert-pass-after=linalg:cse --insert-pass-after=llvm:canonicalize
// RUN: FileCheck %s --check-prefix=ARTIFACT < %t.rotor/manifest.json

// --insert-pass-after=STAGE:PIPELINE runs a textual pass pipeline after a
// stage of the CPU pipeline; -emit=STAGE prints the IR after the passes
// inserted after STAGE; several insertions after one stage run in order.

// NONE-LABEL: func.func private @unused
// NONE-LABEL: func.func @helper
// NONE-LABEL: func.func @f

// DCE-NOT: @unused
// DCE-LABEL: func.func @helper
// DCE-LABEL: func.func @f

// ORDER-NOT: @unused
// ORDER-NOT: @helper
// ORDER-LABEL: func.func @f

// REVERSED-NOT: @unused
// REVERSED-LABEL: func.func private @helper
// REVERSED-LABEL: func.func @f

// A pipeline with a nested pass manager.
// NESTED-NOT: @unused
// NESTED-LABEL: func.func @helper
// NESTED-LABEL: func.func @f

// The passes after llvm do not run when -emit stops at linalg.
// LATER-LABEL: func.func private @unused
// LATER: linalg.generic

// The entry points are those left public by the passes inserted after the
// rotor-level stages.
// ARTIFACT-NOT: "name": "helper"
// ARTIFACT: "name": "f"
// ARTIFACT-NOT: "name": "helper"

func.func private @unused(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

func.func @helper(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = rotor.relu %x : tensor<4xf32>
  return %y : tensor<4xf32>
}

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = rotor.relu %x : tensor<4xf32>
  return %y : tensor<4xf32>
}
