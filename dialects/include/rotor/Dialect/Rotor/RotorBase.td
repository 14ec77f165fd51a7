//===- RotorBase.td - Rotor dialect, enums and attributes --*- tablegen -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The `rotor` dialect: the operations of modern attention blocks on tensors
// with value semantics. This file defines the dialect, its enums and its
// attributes; RotorOps.td defines the operations.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_DIALECT_ROTOR_BASE_TD
#define ROTOR_DIALECT_ROTOR_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

def Rotor_Dialect : Dialect {
  let name = "rotor";
  let cppNamespace = "::mlir::rotor";
  let summary = "Operations of transformer attention blocks and their variants";
  let description = [{
    The `rotor` dialect expresses the operations of modern attention blocks on
    ranked tensors with value semantics: rotary position embeddings with
    scaling and a learnable base, chains of Givens rotations and orthogonal
    rotation matrices, scaled dot-product attention with grouped-query heads
    and structured masks (causal, sliding window, dilation, chunked local,
    global tokens), relative position bias, and the model ops around them
    (linear layers, norms, activations, convolutions, embeddings, losses).

    Batch and sequence sizes may be dynamic (`?`): every verifier checks the
    static sizes it is given and defers the rest to run time, and every op
    infers its result type from its operands.

    Conventions shared by the ops:
    * Attention tensors use the layout (batch, heads, sequence, head_dim).
    * Hidden states use the layout (batch, sequence, features).
    * Floating-point operands are `f16`, `bf16`, `f32` or `f64`; lowerings
      accumulate in `f32` (in `f64` for `f64` inputs).
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
  let extraClassDeclaration = [{
    /// Registers the attributes (defined in RotorAttrs.cpp).
    void registerAttributes();
  }];
}

class Rotor_Op<string mnemonic, list<Trait> traits = []>
    : Op<Rotor_Dialect, mnemonic, traits>;

class Rotor_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Rotor_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Rotor_RopeLayout : I32EnumAttr<"RopeLayout",
    "how the rotated pairs are laid out in the head dimension", [
      I32EnumAttrCase<"rotate_half", 0>,
      I32EnumAttrCase<"interleaved", 1>
    ]> {
  let cppNamespace = "::mlir::rotor";
  let genSpecializedAttr = 0;
}
def Rotor_RopeLayoutAttr : EnumAttr<Rotor_Dialect, Rotor_RopeLayout,
                                    "rope_layout"> {
  let assemblyFormat = "`<` $value `>`";
}

def Rotor_RopeScalingKind : I32EnumAttr<"RopeScalingKind",
    "how rotary frequencies are adapted to long contexts", [
      I32EnumAttrCase<"none", 0>,
      I32EnumAttrCase<"linear", 1>,
      I32EnumAttrCase<"dynamic_ntk", 2>,
      I32EnumAttrCase<"yarn", 3>,
      I32EnumAttrCase<"llama3", 4>
    ]> {
  let cppNamespace = "::mlir::rotor";
  let genSpecializedAttr = 0;
}

def Rotor_GeluApproximation : I32EnumAttr<"GeluApproximation",
    "the formula used for GELU", [
      I32EnumAttrCase<"none", 0>,
      I32EnumAttrCase<"tanh", 1>
    ]> {
  let cppNamespace = "::mlir::rotor";
  let genSpecializedAttr = 0;
}
def Rotor_GeluApproximationAttr : EnumAttr<Rotor_Dialect,
    Rotor_GeluApproximation, "gelu_approximation"> {
  let assemblyFormat = "`<` $value `>`";
}

def Rotor_Activation : I32EnumAttr<"Activation",
    "an activation applied in a fused epilogue", [
      I32EnumAttrCase<"none", 0>,
      I32EnumAttrCase<"relu", 1>,
      I32EnumAttrCase<"silu", 2>,
      I32EnumAttrCase<"gelu", 3>,
      I32EnumAttrCase<"gelu_tanh", 4>
    ]> {
  let cppNamespace = "::mlir::rotor";
  let genSpecializedAttr = 0;
}
def Rotor_ActivationAttr : EnumAttr<Rotor_Dialect, Rotor_Activation,
                                    "activation"> {
  let assemblyFormat = "`<` $value `>`";
}

def Rotor_ConvPadding : I32EnumAttr<"ConvPadding",
    "how a 1-D convolution pads the sequence", [
      I32EnumAttrCase<"causal", 0>,
      I32EnumAttrCase<"same", 1>
    ]> {
  let cppNamespace = "::mlir::rotor";
  let genSpecializedAttr = 0;
}
def Rotor_ConvPaddingAttr : EnumAttr<Rotor_Dialect, Rotor_ConvPadding,
                                     "conv_padding"> {
  let assemblyFormat = "`<` $value `>`";
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

// A `bool` parameter printed and parsed as `true` / `false`.
class Rotor_BoolParameter<string default> : AttrParameter<"bool", ""> {
  let parser = [{ [&]() -> ::mlir::FailureOr<bool> {
      if (succeeded($_parser.parseOptionalKeyword("true")))
        return true;
      if (succeeded($_parser.parseOptionalKeyword("false")))
        return false;
      return $_parser.emitError($_parser.getCurrentLocation(),
                                "expected 'true' or 'false'");
    }() }];
  let printer = "$_printer << ($_self ? \"true\" : \"false\")";
  let defaultValue = default;
}

// A `double` parameter printed and parsed as a float literal.
// Stored as an APFloat (which has a hash); read with `.convertToDouble()`.
class Rotor_F64Parameter<string default>
    : AttrParameter<"::llvm::APFloat", ""> {
  let parser = [{ [&]() -> ::mlir::FailureOr<::llvm::APFloat> {
      double v;
      if ($_parser.parseFloat(v))
        return ::mlir::failure();
      return ::llvm::APFloat(v);
    }() }];
  let printer = "$_printer.printFloat($_self)";
  let comparator = "$_lhs.bitwiseIsEqual($_rhs)";
  let defaultValue = "::llvm::APFloat(" # default # ")";
}

def Rotor_RopeScalingAttr : Rotor_Attr<"RopeScaling", "rope_scaling"> {
  let summary = "How rotary embedding frequencies are scaled for long contexts";
  let description = [{
    Describes how `rotor.rope` adapts its inverse frequencies
    `inv_freq[i] = base^(-2i / rotary_dim)` to contexts longer than the one
    the model was trained on. The kinds follow the Hugging Face
    `rope_scaling` conventions:

    * `none`: no scaling.
    * `linear` (position interpolation): positions are divided by `factor`.
    * `dynamic_ntk`: when the sequence is longer than
      `original_max_position`, the base grows with the actual length `L`
      (the largest position plus one):
      `base' = base * (factor * L / original_max_position - (factor - 1))
      ^ (rotary_dim / (rotary_dim - 2))`. No fixed maximum length exists.
    * `yarn`: NTK-by-parts interpolation between the original and the
      interpolated frequencies, with the ramp given by `beta_fast` and
      `beta_slow`, and the cos/sin scaled by `attention_factor` (by default
      `0.1 * ln(factor) + 1`).
    * `llama3`: frequencies with wavelengths longer than
      `original_max_position / low_freq_factor` are divided by `factor`,
      those shorter than `original_max_position / high_freq_factor` are
      kept, and the band between is interpolated smoothly.

    Example:

    ```mlir
    #rotor.rope_scaling<kind = yarn, factor = 4.0, original_max_position = 4096>
    ```
  }];
  let parameters = (ins
    EnumParameter<Rotor_RopeScalingKind>:$kind,
    Rotor_F64Parameter<"1.0">:$factor,
    DefaultValuedParameter<"int64_t", "0">:$original_max_position,
    Rotor_F64Parameter<"32.0">:$beta_fast,
    Rotor_F64Parameter<"1.0">:$beta_slow,
    Rotor_F64Parameter<"1.0">:$low_freq_factor,
    Rotor_F64Parameter<"4.0">:$high_freq_factor,
    Rotor_F64Parameter<"0.0">:$attention_factor
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The cos/sin multiplier that YaRN applies (1 for the other kinds).
    double getEffectiveAttentionFactor() const;
  }];
}

def Rotor_MaskAttr : Rotor_Attr<"Mask", "mask"> {
  let summary = "Which (query, key) pairs an attention op may use";
  let description = [{
    A structured attention mask. Queries are aligned to the end of the keys:
    with `Sq` queries and `Sk` keys, query `i` sits at position
    `p = i + Sk - Sq` and key `j` at position `j`. Let `d = p - j`.
    Key `j` is visible to query `i` when all of these hold:

    * `causal`: `j <= p`.
    * Sliding window (`window_left = L`, `window_right = R`, each optional,
      absent meaning unbounded): `-R <= d / dilation <= L`.
    * `dilation = n` (default 1): `d mod n == 0`; the window is counted in
      dilated steps, so the window spans `L * n` positions.
    * `chunk = C` (chunked "grouped window" local attention):
      `floor(p / C) == floor(j / C)`.

    or, whatever the window, dilation and chunk say (but still subject to
    `causal`):

    * `global = G` (hybrid local + global): `j < G` or `0 <= p < G`; the
      first `G` tokens (positions `0 .. G-1`) see and are seen by every
      position.

    Divisions round toward negative infinity; positions are negative only
    for the queries that precede every key (more queries than keys).

    A Mistral-style sliding window of `W` tokens is
    `#rotor.mask<causal = true, window_left = W-1>`.

    Example:

    ```mlir
    #rotor.mask<causal = true, window_left = 1023, dilation = 2, global = 64>
    ```
  }];
  let parameters = (ins
    Rotor_BoolParameter<"false">:$causal,
    OptionalParameter<"std::optional<int64_t>">:$window_left,
    OptionalParameter<"std::optional<int64_t>">:$window_right,
    DefaultValuedParameter<"int64_t", "1">:$dilation,
    OptionalParameter<"std::optional<int64_t>">:$chunk,
    DefaultValuedParameter<"int64_t", "0">:$global
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True when every key is visible to every query.
    bool isFull() const;
    /// True when key position `kpos` is visible to query position `qpos`.
    bool isVisible(int64_t qpos, int64_t kpos) const;
  }];
}

#endif // ROTOR_DIALECT_ROTOR_BASE_TD
