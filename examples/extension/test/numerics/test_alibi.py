"""alibi.attention compiled by rotorc with the plugin, run through the
runtime, against the float64 NumPy reference (alibi_ref.py).

Each configuration is compiled once with dynamic query and key lengths and
run at several (Sq, Sk): equal odd lengths, decode-like Sq < Sk, and
Sq > Sk (causal rows with no visible key must be 0). Head dims 64/80/96/128,
GQA ratios 1, 2, 3, 4 and 8, head counts that are not powers of two (the
BLOOM slope rule), windows that do not divide the lengths.

Tolerances (rotor_ref.tolerances): f32 rtol/atol 2e-5, f64 1e-10/1e-12,
bf16 2e-2 (inputs rounded to bf16, compared against the reference on the
rounded inputs); atol scaled by sqrt(Sk).
"""

from __future__ import annotations

import numpy as np
import pytest

import alibi_ref as A
import rotor_ref as R
from rotor_runtime import BF16

SHAPES = [(1, 1), (7, 7), (37, 37), (3, 40), (5, 2)]


def mask_attr(m: dict) -> str:
    parts = []
    if m.get("causal"):
        parts.append("causal = true")
    for key in ("window_left", "window_right", "chunk"):
        if m.get(key) is not None:
            parts.append(f"{key} = {m[key]}")
    if m.get("dilation", 1) != 1:
        parts.append(f"dilation = {m['dilation']}")
    if m.get("global_", 0):
        parts.append(f"global = {m['global_']}")
    return "#rotor.mask<" + ", ".join(parts) + ">"


def types(dtype, hq, hkv, d, dv):
    return (f"tensor<2x{hq}x?x{d}x{dtype}>", f"tensor<2x{hkv}x?x{d}x{dtype}>",
            f"tensor<2x{hkv}x?x{dv}x{dtype}>", f"tensor<2x{hq}x?x{dv}x{dtype}>")


def alibi_module(dtype, hq, hkv, d, dv, mask, slopes=None, max_bias=None):
    qt, kt, vt, ot = types(dtype, hq, hkv, d, dv)
    attrs = []
    if mask:
        attrs.append(f"mask = {mask_attr(mask)}")
    if slopes is not None:
        attrs.append("slopes = array<f64: " +
                     ", ".join(repr(float(s)) for s in slopes) + ">")
    if max_bias is not None:
        attrs.append(f"max_bias = {float(max_bias)} : f64")
    attr_dict = " {" + ", ".join(attrs) + "}" if attrs else ""
    return (f"func.func @f(%q: {qt}, %k: {kt}, %v: {vt}) -> {ot} {{\n"
            f"  %o = alibi.attention %q, %k, %v{attr_dict} : {qt}, {kt}, {vt}\n"
            f"  return %o : {ot}\n}}\n")


def prepare(x, dtype):
    """Rounds f64 data to the kernel dtype; returns (kernel input, f64 copy)."""
    if dtype == "f32":
        a = x.astype(np.float32)
        return a, a.astype(np.float64)
    if dtype == "f64":
        return x, x
    b = BF16.from_float(x)
    return b, b.to_float()


def as_f64(x):
    return x.to_float() if isinstance(x, BF16) else np.asarray(x, np.float64)


CASES = [
    # name, dtype, hq, hkv, d, dv, mask, extras
    ("causal_mha_d64", "f32", 4, 4, 64, 64, {"causal": True}, {}),
    ("causal_gqa2_d80", "f32", 8, 4, 80, 80, {"causal": True}, {}),
    ("window_gqa3_h6_d96", "f32", 6, 2, 96, 96,
     {"causal": True, "window_left": 5}, {}),
    ("bidir_gqa8_d128", "f32", 8, 1, 128, 128, {}, {}),
    ("chunk_global_h12_gqa4", "f32", 12, 3, 64, 48,
     {"causal": True, "chunk": 5, "global_": 2}, {}),
    ("max_bias4_h5", "f32", 5, 5, 64, 64, {"causal": True}, {"max_bias": 4.0}),
    ("slopes_f64", "f64", 4, 2, 64, 64, {"causal": True, "window_left": 9},
     {"slopes": [0.7, 0.0, 0.3, 1.5]}),
    ("causal_bf16_d64", "bf16", 4, 2, 64, 64, {"causal": True}, {}),
]


@pytest.mark.parametrize("name,dtype,hq,hkv,d,dv,mask,extra", CASES,
                         ids=[c[0] for c in CASES])
