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
    alone.

    Then (with `norm-prologue`, the default) an RMS norm whose every use is
    the input of such a kernel goes into their prologues:

    ```
    fused_i(rms_norm(x, g), W_i, ...) for every use i
        => fused_i(x, W_i, ..., rms_norm g)      (linear becomes fused_linear)
    ```

    The kernel computes `r · (x · diag(g) · W_iᵀ) + b`, with
    `r = 1/sqrt(mean(x²) + eps)` per row: it multiplies `g` into the weights
    as it packs them (once per block of output features, which it does
    anyway) and accumulates `Σx²` from the loads of x that the products
    make. The normalized x is never written; `g` and `W_i` stay runtime
    inputs (folding `g` into `W_i` at compile time would need constant
    weights). A norm with any other use (a residual, a convolution, a
    linear with dynamic weights, which has no vector kernel) is left alone,
    and so is `rotor.layer_norm`.

    With `report`, every fusion is printed with the memory traffic it saves
    (an intermediate written once and read once; a normalized activation
    written once and read by each of its consumers).

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

    A norm feeding the query and key projections, before:

    ```mlir
    %n = rotor.rms_norm %x, %g {epsilon = 1.0e-05 : f64}
        : tensor<2x?x64xf32>, tensor<64xf32>
    %q = rotor.linear %n, %wq : tensor<2x?x64xf32>, tensor<64x64xf32>
    %k = rotor.linear %n, %wk : tensor<2x?x64xf32>, tensor<32x64xf32>
    ```

    After:

    ```mlir
    %q = rotor.fused_linear %x, %wq rms_norm(%g : tensor<64xf32>)
        {norm_epsilon = 1.0e-05 : f64} : tensor<2x?x64xf32>, tensor<64x64xf32>
    %k = rotor.fused_linear %x, %wk rms_norm(%g : tensor<64xf32>)
        {norm_epsilon = 1.0e-05 : f64} : tensor<2x?x64xf32>, tensor<32x64xf32>
    ```
  }];
  let options = [
    Option<"report", "report", "bool", /*default=*/"false",
           "Print what was fused and the memory traffic saved">,
    Option<"normPrologue", "norm-prologue", "bool", /*default=*/"true",
           "Fuse rotor.rms_norm into the prologue of the linear kernels "
           "that consume it">,
  ];
}

#endif // ROTOR_TRANSFORMS_PASSES_TD
