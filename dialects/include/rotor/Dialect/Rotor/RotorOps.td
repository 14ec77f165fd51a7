//===- RotorOps.td - Rotor dialect operations ---------------*- tablegen -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_DIALECT_ROTOR_OPS_TD
#define ROTOR_DIALECT_ROTOR_OPS_TD

include "rotor/Dialect/Rotor/RotorBase.td"
include "rotor/Dialect/Rotor/RotorInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Rotor_Float : AnyTypeOf<[F16, BF16, F32, F64]>;
def Rotor_FloatTensor : RankedTensorOf<[F16, BF16, F32, F64]>;
def Rotor_IntTensor : RankedTensorOf<[I32, I64]>;
def Rotor_Tensor4D : RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[4]>],
                                    "4-D float tensor">;
def Rotor_ScalarFloatTensor : RankedTensorOf<[F16, BF16, F32, F64],
                                             [HasAnyRankOfPred<[0]>],
                                             "0-D float tensor">;

// Ops with a vector-Jacobian product (RotorVjp.cpp).
defvar Rotor_Vjp = DeclareOpInterfaceMethods<Rotor_DifferentiableOpInterface>;

// Ops whose result has the type of their first operand.
class Rotor_SameTypeOp<string mnemonic, list<Trait> traits = []>
    : Rotor_Op<mnemonic, !listconcat(traits, [Pure,
          AllTypesMatch<["input", "result"]>])>;

//===----------------------------------------------------------------------===//
// Position embeddings and rotations
//===----------------------------------------------------------------------===//

