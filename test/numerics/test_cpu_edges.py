"""Numerics at the edges, on the CPU against the float64 reference.

* Empty and length-1 sequences: every op that takes a sequence, compiled
  with a dynamic sequence length, runs at S = 0 and S = 1. S = 0 gives
  outputs with a zero-length dimension (cross_entropy: a loss of exactly 0,
  as when every label is ignored), never a crash or a NaN; S = 1 matches
  the reference.
* Attention with keys but no queries, or queries but no keys: the latter
  are fully masked rows, whose output is 0 and LSE -inf.
* Large logits: scores far beyond exp's range are safe (the softmax
  subtracts the row maximum); softcap bounds them before the softmax. In
  bf16, inputs near the type's largest value (3.39e38) make the f32 score
  accumulation overflow to +-inf: without softcap a row whose scores
  overflow gives NaN (inf - inf), with softcap every score is finite
  (c * tanh(+-inf) = +-c) and the output matches the reference computed
  with the capped scores. docs/robustness.md records this.
* A linear layer whose reduction is far too long for a stack-allocated
  weight panel (K = 2^18).

Tolerances are those of rotor_ref.tolerances (see test_cpu_model_ops.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import rotor_ref as R
from rotor_runtime import BF16
from test_cpu_attention import as_f64, attention_module, prepare
from test_cpu_model_ops import check, module, seed, ttype
from test_cpu_rotations import rope_module


# Each case builder gives the module text (sequence dimension dynamic) and a
# function of (rng, s) giving (inputs, a thunk computing the reference,
# reduction); the reference runs only at S = 1 (NumPy cannot reduce over an
# empty axis).
def _rms_norm(dtype):
    t, wt = ttype((2, None, 80), dtype), ttype((80,), dtype)
    text = module([("x", t), ("w", wt)], f"rotor.rms_norm %x, %w : {t}, {wt}", t)

    def run(rng, s):
        x, xf = prepare(rng.standard_normal((2, s, 80)), dtype)
        w, wf = prepare(rng.standard_normal(80), dtype)
        return [x, w], lambda: R.rms_norm(xf, wf), 80
    return text, run


def _layer_norm(dtype):
    t, wt = ttype((2, None, 64), dtype), ttype((64,), dtype)
    text = module([("x", t), ("w", wt), ("b", wt)],
                  f"rotor.layer_norm %x, %w bias(%b : {wt}) : {t}, {wt}", t)

    def run(rng, s):
        x, xf = prepare(rng.standard_normal((2, s, 64)), dtype)
        w, wf = prepare(rng.standard_normal(64), dtype)
        b, bf = prepare(rng.standard_normal(64), dtype)
        return [x, w, b], lambda: R.layer_norm(xf, wf, bf), 64
    return text, run


def _softmax_over_seq(dtype):
    # The reduced axis is the sequence: at S = 0 there is nothing to reduce.
    t = ttype((2, 3, None), dtype)
    text = module([("x", t)], f"rotor.softmax %x {{axis = 2 : i64}} : {t}", t)

    def run(rng, s):
        x, xf = prepare(rng.standard_normal((2, 3, s)) * 4, dtype)
        return [x], lambda: R.softmax(xf, axis=2), max(s, 1)
    return text, run


def _linear(dtype):
    xt, wt = ttype((2, None, 96), dtype), ttype((48, 96), dtype)
    ot = ttype((2, None, 48), dtype)
    text = module([("x", xt), ("w", wt)], f"rotor.linear %x, %w : {xt}, {wt}", ot)

    def run(rng, s):
        x, xf = prepare(rng.standard_normal((2, s, 96)), dtype)
        w, wf = prepare(rng.standard_normal((48, 96)) / 10, dtype)
        return [x, w], lambda: R.linear(xf, wf), 96
    return text, run


def _embedding(dtype):
    it, tt = ttype((2, None), "i64"), ttype((50, 64), dtype)
    ot = ttype((2, None, 64), dtype)
    text = module([("ids", it), ("t", tt)], f"rotor.embedding %ids, %t : {it}, {tt}", ot)

    def run(rng, s):
        ids = rng.integers(0, 50, (2, s)).astype(np.int64)
        t, tf = prepare(rng.standard_normal((50, 64)), dtype)
        return [ids, t], lambda: R.embedding(ids, tf), 1
    return text, run


def _conv1d(dtype):
    xt, wt = ttype((2, None, 64), dtype), ttype((64, 1, 4), dtype)
    text = module([("x", xt), ("w", wt)],
                  f"rotor.conv1d %x, %w {{groups = 64 : i64}} : {xt}, {wt}", xt)

    def run(rng, s):
        x, xf = prepare(rng.standard_normal((2, s, 64)), dtype)
        w, wf = prepare(rng.standard_normal((64, 1, 4)) / 2, dtype)
        return [x, w], lambda: R.conv1d(xf, wf, groups=64), 4
    return text, run


def _split_heads(dtype):
    xt, ot = ttype((2, None, 96), dtype), ttype((2, 3, None, 32), dtype)
    text = module([("x", xt)], f"rotor.split_heads %x into 3 heads : {xt}", ot)

    def run(rng, s):
        x, xf = prepare(rng.standard_normal((2, s, 96)), dtype)
        return [x], lambda: R.split_heads(xf, 3), 1
    return text, run


def _merge_heads(dtype):
    xt, ot = ttype((2, 3, None, 32), dtype), ttype((2, None, 96), dtype)
    text = module([("x", xt)], f"rotor.merge_heads %x : {xt}", ot)

    def run(rng, s):
        x, xf = prepare(rng.standard_normal((2, 3, s, 32)), dtype)
        return [x], lambda: R.merge_heads(xf), 1
    return text, run


def _swiglu(dtype):
    t = ttype((2, None, 80), dtype)
    text = module([("g", t), ("u", t)], f"rotor.swiglu %g, %u : {t}", t)

    def run(rng, s):
        g, gf = prepare(rng.standard_normal((2, s, 80)), dtype)
        u, uf = prepare(rng.standard_normal((2, s, 80)), dtype)
        return [g, u], lambda: R.swiglu(gf, uf), 1
    return text, run


def _sinusoidal(dtype):
    pt, ft, ot = ttype((None,), "i64"), ttype((16,), dtype), ttype((None, 32), dtype)
    text = module([("p", pt), ("fr", ft)],
                  f"rotor.sinusoidal_embedding %p, %fr : {pt}, {ft}", ot)

    def run(rng, s):
        pos = (np.arange(s) + 3).astype(np.int64)
        fr, frf = prepare(10000.0 ** (-np.arange(16) / 16), dtype)
        return [pos, fr], lambda: R.sinusoidal_embedding(pos, frf), 1
    return text, run


def _rope(dtype):
    text = rope_module(dtype, 2, 64, None, "rotate_half", 10000.0, None, False)

    def run(rng, s):
        x, xf = prepare(rng.standard_normal((2, 2, s, 64)), dtype)
        pos = np.arange(s, dtype=np.int64) + 7
        return [x, pos], lambda: R.rope(xf, pos), 1
    return text, run


def _attention(dtype):
    text = attention_module(dtype, 4, 2, 64, 64, {"causal": True, "window_left": 5})

    def run(rng, s):
        q, qf = prepare(rng.standard_normal((2, 4, s, 64)), dtype)
        k, kf = prepare(rng.standard_normal((2, 2, s, 64)), dtype)
        v, vf = prepare(rng.standard_normal((2, 2, s, 64)), dtype)
        ref = lambda: R.attention(qf, kf, vf, mask={"causal": True, "window_left": 5})
        return [q, k, v], ref, max(s, 1)
    return text, run


# op: (case builder, the output's sequence axis)
SEQUENCE_OPS = {
    "rms_norm": (_rms_norm, 1), "layer_norm": (_layer_norm, 1),
    "softmax_over_seq": (_softmax_over_seq, 2), "linear": (_linear, 1),
    "embedding": (_embedding, 1), "conv1d": (_conv1d, 1),
    "split_heads": (_split_heads, 2), "merge_heads": (_merge_heads, 1),
    "swiglu": (_swiglu, 1), "sinusoidal_embedding": (_sinusoidal, 0),
    "rope": (_rope, 2), "attention": (_attention, 2),
}
SEQUENCE_CASES = [(op, dtype) for op in SEQUENCE_OPS for dtype in ("f32", "bf16")]


@pytest.mark.parametrize("op,dtype", SEQUENCE_CASES,
                         ids=[f"{op}_{dtype}" for op, dtype in SEQUENCE_CASES])
def test_empty_and_length_one_sequences(compile_mlir, op, dtype):
    make, seq_axis = SEQUENCE_OPS[op]
    text, run = make(dtype)
    art = compile_mlir(text)
    rng = seed("edges", op, dtype)
    _, ref_one, _ = run(rng, 1)
    empty_shape = list(ref_one().shape)
    empty_shape[seq_axis] = 0
    for s in (0, 1, 0):
        inputs, ref, reduction = run(rng, s)
        (y,) = art.call("f", *inputs)
        if s == 0:
            assert y.shape == tuple(empty_shape), f"{op} {dtype} at S=0: shape {y.shape}"
            continue
        expected = ref()
        assert y.shape == expected.shape
        assert np.isfinite(as_f64(y)).all(), f"{op} {dtype} at S=1: not finite"
        check(y, expected, dtype, reduction=reduction, what=f"{op} {dtype} at S=1")


@pytest.mark.parametrize("label_dtype", ["i64", "i32"])
def test_cross_entropy_of_no_tokens_is_zero(compile_mlir, label_dtype):
    lt, bt = ttype((2, None, 33), "f32"), ttype((2, None), label_dtype)
    art = compile_mlir(module([("x", lt), ("y", bt)], f"rotor.cross_entropy %x, %y : {lt}, {bt}",
                              ttype((), "f32")))
    np_int = np.int64 if label_dtype == "i64" else np.int32
    (loss,) = art.call("f", np.zeros((2, 0, 33), np.float32), np.zeros((2, 0), np_int))
    assert loss == 0.0
    rng = seed("ce-one", label_dtype)
    x = rng.standard_normal((2, 1, 33)).astype(np.float32)
    y = rng.integers(0, 33, (2, 1)).astype(np_int)
    (loss,) = art.call("f", x, y)
    check(loss, R.cross_entropy(x, y), "f32", reduction=33, what="cross_entropy at S=1")


def test_attention_without_queries_or_without_keys(compile_mlir):
    """Sq = 0 gives an empty output; Sk = 0 makes every row fully masked:
    output 0 and LSE -inf, with no NaN."""
    art = compile_mlir(attention_module("f32", 2, 1, 64, 48, {}, lse=True))
    rng = seed("attention-empty")
    for sq, sk in [(0, 5), (3, 0), (0, 0), (1, 1)]:
        q = rng.standard_normal((2, 2, sq, 64)).astype(np.float32)
        k = rng.standard_normal((2, 1, sk, 64)).astype(np.float32)
        v = rng.standard_normal((2, 1, sk, 48)).astype(np.float32)
        o, lse = art.call("f", q, k, v)
        assert o.shape == (2, 2, sq, 48) and lse.shape == (2, 2, sq)
        assert not np.isnan(o).any() and not np.isnan(lse).any()
        ref, ref_lse = R.attention(q, k, v, return_lse=True)
        if sk == 0:
            assert (o == 0).all() and np.isneginf(lse).all()
        else:
            R.assert_close(o, ref, "f32", reduction=max(sk, 1))
            R.assert_close(lse, ref_lse, "f32", reduction=max(sk, 1))


@pytest.mark.parametrize("dtype", ["f32", "bf16"])
@pytest.mark.parametrize("softcap", [None, 30.0])
def test_attention_large_logits(compile_mlir, dtype, softcap):
    """Scores in the thousands (exp overflows at 88 in f32): the softmax
    subtracts the row maximum, so the output is finite and matches; with a
    softcap the scores are bounded by the cap before the softmax."""
    art = compile_mlir(attention_module(dtype, 2, 2, 64, 64, {"causal": True},
                                        softcap=softcap))
    rng = seed("large-logits", dtype, softcap)
    for s in (1, 9, 40):
        q, qf = prepare(rng.standard_normal((2, 2, s, 64)) * 30, dtype)
        k, kf = prepare(rng.standard_normal((2, 2, s, 64)) * 30, dtype)
        v, vf = prepare(rng.standard_normal((2, 2, s, 64)), dtype)
        (o,) = art.call("f", q, k, v)
        assert np.isfinite(as_f64(o)).all()
        ref = R.attention(qf, kf, vf, mask={"causal": True}, softcap=softcap)
        # Without a cap the softmax is nearly one-hot: one ulp of a score in
        # the thousands moves the weights, so compare with the f32 score
        # error (|s| * 2^-23 * sqrt(D)) folded into the reduction.
        R.assert_close(as_f64(o), ref, dtype, reduction=s if softcap else 64 * s,
                       err_msg=f"{dtype} softcap={softcap} at length {s}")


def test_bf16_overflowing_scores(compile_mlir):
    """bf16 inputs near 1e30: q.k overflows the f32 score accumulation to
    +-inf (every product has one sign, so no inf - inf inside the dot).
    With softcap the scores are capped to +-c (c tanh(+-inf)) and every row
    matches the reference on the capped scores. Without it a score of -inf
    only drops its key (row 1), but a score of +inf makes the row NaN
    (exp(inf - inf)), rows 2 and 3 here; rows without an overflowing score
    are unaffected. docs/robustness.md records this."""
    big = 1.0e30
    rng = seed("bf16-overflow")
    q = np.full((1, 1, 4, 64), big)
    k = rng.standard_normal((1, 1, 4, 64))
    q[0, 0, 0] = rng.standard_normal(64)      # row 0: ordinary scores
    k[0, 0, 1] = -big                          # key 1: score -inf for rows 1..3
    k[0, 0, 2] = big                           # key 2: score +inf for rows 2, 3
    v = rng.standard_normal((1, 1, 4, 64))
    qb, kb, vb = BF16.from_float(q), BF16.from_float(k), BF16.from_float(v)
    qf, kf, vf = qb.to_float(), kb.to_float(), vb.to_float()

    capped = compile_mlir(attention_module("bf16", 1, 1, 64, 64, {"causal": True},
                                           softcap=20.0, batch=1))
    (o,) = capped.call("f", qb, kb, vb)
    o = as_f64(o)
    assert np.isfinite(o).all()
    ref = R.attention(qf, kf, vf, mask={"causal": True}, softcap=20.0)
    R.assert_close(o, ref, "bf16", reduction=4)

    plain = compile_mlir(attention_module("bf16", 1, 1, 64, 64, {"causal": True}, batch=1))
    (o,) = plain.call("f", qb, kb, vb)
    o = as_f64(o)
    ref = R.attention(qf, kf, vf, mask={"causal": True})
    R.assert_close(o[:, :, :2], ref[:, :, :2], "bf16", reduction=2)
    assert np.isnan(o[:, :, 2:]).all()


@pytest.mark.parametrize("flags", [(), ("--parallel=false",)], ids=["parallel", "sequential"])
def test_linear_with_a_huge_reduction(compile_mlir, flags):
    """K = 2^18: the packed K x 64 weight panel is 64 MiB, more than any
    thread's stack; it lives on the heap (it used to be a stack allocation
    and crashed; panels up to 1 MiB stay on the stack)."""
    k, n = 1 << 18, 64
    xt, wt, ot = ttype((None, k), "f32"), ttype((n, k), "f32"), ttype((None, n), "f32")
    art = compile_mlir(module([("x", xt), ("w", wt)], f"rotor.linear %x, %w : {xt}, {wt}", ot),
                       *flags)
    rng = seed("huge-k")
    x = rng.standard_normal((3, k)).astype(np.float32)
    w = (rng.standard_normal((n, k)) / 512).astype(np.float32)
    (y,) = art.call("f", x, w)
    check(y, R.linear(x, w), "f32", reduction=k, what="linear with K = 2^18")
