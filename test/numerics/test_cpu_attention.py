"""rotor.attention on the CPU against the float64 reference.

Each configuration is compiled once, with a dynamic sequence length, and run
at several lengths (1, 7, 37, 257 and, for a few, 1000), so one artifact
serves every length. Sizes are awkward on purpose: head dims 64/80/96/128,
GQA ratios 1/2/4/7, windows and chunks that do not divide the lengths,
dilation 1 to 3, 0 to 16 global tokens.

Tolerances (rotor_ref.tolerances): f32 rtol/atol 2e-5 scaled by
sqrt(reduction) on atol, bf16 2e-2 (inputs rounded to bf16, compared to the
reference on the rounded inputs).
"""

from __future__ import annotations

import numpy as np
import pytest

import rotor_ref as R
from rotor_runtime import BF16

LENGTHS = [1, 7, 37, 257]


def mask_attr(m: dict) -> str:
    parts = []
    if m.get("causal"):
        parts.append("causal = true")
    for key in ("window_left", "window_right"):
        if m.get(key) is not None:
            parts.append(f"{key} = {m[key]}")
    if m.get("dilation", 1) != 1:
        parts.append(f"dilation = {m['dilation']}")
    if m.get("chunk") is not None:
        parts.append(f"chunk = {m['chunk']}")
    if m.get("global_", 0):
        parts.append(f"global = {m['global_']}")
    return "#rotor.mask<" + ", ".join(parts) + ">"


def attention_module(dtype, hq, hkv, d, dv, mask, *, softcap=None, buckets=None,
                     max_distance=128, lse=False, dyn_q="?", dyn_k="?", batch=2,
                     bias_dtype="f32"):
    t = dtype
    qt = f"tensor<{batch}x{hq}x{dyn_q}x{d}x{t}>"
    kt = f"tensor<{batch}x{hkv}x{dyn_k}x{d}x{t}>"
    vt = f"tensor<{batch}x{hkv}x{dyn_k}x{dv}x{t}>"
    ot = f"tensor<{batch}x{hq}x{dyn_q}x{dv}x{t}>"
    lt = f"tensor<{batch}x{hq}x{dyn_q}x{'f64' if t == 'f64' else 'f32'}>"
    attrs = [f"mask = {mask_attr(mask)}"]
    if softcap:
        attrs.append(f"softcap = {float(softcap)} : f64")
    if buckets:
        attrs.append(f"bias_max_distance = {max_distance} : i64")
    args = f"%q: {qt}, %k: {kt}, %v: {vt}"
    bias = ""
    if buckets:
        args += f", %t: tensor<{hq}x{buckets}x{bias_dtype}>"
        bias = f" bias(%t : tensor<{hq}x{buckets}x{bias_dtype}>)"
    results = f"{ot}, {lt}" if lse else ot
    names = "%o, %l" if lse else "%o"
    return (f"func.func @f({args}) -> ({results}) {{\n"
            f"  {names} = rotor.attention %q, %k, %v{bias}{' return_lse' if lse else ''}"
            f" {{{', '.join(attrs)}}} : {qt}, {kt}, {vt}\n"
            f"  return {names} : {results}\n}}\n")


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
    return x.to_float() if isinstance(x, BF16) else x.astype(np.float64)


CASES = [
    # name, dtype, hq, hkv, d, dv, mask, extras
    ("full_mha_d64", "f32", 2, 2, 64, 64, {}, {}),
    ("causal_gqa2_d80", "f32", 4, 2, 80, 80, {"causal": True}, {}),
    ("causal_gqa7_d96", "f32", 7, 1, 96, 96, {"causal": True}, {"lse": True}),
    ("window_gqa4_d128", "f32", 8, 2, 128, 128, {"causal": True, "window_left": 12}, {}),
    ("window_lr_d64", "f32", 2, 1, 64, 48, {"window_left": 5, "window_right": 3}, {}),
    ("dilation2", "f32", 4, 2, 64, 64, {"causal": True, "window_left": 6, "dilation": 2}, {}),
    ("dilation3_bidir", "f32", 2, 2, 64, 64, {"window_left": 4, "window_right": 2, "dilation": 3}, {}),
    ("chunk5_causal", "f32", 4, 4, 64, 64, {"causal": True, "chunk": 5}, {"lse": True}),
    ("chunk9_bidir", "f32", 2, 1, 80, 80, {"chunk": 9}, {}),
    ("hybrid_global3", "f32", 4, 2, 64, 64, {"causal": True, "window_left": 4, "global_": 3}, {}),
    ("hybrid_global16", "f32", 2, 1, 96, 96, {"causal": True, "window_left": 10, "global_": 16}, {}),
    ("global_bidir", "f32", 2, 2, 64, 64, {"window_left": 3, "window_right": 3, "global_": 2}, {}),
    # Global tokens beyond the local window of the first queries.
    ("global16_bidir", "f32", 2, 1, 64, 64, {"window_left": 2, "window_right": 1, "global_": 16}, {}),
    ("softcap", "f32", 2, 1, 64, 64, {"causal": True}, {"softcap": 5.0}),
    ("t5_bias_bidir", "f32", 4, 2, 64, 64, {}, {"buckets": 32, "max_distance": 20}),
    ("t5_bias_causal", "f32", 2, 2, 64, 64, {"causal": True}, {"buckets": 16, "max_distance": 40}),
    ("causal_f64", "f64", 4, 2, 64, 64, {"causal": True, "window_left": 9}, {"lse": True}),
    ("causal_bf16_d128", "bf16", 8, 2, 128, 128, {"causal": True}, {}),
    ("window_bf16_d64", "bf16", 4, 1, 64, 64, {"causal": True, "window_left": 20, "dilation": 2}, {}),
]