def Rotor_RopeOp : Rotor_SameTypeOp<"rope", [Rotor_Vjp]> {
  let summary = "Rotary position embedding";
  let description = [{
    Rotates pairs of features of `input` (batch, heads, seq, head_dim) by
    angles proportional to their positions. For pair `i` of the first
    `rotary_dim` features and a token at position `p`, the angle is
    `p * inv_freq[i]` with `inv_freq[i] = base^(-2i / rotary_dim)`, adjusted
    by `scaling` (see `#rotor.rope_scaling`). Features past `rotary_dim`
    (partial rotary) pass through unchanged.

    * `layout = rotate_half` (Llama): pair `i` is `(x[i], x[i + rotary_dim/2])`.
    * `layout = interleaved` (GPT-J): pair `i` is `(x[2i], x[2i + 1])`.

    Each pair `(a, b)` becomes `(a cos t - b sin t, b cos t + a sin t)`.

    `positions` has shape (seq) or (batch, seq), so the sequence length may
    be dynamic. The base is either the `base` attribute or the 0-D tensor
    operand `learned_base`, which makes it learnable; exactly one is given.
    `rotary_dim` defaults to `head_dim`.

    With `transpose`, every pair is rotated by the opposite angle
    (`(a cos t + b sin t, b cos t - a sin t)`, the same scaling applied): the
    transposed map, which is the vector-Jacobian product of the rope.

    Example:

    ```mlir
    %y = rotor.rope %x, %pos {base = 10000.0 : f64, rotary_dim = 64 : i64}
        : tensor<2x32x?x128xbf16>, tensor<?xi64>
    %z = rotor.rope %x, %pos base(%b : tensor<f32>)
        {layout = #rotor.rope_layout<interleaved>}
        : tensor<2x32x?x128xbf16>, tensor<?xi64>
    ```
  }];
  let arguments = (ins
    Rotor_Tensor4D:$input,
    Rotor_IntTensor:$positions,
    Optional<Rotor_ScalarFloatTensor>:$learned_base,
    DefaultValuedAttr<Rotor_RopeLayoutAttr, "RopeLayout::rotate_half">:$layout,
    OptionalAttr<I64Attr>:$rotary_dim,
    OptionalAttr<F64Attr>:$base,
    OptionalAttr<Rotor_RopeScalingAttr>:$scaling,
    UnitAttr:$transpose
  );
  let results = (outs Rotor_Tensor4D:$result);
  let assemblyFormat = [{
    $input `,` $positions (`base` `(` $learned_base^ `:` type($learned_base) `)`)?
    attr-dict `:` type($input) `,` type($positions)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
  let extraClassDeclaration = [{
    /// The number of rotated features (`rotary_dim`, or head_dim when absent;
    /// ShapedType::kDynamic when both are unknown).
    int64_t getEffectiveRotaryDim();
  }];
}

def Rotor_GivensOp : Rotor_SameTypeOp<"givens", [Rotor_Vjp]> {
  let summary = "Product of Givens rotations on the last dimension";
  let description = [{
    Multiplies the last dimension of `input` by `G_0 · G_1 · … · G_{N-1}`,
    where `G_k` rotates the plane of features `(i_k, j_k)` by the angle
    `angles[k]`: `y[i] = x[i] cos t - x[j] sin t`,
    `y[j] = x[i] sin t + x[j] cos t`, applied in order `k = 0, 1, …`.
    `pairs` lists the planes; `angles` is an operand, so the angles can be
    learned. With `rotor.rotate` this expresses `x · (∏ G_k) · R`.

    Example:

    ```mlir
    %y = rotor.givens %x, %theta pairs [(0, 1), (2, 5)]
        : tensor<2x8x?x64xf32>, tensor<2xf32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$input,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>:$angles,
    DenseI64ArrayAttr:$pairs
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $angles `pairs` custom<GivensPairs>($pairs)
    attr-dict `:` type($input) `,` type($angles)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    /// The number of rotations.
    int64_t getNumRotations() { return getPairs().size() / 2; }
  }];
}

def Rotor_RotateOp : Rotor_SameTypeOp<"rotate", [Rotor_Vjp]> {
  let summary = "Multiplication of the last dimension by a square matrix";
  let description = [{
    Computes `input · rotation` over the last dimension: for a last
    dimension of size `D`, `rotation` is `D x D` (orthogonal in the
    design's use, though this is not checked).

    Example:

    ```mlir
    %y = rotor.rotate %x, %r : tensor<2x8x?x64xf32>, tensor<64x64xf32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$input,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[2]>]>:$rotation
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $rotation attr-dict `:` type($input) `,` type($rotation)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Rotor_SinusoidalEmbeddingOp : Rotor_Op<"sinusoidal_embedding",
    [Pure, InferTypeOpAdaptor, Rotor_Vjp]> {
  let summary = "Sinusoidal embedding of positions with learnable frequencies";
  let description = [{
    For positions of any shape `P` and frequencies `freqs` (F), returns a
    tensor of shape `P x 2F` holding `[sin(p * f_0), …, sin(p * f_{F-1}),
    cos(p * f_0), …, cos(p * f_{F-1})]`. The frequencies are an operand, so
    they can be learned. The result has the element type of `freqs`.

    Example:

    ```mlir
    %e = rotor.sinusoidal_embedding %pos, %freqs : tensor<?xi64>, tensor<32xf32>
    ```
  }];
  let arguments = (ins
    RankedTensorOf<[I32, I64, F16, BF16, F32, F64]>:$positions,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>:$freqs
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = [{
    $positions `,` $freqs attr-dict `:` type($positions) `,` type($freqs)
  }];
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

def Rotor_AttentionOp : Rotor_Op<"attention",
    [Pure, AttrSizedOperandSegments, InferTypeOpAdaptor, Rotor_Vjp]> {
  let summary = "Scaled dot-product attention with structured masks and GQA";
  let description = [{
    Computes `softmax(scale · q kᵀ + bias, masked) v` for
    `query` (B, Hq, Sq, D), `key` (B, Hkv, Sk, D) and `value` (B, Hkv, Sk, Dv).

    * Grouped-query attention: query head `h` uses key/value head
      `h / (Hq / Hkv)`; `Hq` must be divisible by `Hkv` (MQA: `Hkv = 1`).
    * `mask` (`#rotor.mask`) selects the visible (query, key) pairs: causal,
      sliding window with dilation, chunked local, global tokens. Queries are
      aligned to the end of the keys. Without `mask` every key is visible.
    * `bias`, when given, is a T5-style bucketed relative position bias
      table (Hq, num_buckets): the relative position `j - p` is bucketed
      (bidirectionally unless the mask is causal, half the buckets exact,
      the rest logarithmic up to `bias_max_distance`) and the table entry is
      added to the score.
    * `softcap = c` replaces each score `s` by `c · tanh(s / c)` (after
      scaling, before the bias).
    * `scale` defaults to `1 / sqrt(D)`.
    * With `return_lse`, a second result (B, Hq, Sq), in `f32` (`f64` for
      `f64` inputs), holds the natural log-sum-exp of each row's scores, as
      the backward pass needs. A row with no visible key yields 0 and an
      LSE of `-inf`.

    Fused rotary embedding (formed by `rotor-fuse-attention-rope`): with
    `query_positions`, the op attends with `rope(query, query_positions)`
    in place of `query`; with `key_positions`, with `rope(key,
    key_positions)` in place of `key`; `value` is never rotated. `rope` is
    exactly `rotor.rope` with the attributes `rope_layout`,
    `rope_rotary_dim`, `rope_base` (or the 0-D operand `rope_learned_base`)
    and `rope_scaling`, shared by both sides: positions of shape (Sq) or
    (B, Sq) for the queries, (Sk) or (B, Sk) for the keys; angles
    `position · inv_freq[i]` formed in f64; with `dynamic_ntk` scaling each
    side grows its base from its own largest position. A kernel rotates
    each query and key tile as it loads it (after the rotation the query
    is scaled), so that no rotated copy of q or k is written to memory. The
    rope attributes are only valid together with a positions operand.

    Fused query rotation (formed by `rotor-fuse-attention-rotations`): with
    `query_givens_angles` (N) and `givens_q_pairs` (N index pairs, printed
    `givens_q(%theta : tensor<Nxf32>) pairs [(i, j), …]`) and/or
    `query_rotation` (`rotate_q(%r : tensor<DxD>)`), the op attends with
    `rotate(givens(rope(query)))` in place of `query`: first the fused rope
    of the queries (if any), then the Givens rotations in order (exactly
    `rotor.givens` with these pairs and angles), then the multiplication by
    the D x D matrix (exactly `rotor.rotate`, in the element type of the
    query). The kernel applies the chain to each query tile in its scratch
    buffer as it loads it, before the scaling, so no rotated copy of q is
    written to memory. Keys and values are never rotated by it (the
    `rotor-move-key-rotations` pass moves key-side chains onto the
    queries). `givens_q_pairs` is only valid together with
    `query_givens_angles`.

    Fixed-capacity caches (a decoding step over a static KV cache, see
    `rotor.cache_write`): `query_start`, a one-element integer tensor
    (shape `[]` or `[1]`) holding `P`, makes `key` and `value` caches of
    capacity `Sk` of which only the first `n = clamp(P + Sq, 0, Sk)` rows
    exist. Keys `n … Sk-1` are never attended, and the queries are aligned
    to the end of the existing keys: query `i` has position `i + n - Sq`,
    which is `P + i` when the caches have room for every query. `P` is read
    at run time, so one compiled step serves every cache length.

    Example:

    ```mlir
    %o = rotor.attention %q, %k, %v
        {mask = #rotor.mask<causal = true, window_left = 1023>}
        : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
    %o2, %lse = rotor.attention %q, %k, %v bias(%t : tensor<32x32xf32>)
        return_lse {softcap = 50.0 : f64}
        : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
    %o3 = rotor.attention %q, %k, %v
        rope_q(%pos : tensor<?xi64>) rope_k(%pos : tensor<?xi64>)
        {mask = #rotor.mask<causal = true>, rope_base = 500000.0 : f64}
        : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
    %o4 = rotor.attention %q, %k, %v
        givens_q(%theta : tensor<2xf32>) pairs [(0, 1), (2, 5)]
        rotate_q(%r : tensor<128x128xbf16>)
        {mask = #rotor.mask<causal = true>}
        : tensor<2x32x?x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
    %o5 = rotor.attention %q1, %kcache, %vcache
        query_start(%p : tensor<1xi64>) {mask = #rotor.mask<causal = true>}
        : tensor<2x32x1x128xbf16>, tensor<2x8x?x128xbf16>, tensor<2x8x?x128xbf16>
    ```
  }];
  let arguments = (ins
    Rotor_Tensor4D:$query,
    Rotor_Tensor4D:$key,
    Rotor_Tensor4D:$value,
    Optional<RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[2]>]>>:$bias,
    Optional<Rotor_IntTensor>:$query_positions,
    Optional<Rotor_IntTensor>:$key_positions,
    Optional<Rotor_ScalarFloatTensor>:$rope_learned_base,
    Optional<RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>>:$query_givens_angles,
    Optional<RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[2]>]>>:$query_rotation,
    Optional<Rotor_IntTensor>:$query_start,
    OptionalAttr<Rotor_MaskAttr>:$mask,
    OptionalAttr<F64Attr>:$scale,
    OptionalAttr<F64Attr>:$softcap,
    DefaultValuedAttr<I64Attr, "128">:$bias_max_distance,
    UnitAttr:$return_lse,
    OptionalAttr<Rotor_RopeLayoutAttr>:$rope_layout,
    OptionalAttr<I64Attr>:$rope_rotary_dim,
    OptionalAttr<F64Attr>:$rope_base,
    OptionalAttr<Rotor_RopeScalingAttr>:$rope_scaling,
    OptionalAttr<DenseI64ArrayAttr>:$givens_q_pairs
  );
  let results = (outs
    Rotor_Tensor4D:$output,
    Optional<RankedTensorOf<[F32, F64], [HasAnyRankOfPred<[3]>]>>:$lse
  );
  let assemblyFormat = [{
    $query `,` $key `,` $value (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`rope_q` `(` $query_positions^ `:` type($query_positions) `)`)?
    (`rope_k` `(` $key_positions^ `:` type($key_positions) `)`)?
    (`rope_learned_base` `(` $rope_learned_base^ `:` type($rope_learned_base) `)`)?
    (`givens_q` `(` $query_givens_angles^ `:` type($query_givens_angles) `)`
     `pairs` custom<GivensPairs>($givens_q_pairs))?
    (`rotate_q` `(` $query_rotation^ `:` type($query_rotation) `)`)?
    (`query_start` `(` $query_start^ `:` type($query_start) `)`)?
    (`return_lse` $return_lse^)? attr-dict `:` type($query) `,` type($key) `,` type($value)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    /// The softmax scale: `scale`, or 1/sqrt(head_dim).
    double getEffectiveScale();
    /// The mask: `mask`, or the full mask when absent.
    MaskAttr getEffectiveMask();
    /// True when the op rotates its queries or keys (fused rope).
    bool hasRope() { return getQueryPositions() || getKeyPositions(); }
    /// True when the op applies a fused Givens chain or rotation matrix to
    /// its queries.
    bool hasQueryRotation() {
      return getQueryGivensAngles() || getQueryRotation();
    }
    /// True when the op transforms q or k before the scores (fused rope or
    /// query rotation): passes that re-lay the queries leave it alone.
    bool hasPrologue() { return hasRope() || hasQueryRotation(); }
    /// The rope layout (rotate_half when absent).
    RopeLayout getEffectiveRopeLayout() {
      return getRopeLayout() ? *getRopeLayout() : RopeLayout::rotate_half;
    }
    /// The rotated features of the fused rope: `rope_rotary_dim`, or the
    /// head dimension (ShapedType::kDynamic when both are unknown).
    int64_t getEffectiveRopeRotaryDim();
    /// Verifies the fused query rotation (givens_q, rotate_q).
    LogicalResult verifyQueryRotation();
  }];
}

def Rotor_CacheWriteOp : Rotor_Op<"cache_write", [Pure,
    AllTypesMatch<["cache", "result"]>]> {
  let summary = "Writes new rows into a fixed-capacity cache at a run-time position";
  let description = [{
    Returns `cache` with the rows `start … start + S - 1` along `axis`
    replaced by the rows of `update`, `S` being the size of `update` along
    `axis`; every other dimension of `update` equals the cache's. `start`
    is a one-element integer tensor (shape `[]` or `[1]`) read at run time,
    so one compiled decoding step serves every cache length. Rows that
    would land outside the cache (`start + s < 0` or `>= C`, `C` the
    capacity along `axis`) are dropped: the op never writes out of bounds.

    With `rotor.attention … query_start(%start)` it expresses a decoding
    step over a static KV cache: the step writes its keys and values at the
    cache position and attends over the first `start + S` rows. The CUDA
    target updates the cache in place (the cache operand must have no other
    use), so a step moves O(S) rows instead of copying the cache; the CPU
    lowering inserts the rows into the cache's buffer, copying it first
    when bufferization finds it read-only. It is an inference op:
    `rotor-autodiff` has no rule for it.

    Example:

    ```mlir
    %k_cache2 = rotor.cache_write %k into %k_cache at %pos {axis = 2 : i64}
        : tensor<1x8x1x64xbf16> into tensor<1x8x?x64xbf16>, tensor<1xi64>
    ```
  }];
  let arguments = (ins
    RankedTensorOf<[F16, BF16, F32, F64, I32, I64]>:$update,
    RankedTensorOf<[F16, BF16, F32, F64, I32, I64]>:$cache,
    Rotor_IntTensor:$start,
    I64Attr:$axis
  );
  let results = (outs RankedTensorOf<[F16, BF16, F32, F64, I32, I64]>:$result);
  let assemblyFormat = [{
    $update `into` $cache `at` $start attr-dict `:` type($update) `into`
    type($cache) `,` type($start)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Linear layers, embeddings and convolutions
//===----------------------------------------------------------------------===//

def Rotor_LinearOp : Rotor_Op<"linear", [Pure, InferTypeOpAdaptor, Rotor_Vjp]> {
  let summary = "Affine map of the last dimension: x · Wᵀ + b";
  let description = [{
    For `input` (…, K), `weight` (N, K) (the PyTorch `nn.Linear` layout) and
    an optional `bias` (N), returns (…, N).

    Example:

    ```mlir
    %y = rotor.linear %x, %w bias(%b : tensor<11008xf32>)
        : tensor<2x?x4096xf32>, tensor<11008x4096xf32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$input,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[2]>]>:$weight,
    Optional<RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>>:$bias
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` `(` $bias^ `:` type($bias) `)`)?
    attr-dict `:` type($input) `,` type($weight)
  }];
  let hasVerifier = 1;
}

def Rotor_FusedLinearOp : Rotor_Op<"fused_linear",
    [Pure, AttrSizedOperandSegments, InferTypeOpAdaptor]> {
  let summary = "A linear layer with its bias, activation and residual fused";
  let description = [{
    `act(x · Wᵀ + bias) + residual` over the last dimension, with `input`
    (…, K), `weight` (N, K), the optional `bias` (N) and `residual` (…, N)
    (the result's shape), and `activation` one of `none`, `relu`, `silu`,
    `gelu` (exact) and `gelu_tanh`. The `rotor-fuse-linear` pass forms it
    from `rotor.linear` followed by an activation and a residual
    `rotor.add`, so that the kernel applies them to its accumulators instead
    of writing and re-reading the intermediate tensors.

    With `rms_norm(g)` (and `norm_epsilon`, both or neither), the input is
    first RMS-normalized, as by `rotor.rms_norm x, g`: the result is
    `act(rms_norm(x, g) · Wᵀ + bias) + residual`. The kernel computes it as
    `r · (x · (diag(g) Wᵀ)) + bias`, with r = 1/sqrt(mean(x²) + eps) per
    row: `g` is multiplied into the weights as they are packed, the sum of
    squares accumulates beside the products, and no normalized copy of x
    exists.

    Example:

    ```mlir
    %y = rotor.fused_linear %x, %w residual(%h : tensor<2x?x64xf32>)
        {activation = #rotor.activation<silu>}
        : tensor<2x?x256xf32>, tensor<64x256xf32>
    %q = rotor.fused_linear %x, %wq rms_norm(%g : tensor<256xf32>)
        {norm_epsilon = 1.0e-05 : f64}
        : tensor<2x?x256xf32>, tensor<256x256xf32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$input,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[2]>]>:$weight,
    Optional<RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>>:$bias,
    Optional<Rotor_FloatTensor>:$residual,
    Optional<RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>>:$norm_weight,
    DefaultValuedAttr<Rotor_ActivationAttr, "Activation::none">:$activation,
    OptionalAttr<F64Attr>:$norm_epsilon
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`residual` `(` $residual^ `:` type($residual) `)`)?
    (`rms_norm` `(` $norm_weight^ `:` type($norm_weight) `)`)?
    attr-dict `:` type($input) `,` type($weight)
  }];
  let hasVerifier = 1;
}

def Rotor_FusedGateUpOp : Rotor_Op<"fused_gate_up", [Pure, InferTypeOpAdaptor]> {
  let summary = "The gated feed-forward front half in one kernel";
  let description = [{
    `silu(x · W_gateᵀ) * (x · W_upᵀ)` over the last dimension, with `input`
    (…, K) and both weights (N, K): the two products share every load of x
    and are combined in the epilogue, so neither intermediate is written.
    `rotor-fuse-linear` forms it from
    `rotor.swiglu(rotor.linear(x, Wg), rotor.linear(x, Wu))`.

    With `rms_norm(g)` (and `norm_epsilon`, both or neither), the input is
    first RMS-normalized as by `rotor.rms_norm x, g`, in the kernel's
    prologue (see `rotor.fused_linear`): no normalized copy of x exists.

    Example:

    ```mlir
    %a = rotor.fused_gate_up %x, %wg, %wu
        : tensor<2x?x256xf32>, tensor<704x256xf32>, tensor<704x256xf32>
    %b = rotor.fused_gate_up %x, %wg, %wu rms_norm(%g : tensor<256xf32>)
        {norm_epsilon = 1.0e-05 : f64}
        : tensor<2x?x256xf32>, tensor<704x256xf32>, tensor<704x256xf32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$input,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[2]>]>:$gate_weight,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[2]>]>:$up_weight,
    Optional<RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>>:$norm_weight,
    OptionalAttr<F64Attr>:$norm_epsilon
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $gate_weight `,` $up_weight
    (`rms_norm` `(` $norm_weight^ `:` type($norm_weight) `)`)?
    attr-dict `:` type($input) `,`
    type($gate_weight) `,` type($up_weight)
  }];
  let hasVerifier = 1;
}

def Rotor_EmbeddingOp : Rotor_Op<"embedding", [Pure, InferTypeOpAdaptor,
    Rotor_Vjp]> {
  let summary = "Table lookup of token ids";
  let description = [{
    For `ids` of shape `P` and `table` (V, H), returns `P x H` with
    `result[p, :] = table[ids[p], :]`. Ids outside `[0, V)` are a run-time
    error in the lowerings that check them and yield zeros otherwise.

    Example:

    ```mlir
    %h = rotor.embedding %ids, %table : tensor<2x?xi64>, tensor<32000x4096xbf16>
    ```
  }];
  let arguments = (ins
    Rotor_IntTensor:$ids,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[2]>]>:$table
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = [{
    $ids `,` $table attr-dict `:` type($ids) `,` type($table)
  }];
}

def Rotor_Conv1dOp : Rotor_Op<"conv1d", [Pure, InferTypeOpAdaptor, Rotor_Vjp]> {
  let summary = "1-D convolution over the sequence of hidden states";
  let description = [{
    Convolves `input` (B, S, Cin) along the sequence with `weight`
    (Cout, Cin / groups, K) (the PyTorch `nn.Conv1d` layout) and adds the
    optional `bias` (Cout); the result is (B, S, Cout), the same length as
    the input:

    * `padding = causal` pads `K - 1` zeros before the sequence, so output
      `t` sees inputs `t - K + 1 … t` (conv-augmented causal attention);
    * `padding = same` pads `(K - 1) / 2` before and the rest after.

    `groups = Cin = Cout` gives a depthwise convolution.

    Example:

    ```mlir
    %y = rotor.conv1d %x, %w {groups = 512 : i64}
        : tensor<2x?x512xf32>, tensor<512x1x4xf32>
    ```
  }];
  let arguments = (ins
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[3]>]>:$input,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[3]>]>:$weight,
    Optional<RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>>:$bias,
    DefaultValuedAttr<I64Attr, "1">:$groups,
    DefaultValuedAttr<Rotor_ConvPaddingAttr, "ConvPadding::causal">:$padding
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` `(` $bias^ `:` type($bias) `)`)?
    attr-dict `:` type($input) `,` type($weight)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

def Rotor_RmsNormOp : Rotor_SameTypeOp<"rms_norm", [Rotor_Vjp]> {
  let summary = "Root-mean-square normalization of the last dimension";
  let description = [{
    `y = x / sqrt(mean(x²) + epsilon) * weight` over the last dimension (H);
    `weight` has shape (H).

    Example:

    ```mlir
    %y = rotor.rms_norm %x, %w {epsilon = 1.0e-05 : f64}
        : tensor<2x?x4096xf32>, tensor<4096xf32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$input,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>:$weight,
    DefaultValuedAttr<F64Attr, "1.0e-6">:$epsilon
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight)
  }];
  let hasVerifier = 1;
}

def Rotor_LayerNormOp : Rotor_SameTypeOp<"layer_norm", [Rotor_Vjp]> {
  let summary = "Layer normalization of the last dimension";
  let description = [{
    `y = (x - mean(x)) / sqrt(var(x) + epsilon) * weight + bias` over the
    last dimension (H), with the biased variance; `weight` and the optional
    `bias` have shape (H).

    Example:

    ```mlir
    %y = rotor.layer_norm %x, %w bias(%b : tensor<768xf32>)
        : tensor<2x?x768xf32>, tensor<768xf32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$input,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>:$weight,
    Optional<RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>>:$bias,
    DefaultValuedAttr<F64Attr, "1.0e-5">:$epsilon
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` `(` $bias^ `:` type($bias) `)`)?
    attr-dict `:` type($input) `,` type($weight)
  }];
  let hasVerifier = 1;
}