def test_alibi_attention(compile_mlir, name, dtype, hq, hkv, d, dv, mask,
                         extra):
    art = compile_mlir(alibi_module(dtype, hq, hkv, d, dv, mask, **extra))
    rng = np.random.default_rng(sum(map(ord, name)))
    for sq, sk in SHAPES:
        q, qf = prepare(rng.standard_normal((2, hq, sq, d)), dtype)
        k, kf = prepare(rng.standard_normal((2, hkv, sk, d)), dtype)
        v, vf = prepare(rng.standard_normal((2, hkv, sk, dv)), dtype)
        (out,) = art.call("f", q, k, v)
        ref = A.alibi_attention(qf, kf, vf, mask=mask, **extra)
        R.assert_close(as_f64(out), ref, dtype, reduction=max(sk, d),
                       err_msg=f"{name} at Sq={sq}, Sk={sk}")


def test_rows_without_keys_are_zero(compile_mlir):
    """Causal with more queries than keys: the first Sq - Sk rows see no key."""
    art = compile_mlir(alibi_module("f32", 2, 1, 64, 64, {"causal": True}))
    rng = np.random.default_rng(3)
    q = rng.standard_normal((2, 2, 6, 64)).astype(np.float32)
    k = rng.standard_normal((2, 1, 2, 64)).astype(np.float32)
    v = rng.standard_normal((2, 1, 2, 64)).astype(np.float32)
    (out,) = art.call("f", q, k, v)
    assert np.all(out[:, :, :4] == 0.0)
    assert np.all(np.abs(out[:, :, 4:]).sum(axis=-1) > 0)


def test_zero_slopes_match_rotor_attention(compile_mlir):
    """With every slope 0, alibi.attention is rotor.attention: one module
    holds both ops (the plugin's and Rotor's), lowered by their own passes,
    and the outputs agree; so does the reference with Rotor's."""
    qt, kt, vt, ot = types("f32", 4, 2, 64, 64)
    mask = {"causal": True, "window_left": 6, "dilation": 2}
    m = mask_attr(mask)
    art = compile_mlir(
        f"func.func @f(%q: {qt}, %k: {kt}, %v: {vt}) -> ({ot}, {ot}) {{\n"
        f"  %a = alibi.attention %q, %k, %v {{mask = {m}, "
        f"slopes = array<f64: 0.0, 0.0, 0.0, 0.0>}} : {qt}, {kt}, {vt}\n"
        f"  %r = rotor.attention %q, %k, %v {{mask = {m}}} : {qt}, {kt}, {vt}\n"
        f"  return %a, %r : {ot}, {ot}\n}}\n")
    rng = np.random.default_rng(11)
    for sq, sk in [(9, 9), (4, 23)]:
        q = rng.standard_normal((2, 4, sq, 64)).astype(np.float32)
        k = rng.standard_normal((2, 2, sk, 64)).astype(np.float32)
        v = rng.standard_normal((2, 2, sk, 64)).astype(np.float32)
        a, r = art.call("f", q, k, v)
        R.assert_close(a, r, "f32", reduction=sk)
        ref = A.alibi_attention(q, k, v, mask=mask, slopes=np.zeros(4))
        np.testing.assert_allclose(ref, R.attention(q, k, v, mask=mask),
                                   rtol=1e-12, atol=1e-12)


def test_reference_slopes():
    """The published slopes: 2^-1 .. 2^-8 for 8 heads (Press et al.), and
    BLOOM's interleaving for a head count that is not a power of two."""
    np.testing.assert_array_equal(A.alibi_slopes(8),
                                  [2.0 ** -p for p in range(1, 9)])
    six = A.alibi_slopes(6)
    np.testing.assert_allclose(six[:4], [2.0 ** -2, 2.0 ** -4, 2.0 ** -6,
                                         2.0 ** -8])
    np.testing.assert_allclose(six[4:], [2.0 ** -1, 2.0 ** -3])