@pytest.mark.parametrize("name,dtype,hq,hkv,d,dv,mask,extra", CASES,
                         ids=[c[0] for c in CASES])
def test_attention(compile_mlir, name, dtype, hq, hkv, d, dv, mask, extra):
    art = compile_mlir(attention_module(dtype, hq, hkv, d, dv, mask, **extra))
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    lengths = LENGTHS + ([1000] if name in ("causal_gqa2_d80", "hybrid_global3") else [])
    for s in lengths:
        q, qf = prepare(rng.standard_normal((2, hq, s, d)), dtype)
        k, kf = prepare(rng.standard_normal((2, hkv, s, d)), dtype)
        v, vf = prepare(rng.standard_normal((2, hkv, s, dv)), dtype)
        inputs = [q, k, v]
        ref_kwargs = dict(mask=mask, softcap=extra.get("softcap"),
                          return_lse=extra.get("lse", False))
        if extra.get("buckets"):
            table = rng.standard_normal((hq, extra["buckets"])).astype(np.float32)
            inputs.append(table)
            ref_kwargs.update(bias=table.astype(np.float64),
                              bias_max_distance=extra["max_distance"])
        outs = art.call("f", *inputs)
        ref = R.attention(qf, kf, vf, **ref_kwargs)
        refs = ref if extra.get("lse") else (ref,)
        R.assert_close(as_f64(outs[0]), refs[0], dtype, reduction=s,
                       err_msg=f"{name} output at length {s}")
        if extra.get("lse"):
            R.assert_close(outs[1], refs[1], "f64" if dtype == "f64" else "f32",
                           reduction=s, err_msg=f"{name} lse at length {s}")


def test_attention_decode(compile_mlir):
    """Fewer queries than keys: queries are aligned to the end of the keys."""
    art = compile_mlir(attention_module("f32", 4, 2, 64, 64,
                                        {"causal": True, "window_left": 7}))
    rng = np.random.default_rng(7)
    for sq, sk in [(1, 1), (1, 37), (3, 40), (5, 5)]:
        q = rng.standard_normal((2, 4, sq, 64)).astype(np.float32)
        k = rng.standard_normal((2, 2, sk, 64)).astype(np.float32)
        v = rng.standard_normal((2, 2, sk, 64)).astype(np.float32)
        (o,) = art.call("f", q, k, v)
        ref = R.attention(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64),
                          mask={"causal": True, "window_left": 7})
        R.assert_close(o, ref, "f32", reduction=sk, err_msg=f"decode {sq}x{sk}")


def test_attention_global_before_keys(compile_mlir):
    """More queries than keys with global tokens and chunks: the queries
    before every key still see the global keys."""
    mask = {"chunk": 4, "global_": 2}
    art = compile_mlir(attention_module("f32", 2, 2, 64, 64, mask))
    rng = np.random.default_rng(11)
    for sq, sk in [(9, 4), (70, 4), (100, 37)]:
        q = rng.standard_normal((2, 2, sq, 64)).astype(np.float32)
        k = rng.standard_normal((2, 2, sk, 64)).astype(np.float32)
        v = rng.standard_normal((2, 2, sk, 64)).astype(np.float32)
        (o,) = art.call("f", q, k, v)
        ref = R.attention(q.astype(np.float64), k.astype(np.float64),
                          v.astype(np.float64), mask=mask)
        R.assert_close(o, ref, "f32", reduction=sk, err_msg=f"{sq}x{sk}")


def test_attention_fully_masked_rows(compile_mlir):
    """More queries than keys with a causal mask: the first queries see no
    key; their output is 0 and their LSE -inf, never NaN."""
    art = compile_mlir(attention_module("f32", 2, 2, 64, 64, {"causal": True}, lse=True))
    rng = np.random.default_rng(3)
    q = rng.standard_normal((2, 2, 9, 64)).astype(np.float32)
    k = rng.standard_normal((2, 2, 4, 64)).astype(np.float32)
    v = rng.standard_normal((2, 2, 4, 64)).astype(np.float32)
    o, lse = art.call("f", q, k, v)
    assert not np.isnan(o).any() and not np.isnan(lse).any()
    ref, ref_lse = R.attention(q.astype(np.float64), k.astype(np.float64),
                               v.astype(np.float64), mask={"causal": True}, return_lse=True)
    R.assert_close(o, ref, "f32", reduction=4)
    assert np.array_equal(np.isneginf(lse), np.isneginf(ref_lse))
    assert np.isneginf(lse[:, :, :5]).all() and (o[:, :, :5] == 0).all()