def Rotor_L2NormalizeOp : Rotor_SameTypeOp<"l2_normalize", [Rotor_Vjp]> {
  let summary = "Scales the last dimension to unit Euclidean norm";
  let description = [{
    `y = x / sqrt(max(sum(x²), epsilon²))` over the last dimension, as
    `torch.nn.functional.normalize(x, dim=-1, eps=epsilon)` does.

    Example:

    ```mlir
    %y = rotor.l2_normalize %x : tensor<2x?x64xf32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$input,
    DefaultValuedAttr<F64Attr, "1.0e-12">:$epsilon
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise ops and activations
//===----------------------------------------------------------------------===//

class Rotor_BinaryOp<string mnemonic, string formula, list<Trait> traits = []>
    : Rotor_Op<mnemonic, !listconcat(traits,
          [Pure, Commutative, InferTypeOpAdaptor, Rotor_Vjp])> {
  let summary = "Elementwise " # formula # " with NumPy broadcasting";
  let description = [{
    Computes `}] # formula # [{` elementwise. The operands have the same
    element type; their shapes broadcast as in NumPy (trailing dimensions
    aligned; a size-1 dimension stretches).

    Example:

    ```mlir
    %z = rotor.}] # mnemonic # [{ %x, %y : tensor<2x?x64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins Rotor_FloatTensor:$lhs, Rotor_FloatTensor:$rhs);
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Rotor_AddOp : Rotor_BinaryOp<"add", "lhs + rhs">;
def Rotor_MulOp : Rotor_BinaryOp<"mul", "lhs * rhs">;

class Rotor_UnaryOp<string mnemonic, string title, string formula>
    : Rotor_SameTypeOp<mnemonic, [Rotor_Vjp]> {
  let summary = title;
  let description = [{
    Computes `}] # formula # [{` elementwise.

    Example:

    ```mlir
    %y = rotor.}] # mnemonic # [{ %x : tensor<2x?x64xf32>
    ```
  }];
  let arguments = (ins Rotor_FloatTensor:$input);
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Rotor_ReluOp : Rotor_UnaryOp<"relu", "Rectified linear unit", "max(x, 0)"> {
  let hasFolder = 1;
}
def Rotor_SiluOp : Rotor_UnaryOp<"silu", "Sigmoid-weighted linear unit",
                                 "x * sigmoid(x)">;

