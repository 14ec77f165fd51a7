"""The model-building ops of the rotor dialect on the CPU against the float64
reference: add, mul, relu, silu, gelu, swiglu, softmax, rms_norm,
layer_norm, l2_normalize, linear, embedding, conv1d, split_heads,
merge_heads, sinusoidal_embedding and cross_entropy.

Each configuration is one module with a dynamic sequence dimension, compiled
once and run at the lengths 1, 7, 37 and 257. Feature sizes are awkward on
purpose (33, 64, 80, 96, 128; K = 257 for linear; V = 1, 50, 257, 997 for
the tables), and every op runs in f32 and in bf16 and/or f64.

Tolerances (rotor_ref.tolerances(dtype, reduction), checked as
|actual - ref| <= atol + rtol |ref|), with inputs rounded to the kernel dtype
first so that only the arithmetic is measured:

* f32   rtol 2e-5,  atol 2e-5  * sqrt(reduction)
* bf16  rtol 2e-2,  atol 2e-2  * sqrt(reduction)   (the kernels compute in
  f32 and round once; cross_entropy's loss of bf16 logits is f32, and is
  held to the f32 tolerance)
* f64   rtol 1e-10, atol 1e-12 * sqrt(reduction)

``reduction`` is 1 for the elementwise ops (add, mul, relu, silu, gelu,
swiglu); the reduced length for the others: H (the last dimension) for
rms_norm, layer_norm and l2_normalize, the axis length for softmax, K for
linear, Cin/groups * K for conv1d and V for cross_entropy.
sinusoidal_embedding forms its angle p*f in f32 (f64 for f64 frequencies),
so sin's input carries an error proportional to |p f|: each element may
also be off by 2 eps |p f| (eps = 2^-23 for f32 and bf16, 2^-52 for f64;
half an ulp of rounding of the angle plus ~1 ulp of sin/cos range
reduction).
embedding, split_heads, merge_heads and relu move or select data only and
must be bit-exact. silu's negative tail (down to -85 in f32, -700 in f64) is
held to rtol alone, atol 0.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import rotor_ref as R
from test_cpu_attention import as_f64, prepare

LENGTHS = [1, 7, 37, 257]

# Values that stress the activations' tails, mixed into their inputs.
SPECIALS = np.array([-100.0, -88.0, -50.0, -20.0, -5.0, -1e-3, -0.0, 0.0, 1e-3,
                     5.0, 20.0, 50.0, 100.0])


# -----------------------------------------------------------------------------
# Helpers
# -----------------------------------------------------------------------------

def seed(*parts) -> np.random.Generator:
    """A generator seeded by the test's parameters (stable across runs,
    unlike hash() of a string)."""
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


def ttype(shape, dtype) -> str:
    """The MLIR tensor type of `shape` (None = dynamic) and `dtype`."""
    dims = "".join(("?" if d is None else str(d)) + "x" for d in shape)
    return f"tensor<{dims}{dtype}>"


def concrete(shape, s):
    """`shape` with its dynamic dimensions set to `s`."""
    return tuple(s if d is None else d for d in shape)


def module(args, op: str, result_type: str) -> str:
    """func @f(args) -> result_type { %0 = op; return %0 }. `args` is a list
    of (name, type)."""
    arglist = ", ".join(f"%{n}: {t}" for n, t in args)
    return (f"func.func @f({arglist}) -> {result_type} {{\n"
            f"  %0 = {op}\n"
            f"  return %0 : {result_type}\n}}\n")


def check(actual, ref, dtype, reduction=1, what=""):
    R.assert_close(as_f64(actual), ref, dtype, reduction=reduction, err_msg=what)


def with_specials(x: np.ndarray) -> np.ndarray:
    """`x` with SPECIALS written cyclically over its first elements."""
    flat = x.reshape(-1).copy()
    n = min(len(flat), len(SPECIALS))
    flat[:n] = SPECIALS[:n]
    if len(flat) > 2 * len(SPECIALS):
        flat[-n:] = SPECIALS[::-1][:n]
    return flat.reshape(x.shape)


# -----------------------------------------------------------------------------
# add, mul (NumPy broadcasting)
# -----------------------------------------------------------------------------

BINARY_CASES = [
    # name, dtype, lhs shape, rhs shape (None = the dynamic sequence length)
    ("vec_h80", "f32", (2, None, 80), (80,)),
    ("vec_lhs_h33", "f32", (33,), (2, None, 33)),
    ("same_h64", "f32", (2, None, 64), (2, None, 64)),
    ("seq1_h96", "f32", (2, None, 96), (2, 1, 96)),
    ("batch1_h64", "f32", (2, None, 64), (1, None, 64)),
    ("feat1_h128", "f32", (2, None, 128), (2, None, 1)),
    ("outer_h80", "f32", (2, None, 1), (1, 1, 80)),
    ("rank4_h33", "f32", (2, 3, None, 33), (3, 1, 33)),
    ("vec_bf16_h64", "bf16", (2, None, 64), (64,)),
    ("seq1_bf16_h80", "bf16", (2, None, 80), (1, 1, 80)),
    ("vec_f64_h33", "f64", (2, None, 33), (33,)),
    ("seq1_f64_h96", "f64", (2, None, 96), (2, 1, 96)),
]


@pytest.mark.parametrize("op", ["add", "mul"])
@pytest.mark.parametrize("name,dtype,lhs_shape,rhs_shape", BINARY_CASES,
                         ids=[c[0] for c in BINARY_CASES])
def test_binary(compile_mlir, op, name, dtype, lhs_shape, rhs_shape):
    out_shape = tuple(np.broadcast_shapes(concrete(lhs_shape, 9), concrete(rhs_shape, 9)))
    out_shape = tuple(None if (d == 9) else d for d in out_shape)
    lt, rt, ot = ttype(lhs_shape, dtype), ttype(rhs_shape, dtype), ttype(out_shape, dtype)
    art = compile_mlir(module([("a", lt), ("b", rt)],
                              f"rotor.{op} %a, %b : {lt}, {rt}", ot))
    rng = seed(op, name)
    ref_fn = R.add if op == "add" else R.mul
    for s in LENGTHS:
        a, af = prepare(rng.standard_normal(concrete(lhs_shape, s)) * 3, dtype)
        b, bf = prepare(rng.standard_normal(concrete(rhs_shape, s)) * 3, dtype)
        (y,) = art.call("f", a, b)
        ref = ref_fn(af, bf)
        assert y.shape == ref.shape, f"{op} {name}: shape {y.shape} != {ref.shape}"
        # One rounding of the exact sum or product: covered by rtol.
        check(y, ref, dtype, what=f"{op} {name} at length {s}")


# -----------------------------------------------------------------------------
# relu, silu, gelu, swiglu
# -----------------------------------------------------------------------------

UNARY_CASES = [
    # op text, reference, dtype, shape
    ("relu", R.relu, "f32", (2, None, 80)),
    ("relu", R.relu, "bf16", (2, None, 33)),
    ("relu", R.relu, "f64", (None, 96)),
    ("silu", R.silu, "f32", (2, None, 96)),
    ("silu", R.silu, "bf16", (2, None, 128)),
    ("silu", R.silu, "f64", (2, None, 33)),
    ("gelu", R.gelu, "f32", (2, None, 64)),
    ("gelu", R.gelu, "bf16", (2, 3, None, 33)),
    ("gelu", R.gelu, "f64", (2, None, 80)),
    ("gelu_tanh", lambda x: R.gelu(x, "tanh"), "f32", (2, None, 33)),
    ("gelu_tanh", lambda x: R.gelu(x, "tanh"), "bf16", (2, None, 96)),
    ("gelu_tanh", lambda x: R.gelu(x, "tanh"), "f64", (2, None, 128)),
]


def unary_op_text(op, t):
    if op == "gelu_tanh":
        return f"rotor.gelu %x {{approximate = #rotor.gelu_approximation<tanh>}} : {t}"
    return f"rotor.{op} %x : {t}"


@pytest.mark.parametrize("op,ref_fn,dtype,shape", UNARY_CASES,
                         ids=[f"{c[0]}_{c[2]}" for c in UNARY_CASES])
def test_unary(compile_mlir, op, ref_fn, dtype, shape):
    t = ttype(shape, dtype)
    art = compile_mlir(module([("x", t)], unary_op_text(op, t), t))
    rng = seed(op, dtype, shape)
    for s in LENGTHS:
        x, xf = prepare(with_specials(rng.standard_normal(concrete(shape, s)) * 4), dtype)
        (y,) = art.call("f", x)
        ref = ref_fn(xf)
        check(y, ref, dtype, what=f"{op} {dtype} at length {s}")
        if op == "relu":
            # relu is exact (max with 0) in every dtype.
            assert np.array_equal(as_f64(y), ref), f"relu {dtype} at length {s}"


def test_relu_propagates_nan(compile_mlir):
    """maximumf propagates NaN, as torch.relu does."""
    t = ttype((None, 33), "f32")
    art = compile_mlir(module([("x", t)], f"rotor.relu %x : {t}", t))
    x = np.linspace(-2, 2, 7 * 33).reshape(7, 33).astype(np.float32)
    x[3, 5] = x[0, 0] = np.nan
    (y,) = art.call("f", x)
    check(y, R.relu(x), "f32")


@pytest.mark.parametrize("dtype,lo,rtol", [("f32", -85.0, 2e-5), ("f64", -700.0, 1e-10)])
def test_silu_negative_tail(compile_mlir, dtype, lo, rtol):
    """silu keeps its relative accuracy far into the negative tail (the
    lowering evaluates x e / (1 + e) with e = exp(-|x|)): checked with rtol
    alone down to where the result is still a normal number."""
    t = ttype((None,), dtype)
    art = compile_mlir(module([("x", t)], f"rotor.silu %x : {t}", t))
    x = np.linspace(lo, -10.0, 37).astype(np.float32 if dtype == "f32" else np.float64)
    (y,) = art.call("f", x)
    np.testing.assert_allclose(y.astype(np.float64), R.silu(x), rtol=rtol, atol=0,
                               err_msg=f"silu {dtype} tail")


SWIGLU_CASES = [("f32", (2, None, 128)), ("bf16", (2, None, 80)), ("f64", (2, None, 33)),
                ("f32", (None, 33))]


@pytest.mark.parametrize("dtype,shape", SWIGLU_CASES,
                         ids=[f"{c[0]}_{c[1][-1]}" for c in SWIGLU_CASES])
def test_swiglu(compile_mlir, dtype, shape):
    t = ttype(shape, dtype)
    art = compile_mlir(module([("g", t), ("u", t)], f"rotor.swiglu %g, %u : {t}", t))
    rng = seed("swiglu", dtype, shape)
    for s in LENGTHS:
        g, gf = prepare(with_specials(rng.standard_normal(concrete(shape, s)) * 4), dtype)
        u, uf = prepare(rng.standard_normal(concrete(shape, s)), dtype)
        (y,) = art.call("f", g, u)
        check(y, R.swiglu(gf, uf), dtype, what=f"swiglu {dtype} at length {s}")


# -----------------------------------------------------------------------------
# softmax
# -----------------------------------------------------------------------------

SOFTMAX_CASES = [
    # dtype, shape, axis, input scale
    ("f32", (2, None, 80), -1, 3.0),
    ("f32", (2, None, 33), -1, 40.0),   # exp would overflow without the max
    ("f32", (2, None, 64), 1, 3.0),
    ("f32", (3, None), 1, 3.0),
    ("bf16", (2, None, 128), -1, 3.0),
    ("bf16", (2, None, 96), 1, 3.0),
    ("f64", (2, None, 96), -1, 3.0),
    ("f64", (2, None, 33), 1, 40.0),
]


@pytest.mark.parametrize("dtype,shape,axis,scale", SOFTMAX_CASES,
                         ids=[f"{c[0]}_h{c[1][-1]}_axis{c[2]}_x{c[3]:g}"
                              for c in SOFTMAX_CASES])
def test_softmax(compile_mlir, dtype, shape, axis, scale):
    t = ttype(shape, dtype)
    art = compile_mlir(module([("x", t)],
                              f"rotor.softmax %x {{axis = {axis} : i64}} : {t}", t))
    rng = seed("softmax", dtype, shape, axis, scale)
    for s in LENGTHS:
        x, xf = prepare(rng.standard_normal(concrete(shape, s)) * scale, dtype)
        (y,) = art.call("f", x)
        n = concrete(shape, s)[axis]
        check(y, R.softmax(xf, axis=axis), dtype, reduction=n,
              what=f"softmax {dtype} axis {axis} at length {s}")


# -----------------------------------------------------------------------------
# rms_norm, layer_norm, l2_normalize
# -----------------------------------------------------------------------------

RMS_CASES = [
    # dtype, shape, epsilon (None = the default 1e-6)
    ("f32", (2, None, 64), None),
    ("f32", (2, None, 33), 1e-5),
    ("f32", (None, 80), 0.5),         # an epsilon that matters
    ("bf16", (2, None, 128), None),
    ("f64", (2, None, 96), 1e-5),
]


@pytest.mark.parametrize("dtype,shape,eps", RMS_CASES,
                         ids=[f"{c[0]}_h{c[1][-1]}_eps{c[2]}" for c in RMS_CASES])
def test_rms_norm(compile_mlir, dtype, shape, eps):
    h = shape[-1]
    t, wt = ttype(shape, dtype), ttype((h,), dtype)
    attr = "" if eps is None else f" {{epsilon = {eps:.6e} : f64}}"
    art = compile_mlir(module([("x", t), ("w", wt)],
                              f"rotor.rms_norm %x, %w{attr} : {t}, {wt}", t))
    rng = seed("rms", dtype, shape, eps)
    w, wf = prepare(rng.standard_normal(h), dtype)
    for s in LENGTHS:
        x, xf = prepare(rng.standard_normal(concrete(shape, s)) * 2, dtype)
        (y,) = art.call("f", x, w)
        ref = R.rms_norm(xf, wf, eps=1e-6 if eps is None else eps)
        check(y, ref, dtype, reduction=h, what=f"rms_norm {dtype} at length {s}")


LN_CASES = [
    # dtype, H, bias, epsilon (None = the default 1e-5)
    ("f32", 80, True, None),
    ("f32", 33, False, None),
    ("f32", 128, True, 0.25),
    ("bf16", 64, True, None),
    ("bf16", 96, False, None),
    ("f64", 96, True, 1e-6),
    ("f64", 33, False, None),
]


@pytest.mark.parametrize("dtype,h,bias,eps", LN_CASES,
                         ids=[f"{c[0]}_h{c[1]}_{'bias' if c[2] else 'nobias'}_eps{c[3]}"
                              for c in LN_CASES])
def test_layer_norm(compile_mlir, dtype, h, bias, eps):
    t, wt = ttype((2, None, h), dtype), ttype((h,), dtype)
    args = [("x", t), ("w", wt)] + ([("b", wt)] if bias else [])
    bias_text = f" bias(%b : {wt})" if bias else ""
    attr = "" if eps is None else f" {{epsilon = {eps:.6e} : f64}}"
    art = compile_mlir(module(args, f"rotor.layer_norm %x, %w{bias_text}{attr} : {t}, {wt}", t))
    rng = seed("ln", dtype, h, bias, eps)
    w, wf = prepare(rng.standard_normal(h), dtype)
    b, bf = prepare(rng.standard_normal(h), dtype)
    for s in LENGTHS:
        # A mean far from 0 (as hidden states have), so a one-pass variance
        # E[x^2] - E[x]^2 would cancel.
        x, xf = prepare(rng.standard_normal((2, s, h)) * 1.5 + 3.0, dtype)
        inputs = [x, w] + ([b] if bias else [])
        (y,) = art.call("f", *inputs)
        ref = R.layer_norm(xf, wf, bf if bias else None, eps=1e-5 if eps is None else eps)
        check(y, ref, dtype, reduction=h, what=f"layer_norm {dtype} at length {s}")


L2_CASES = [
    # dtype, shape, epsilon (None = the default 1e-12)
    ("f32", (2, None, 64), None),
    ("f32", (2, None, 33), 1e-6),
    ("bf16", (2, None, 128), None),
    ("f64", (None, 80), None),
    ("f64", (2, None, 96), 1e-6),
]


@pytest.mark.parametrize("dtype,shape,eps", L2_CASES,
                         ids=[f"{c[0]}_h{c[1][-1]}_eps{c[2]}" for c in L2_CASES])
def test_l2_normalize(compile_mlir, dtype, shape, eps):
    h = shape[-1]
    t = ttype(shape, dtype)
    attr = "" if eps is None else f" {{epsilon = {eps:.6e} : f64}}"
    art = compile_mlir(module([("x", t)], f"rotor.l2_normalize %x{attr} : {t}", t))
    rng = seed("l2", dtype, shape, eps)
    for s in LENGTHS:
        raw = rng.standard_normal(concrete(shape, s)) * 2
        rows = raw.reshape(-1, h)
        rows[0] = 0.0                       # an all-zero row: 0, not NaN
        if len(rows) > 2:
            rows[1] *= 1e-9                 # a row whose norm is below 1e-6
        x, xf = prepare(raw, dtype)
        (y,) = art.call("f", x)
        yf = as_f64(y)
        assert not np.isnan(yf).any(), f"l2_normalize {dtype} NaN at length {s}"
        assert (yf.reshape(-1, h)[0] == 0).all()
        ref = R.l2_normalize(xf, eps=1e-12 if eps is None else eps)
        check(y, ref, dtype, reduction=h, what=f"l2_normalize {dtype} at length {s}")


# -----------------------------------------------------------------------------
# linear
# -----------------------------------------------------------------------------

LINEAR_CASES = [
    # dtype, input shape, N, bias
    ("f32", (2, None, 257), 96, True),
    ("f32", (2, None, 64), 33, False),
    ("f32", (None, 80), 128, True),
    ("bf16", (2, None, 257), 80, True),
    ("bf16", (2, None, 128), 64, False),
    ("f64", (2, None, 257), 33, False),
    ("f64", (None, 96), 64, True),
]


@pytest.mark.parametrize("dtype,shape,n,bias", LINEAR_CASES,
                         ids=[f"{c[0]}_k{c[1][-1]}_n{c[2]}_{'bias' if c[3] else 'nobias'}"
                              for c in LINEAR_CASES])
def test_linear(compile_mlir, dtype, shape, n, bias):
    k = shape[-1]
    xt, wt, bt = ttype(shape, dtype), ttype((n, k), dtype), ttype((n,), dtype)
    ot = ttype(shape[:-1] + (n,), dtype)
    args = [("x", xt), ("w", wt)] + ([("b", bt)] if bias else [])
    bias_text = f" bias(%b : {bt})" if bias else ""
    art = compile_mlir(module(args, f"rotor.linear %x, %w{bias_text} : {xt}, {wt}", ot))
    rng = seed("linear", dtype, shape, n, bias)
    # Weights scaled as initialized in practice (1/sqrt(K)), so outputs are O(1).
    w, wf = prepare(rng.standard_normal((n, k)) / np.sqrt(k), dtype)
    b, bf = prepare(rng.standard_normal(n), dtype)
    for s in LENGTHS:
        x, xf = prepare(rng.standard_normal(concrete(shape, s)), dtype)
        (y,) = art.call("f", x, w, *([b] if bias else []))
        ref = R.linear(xf, wf, bf if bias else None)
        check(y, ref, dtype, reduction=k, what=f"linear {dtype} K={k} at length {s}")


# -----------------------------------------------------------------------------
# embedding
# -----------------------------------------------------------------------------

EMBEDDING_CASES = [
    # dtype, id dtype, ids shape, V, H
    ("f32", "i64", (2, None), 997, 80),
    ("f32", "i32", (None,), 257, 33),
    ("bf16", "i32", (2, None), 50, 64),
    ("f64", "i64", (2, None), 1, 96),
    ("f64", "i32", (3, None), 997, 128),
]


@pytest.mark.parametrize("dtype,id_dtype,ids_shape,v,h", EMBEDDING_CASES,
                         ids=[f"{c[0]}_{c[1]}_v{c[3]}_h{c[4]}" for c in EMBEDDING_CASES])
def test_embedding(compile_mlir, dtype, id_dtype, ids_shape, v, h):
    it, tt = ttype(ids_shape, id_dtype), ttype((v, h), dtype)
    ot = ttype(ids_shape + (h,), dtype)
    art = compile_mlir(module([("ids", it), ("t", tt)],
                              f"rotor.embedding %ids, %t : {it}, {tt}", ot))
    rng = seed("embedding", dtype, id_dtype, v, h)
    table, tablef = prepare(rng.standard_normal((v, h)), dtype)
    np_int = np.int64 if id_dtype == "i64" else np.int32
    for s in LENGTHS:
        ids = rng.integers(0, v, size=concrete(ids_shape, s)).astype(np_int)
        ids.reshape(-1)[0] = v - 1          # the last row
        (y,) = art.call("f", ids, table)
        assert np.array_equal(as_f64(y), R.embedding(ids, tablef)), \
            f"embedding {dtype} {id_dtype} V={v} at length {s}"


def test_embedding_out_of_range_ids_give_zero_rows(compile_mlir):
    """Ids outside [0, V) yield a zero row (RotorOps.td: 'yield zeros
    otherwise' in the lowerings that do not check); never a read out of
    bounds."""
    it, tt, ot = ttype((None,), "i64"), ttype((50, 33), "f32"), ttype((None, 33), "f32")
    art = compile_mlir(module([("ids", it), ("t", tt)],
                              f"rotor.embedding %ids, %t : {it}, {tt}", ot))
    table = seed("oob").standard_normal((50, 33)).astype(np.float32)
    ids = np.array([0, -1, 49, 50, 2**40, -2**40, 7], dtype=np.int64)
    (y,) = art.call("f", ids, table)
    bad = np.array([False, True, False, True, True, True, False])
    assert (y[bad] == 0).all()
    assert np.array_equal(y[~bad], table[ids[~bad]])


# -----------------------------------------------------------------------------
# conv1d
# -----------------------------------------------------------------------------

CONV_CASES = [
    # dtype, Cin, Cout, K, groups, padding, bias
    ("f32", 64, 64, 4, 64, "causal", True),     # depthwise (Mamba-style)
    ("f32", 33, 48, 3, 1, "same", True),
    ("f32", 64, 96, 4, 2, "same", False),       # even K: asymmetric padding
    ("f32", 80, 80, 1, 1, "causal", False),
    ("f32", 80, 40, 3, 2, "causal", True),
    ("f32", 96, 96, 3, 96, "same", False),      # depthwise, same
    ("f32", 33, 33, 1, 33, "same", True),       # depthwise, K = 1
    ("bf16", 80, 64, 3, 2, "causal", True),
    ("bf16", 128, 128, 4, 128, "same", True),
    ("f64", 128, 128, 4, 128, "causal", True),
    ("f64", 33, 80, 4, 1, "same", True),
]


@pytest.mark.parametrize("dtype,cin,cout,k,groups,padding,bias", CONV_CASES,
                         ids=[f"{c[0]}_c{c[1]}to{c[2]}_k{c[3]}_g{c[4]}_{c[5]}"
                              f"{'_bias' if c[6] else ''}" for c in CONV_CASES])
def test_conv1d(compile_mlir, dtype, cin, cout, k, groups, padding, bias):
    cg = cin // groups
    xt, wt = ttype((2, None, cin), dtype), ttype((cout, cg, k), dtype)
    bt, ot = ttype((cout,), dtype), ttype((2, None, cout), dtype)
    attrs = []
    if groups != 1:
        attrs.append(f"groups = {groups} : i64")
    if padding != "causal":
        attrs.append(f"padding = #rotor.conv_padding<{padding}>")
    attr_text = f" {{{', '.join(attrs)}}}" if attrs else ""
    args = [("x", xt), ("w", wt)] + ([("b", bt)] if bias else [])
    bias_text = f" bias(%b : {bt})" if bias else ""
    art = compile_mlir(module(args, f"rotor.conv1d %x, %w{bias_text}{attr_text} : {xt}, {wt}",
                              ot))
    rng = seed("conv", dtype, cin, cout, k, groups, padding, bias)
    w, wf = prepare(rng.standard_normal((cout, cg, k)) / np.sqrt(cg * k), dtype)
    b, bf = prepare(rng.standard_normal(cout), dtype)
    for s in LENGTHS:
        x, xf = prepare(rng.standard_normal((2, s, cin)), dtype)
        (y,) = art.call("f", x, w, *([b] if bias else []))
        ref = R.conv1d(xf, wf, bf if bias else None, groups=groups, padding=padding)
        check(y, ref, dtype, reduction=cg * k,
              what=f"conv1d {dtype} groups={groups} K={k} {padding} at length {s}")


# -----------------------------------------------------------------------------
# split_heads, merge_heads
# -----------------------------------------------------------------------------

HEAD_CASES = [("f32", 3, 64), ("f32", 7, 33), ("bf16", 5, 16), ("f64", 2, 80),
              ("f32", 1, 96)]


@pytest.mark.parametrize("dtype,heads,d", HEAD_CASES,
                         ids=[f"{c[0]}_{c[1]}x{c[2]}" for c in HEAD_CASES])
def test_split_heads(compile_mlir, dtype, heads, d):
    xt, ot = ttype((2, None, heads * d), dtype), ttype((2, heads, None, d), dtype)
    art = compile_mlir(module([("x", xt)], f"rotor.split_heads %x into {heads} heads : {xt}",
                              ot))
    rng = seed("split", dtype, heads, d)
    for s in LENGTHS:
        x, xf = prepare(rng.standard_normal((2, s, heads * d)), dtype)
        (y,) = art.call("f", x)
        assert y.shape == (2, heads, s, d)
        assert np.array_equal(as_f64(y), R.split_heads(xf, heads)), \
            f"split_heads {dtype} at length {s}"


@pytest.mark.parametrize("dtype,heads,d", HEAD_CASES,
                         ids=[f"{c[0]}_{c[1]}x{c[2]}" for c in HEAD_CASES])
def test_merge_heads(compile_mlir, dtype, heads, d):
    xt, ot = ttype((2, heads, None, d), dtype), ttype((2, None, heads * d), dtype)
    art = compile_mlir(module([("x", xt)], f"rotor.merge_heads %x : {xt}", ot))
    rng = seed("merge", dtype, heads, d)
    for s in LENGTHS:
        x, xf = prepare(rng.standard_normal((2, heads, s, d)), dtype)
        (y,) = art.call("f", x)
        assert y.shape == (2, s, heads * d)
        assert np.array_equal(as_f64(y), R.merge_heads(xf)), \
            f"merge_heads {dtype} at length {s}"


def test_split_then_merge_heads_round_trip(compile_mlir):
    xt, ht = ttype((2, None, 96), "f32"), ttype((2, 3, None, 32), "f32")
    art = compile_mlir(
        f"func.func @f(%x: {xt}) -> {xt} {{\n"
        f"  %h = rotor.split_heads %x into 3 heads : {xt}\n"
        f"  %m = rotor.merge_heads %h : {ht}\n"
        f"  return %m : {xt}\n}}\n")
    x = seed("roundtrip").standard_normal((2, 37, 96)).astype(np.float32)
    (y,) = art.call("f", x)
    assert np.array_equal(y, x)


# -----------------------------------------------------------------------------
# sinusoidal_embedding
# -----------------------------------------------------------------------------

SINUSOID_CASES = [
    # dtype (of freqs and result), position dtype, positions shape, F
    ("f32", "i64", (None,), 32),
    ("f32", "i32", (2, None), 33),
    ("bf16", "i64", (None,), 40),
    ("f64", "i32", (2, None), 48),
    ("f64", "i64", (None,), 17),
]


def check_sinusoid(y, pos, freqsf, dtype, what):
    """|y - ref| <= atol + rtol |ref| + 2 eps_64 |p f| elementwise: the
    kernel forms the angle and its sin/cos in f64 (half an ulp of f64 for
    the rounding of the angle plus about one for the range reduction), then
    rounds once to the result type, which rtol/atol cover."""
    ref = R.sinusoidal_embedding(pos, freqsf)
    assert y.shape == ref.shape, f"{what}: shape {y.shape} != {ref.shape}"
    rtol, atol = R.tolerances(dtype)
    angle = np.abs(pos.astype(np.float64)[..., None] * freqsf)
    eps = np.finfo(np.float64).eps
    allowed = atol + rtol * np.abs(ref) + 2 * eps * np.concatenate([angle, angle], axis=-1)
    err = np.abs(as_f64(y) - ref)
    worst = np.unravel_index(np.argmax(err - allowed), err.shape)
    assert (err <= allowed).all(), (
        f"{what}: error {err[worst]:.3g} > allowed {allowed[worst]:.3g} at {worst} "
        f"(max error {err.max():.3g})")


@pytest.mark.parametrize("dtype,pos_dtype,pos_shape,nf", SINUSOID_CASES,
                         ids=[f"{c[0]}_{c[1]}_rank{len(c[2])}_f{c[3]}" for c in SINUSOID_CASES])
def test_sinusoidal_embedding(compile_mlir, dtype, pos_dtype, pos_shape, nf):
    pt, ft = ttype(pos_shape, pos_dtype), ttype((nf,), dtype)
    ot = ttype(pos_shape + (2 * nf,), dtype)
    art = compile_mlir(module([("p", pt), ("fr", ft)],
                              f"rotor.sinusoidal_embedding %p, %fr : {pt}, {ft}", ot))
    # Transformer frequencies 10000^(-i/F), from 1 down to ~1e-4.
    freqs, freqsf = prepare(10000.0 ** (-np.arange(nf) / nf), dtype)
    np_int = np.int64 if pos_dtype == "i64" else np.int32
    for s in LENGTHS:
        shape = concrete(pos_shape, s)
        pos = (np.arange(s) * 3 + np.arange(shape[0])[:, None] * 11 if len(shape) == 2
               else np.arange(s) + 5).astype(np_int)
        (y,) = art.call("f", pos, freqs)
        check_sinusoid(y, pos, freqsf, dtype, f"sinusoidal {dtype} {pos_dtype} at length {s}")


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_sinusoidal_embedding_long_positions(compile_mlir, dtype):
    """Positions up to +-10^6: the error stays proportional to the angle's
    rounding in the type it is formed in (f32 for f32 frequencies, so about
    0.07 at 10^6 and 0.008 at 10^5; f64 for f64)."""
    pt, ft, ot = ttype((None,), "i64"), ttype((32,), dtype), ttype((None, 64), dtype)
    art = compile_mlir(module([("p", pt), ("fr", ft)],
                              f"rotor.sinusoidal_embedding %p, %fr : {pt}, {ft}", ot))
    freqs, freqsf = prepare(10000.0 ** (-np.arange(32) / 32), dtype)
    pos = np.concatenate([np.arange(-3, 4), np.arange(4090, 4100), np.arange(99_990, 100_000),
                          np.arange(999_990, 1_000_000),
                          seed("long").integers(-1_000_000, 1_000_000, 2000)]).astype(np.int64)
    (y,) = art.call("f", pos, freqs)
    check_sinusoid(y, pos, freqsf, dtype, f"sinusoidal {dtype} long positions")


# -----------------------------------------------------------------------------
# cross_entropy
# -----------------------------------------------------------------------------

CE_CASES = [
    # dtype, label dtype, logits shape, ignore_index (None = default -100), logit scale
    ("f32", "i64", (2, None, 257), None, 3.0),
    ("f32", "i32", (None, 33), -1, 3.0),
    ("f32", "i64", (2, None, 96), None, 60.0),     # exp overflows without the max
    ("bf16", "i64", (2, None, 80), None, 3.0),
    ("bf16", "i32", (None, 128), 0, 3.0),
    ("f64", "i32", (2, None, 96), 5, 3.0),         # an in-range class ignored
    ("f64", "i64", (None, 997), None, 3.0),
]


@pytest.mark.parametrize("dtype,label_dtype,shape,ignore,scale", CE_CASES,
                         ids=[f"{c[0]}_{c[1]}_v{c[2][-1]}_ignore{c[3]}_x{c[4]:g}"
                              for c in CE_CASES])
def test_cross_entropy(compile_mlir, dtype, label_dtype, shape, ignore, scale):
    v = shape[-1]
    lt, bt = ttype(shape, dtype), ttype(shape[:-1], label_dtype)
    loss_dtype = "f64" if dtype == "f64" else "f32"
    attr = "" if ignore is None else f" {{ignore_index = {ignore} : i64}}"
    art = compile_mlir(module([("x", lt), ("y", bt)],
                              f"rotor.cross_entropy %x, %y{attr} : {lt}, {bt}",
                              ttype((), loss_dtype)))
    ignore_index = -100 if ignore is None else ignore
    rng = seed("ce", dtype, label_dtype, shape, ignore, scale)
    np_int = np.int64 if label_dtype == "i64" else np.int32
    for s in LENGTHS:
        cshape = concrete(shape, s)
        x, xf = prepare(rng.standard_normal(cshape) * scale, dtype)
        labels = rng.integers(0, v, size=cshape[:-1])
        if 0 <= ignore_index < v:            # keep the ignored class out of play
            labels = np.where(labels == ignore_index, (ignore_index + 1) % v, labels)
        labels = np.where(rng.random(labels.shape) < 0.3, ignore_index, labels)
        labels = labels.astype(np_int)
        labels.reshape(-1)[-1] = v - 1       # the last class, always counted
        (loss,) = art.call("f", x, labels)
        assert loss.shape == () and loss.dtype == np.dtype(
            np.float64 if loss_dtype == "f64" else np.float32)
        ref = R.cross_entropy(xf, labels, ignore_index=ignore_index)
        check(loss, ref, loss_dtype, reduction=v,
              what=f"cross_entropy {dtype} {label_dtype} at length {s}")

        # Every label ignored: exactly 0 (not NaN).
        (zero,) = art.call("f", x, np.full(labels.shape, ignore_index, dtype=np_int))
        assert zero == 0.0, f"cross_entropy {dtype}: all ignored gave {zero} at length {s}"
