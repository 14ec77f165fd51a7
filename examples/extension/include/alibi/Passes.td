//===- Passes.td - Passes of the alibi plugin --------------*- tablegen -*-===//
//
// Part of the Rotor project: the out-of-tree extension example.
//
//===----------------------------------------------------------------------===//

#ifndef ALIBI_PASSES_TD
#define ALIBI_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAlibiToLinalg : Pass<"convert-alibi-to-linalg", "::mlir::ModuleOp"> {
  let summary = "Lower alibi.attention and alibi.attention_grad to linalg on tensors";
  let description = [{
    Rewrites each `alibi.attention` into `linalg.generic` ops on tensors,
    accumulating in f32 (f64 for f64 inputs):

        S = q · kᵀ                                  (B, Hq, Sq, Sk)
        S = visible ? scale · S - slope[h] · |p - j| : -inf
        m = max_j S  (0 when the row has no visible key)
        P = exp(S - m),   l = Σ_j P
        out = l > 0 ? (P · v) / l : 0

    `alibi.attention_grad` recomputes the normalized probabilities `P`
    the same way, then (per query head, the key and value cotangents summed
    over each key/value group afterwards):

        dP = dO · vᵀ,  Δ = Σ_j dP ⊙ P,  dS = scale · P ⊙ (dP - Δ)
        dq = dS · k,   dk = dSᵀ · q,    dv = Pᵀ · dO

    It materializes the (B, Hq, Sq, Sk) score tensor: a plain lowering
    meant to be correct and readable, not Rotor's flash kernel. In rotorc it
    runs after the `opt` stage:

        rotorc --load-dialect-plugin=alibi-plugin.so \
               --load-pass-plugin=alibi-plugin.so \
               --insert-pass-after=opt:convert-alibi-to-linalg IN.mlir

    Before:

    ```mlir
    %o = alibi.attention %q, %k, %v {mask = #rotor.mask<causal = true>}
        : tensor<1x4x?x64xf32>, tensor<1x4x?x64xf32>, tensor<1x4x?x64xf32>
    ```

    After: `linalg.fill` inits and eight `linalg.generic` ops (scores, bias
    and mask, row max, rows without a visible key, exponentials, row sum,
    P · v, normalization).
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // ALIBI_PASSES_TD