def Rotor_GeluOp : Rotor_SameTypeOp<"gelu", [Rotor_Vjp]> {
  let summary = "Gaussian error linear unit";
  let description = [{
    `approximate = none`: `x/2 · (1 + erf(x / sqrt(2)))`;
    `approximate = tanh`: `x/2 · (1 + tanh(sqrt(2/pi) · (x + 0.044715 x³)))`.

    Example:

    ```mlir
    %y = rotor.gelu %x {approximate = #rotor.gelu_approximation<tanh>}
        : tensor<2x?x64xf32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$input,
    DefaultValuedAttr<Rotor_GeluApproximationAttr,
                      "GeluApproximation::none">:$approximate
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Rotor_SwigluOp : Rotor_Op<"swiglu", [Pure, Rotor_Vjp,
    AllTypesMatch<["gate", "up", "result"]>]> {
  let summary = "Gated linear unit with a SiLU gate";
  let description = [{
    `silu(gate) * up` elementwise, the feed-forward gate of Llama-style
    models.

    Example:

    ```mlir
    %y = rotor.swiglu %g, %u : tensor<2x?x11008xf32>
    ```
  }];
  let arguments = (ins Rotor_FloatTensor:$gate, Rotor_FloatTensor:$up);
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($gate)";
}

def Rotor_SoftmaxOp : Rotor_SameTypeOp<"softmax", [Rotor_Vjp]> {
  let summary = "Softmax along one dimension";
  let description = [{
    `exp(x - max) / sum(exp(x - max))` along `axis` (negative counts from
    the end; default the last).

    Example:

    ```mlir
    %p = rotor.softmax %x {axis = 1 : i64} : tensor<4x?xf32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$input,
    DefaultValuedAttr<I64Attr, "-1">:$axis
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// `axis` as a non-negative dimension index.
    int64_t getNormalizedAxis();
  }];
}

