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

def RotorAutodiff : Pass<"rotor-autodiff", "::mlir::ModuleOp"> {
  let summary = "Reverse-mode differentiation of a function of rotor ops";
  let description = [{
    Adds to the module a function `output` that computes what `function`
    computes and the gradients of its result with respect to the chosen
    arguments. Calls of functions defined in the module are inlined first;
    every op on a path from a differentiated argument to the result must
    implement `DifferentiableOpInterface` (docs/autodiff.md lists the
    rules), otherwise the pass fails with an error naming the op.

    * Without `seed-args`, `function` must return one 0-D float tensor, the
      loss; `output` returns `(loss, grad...)`, seeding the loss cotangent
      with 1.
    * With `seed-args`, `output` takes one more argument per result, its
      cotangent (named `d.<result name>`), and returns the results followed
      by the vector-Jacobian products `Σ cotangent · ∂result/∂argument`.

    The differentiated arguments are those named in `wrt` (by `rotor.name`,
    or `argN` for an unnamed argument N), by default every float tensor
    argument not named in `no-grad`. Their gradients are named
    `grad.<name>`; an argument the result does not depend on gets zeros.

    `checkpoint` chooses which forward values the backward pass keeps:
    `none` keeps every value a rule needs; `layers` keeps only the values
    that cross the boundaries of the inlined calls (a decoder's layer inputs
    and outputs) and recomputes the rest of each layer just before its
    backward pass. With `report`, the pass prints the bytes of the forward
    values held for the backward pass under the chosen policy and under
    `none` (dynamic dimensions counted as 1, i.e. per batch row and token).

    Before (`function=f`):

    ```mlir
    func.func @f(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>,
                 %labels: tensor<4xi64>) -> tensor<f32> {
      %y = rotor.linear %x, %w : tensor<4x8xf32>, tensor<3x8xf32>
      %l = rotor.cross_entropy %y, %labels : tensor<4x3xf32>, tensor<4xi64>
      return %l : tensor<f32>
    }
    ```

    After (besides `@f`):

    ```mlir
    func.func @f_grad(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>,
                      %labels: tensor<4xi64>)
        -> (tensor<f32> {rotor.name = "loss"},
            tensor<4x8xf32> {rotor.name = "grad.arg0"},
            tensor<3x8xf32> {rotor.name = "grad.arg1"}) {
      %y = rotor.linear %x, %w : tensor<4x8xf32>, tensor<3x8xf32>
      %l = rotor.cross_entropy %y, %labels : tensor<4x3xf32>, tensor<4xi64>
      %one = arith.constant dense<1.0> : tensor<f32>
      %dy = rotor.cross_entropy_grad %y, %labels, %one
          : tensor<4x3xf32>, tensor<4xi64>, tensor<f32>
      %wt = linalg.transpose ins(%w : tensor<3x8xf32>) ...
      %dx = rotor.linear %dy, %wt : tensor<4x3xf32>, tensor<8x3xf32>
      %dw = rotor.linear_weight_grad %dy, %x : tensor<4x3xf32>, tensor<4x8xf32>
      return %l, %dx, %dw : tensor<f32>, tensor<4x8xf32>, tensor<3x8xf32>
    }
    ```
  }];
  let options = [
    Option<"function", "function", "std::string", /*default=*/"\"loss\"",
           "The function to differentiate">,
    Option<"output", "output", "std::string", /*default=*/"\"\"",
           "The name of the gradient function (default: <function>_grad)">,
    ListOption<"wrt", "wrt", "std::string",
               "The arguments to differentiate, by rotor.name or argN "
               "(default: every float tensor argument not in no-grad)">,
    ListOption<"noGrad", "no-grad", "std::string",
               "Arguments not to differentiate, by rotor.name or argN">,
    Option<"seedArgs", "seed-args", "bool", /*default=*/"false",
           "Take the cotangent of each result as an extra argument (a "
           "vector-Jacobian product) instead of seeding a scalar loss with 1">,
    Option<"checkpoint", "checkpoint", "std::string", /*default=*/"\"none\"",
           "Which forward values the backward keeps: none (all) or layers "
           "(only those crossing inlined calls; the rest is recomputed)">,
    Option<"report", "report", "bool", /*default=*/"false",
           "Print the bytes of forward values kept for the backward pass">,
  ];
  let dependentDialects = ["::mlir::rotor::RotorDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // ROTOR_TRANSFORMS_PASSES_TD
