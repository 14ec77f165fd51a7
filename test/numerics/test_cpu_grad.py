"""Gradient checks of every differentiation rule on the CPU: each op alone
in a float64 function f, its vector-Jacobian product built by
rotor-autodiff (seed-args) against central finite differences of f
(gradcheck.py states the method and the tolerance: rtol 1e-6). The sizes are
awkward on purpose (odd lengths, features 33/80, broadcasts), and functions
with a dynamic sequence dimension run at several lengths.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_gradients
from test_cpu_model_ops import concrete, seed, ttype

F = "f64"


def func(args, body: str, results) -> str:
    """func @f(args) -> results { body; return %r0, ... }. `args` and
    `results` are lists of (name, type); `body` defines the results."""
    arglist = ", ".join(f"%{n}: {t}" for n, t in args)
    rtypes = ", ".join(t for _, t in results)
    rnames = ", ".join(f"%{n}" for n, _ in results)
    return (f"func.func @f({arglist}) -> ({rtypes}) {{\n{body}\n"
            f"  return {rnames} : {rtypes}\n}}\n")


def run(differentiate, text, make_inputs, lengths, what, options=""):
    """Compiles f and f_grad from `text` and checks the gradient of every
    float input at each length; `make_inputs(rng, s)` returns the inputs."""
    art = differentiate(text, "function=f seed-args=1" + (" " + options if options else ""))
    rng = seed(what)
    for s in lengths:
        inputs = make_inputs(rng, s)
        wrt = [i for i, x in enumerate(inputs) if x.dtype == np.float64]
        check_gradients(art, inputs, wrt, rng, what=f"{what} at length {s}")


def normal(rng, shape, s=None, scale=1.0):
    return rng.standard_normal(concrete(shape, s)) * scale


# -----------------------------------------------------------------------------
# add, mul (broadcasting), activations
# -----------------------------------------------------------------------------

BROADCASTS = [
    ("same", (2, None, 33), (2, None, 33)),
    ("vector", (2, None, 33), (33,)),
    ("lhs_vector", (33,), (2, None, 33)),
    ("seq1", (2, None, 5), (2, 1, 5)),
    ("outer", (3, None, 1), (1, 1, 7)),
]


@pytest.mark.parametrize("op", ["add", "mul"])
@pytest.mark.parametrize("name,lhs,rhs", BROADCASTS, ids=[b[0] for b in BROADCASTS])
def test_binary_grad(differentiate, op, name, lhs, rhs):
    out = tuple(np.broadcast_shapes(concrete(lhs, 9), concrete(rhs, 9)))
    out = tuple(None if d == 9 else d for d in out)
    lt, rt, ot = ttype(lhs, F), ttype(rhs, F), ttype(out, F)
    text = func([("a", lt), ("b", rt)], f"  %y = rotor.{op} %a, %b : {lt}, {rt}",
                [("y", ot)])
    run(differentiate, text,
        lambda rng, s: [normal(rng, lhs, s), normal(rng, rhs, s)],
        [1, 7], f"{op} {name}")


ACTIVATIONS = [
    ("relu", "rotor.relu %x"),
    ("silu", "rotor.silu %x"),
    ("gelu", "rotor.gelu %x"),
    ("gelu_tanh", "rotor.gelu %x {approximate = #rotor.gelu_approximation<tanh>}"),
]


@pytest.mark.parametrize("name,op", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_grad(differentiate, name, op):
    shape = (2, None, 33)
    t = ttype(shape, F)
    text = func([("x", t)], f"  %y = {op} : {t}", [("y", t)])
    # Values up to +-12 reach silu's and gelu's tails.
    run(differentiate, text, lambda rng, s: [normal(rng, shape, s, 4.0)], [1, 9], name)


def test_swiglu_grad(differentiate):
    shape = (2, None, 33)
    t = ttype(shape, F)
    text = func([("g", t), ("u", t)], f"  %y = rotor.swiglu %g, %u : {t}", [("y", t)])
    run(differentiate, text,
        lambda rng, s: [normal(rng, shape, s, 3.0), normal(rng, shape, s)], [1, 9],
        "swiglu")


# -----------------------------------------------------------------------------
# linear, head layout, cross_entropy
# -----------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("lead", [(None,), (2, None), (3, 2, None)],
                         ids=["rank2", "rank3", "rank4"])
def test_linear_grad(differentiate, bias, lead):
    k, n = 33, 17
    xs = lead + (k,)
    xt, wt, yt = ttype(xs, F), ttype((n, k), F), ttype(lead + (n,), F)
    bt = ttype((n,), F)
    args = [("x", xt), ("w", wt)] + ([("b", bt)] if bias else [])
    b = f" bias(%b : {bt})" if bias else ""
    text = func(args, f"  %y = rotor.linear %x, %w{b} : {xt}, {wt}", [("y", yt)])
    run(differentiate, text,
        lambda rng, s: [normal(rng, xs, s), normal(rng, (n, k))]
        + ([normal(rng, (n,))] if bias else []),
        [1, 5], f"linear bias={bias} rank={len(xs)}")


@pytest.mark.parametrize("heads", [1, 3])
def test_split_merge_heads_grad(differentiate, heads):
    d = 5
    xt = ttype((2, None, heads * d), F)
    ht = ttype((2, heads, None, d), F)
    text = func([("x", xt), ("h", ht)],
                f"  %y = rotor.split_heads %x into {heads} heads : {xt}\n"
                f"  %z = rotor.merge_heads %h : {ht}",
                [("y", ht), ("z", xt)])
    run(differentiate, text,
        lambda rng, s: [normal(rng, (2, None, heads * d), s),
                        normal(rng, (2, heads, None, d), s)],
        [1, 7], f"split/merge heads={heads}")


@pytest.mark.parametrize("vocab", [1, 2, 37])
def test_cross_entropy_grad(differentiate, vocab):
    lt = ttype((2, None, vocab), F)
    it = ttype((2, None), "i64")
    text = func([("logits", lt), ("labels", it)],
                f"  %l = rotor.cross_entropy %logits, %labels : {lt}, {it}",
                [("l", "tensor<f64>")])

    def make(rng, s):
        labels = rng.integers(0, vocab, size=(2, s))
        labels[rng.random((2, s)) < 0.3] = -100
        return [normal(rng, (2, None, vocab), s, 3.0), labels.astype(np.int64)]

    run(differentiate, text, make, [1, 9], f"cross_entropy V={vocab}")


def test_cross_entropy_grad_all_ignored(differentiate):
    lt, it = ttype((3, 4), F), ttype((3,), "i64")
    text = func([("logits", lt), ("labels", it)],
                f"  %l = rotor.cross_entropy %logits, %labels : {lt}, {it}",
                [("l", "tensor<f64>")])
    art = differentiate(text, "function=f seed-args=1")
    rng = seed("ce ignored")
    logits = normal(rng, (3, 4))
    labels = np.full((3,), -100, dtype=np.int64)
    loss, grad = art.call("f_grad", logits, labels, np.array(1.5))
    assert float(loss) == 0.0
    assert np.array_equal(grad, np.zeros((3, 4)))


# -----------------------------------------------------------------------------
# Upstream tensor ops between rotor ops
# -----------------------------------------------------------------------------

def test_tensor_ops_grad(differentiate):
    """concat, extract_slice, expand/collapse_shape and cast."""
    at, bt = ttype((2, None, 6), F), ttype((2, 3, 6), F)
    ct = ttype((2, None, 6), F)
    body = f"""
  %c = tensor.concat dim(1) %a, %b : ({at}, {bt}) -> {ct}
  %s = tensor.extract_slice %c[0, 1, 2] [2, 3, 3] [1, 1, 1] : {ct} to tensor<2x3x3xf64>
  %e = tensor.expand_shape %s [[0], [1], [2, 3]] output_shape [2, 3, 3, 1]
      : tensor<2x3x3xf64> into tensor<2x3x3x1xf64>
  %k = tensor.collapse_shape %e [[0, 1], [2, 3]] : tensor<2x3x3x1xf64> into tensor<6x3xf64>
  %d = tensor.cast %k : tensor<6x3xf64> to tensor<?x3xf64>
  %y = rotor.silu %d : tensor<?x3xf64>
  %z = rotor.mul %c, %c : {ct}, {ct}"""
    text = func([("a", at), ("b", bt)], body,
                [("y", "tensor<?x3xf64>"), ("z", ct)])
    run(differentiate, text,
        lambda rng, s: [normal(rng, (2, None, 6), s), normal(rng, (2, 3, 6))],
        [1, 4], "tensor ops")


def test_chain_grad(differentiate):
    """Cotangents of a value used several times accumulate: a small MLP."""
    xt, w1t, w2t = ttype((2, None, 7), F), ttype((9, 7), F), ttype((7, 9), F)
    ht, yt = ttype((2, None, 9), F), ttype((2, None, 7), F)
    body = f"""
  %h = rotor.linear %x, %w1 : {xt}, {w1t}
  %a = rotor.gelu %h : {ht}
  %o = rotor.linear %a, %w2 : {ht}, {w2t}
  %r = rotor.add %o, %x : {yt}, {xt}
  %y = rotor.mul %r, %x : {yt}, {xt}"""
    text = func([("x", xt), ("w1", w1t), ("w2", w2t)], body, [("y", yt)])
    run(differentiate, text,
        lambda rng, s: [normal(rng, (2, None, 7), s), normal(rng, (9, 7)),
                        normal(rng, (7, 9))],
        [3], "mlp")


SOFTMAX = [
    # name, shape (None: the dynamic length), axis
    ("last", (2, None, 33), -1),
    ("seq_axis", (2, None, 5), 1),
    ("first", (3, None), 0),
    ("single", (None, 1), -1),
]


@pytest.mark.parametrize("name,shape,axis", SOFTMAX, ids=[s[0] for s in SOFTMAX])
def test_softmax_grad(differentiate, name, shape, axis):
    xt = ttype(shape, F)
    text = func([("x", xt)], f"  %y = rotor.softmax %x {{axis = {axis} : i64}} : {xt}",
                [("y", xt)])
    run(differentiate, text, lambda rng, s: [normal(rng, shape, s, 3.0)], [1, 6],
        f"softmax {name}")


# -----------------------------------------------------------------------------
# Norms, embedding, rotations
# -----------------------------------------------------------------------------

@pytest.mark.parametrize("h", [1, 33])
def test_rms_norm_grad(differentiate, h):
    xt, wt = ttype((2, None, h), F), ttype((h,), F)
    text = func([("x", xt), ("w", wt)],
                f"  %y = rotor.rms_norm %x, %w {{epsilon = 1.0e-05 : f64}} : {xt}, {wt}",
                [("y", xt)])
    run(differentiate, text,
        lambda rng, s: [normal(rng, (2, None, h), s, 2.0), normal(rng, (h,))],
        [1, 7], f"rms_norm H={h}")


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("h", [1, 2, 33])
def test_layer_norm_grad(differentiate, h, bias):
    xt, wt = ttype((2, None, h), F), ttype((h,), F)
    args = [("x", xt), ("w", wt)] + ([("b", wt)] if bias else [])
    b = f" bias(%b : {wt})" if bias else ""
    text = func(args, f"  %y = rotor.layer_norm %x, %w{b} {{epsilon = 1.0e-05 : f64}} : {xt}, {wt}",
                [("y", xt)])

    def make(rng, s):
        ins = [normal(rng, (2, None, h), s, 2.0) + 0.5, normal(rng, (h,))]
        return ins + ([normal(rng, (h,))] if bias else [])

    run(differentiate, text, make, [1, 5], f"layer_norm h={h} bias={bias}")


def test_embedding_grad(differentiate):
    """Repeated ids accumulate; out-of-range ids add nothing."""
    v, h = 11, 7
    it, tt, yt = ttype((2, None), "i64"), ttype((v, h), F), ttype((2, None, h), F)
    text = func([("ids", it), ("t", tt)],
                f"  %y = rotor.embedding %ids, %t : {it}, {tt}", [("y", yt)])

    def make(rng, s):
        ids = rng.integers(0, v, size=(2, s))
        ids[0, 0] = ids[-1, -1]  # a repeat
        if s > 2:
            ids[1, 1] = v + 3  # out of range: a zero row
        return [ids.astype(np.int64), normal(rng, (v, h))]

    run(differentiate, text, make, [1, 9], "embedding")


ROPES = [
    # name, attributes, head_dim, learned base
    ("half", "{base = 10000.0 : f64}", 10, False),
    ("interleaved_partial",
     "{base = 500.0 : f64, rotary_dim = 6 : i64, layout = #rotor.rope_layout<interleaved>}",
     10, False),
    ("learned", "", 10, True),
    ("learned_partial_linear",
     "{rotary_dim = 4 : i64, scaling = #rotor.rope_scaling<kind = linear, factor = 2.0>}", 6, True),
    ("learned_dynamic_ntk",
     "{scaling = #rotor.rope_scaling<kind = dynamic_ntk, factor = 2.0, original_max_position = 4>}",
     8, True),
    ("yarn", "{base = 100.0 : f64, scaling = #rotor.rope_scaling<kind = yarn, factor = 4.0, "
     "original_max_position = 4>}", 8, False),
]


@pytest.mark.parametrize("name,attrs,d,learned", ROPES, ids=[r[0] for r in ROPES])
def test_rope_grad(differentiate, name, attrs, d, learned):
    xt, pt = ttype((2, 3, None, d), F), ttype((None,), "i64")
    args = [("x", xt), ("pos", pt)] + ([("b", "tensor<f64>")] if learned else [])
    base = " base(%b : tensor<f64>)" if learned else ""
    text = func(args, f"  %y = rotor.rope %x, %pos{base} {attrs} : {xt}, {pt}", [("y", xt)])

    def make(rng, s):
        pos = (np.arange(s) + 3).astype(np.int64)
        ins = [normal(rng, (2, 3, None, d), s), pos]
        if learned:
            ins.append(np.array(30.0 + rng.random() * 20))
        return ins

    run(differentiate, text, make, [1, 6], f"rope {name}")


def test_rotate_grad(differentiate):
    xt, rt = ttype((2, 3, None, 5), F), ttype((5, 5), F)
    text = func([("x", xt), ("r", rt)], f"  %y = rotor.rotate %x, %r : {xt}, {rt}",
                [("y", xt)])
    run(differentiate, text,
        lambda rng, s: [normal(rng, (2, 3, None, 5), s), normal(rng, (5, 5))],
        [1, 4], "rotate")


GIVENS = [
    # name, last dimension, pairs (overlapping planes share a feature)
    ("one", 5, [(0, 3)]),
    ("overlapping", 5, [(0, 1), (1, 2), (2, 0), (4, 1), (0, 1)]),
    ("d64", 64, [(0, 1), (2, 5), (5, 63), (10, 3), (0, 63), (63, 0)]),
    ("d80", 80, [(79, 0), (40, 41), (41, 79), (3, 40)]),
    ("d96", 96, [(i, 95 - i) for i in range(0, 12)] + [(0, 1), (1, 94)]),
]


@pytest.mark.parametrize("name,d,pairs", GIVENS, ids=[g[0] for g in GIVENS])
def test_givens_grad(differentiate, name, d, pairs):
    """d input (the transposed chain) and d angles (rotor.givens_grad)."""
    n = len(pairs)
    xt, at = ttype((2, 3, None, d), F), ttype((n,), F)
    plist = ", ".join(f"({i}, {j})" for i, j in pairs)
    text = func([("x", xt), ("t", at)],
                f"  %y = rotor.givens %x, %t pairs [{plist}] : {xt}, {at}", [("y", xt)])
    run(differentiate, text,
        lambda rng, s: [normal(rng, (2, 3, None, d), s), rng.uniform(-3.2, 3.2, size=n)],
        [1, 5], f"givens {name}")


def test_shared_rotation_grad(differentiate):
    """One rotation matrix and one Givens chain applied to q and to k (as
    the givens example model does): the two backward products read the same
    transposed matrix (a regression test: the vectorized kernel's operand
    buffer was shared between its two calls and overwritten in between,
    giving a zero input gradient)."""
    pairs = "[(0, 8), (1, 9), (2, 10), (3, 11)]"
    qt, kt = ttype((2, 4, None, 16), F), ttype((2, 2, None, 16), F)
    at, rt = ttype((4,), F), ttype((16, 16), F)
    text = func([("q", qt), ("k", kt), ("t", at), ("r", rt)],
                f"  %qg = rotor.givens %q, %t pairs {pairs} : {qt}, {at}\n"
                f"  %kg = rotor.givens %k, %t pairs {pairs} : {kt}, {at}\n"
                f"  %qr = rotor.rotate %qg, %r : {qt}, {rt}\n"
                f"  %kr = rotor.rotate %kg, %r : {kt}, {rt}",
                [("qr", qt), ("kr", kt)])
    run(differentiate, text,
        lambda rng, s: [normal(rng, (2, 4, None, 16), s), normal(rng, (2, 2, None, 16), s),
                        rng.uniform(-1.0, 1.0, size=4), normal(rng, (16, 16))],
        [1, 5], "shared rotation")


@pytest.mark.parametrize("d", [1, 64, 80, 96])
def test_l2_normalize_grad(differentiate, d):
    xt = ttype((2, None, d), F)
    text = func([("x", xt)], f"  %y = rotor.l2_normalize %x : {xt}", [("y", xt)])
    run(differentiate, text, lambda rng, s: [normal(rng, (2, None, d), s, 2.0)],
        [1, 7], f"l2_normalize D={d}")


def test_l2_normalize_clamped_grad(differentiate):
    """Rows whose norm is below epsilon (one tiny, one zero) are divided by
    epsilon: their cotangent is dy / epsilon; every coordinate is checked."""
    xt = ttype((4, 5), F)
    text = func([("x", xt)],
                f"  %y = rotor.l2_normalize %x {{epsilon = 1.0e-03 : f64}} : {xt}",
                [("y", xt)])

    def make(rng, s):
        x = normal(rng, (4, 5))
        x[1] *= 1e-5
        x[2] = 0.0
        return [x]

    run(differentiate, text, make, [1], "l2_normalize clamped")


SINUSOIDAL = [
    # name, positions shape, positions dtype, number of frequencies
    ("int_batch", (2, None), "i64", 5),
    ("int32_f32", (None,), "i32", 32),
    ("float_pos", (None,), F, 7),
    ("float_pos_batch", (3, None), F, 4),
]


@pytest.mark.parametrize("name,pshape,pdtype,nf", SINUSOIDAL, ids=[s[0] for s in SINUSOIDAL])
def test_sinusoidal_embedding_grad(differentiate, name, pshape, pdtype, nf):
    """d freqs (and d positions when they are float) against finite
    differences; integer positions get no gradient."""
    pt, ft = ttype(pshape, pdtype), ttype((nf,), F)
    yt = ttype(tuple(pshape) + (2 * nf,), F)
    text = func([("p", pt), ("f", ft)],
                f"  %y = rotor.sinusoidal_embedding %p, %f : {pt}, {ft}", [("y", yt)])

    def make(rng, s):
        shape = concrete(pshape, s)
        if pdtype == F:
            pos = rng.uniform(-4.0, 6.0, size=shape)
        else:
            pos = rng.integers(0, 9, size=shape).astype(np.int64 if pdtype == "i64" else np.int32)
        return [pos, normal(rng, (nf,), scale=0.5)]

    run(differentiate, text, make, [1, 6], f"sinusoidal_embedding {name}")


CONV1D = [
    # name, Cin, Cout, groups, kernel, padding, bias
    ("causal_k3", 4, 6, 1, 3, "causal", True),
    ("causal_k4_depthwise", 5, 5, 5, 4, "causal", False),
    ("same_k3_groups2", 4, 6, 2, 3, "same", True),
    ("same_k4", 3, 5, 1, 4, "same", False),
    ("same_k4_depthwise_bias", 6, 6, 6, 4, "same", True),
    ("k1", 3, 2, 1, 1, "causal", True),
]


@pytest.mark.parametrize("name,cin,cout,groups,k,padding,bias", CONV1D,
                         ids=[c[0] for c in CONV1D])
def test_conv1d_grad(differentiate, name, cin, cout, groups, k, padding, bias):
    """d input (the transposed convolution), d weight and d bias; lengths
    shorter than the kernel included."""
    xt, wt = ttype((2, None, cin), F), ttype((cout, cin // groups, k), F)
    yt, bt = ttype((2, None, cout), F), ttype((cout,), F)
    args = [("x", xt), ("w", wt)] + ([("b", bt)] if bias else [])
    b = f" bias(%b : {bt})" if bias else ""
    text = func(args,
                f"  %y = rotor.conv1d %x, %w{b} {{groups = {groups} : i64, "
                f"padding = #rotor.conv_padding<{padding}>}} : {xt}, {wt}", [("y", yt)])

    def make(rng, s):
        ins = [normal(rng, (2, None, cin), s), normal(rng, (cout, cin // groups, k))]
        return ins + ([normal(rng, (cout,))] if bias else [])

    run(differentiate, text, make, [1, 2, 7], f"conv1d {name}")


# -----------------------------------------------------------------------------
# attention
# -----------------------------------------------------------------------------

ATTENTION = [
    # name, Hq, Hkv, D, Dv, extra keys, attributes, bias buckets
    ("full", 2, 2, 5, 5, 0, "", 0),
    ("causal_gqa2", 4, 2, 5, 3, 0, "{mask = #rotor.mask<causal = true>}", 0),
    ("causal_mqa4_past", 4, 1, 4, 4, 3, "{mask = #rotor.mask<causal = true>}", 0),
    ("window3", 2, 1, 3, 3, 0, "{mask = #rotor.mask<causal = true, window_left = 2>}", 0),
    ("dilated", 2, 2, 3, 3, 2,
     "{mask = #rotor.mask<causal = true, window_left = 2, dilation = 2>}", 0),
    ("chunked", 2, 1, 3, 3, 0, "{mask = #rotor.mask<causal = true, chunk = 3>}", 0),
    ("global", 2, 2, 3, 3, 0,
     "{mask = #rotor.mask<causal = true, window_left = 1, global = 2>}", 0),
    ("bidirectional_window", 2, 2, 3, 3, 0,
     "{mask = #rotor.mask<causal = false, window_left = 1, window_right = 2>}", 0),
    ("bias_causal", 2, 1, 4, 4, 0, "{mask = #rotor.mask<causal = true>, bias_max_distance = 8 : i64}", 6),
    ("bias_full_softcap", 2, 2, 4, 4, 1,
     "{softcap = 2.0 : f64, scale = 0.7 : f64, bias_max_distance = 6 : i64}", 8),
]


@pytest.mark.parametrize("name,hq,hkv,d,dv,extra,attrs,buckets", ATTENTION,
                         ids=[a[0] for a in ATTENTION])
def test_attention_grad(differentiate, name, hq, hkv, d, dv, extra, attrs, buckets):
    qt, kt = ttype((2, hq, None, d), F), ttype((2, hkv, None, d), F)
    vt, ot = ttype((2, hkv, None, dv), F), ttype((2, hq, None, dv), F)
    bt = ttype((hq, buckets), F)
    args = [("q", qt), ("k", kt), ("v", vt)] + ([("t", bt)] if buckets else [])
    bias = f" bias(%t : {bt})" if buckets else ""
    text = func(args, f"  %y = rotor.attention %q, %k, %v{bias} {attrs} : {qt}, {kt}, {vt}",
                [("y", ot)])

    def make(rng, s):
        sk = s + extra
        ins = [normal(rng, (2, hq, s, d)), normal(rng, (2, hkv, sk, d)),
               normal(rng, (2, hkv, sk, dv))]
        if buckets:
            ins.append(normal(rng, (hq, buckets)))
        return ins

    run(differentiate, text, make, [1, 7], f"attention {name}")


FUSED_ROPE = [
    # name, rope operands, rope attributes, learned base
    ("q_and_k", "rope_q(%pq : {pt}) rope_k(%pk : {kpt})",
     "rope_base = 500.0 : f64, rope_rotary_dim = 4 : i64", False),
    ("q_interleaved_learned", "rope_q(%pq : {pt}) rope_learned_base(%b : tensor<f64>)",
     "rope_layout = #rotor.rope_layout<interleaved>", True),
]


@pytest.mark.parametrize("name,operands,rope,learned", FUSED_ROPE,
                         ids=[r[0] for r in FUSED_ROPE])
def test_attention_fused_rope_grad(differentiate, name, operands, rope, learned):
    """An attention with a fused rope: f runs the fused kernel, f_grad the
    un-fused rope + attention that rotor-autodiff differentiates."""
    qt, kt, ot = ttype((1, 4, None, 6), F), ttype((1, 2, None, 6), F), ttype((1, 4, None, 6), F)
    pt, kpt = ttype((None,), "i64"), ttype((None,), "i64")
    args = [("q", qt), ("k", kt), ("v", kt), ("pq", pt), ("pk", kpt)]
    args += [("b", "tensor<f64>")] if learned else []
    ops = operands.format(pt=pt, kpt=kpt)
    text = func(args, f"  %y = rotor.attention %q, %k, %v {ops} "
                f"{{mask = #rotor.mask<causal = true>, {rope}}} : {qt}, {kt}, {kt}",
                [("y", ot)])

    def make(rng, s):
        ins = [normal(rng, (1, 4, s, 6)), normal(rng, (1, 2, s, 6)),
               normal(rng, (1, 2, s, 6)), (np.arange(s) + 2).astype(np.int64),
               (np.arange(s) + 2).astype(np.int64)]
        if learned:
            ins.append(np.array(40.0 + rng.random() * 10))
        return ins

    run(differentiate, text, make, [1, 5], f"attention fused rope {name}")


def test_attention_fused_rotation_grad(differentiate):
    """An attention with a fused rope and rotation matrix of the queries
    (rotate(rope(q)) in the op): f runs the fused kernel, f_grad the un-fused
    rope, rotate and attention; the matrix gets its gradient too. (A fused
    Givens chain un-fuses to rotor.givens, which has no rule yet: a
    diagnostic, tested in test/Transforms/autodiff-errors.mlir.)"""
    qt, kt, ot = ttype((1, 4, None, 6), F), ttype((1, 2, None, 6), F), ttype((1, 4, None, 6), F)
    pt, mt = ttype((None,), "i64"), ttype((6, 6), F)
    args = [("q", qt), ("k", kt), ("v", kt), ("pq", pt), ("m", mt)]
    text = func(args, f"  %y = rotor.attention %q, %k, %v rope_q(%pq : {pt}) rotate_q(%m : {mt}) "
                f"{{mask = #rotor.mask<causal = true>, rope_base = 500.0 : f64}} : {qt}, {kt}, {kt}",
                [("y", ot)])

    def make(rng, s):
        return [normal(rng, (1, 4, s, 6)), normal(rng, (1, 2, s, 6)),
                normal(rng, (1, 2, s, 6)), (np.arange(s) + 2).astype(np.int64),
                normal(rng, (6, 6), scale=0.5)]

    run(differentiate, text, make, [1, 5], "attention fused rotation")