//===----------------------------------------------------------------------===//
// Head layout
//===----------------------------------------------------------------------===//

def Rotor_SplitHeadsOp : Rotor_Op<"split_heads", [Pure, InferTypeOpAdaptor,
    Rotor_Vjp]> {
  let summary = "Splits features into heads: (B, S, H·D) to (B, H, S, D)";
  let description = [{
    Reshapes the last dimension of `input` (B, S, H·D) into `num_heads`
    heads and moves the head dimension before the sequence.

    Example:

    ```mlir
    %q = rotor.split_heads %x into 32 heads : tensor<2x?x4096xf32>
    ```
  }];
  let arguments = (ins
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[3]>]>:$input,
    I64Attr:$num_heads
  );
  let results = (outs Rotor_Tensor4D:$result);
  let assemblyFormat = "$input `into` $num_heads `heads` attr-dict `:` type($input)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Rotor_MergeHeadsOp : Rotor_Op<"merge_heads", [Pure, InferTypeOpAdaptor,
    Rotor_Vjp]> {
  let summary = "Merges heads into features: (B, H, S, D) to (B, S, H·D)";
  let description = [{
    The inverse of `rotor.split_heads`.

    Example:

    ```mlir
    %x = rotor.merge_heads %o : tensor<2x32x?x128xf32>
    ```
  }];
  let arguments = (ins Rotor_Tensor4D:$input);
  let results = (outs
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[3]>]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

def Rotor_CrossEntropyOp : Rotor_Op<"cross_entropy",
    [Pure, InferTypeOpAdaptor, Rotor_Vjp]> {
  let summary = "Mean softmax cross-entropy of logits against integer labels";
  let description = [{
    For `logits` (…, V) and `labels` (…) returns the mean over the
    positions whose label is not `ignore_index` of
    `logsumexp(logits[p, :]) - logits[p, labels[p]]`, as a 0-D tensor (f32,
    or f64 for f64 logits). With no counted position the loss is 0. Labels
    outside `[0, V)` other than `ignore_index` are a run-time error in the
    lowerings that check them.

    Example:

    ```mlir
    %loss = rotor.cross_entropy %logits, %labels
        : tensor<2x?x32000xf32>, tensor<2x?xi64>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$logits,
    Rotor_IntTensor:$labels,
    DefaultValuedAttr<I64Attr, "-100">:$ignore_index
  );
  let results = (outs RankedTensorOf<[F32, F64], [HasAnyRankOfPred<[0]>]>:$loss);
  let assemblyFormat = [{
    $logits `,` $labels attr-dict `:` type($logits) `,` type($labels)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Backward ops (the vector-Jacobian products of the ops above)
//===----------------------------------------------------------------------===//

def Rotor_ActivationGradOp : Rotor_Op<"activation_grad", [Pure,
    AllTypesMatch<["input", "grad", "result"]>]> {
  let summary = "Cotangent of an activation's input";
  let description = [{
    Returns `grad * act'(input)` elementwise, the vector-Jacobian product of
    `rotor.relu` (`act' = input > 0`), `rotor.silu`
    (`σ(x) (1 + x (1 - σ(x)))`) and `rotor.gelu` (exact:
    `Φ(x) + x φ(x)`; `gelu_tanh`: the derivative of the tanh formula).
    `activation = none` is the identity (`result = grad`).

    Example:

    ```mlir
    %dx = rotor.activation_grad %x, %dy {activation = #rotor.activation<silu>}
        : tensor<2x?x64xf32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$input,
    Rotor_FloatTensor:$grad,
    Rotor_ActivationAttr:$activation
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` type($input)";
}

def Rotor_LinearWeightGradOp : Rotor_Op<"linear_weight_grad",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "Sum over rows of outer products: the weight cotangent of a linear layer";
  let description = [{
    For `grad` (…, N) and `input` (…, K) with the same leading dimensions,
    returns the (N, K) matrix `Σ_p grad[p, n] · input[p, k]` summed over
    every leading index `p`: the cotangent of `W` in `y = x · Wᵀ`
    (`rotor.linear`), and, with the operands swapped, that of `R` in
    `y = x · R` (`rotor.rotate`).

    Example:

    ```mlir
    %dw = rotor.linear_weight_grad %dy, %x
        : tensor<2x?x128xf32>, tensor<2x?x64xf32>
    ```
  }];
  let arguments = (ins Rotor_FloatTensor:$grad, Rotor_FloatTensor:$input);
  let results = (outs
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[2]>]>:$result);
  let assemblyFormat = [{
    $grad `,` $input attr-dict `:` type($grad) `,` type($input)
  }];
  let hasVerifier = 1;
}

def Rotor_CrossEntropyGradOp : Rotor_Op<"cross_entropy_grad", [Pure,
    AllTypesMatch<["logits", "result"]>]> {
  let summary = "Cotangent of the logits of rotor.cross_entropy";
  let description = [{
    Returns `grad_loss · (softmax(logits[p]) - onehot(labels[p])) / n` for
    each counted position `p` (label not `ignore_index`), `n` being the
    number of counted positions, and zeros for the ignored positions (and
    everywhere when none is counted). `grad_loss` is the 0-D cotangent of
    the loss.

    Example:

    ```mlir
    %dlogits = rotor.cross_entropy_grad %logits, %labels, %dloss
        : tensor<2x?x100xf32>, tensor<2x?xi64>, tensor<f32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$logits,
    Rotor_IntTensor:$labels,
    RankedTensorOf<[F32, F64], [HasAnyRankOfPred<[0]>]>:$grad_loss,
    DefaultValuedAttr<I64Attr, "-100">:$ignore_index
  );
  let results = (outs Rotor_FloatTensor:$result);
  let assemblyFormat = [{
    $logits `,` $labels `,` $grad_loss attr-dict `:` type($logits) `,`
    type($labels) `,` type($grad_loss)
  }];
  let hasVerifier = 1;
}

def Rotor_RmsNormGradOp : Rotor_Op<"rms_norm_grad", [Pure,
    AllTypesMatch<["input", "grad", "input_grad"]>,
    AllTypesMatch<["weight", "weight_grad"]>]> {
  let summary = "Cotangents of the input and weight of rotor.rms_norm";
  let description = [{
    For `y = x · r · w` with `r = 1 / sqrt(mean(x²) + epsilon)` over the last
    dimension (H) and the cotangent `grad` of `y`:

    * `input_grad = r · (g - x · r² · mean(g · x))` with `g = grad · w`;
    * `weight_grad = Σ_rows grad · x · r`.

    Example:

    ```mlir
    %dx, %dw = rotor.rms_norm_grad %x, %w, %dy {epsilon = 1.0e-05 : f64}
        : tensor<2x?x64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$input,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>:$weight,
    Rotor_FloatTensor:$grad,
    DefaultValuedAttr<F64Attr, "1.0e-6">:$epsilon
  );
  let results = (outs Rotor_FloatTensor:$input_grad,
                      RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>:$weight_grad);
  let assemblyFormat = [{
    $input `,` $weight `,` $grad attr-dict `:` type($input) `,` type($weight)
  }];
  let hasVerifier = 1;
}

def Rotor_EmbeddingGradOp : Rotor_Op<"embedding_grad", [Pure]> {
  let summary = "Cotangent of an embedding table: scatter-add of the rows";
  let description = [{
    For `ids` of shape `P` and `grad` (`P x H`), the cotangent of
    `rotor.embedding`'s output, returns the (V, H) table with
    `result[v] = Σ_{p : ids[p] = v} grad[p]`. Ids outside `[0, V)` add
    nothing (their rows read zeros in the forward op). `V` is the result's
    static first dimension.

    Example:

    ```mlir
    %dt = rotor.embedding_grad %ids, %dy
        : tensor<2x?xi64>, tensor<2x?x64xf32> -> tensor<1000x64xf32>
    ```
  }];
  let arguments = (ins Rotor_IntTensor:$ids, Rotor_FloatTensor:$grad);
  let results = (outs
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[2]>]>:$result);
  let assemblyFormat = [{
    $ids `,` $grad attr-dict `:` type($ids) `,` type($grad) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Rotor_RopeBaseGradOp : Rotor_Op<"rope_base_grad", [Pure,
    AllTypesMatch<["base", "result"]>, AllTypesMatch<["input", "grad"]>]> {
  let summary = "Cotangent of the learned base of rotor.rope";
  let description = [{
    For `y = rope(input, positions, base)` (with the given layout,
    rotary_dim and scaling) and the cotangent `grad` of `y`, returns
    `Σ ∂L/∂t · ∂t/∂base` over every rotated pair, where the angle of pair
    `i` at position `p` is `t = p · inv_freq[i]`, `∂L/∂t = grad_b · y_a -
    grad_a · y_b` for the pair `(a, b)`, and
    `∂inv_freq[i]/∂base = -(2i / rotary_dim) · inv_freq[i] / base`. This
    holds without scaling and for `linear` and `dynamic_ntk` scaling; `yarn`
    and `llama3` scaling are rejected.

    Example:

    ```mlir
    %db = rotor.rope_base_grad %x, %dy, %pos base(%b : tensor<f32>)
        : tensor<2x4x?x64xf32>, tensor<?xi64>
    ```
  }];
  let arguments = (ins
    Rotor_Tensor4D:$input,
    Rotor_Tensor4D:$grad,
    Rotor_IntTensor:$positions,
    Rotor_ScalarFloatTensor:$base,
    DefaultValuedAttr<Rotor_RopeLayoutAttr, "RopeLayout::rotate_half">:$layout,
    OptionalAttr<I64Attr>:$rotary_dim,
    OptionalAttr<Rotor_RopeScalingAttr>:$scaling
  );
  let results = (outs Rotor_ScalarFloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $grad `,` $positions `base` `(` $base `:` type($base) `)`
    attr-dict `:` type($input) `,` type($positions)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The number of rotated features (`rotary_dim`, or head_dim).
    int64_t getEffectiveRotaryDim();
  }];
}

def Rotor_GivensGradOp : Rotor_Op<"givens_grad", [Pure,
    AllTypesMatch<["input", "grad", "input_grad"]>,
    AllTypesMatch<["angles", "angles_grad"]>]> {
  let summary = "Cotangents of the input and angles of rotor.givens";
  let description = [{
    For `y = rotor.givens(input, angles, pairs)`, i.e. `y = x · G_0 ⋯
    G_{N-1}` on the last dimension, and the cotangent `grad` of `y`:

    * `input_grad = grad · (G_0 ⋯ G_{N-1})ᵀ`: the chain transposed, the
      pairs in reverse order with negated angles;
    * `angles_grad[k] = Σ_rows (g_j · z_i - g_i · z_j)` for rotation `k` of
      the plane `(i, j)`, where `z` is the row after rotation `k` and `g`
      the cotangent there (the derivative of the rotated pair in its angle
      is `(-z_j, z_i)`); summed over every leading index.

    The intermediate rows are not stored: each rotation is undone in turn,
    from the output backwards. Planes may overlap (a feature rotated by
    several rotations).

    Example:

    ```mlir
    %dx, %dtheta = rotor.givens_grad %x, %dy, %theta pairs [(0, 1), (2, 5)]
        : tensor<2x8x?x64xf32>, tensor<2xf32>
    ```
  }];
  let arguments = (ins
    Rotor_FloatTensor:$input,
    Rotor_FloatTensor:$grad,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>:$angles,
    DenseI64ArrayAttr:$pairs
  );
  let results = (outs
    Rotor_FloatTensor:$input_grad,
    RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[1]>]>:$angles_grad
  );
  let assemblyFormat = [{
    $input `,` $grad `,` $angles `pairs` custom<GivensPairs>($pairs)
    attr-dict `:` type($input) `,` type($angles)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The number of rotations.
    int64_t getNumRotations() { return getPairs().size() / 2; }
  }];
}

def Rotor_AttentionGradOp : Rotor_Op<"attention_grad", [Pure,
    AllTypesMatch<["query", "query_grad"]>, AllTypesMatch<["key", "key_grad"]>,
    AllTypesMatch<["value", "value_grad"]>,
    AllTypesMatch<["output", "grad"]>]> {
  let summary = "Cotangents of rotor.attention (flash-style backward)";
  let description = [{
    For `output = rotor.attention(query, key, value, [bias])` with the same
    attributes, its log-sum-exp `lse` and the cotangent `grad` of `output`,
    returns the cotangents of query, key, value and, with `bias`, of the
    relative position bias table. The probabilities are recomputed from the
    scores and `lse` (`p = exp(s - lse)`), pair by pair, so no (Sq, Sk)
    matrix is stored:

    * `D_i = Σ grad_i · output_i`; `dp_ij = grad_i · value_j`;
      `ds_ij = p_ij (dp_ij - D_i)` for every visible pair (every mask kind,
      the same visibility as the forward op);
    * `d bias[h, bucket(j - i)] += ds_ij`; through `softcap = c`, the raw
      score's cotangent is `ds_ij (1 - tanh²(raw_ij / c))`;
    * `dq_i += scale · ds_ij k_j`, `dk_j += scale · ds_ij q_i`,
      `dv_j += p_ij grad_i`; with grouped-query attention the key and value
      cotangents of a key/value head sum over the query heads of its group.

    Rows with no visible key (`lse = -inf`) contribute nothing.

    Example:

    ```mlir
    %dq, %dk, %dv = rotor.attention_grad %q, %k, %v, %o, %lse, %do
        {mask = #rotor.mask<causal = true>}
        : tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>,
          tensor<1x4x?x16xf32>, tensor<1x4x?xf32>
    ```
  }];
  let arguments = (ins
    Rotor_Tensor4D:$query,
    Rotor_Tensor4D:$key,
    Rotor_Tensor4D:$value,
    Rotor_Tensor4D:$output,
    RankedTensorOf<[F32, F64], [HasAnyRankOfPred<[3]>]>:$lse,
    Rotor_Tensor4D:$grad,
    Optional<RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[2]>]>>:$bias,
    OptionalAttr<Rotor_MaskAttr>:$mask,
    OptionalAttr<F64Attr>:$scale,
    OptionalAttr<F64Attr>:$softcap,
    DefaultValuedAttr<I64Attr, "128">:$bias_max_distance
  );
  let results = (outs
    Rotor_Tensor4D:$query_grad,
    Rotor_Tensor4D:$key_grad,
    Rotor_Tensor4D:$value_grad,
    Optional<RankedTensorOf<[F16, BF16, F32, F64], [HasAnyRankOfPred<[2]>]>>:$bias_grad
  );
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $output `,` $lse `,` $grad
    (`bias` `(` $bias^ `:` type($bias) `)`)? attr-dict `:` type($query) `,`
    type($key) `,` type($value) `,` type($output) `,` type($lse)
    (`->` type($bias_grad)^)?
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The softmax scale: `scale`, or 1/sqrt(head_dim).
    double getEffectiveScale();
    /// The mask: `mask`, or the full mask when absent.
    MaskAttr getEffectiveMask();
  }];
}

#endif // ROTOR_DIALECT_ROTOR_OPS_TD