def test_reference_against_loops():
    """The vectorized reference against a plain loop over (h, i, j)."""
    rng = np.random.default_rng(5)
    q = rng.standard_normal((1, 4, 3, 8))
    k = rng.standard_normal((1, 2, 5, 8))
    v = rng.standard_normal((1, 2, 5, 6))
    mask = {"causal": True, "window_left": 2}
    out = A.alibi_attention(q, k, v, mask=mask)
    slopes = A.alibi_slopes(4)
    expected = np.zeros_like(out)
    for h in range(4):
        for i in range(3):
            p = i + 5 - 3
            js = [j for j in range(5) if j <= p and p - j <= 2]
            s = np.array([q[0, h, i] @ k[0, h // 2, j] / np.sqrt(8)
                          - slopes[h] * abs(p - j) for j in js])
            w = np.exp(s - s.max())
            expected[0, h, i] = sum(wj * v[0, h // 2, j]
                                    for wj, j in zip(w / w.sum(), js))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mask", [{"causal": True, "window_left": 2}, {}],
                         ids=["causal_window", "bidirectional"])
def test_reference_vjp_against_finite_differences(mask):
    """The backward reference (the rule a gradient of alibi.attention must
    implement) against central finite differences in f64, with GQA and
    more queries than keys (a row without visible key)."""
    rng = np.random.default_rng(17)
    q = rng.standard_normal((1, 4, 5, 3))
    k = rng.standard_normal((1, 2, 4, 3))
    v = rng.standard_normal((1, 2, 4, 2))
    dout = rng.standard_normal((1, 4, 5, 2))
    grads = A.alibi_attention_vjp(q, k, v, dout, mask=mask)
    args = [q, k, v]
    for index, grad in enumerate(grads):
        def loss(x, index=index):
            xs = list(args)
            xs[index] = x
            return np.sum(A.alibi_attention(*xs, mask=mask) * dout)
        np.testing.assert_allclose(grad, R.finite_difference_grad(loss, args[index]),
                                   rtol=1e-7, atol=1e-8)


# The compiled gradient: rotor-autodiff (seed-args) with the plugin's rule,
# alibi.attention_grad lowered by convert-alibi-to-linalg, against the NumPy
# VJP. Sizes: odd lengths, more queries than keys (rows without a visible
# key), GQA ratios 1..8, head dims 64/80/96/128, value head dims that
# differ; f64, f32 and bf16 (accumulation in f32).
GRAD_CASES = [
    # name, dtype, hq, hkv, d, dv, mask, extras
    ("causal_gqa2_d64", "f64", 4, 2, 64, 64, {"causal": True}, {}),
    ("window_gqa3_h6_d80", "f64", 6, 2, 80, 48,
     {"causal": True, "window_left": 5}, {}),
    ("bidir_mha_slopes", "f64", 3, 3, 64, 64, {},
     {"slopes": [0.7, 0.0, 1.5]}),
    ("chunk_global_gqa4", "f64", 8, 2, 64, 64,
     {"causal": True, "chunk": 5, "global_": 2}, {"max_bias": 4.0}),
    ("causal_gqa2_f32", "f32", 4, 2, 64, 64, {"causal": True}, {}),
    ("window_gqa8_d128_f32", "f32", 8, 1, 128, 96,
     {"causal": True, "window_left": 4}, {}),
    ("causal_gqa2_d96_bf16", "bf16", 4, 2, 96, 96, {"causal": True}, {}),
]


@pytest.mark.parametrize("name,dtype,hq,hkv,d,dv,mask,extra", GRAD_CASES,
                         ids=[c[0] for c in GRAD_CASES])
def test_alibi_attention_grad(differentiate, name, dtype, hq, hkv, d, dv,
                              mask, extra):
    art = differentiate(alibi_module(dtype, hq, hkv, d, dv, mask, **extra),
                        "function=f seed-args=true")
    rng = np.random.default_rng(sum(map(ord, name)) + 1)
    for sq, sk in [(1, 1), (7, 7), (13, 13), (6, 3)]:
        q, qf = prepare(rng.standard_normal((2, hq, sq, d)), dtype)
        k, kf = prepare(rng.standard_normal((2, hkv, sk, d)), dtype)
        v, vf = prepare(rng.standard_normal((2, hkv, sk, dv)), dtype)
        do, dof = prepare(rng.standard_normal((2, hq, sq, dv)), dtype)
        out, dq, dk, dv_ = art.call("f_grad", q, k, v, do)
        refs = A.alibi_attention_vjp(qf, kf, vf, dof, mask=mask, **extra)
        R.assert_close(as_f64(out), A.alibi_attention(qf, kf, vf, mask=mask,
                                                      **extra),
                       dtype, reduction=max(sk, d),
                       err_msg=f"{name} output at Sq={sq}, Sk={sk}")
        for what, got, ref in zip(("dq", "dk", "dv"), (dq, dk, dv_), refs):
            R.assert_close(as_f64(got), ref, dtype,
                           reduction=max(sk, sq, d) * (hq // hkv),
                           err_msg=f"{name} {what} at Sq={sq}, Sk={sk}")


@pytest.mark.parametrize("mask", [{"causal": True, "window_left": 2}, {}],
                         ids=["causal_window", "bidirectional"])
def test_alibi_attention_grad_against_finite_differences(differentiate, mask):
    """The compiled gradient against central finite differences of the
    compiled forward function, in f64, with GQA 2 and more queries than keys."""
    art = differentiate(alibi_module("f64", 4, 2, 5, 3, mask),
                        "function=f seed-args=true")
    rng = np.random.default_rng(23)
    args = [rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((2, 2, 4, 5)),
            rng.standard_normal((2, 2, 4, 3))]
    dout = rng.standard_normal((2, 4, 5, 3))
    _, *grads = art.call("f_grad", *args, dout)
    for index, grad in enumerate(grads):
        def loss(x, index=index):
            xs = list(args)
            xs[index] = x
            (out,) = art.call("f", *xs)
            return float(np.sum(out * dout))
        np.testing.assert_allclose(grad, R.finite_difference_grad(loss, args[index]),
                                   rtol=1e-6, atol=1e-8,
                                   err_msg=f"operand #{index}")
