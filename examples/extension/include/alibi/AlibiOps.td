//===- AlibiOps.td - The alibi dialect ---------------------*- tablegen -*-===//
//
// Part of the Rotor project: the out-of-tree extension example
// (docs/extending.md).
//
//===----------------------------------------------------------------------===//
//
// The alibi dialect: alibi.attention, attention with linear biases
// (Press et al., "Train Short, Test Long", ICLR 2022), and alibi.attention_grad, its cotangents. It reuses the rotor
// dialect's #rotor.mask attribute, so the dialect depends on rotor and the
// plugin links Rotor's dialect library.
//
//===----------------------------------------------------------------------===//

#ifndef ALIBI_OPS_TD
#define ALIBI_OPS_TD

include "rotor/Dialect/Rotor/RotorBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

def Alibi_Dialect : Dialect {
  let name = "alibi";
  let cppNamespace = "::mlir::alibi";
  let summary = "Attention with linear biases (ALiBi), a Rotor plugin";
  let description = [{
    An example of extending Rotor out of tree: `alibi.attention`, its
    backward op `alibi.attention_grad` and their lowering to linalg
    (`convert-alibi-to-linalg`), loaded into `rotor-opt` and `rotorc` as a
    plugin that also gives `alibi.attention` its gradient rule for
    `rotor-autodiff`. See docs/extending.md in the Rotor sources.
  }];
  let dependentDialects = ["::mlir::rotor::RotorDialect"];
}

def Alibi_Tensor4D : RankedTensorOf<[F16, BF16, F32, F64],
                                    [HasAnyRankOfPred<[4]>],
                                    "4-D float tensor">;

def Alibi_AttentionOp : Op<Alibi_Dialect, "attention",
                           [Pure, InferTypeOpAdaptor]> {
  let summary = "Scaled dot-product attention with ALiBi linear biases";
  let description = [{
    Computes `softmax(scale · q kᵀ + bias, masked) v` for `query`
    (B, Hq, Sq, D), `key` (B, Hkv, Sk, D) and `value` (B, Hkv, Sk, Dv), where
    query `i` sits at position `p = i + Sk - Sq` (queries aligned to the end
    of the keys, as in `rotor.attention`) and

        bias[h, i, j] = -slope[h] · |p - j|

    (for causal attention the usual ALiBi `slope · (j - p)`).

    * `slopes` gives one slope per query head. Without it the slopes are the
      geometric sequence of the ALiBi paper with ratio `2^(-max_bias / n)`:
      `slope[h] = 2^(-max_bias · (h + 1) / n)` for `n = Hq` a power of two;
      otherwise, with `n` the largest power of two below `Hq`, those `n`
      slopes followed by `2^(-max_bias · (2i + 1) / (2n))` for
      `i = 0 .. Hq - n - 1` (as BLOOM does). `max_bias` defaults to 8.
    * `mask` (`#rotor.mask`, from the rotor dialect) selects the visible
      pairs; without it every key is visible (a symmetric bias).
    * Grouped-query attention: query head `h` uses key/value head
      `h / (Hq / Hkv)`. `Hq` and `Hkv` must be static.
    * `scale` defaults to `1 / sqrt(D)`. A row with no visible key yields 0.

    Example:

    ```mlir
    %o = alibi.attention %q, %k, %v {mask = #rotor.mask<causal = true>}
        : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
    ```
  }];
  let arguments = (ins
    Alibi_Tensor4D:$query,
    Alibi_Tensor4D:$key,
    Alibi_Tensor4D:$value,
    OptionalAttr<Rotor_MaskAttr>:$mask,
    OptionalAttr<F64Attr>:$scale,
    DefaultValuedAttr<F64Attr, "8.0">:$max_bias,
    OptionalAttr<DenseF64ArrayAttr>:$slopes
  );
  let results = (outs Alibi_Tensor4D:$output);
  let assemblyFormat = [{
    $query `,` $key `,` $value attr-dict `:` type($query) `,` type($key) `,`
    type($value)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// One slope per query head: `slopes`, or the ALiBi sequence.
    ::llvm::SmallVector<double> getEffectiveSlopes();
    /// The softmax scale: `scale`, or 1/sqrt(head_dim).
    double getEffectiveScale();
    /// The mask: `mask`, or the full mask when absent.
    ::mlir::rotor::MaskAttr getEffectiveMask();
  }];
}

def Alibi_AttentionGradOp : Op<Alibi_Dialect, "attention_grad", [Pure,
    AllTypesMatch<["query", "query_grad"]>, AllTypesMatch<["key", "key_grad"]>,
    AllTypesMatch<["value", "value_grad"]>]> {
  let summary = "Cotangents of alibi.attention";
  let description = [{
    For `output = alibi.attention(query, key, value)` with the same
    attributes and the cotangent `grad` of `output`, returns the cotangents
    of query, key and value. The ALiBi bias is a constant of the attributes
    (`slopes`, `max_bias`, `mask`), so it has no cotangent. With `P` the
    attention probabilities (recomputed as in the forward lowering, 0 where
    masked and on rows with no visible key):

    * `dv = Pᵀ grad`, `dP = grad vᵀ`,
      `dS = P ⊙ (dP - rowsum(dP ⊙ P))`;
    * `dq = scale · dS k`, `dk = scale · dSᵀ q`;
    * with grouped-query attention the key and value cotangents of a
      key/value head sum over the query heads of its group.

    `rotor-autodiff` builds this op through the
    `rotor::DifferentiableOpInterface` model of `alibi.attention` that the
    plugin registers (lib/AlibiGradient.cpp).

    Example:

    ```mlir
    %dq, %dk, %dv = alibi.attention_grad %q, %k, %v, %do
        {mask = #rotor.mask<causal = true>}
        : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>,
          tensor<1x8x?x64xf32>
    ```
  }];
  let arguments = (ins
    Alibi_Tensor4D:$query,
    Alibi_Tensor4D:$key,
    Alibi_Tensor4D:$value,
    Alibi_Tensor4D:$grad,
    OptionalAttr<Rotor_MaskAttr>:$mask,
    OptionalAttr<F64Attr>:$scale,
    DefaultValuedAttr<F64Attr, "8.0">:$max_bias,
    OptionalAttr<DenseF64ArrayAttr>:$slopes
  );
  let results = (outs
    Alibi_Tensor4D:$query_grad,
    Alibi_Tensor4D:$key_grad,
    Alibi_Tensor4D:$value_grad
  );
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $grad attr-dict `:` type($query) `,`
    type($key) `,` type($value) `,` type($grad)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// One slope per query head: `slopes`, or the ALiBi sequence.
    ::llvm::SmallVector<double> getEffectiveSlopes();
    /// The softmax scale: `scale`, or 1/sqrt(head_dim).
    double getEffectiveScale();
    /// The mask: `mask`, or the full mask when absent.
    ::mlir::rotor::MaskAttr getEffectiveMask();
  }];
}

#endif // ALIBI_OPS_TD
