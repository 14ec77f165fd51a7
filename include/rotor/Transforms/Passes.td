//===- Passes.td - Rotor-level optimization passes ---------*- tablegen -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_TRANSFORMS_PASSES_TD
#define ROTOR_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def RotorFuseLinear : Pass<"rotor-fuse-linear"> {
  let summary = "Fuse activations, residual adds and gated pairs into linear layers";
  let description = [{
    Folds the elementwise work that follows a `rotor.linear` into the
    epilogue of its kernel, so that the intermediate tensors are neither
    written nor read back:

    ```
    act(linear(x, W, b))                  => fused_linear(x, W, b) {act}
    add(linear-or-fused(x, W, b), r)      => fused_linear(x, W, b, residual r)
    swiglu(linear(x, Wg), linear(x, Wu))  => fused_gate_up(x, Wg, Wu)
    ```

    `act` is `rotor.relu`, `rotor.silu` or `rotor.gelu`. A producer with other
    uses, a residual of another type than the result (a broadcast), a linear
    that already has a residual and biased gate/up projections are left
    alone. With `report`, every fusion is printed with the memory traffic it
    saves (the intermediate written once and read once).

    Before:

    ```mlir
    %0 = rotor.linear %x, %w : tensor<2x?x64xf32>, tensor<64x64xf32>
    %1 = rotor.silu %0 : tensor<2x?x64xf32>
    %2 = rotor.add %1, %h : tensor<2x?x64xf32>, tensor<2x?x64xf32>
    ```

    After:

    ```mlir
    %2 = rotor.fused_linear %x, %w residual(%h : tensor<2x?x64xf32>)
        {activation = #rotor.activation<silu>}
        : tensor<2x?x64xf32>, tensor<64x64xf32>
    ```
  }];
  let options = [
    Option<"report", "report", "bool", /*default=*/"false",
           "Print what was fused and the memory traffic saved">,
  ];
}

#endif // ROTOR_TRANSFORMS_PASSES_TD
