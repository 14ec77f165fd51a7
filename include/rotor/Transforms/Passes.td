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
    * With `loss-scale` (a loss function only), `output` takes one more
      argument, last, named `loss_scale` (0-D, the loss's type), and returns
      the gradients of `loss · loss_scale` while the loss stays unscaled (the
      seed is `loss_scale` instead of 1), for dynamic loss scaling.
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
    Option<"lossScale", "loss-scale", "bool", /*default=*/"false",
           "Take a last argument loss_scale, the seed of the loss cotangent: "
           "gradients of loss * loss_scale, the loss unscaled">,
    Option<"checkpoint", "checkpoint", "std::string", /*default=*/"\"none\"",
           "Which forward values the backward keeps: none (all) or layers "
           "(only those crossing inlined calls; the rest is recomputed)">,
    Option<"report", "report", "bool", /*default=*/"false",
           "Print the bytes of forward values kept for the backward pass">,
  ];
  let dependentDialects = ["::mlir::rotor::RotorDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect"];
}

def RotorSpecializeMasks : Pass<"rotor-specialize-masks"> {
  let summary = "Simplify attention masks for the static sequence lengths";
  let description = [{
    Rewrites the `#rotor.mask` of each `rotor.attention` into the simplest
    mask with the same visible (query, key) pairs for the op's static query
    and key lengths (`simplifyMask` in `rotor/Analysis/MaskTiling.h`, which
    the unit tests check against `MaskAttr::isVisible` pair by pair), so
    that kernels branch on fewer mask features and see more full tiles:

    ```
    causal, window_left = L   with L · dilation >= Sk - 1  => causal
    window_right = R          with R · dilation >= Sq - 1  => (dropped)
    causal, window_right = 0                               => causal
    chunk = C                 with C >= Sk, Sq <= Sk       => (dropped)
    global = G                with G >= Sk                 => causal only
    global = G                with no window/chunk/dilation => (dropped)
    causal                    with Sq = 1, no bias         => (dropped)
    a mask that restricts nothing                          => no mask
    ```

    A dynamic length disables the rules that need it. `causal` stays when
    the op has a relative position bias, whose buckets depend on it.

    The same header gives the kernels the key range of each query tile and
    the full-tile predicate (`computeKeyRange`, `tileIsFull`,
    `forEachKeyTile`): the CPU lowering builds them as IR, and a code
    generator can evaluate them on integers.

    Before:

    ```mlir
    %o = rotor.attention %q, %k, %v
        {mask = #rotor.mask<causal = true, window_left = 4095>}
        : tensor<1x8x1024x64xf32>, tensor<1x8x1024x64xf32>, tensor<1x8x1024x64xf32>
    ```

    After:

    ```mlir
    %o = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true>}
        : tensor<1x8x1024x64xf32>, tensor<1x8x1024x64xf32>, tensor<1x8x1024x64xf32>
    ```
  }];
  let options = [
    Option<"report", "report", "bool", /*default=*/"false",
           "Print each mask that was simplified">,
  ];
}

def RotorFuseAttentionRope : Pass<"rotor-fuse-attention-rope"> {
  let summary = "Fuse the rotary embeddings of q and k into rotor.attention";
  let description = [{
    Moves a `rotor.rope` whose only use is the query (or key) operand of a
    `rotor.attention` into the attention op (its `rope_q` / `rope_k`
    operands and `rope_*` attributes), so that the kernel rotates each
    query and key tile as it loads it and no rotated copy of q or k is
    written and read back:

    ```
    attention(rope(q, pq), rope(k, pk), v)  => attention(q, k, v) rope_q(pq) rope_k(pk)
    attention(rope(q, pq), k, v)            => attention(q, k, v) rope_q(pq)
    attention(q, rope(k, pk), v)            => attention(q, k, v) rope_k(pk)
    ```

    Both sides share one set of rope parameters (layout, rotary_dim, base
    or learned base operand, scaling), so a rope with other parameters than
    the one already fused stays a separate op. A rope whose result has
    other uses is left alone: in the model functions the rotated keys are
    also returned as the KV cache, so only the queries' rope fuses there.
    With `keys=false` only the queries' rope is fused: on the CPU a key
    tile is rotated once per query tile that visits it, which trades the
    saved traffic for recomputation, so the CPU pipeline fuses only the
    queries' rope unless asked (`rotorc --fuse-key-rope`).

    With `report`, every fusion is printed with the memory traffic it
    saves (the rotated tensor written once and read once).

    Before:

    ```mlir
    %qr = rotor.rope %q, %pos {base = 10000.0 : f64}
        : tensor<1x8x?x64xf32>, tensor<?xi64>
    %o = rotor.attention %qr, %k, %v {mask = #rotor.mask<causal = true>}
        : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
    ```

    After:

    ```mlir
    %o = rotor.attention %q, %k, %v rope_q(%pos : tensor<?xi64>)
        {mask = #rotor.mask<causal = true>, rope_base = 10000.0 : f64}
        : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
    ```
  }];
  let options = [
    Option<"keys", "keys", "bool", /*default=*/"true",
           "Fuse the rope of the keys too (else only the queries')">,
    Option<"report", "report", "bool", /*default=*/"false",
           "Print what was fused and the memory traffic saved">,
  ];
}

def RotorFuseAttentionRotations : Pass<"rotor-fuse-attention-rotations"> {
  let summary = "Fuse the Givens chain and rotation of the queries into rotor.attention";
  let description = [{
    Moves a `rotor.givens` and/or `rotor.rotate` whose only use is the query
    operand of a `rotor.attention` into the attention op (its `givens_q` /
    `rotate_q` operands), so that the kernel applies them to each query
    tile in its scratch buffer as it loads it and no rotated copy of q is
    written and read back:

    ```
    attention(rotate(givens(q, θ, P), R), k, v) => attention(q, k, v) givens_q(θ) pairs P rotate_q(R)
    attention(givens(q, θ, P), k, v)            => attention(q, k, v) givens_q(θ) pairs P
    attention(rotate(q, R), k, v)               => attention(q, k, v) rotate_q(R)
    ```

    The fused op applies its query rope first, then the Givens rotations
    in order, then the matrix: `rotate(givens(rope(q)))`. Only IR in that
    order fuses; one op at a time from the attention outwards, so of
    `givens(rotate(q))` only the outer `givens` fuses (the matrix would
    have to apply before the chain). Run it before
    `rotor-fuse-attention-rope`: once the queries' rope is fused, a chain
    on the query operand would apply before the rope, and it is left alone.

    Left alone as well: a rotation whose result has other uses (the rotated
    copy is needed anyway), rotations of the keys (run
    `rotor-move-key-rotations` first, which moves them onto the queries)
    and of the values (which are not rotated by the scores' algebra), a
    second chain or matrix where one is already fused, and a dynamic head
    dimension. Constant angles need not be special-cased: the
    canonicalizer folds a constant chain into one rotation matrix first.

    With `report`, every fusion is printed with the memory traffic it saves
    (the rotated tensor written once and read once).

    Before:

    ```mlir
    %qg = rotor.givens %q, %theta pairs [(0, 1), (2, 5)]
        : tensor<1x8x?x64xf32>, tensor<2xf32>
    %qr = rotor.rotate %qg, %r : tensor<1x8x?x64xf32>, tensor<64x64xf32>
    %o = rotor.attention %qr, %k, %v {mask = #rotor.mask<causal = true>}
        : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
    ```

    After:

    ```mlir
    %o = rotor.attention %q, %k, %v
        givens_q(%theta : tensor<2xf32>) pairs [(0, 1), (2, 5)]
        rotate_q(%r : tensor<64x64xf32>) {mask = #rotor.mask<causal = true>}
        : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
    ```
  }];
  let options = [
    Option<"report", "report", "bool", /*default=*/"false",
           "Print what was fused and the memory traffic saved">,
  ];
}

def RotorDilationRelayout : Pass<"rotor-dilation-relayout"> {
  let summary = "Rewrite dilated-window attention as dense windows over subsequences";
  let description = [{
    With dilation `n`, a query sees only the keys whose position differs
    from its own by a multiple of `n`, so a kernel that walks the dilated
    window visits `n` times the keys it uses. This pass splits q, k and v
    into the `n` interleaved subsequences of positions `≡ r (mod n)` (a
    strided relayout: pad, reshape, transpose), laid out as `n` times the
    heads with the residue outermost (so grouped-query heads still pair up),
    runs one dense attention with the same window (counted in dilated
    steps, it is a dense window on each subsequence) and scatters the output
    back:

    ```
    attention(q, k, v) {mask<causal, window_left = L, dilation = n>}
      => unsplit(attention(split(q), split(k), split(v)) {mask<causal, window_left = L>})
    ```

    Lengths that are not multiples of `n` are padded: keys at the end,
    queries at the end and, when there are fewer queries than keys, at the
    front down to a multiple of `n` of the first query position, so each
    subsequence keeps the mask's end alignment; the padded keys come after
    every real query, where the causal mask hides them.

    Left alone (must not touch): masks with global tokens or chunks (both
    are defined on the original positions), a relative position bias (the
    distances shrink `n`-fold), `return_lse` and a fused rope (they would
    need their own relayout), and a non-causal mask unless the key length
    is static and divisible by `n`.

    Before:

    ```mlir
    %o = rotor.attention %q, %k, %v
        {mask = #rotor.mask<causal = true, window_left = 255, dilation = 4>}
        : tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>
    ```

    After (sizes abbreviated):

    ```mlir
    %qp = tensor.insert_slice %q into %zeros[0, 0, 0, 0] [1, 8, %s, 64] [1, 1, 1, 1]
    %qe = tensor.expand_shape %qp [[0], [1], [2, 3], [4]] : ... into tensor<1x8x?x4x64xf32>
    %qt = linalg.transpose ins(%qe : ...) outs(...) permutation = [0, 3, 1, 2, 4]
    %qs = tensor.collapse_shape %qt [[0], [1, 2], [3], [4]] : ... into tensor<1x32x?x64xf32>
    // ... the same for k and v
    %os = rotor.attention %qs, %ks, %vs
        {mask = #rotor.mask<causal = true, window_left = 255>}
        : tensor<1x32x?x64xf32>, tensor<1x32x?x64xf32>, tensor<1x32x?x64xf32>
    // expand, transpose [0, 2, 3, 1, 4], collapse, extract the Sq rows
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
  let options = [
    Option<"report", "report", "bool", /*default=*/"false",
           "Print each relayout">,
  ];
}

def RotorPackGqaHeads : Pass<"rotor-pack-gqa-heads"> {
  let summary = "Pack the query heads of a key/value group into one tile";
  let description = [{
    Attention kernels tile the queries of one head and read the keys and
    values of its key/value head once per tile. With grouped-query attention
    and few queries (decoding has one), a tile is mostly padding and the
    `G = Hq / Hkv` heads of a group each stream the same keys and values.
    When nothing depends on a query's position or head (no mask, which
    `rotor-specialize-masks` gives to a causal decode step, no relative
    bias, no fused rope, no lse), the group's queries become `G · Sq`
    queries of one head, by reshapes only (query head `kv · G + g` is
    already contiguous in its group):

    ```
    attention(q (B, Hkv·G, Sq, D), k, v)       with Sq < max-queries
      => unpack(attention(pack(q) (B, Hkv, G·Sq, D), k, v))
    ```

    Key/value heads are never repeated in memory either way: the kernels
    index the shared head (`h / G`).

    Before:

    ```mlir
    %o = rotor.attention %q, %k, %v
        : tensor<1x32x1x128xf32>, tensor<1x8x?x128xf32>, tensor<1x8x?x128xf32>
    ```

    After:

    ```mlir
    %e = tensor.expand_shape %q [[0], [1, 2], [3], [4]] output_shape [1, 8, 4, 1, 128]
        : tensor<1x32x1x128xf32> into tensor<1x8x4x1x128xf32>
    %p = tensor.collapse_shape %e [[0], [1], [2, 3], [4]]
        : tensor<1x8x4x1x128xf32> into tensor<1x8x4x128xf32>
    %a = rotor.attention %p, %k, %v
        : tensor<1x8x4x128xf32>, tensor<1x8x?x128xf32>, tensor<1x8x?x128xf32>
    %u = tensor.expand_shape %a [[0], [1], [2, 3], [4]] output_shape [1, 8, 4, 1, 128]
        : tensor<1x8x4x128xf32> into tensor<1x8x4x1x128xf32>
    %o = tensor.collapse_shape %u [[0], [1, 2], [3], [4]]
        : tensor<1x8x4x1x128xf32> into tensor<1x32x1x128xf32>
    ```
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
  let options = [
    Option<"maxQueries", "max-queries", "int64_t", /*default=*/"32",
           "Pack only when a head has fewer static queries than this (the "
           "query tile of the CPU kernel)">,
    Option<"report", "report", "bool", /*default=*/"false",
           "Print each packing">,
  ];
}

def RotorMoveKeyRotations : Pass<"rotor-move-key-rotations"> {
  let summary = "Apply the keys' Givens chains and rotations to the queries instead";
  let description = [{
    Attention sees q and k only through the scores `q · kᵀ`, so a linear map
    applied to the keys can be applied to the queries instead:
    `(x M) · (k N)ᵀ = (x M Nᵀ) · kᵀ`. A rotated key is read by every query
    tile (and every query head of its group), a rotated query by one, so
    the keys' `rotor.givens` and `rotor.rotate` move to the queries, and
    two equal Givens chains (same angle operand and pairs; orthogonal, so
    `G Gᵀ = I`) cancel:

    ```
    attention(givens(q, θ, P), givens(k, θ, P), v) => attention(q, k, v)
    attention(x, givens(k, θ, P), v)               => attention(givens⁻¹(x), k, v)
    attention(x, rotate(k, R), v)                  => attention(rotate(x, Rᵀ), k, v)
    ```

    `givens⁻¹` applies the rotations in reverse order, each on its swapped
    plane `(j, i)` (a rotation by `-θ`); the angles may be learned (their
    order is reversed by a `linalg.generic`). A rotation whose result has
    other uses (in the model functions the rotated keys are the KV cache),
    a dynamic rotation matrix and an attention with a fused rope (which
    rotates after these maps) are left alone; `rotor.rotate` is not assumed
    orthogonal, so it moves but never cancels.

    Before:

    ```mlir
    %kg = rotor.givens %k, %theta pairs [(0, 1), (2, 5)]
        : tensor<1x2x?x64xf32>, tensor<2xf32>
    %o = rotor.attention %q, %kg, %v
        : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
    ```

    After:

    ```mlir
    %rev = linalg.generic {...} ins(%theta : tensor<2xf32>) ...  // reversed
    %qg = rotor.givens %q, %rev pairs [(5, 2), (1, 0)]
        : tensor<1x8x?x64xf32>, tensor<2xf32>
    %o = rotor.attention %qg, %k, %v
        : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
  let options = [
    Option<"report", "report", "bool", /*default=*/"false",
           "Print each rotation moved or cancelled">,
  ];
}

def RotorComposeRotations : Pass<"rotor-compose-rotations"> {
  let summary = "Compose consecutive Givens chains and rotation matrices into one matrix";
  let description = [{
    A Givens chain and a rotation matrix applied one after the other are one
    linear map: `x · G · R = x · (G · R)`. Instead of a pass over `x` per
    rotation, the product is formed as a D x D matrix (the chain applied to
    the rows of the identity, `I · G = G`, then the matrix) and `x` is read
    and written once, by one product:

    ```
    rotate(givens(x, θ, P), R) => rotate(x, rotate(givens(I, θ, P), R))
    rotate(rotate(x, A), B)    => rotate(x, rotate(A, B))
    givens(rotate(x, A), θ, P) => rotate(x, givens(A, θ, P))
    ```

    The angles and matrices may be learned (function arguments); constant
    ones are composed by the canonicalizer already, and two consecutive
    Givens chains are merged by it into one chain (O(D) per row, cheaper
    than a matrix). Forming the product costs O(D³) regardless of the rows
    of `x`: a tensor whose static row count (all dimensions but the last) is
    below `min-rows` (default 4·D) is left alone, and a dynamic row count is
    assumed to be large (a decoding step with few rows pays the D³). Also
    left alone: an inner rotation with other uses (its result is needed
    anyway, e.g. saved for a backward pass) and a dynamic last dimension.
    Run it after `rotor-move-key-rotations` (whose cancellation needs the
    chains as they are) and `rotor-fuse-attention-rotations` (a rotation
    fused into attention writes no copy at all).

    With `report`, every composition is printed.

    Before:

    ```mlir
    %g = rotor.givens %q, %theta pairs [(0, 1), (2, 5)]
        : tensor<2x8x?x64xbf16>, tensor<2xbf16>
    %y = rotor.rotate %g, %r : tensor<2x8x?x64xbf16>, tensor<64x64xbf16>
    ```

    After:

    ```mlir
    %eye = arith.constant dense<...> : tensor<64x64xbf16>  // the identity
    %gm = rotor.givens %eye, %theta pairs [(0, 1), (2, 5)]
        : tensor<64x64xbf16>, tensor<2xbf16>
    %m = rotor.rotate %gm, %r : tensor<64x64xbf16>, tensor<64x64xbf16>
    %y = rotor.rotate %q, %m : tensor<2x8x?x64xbf16>, tensor<64x64xbf16>
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let options = [
    Option<"minRows", "min-rows", "int64_t", /*default=*/"0",
           "Compose only for at least this many static rows (0: 4 x the "
           "last dimension)">,
    Option<"report", "report", "bool", /*default=*/"false",
           "Print each composition">,
  ];
}

#endif // ROTOR_TRANSFORMS_PASSES_TD
