"""rotor.rope, rotor.givens and rotor.rotate on the CPU against the float64
reference, each compiled once with a dynamic sequence length and run at
several lengths.

Tolerances: rotor_ref.tolerances(dtype) (f32 2e-5, bf16 2e-2 on inputs
rounded to bf16; rotate and givens use reduction = head_dim).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import rotor_ref as R
from test_cpu_attention import as_f64, prepare

LENGTHS = [1, 7, 37, 257, 1000]


def scaling_attr(s):
    if s is None:
        return None
    fields = [f"kind = {s['kind']}"]
    for key in ("factor", "beta_fast", "beta_slow", "low_freq_factor",
                "high_freq_factor", "attention_factor"):
        if key in s:
            fields.append(f"{key} = {float(s[key])}")
    if "original_max_position" in s:
        fields.append(f"original_max_position = {s['original_max_position']}")
    return "#rotor.rope_scaling<" + ", ".join(fields) + ">"


ROPE_CASES = [
    # name, dtype, heads, D, rotary_dim, layout, base, scaling, batch positions
    ("llama_d64", "f32", 3, 64, None, "rotate_half", 10000.0, None, False),
    ("gptj_d80", "f32", 2, 80, None, "interleaved", 10000.0, None, False),
    ("partial_d96", "f32", 2, 96, 32, "rotate_half", 500000.0, None, False),
    ("partial_gptj", "f32", 2, 64, 24, "interleaved", 10000.0, None, True),
    ("linear", "f32", 2, 64, None, "rotate_half", 10000.0,
     {"kind": "linear", "factor": 4.0}, False),
    ("dynamic_ntk", "f32", 2, 128, None, "rotate_half", 10000.0,
     {"kind": "dynamic_ntk", "factor": 2.0, "original_max_position": 64}, True),
    ("yarn", "f32", 2, 64, None, "rotate_half", 10000.0,
     {"kind": "yarn", "factor": 8.0, "original_max_position": 128}, False),
    ("llama3", "f32", 2, 128, None, "rotate_half", 500000.0,
     {"kind": "llama3", "factor": 8.0, "original_max_position": 256,
      "low_freq_factor": 1.0, "high_freq_factor": 4.0}, False),
    ("bf16", "bf16", 4, 64, None, "rotate_half", 10000.0, None, False),
    ("f64", "f64", 2, 64, 48, "interleaved", 10000.0,
     {"kind": "yarn", "factor": 4.0, "original_max_position": 100, "beta_fast": 16.0,
      "beta_slow": 2.0, "attention_factor": 1.2}, True),
]


def rope_module(dtype, heads, d, rotary_dim, layout, base, scaling, batch_pos,
                learned=False):
    xt = f"tensor<2x{heads}x?x{d}x{dtype}>"
    pt = "tensor<2x?xi64>" if batch_pos else "tensor<?xi64>"
    attrs = []
    if not learned:
        attrs.append(f"base = {base} : f64")
    if rotary_dim is not None:
        attrs.append(f"rotary_dim = {rotary_dim} : i64")
    if layout != "rotate_half":
        attrs.append(f"layout = #rotor.rope_layout<{layout}>")
    if scaling:
        attrs.append(f"scaling = {scaling_attr(scaling)}")
    args = f"%x: {xt}, %p: {pt}" + (", %b: tensor<f32>" if learned else "")
    base_op = " base(%b : tensor<f32>)" if learned else ""
    return (f"func.func @f({args}) -> {xt} {{\n"
            f"  %0 = rotor.rope %x, %p{base_op} {{{', '.join(attrs)}}} : {xt}, {pt}\n"
            f"  return %0 : {xt}\n}}\n")


@pytest.mark.parametrize("case", ROPE_CASES, ids=[c[0] for c in ROPE_CASES])
def test_rope(compile_mlir, case):
    name, dtype, heads, d, rd, layout, base, scaling, batch_pos = case
    art = compile_mlir(rope_module(dtype, heads, d, rd, layout, base, scaling, batch_pos))
    rng = np.random.default_rng(len(name))
    for s in LENGTHS:
        x, xf = prepare(rng.standard_normal((2, heads, s, d)), dtype)
        if batch_pos:
            pos = np.stack([np.arange(s), np.arange(s) + 17]).astype(np.int64)
        else:
            pos = np.arange(s, dtype=np.int64) * 3 + 5
        (y,) = art.call("f", x, pos)
        ref = R.rope(xf, pos, base=base, rotary_dim=rd, layout=layout, scaling=scaling)
        R.assert_close(as_f64(y), ref, dtype, err_msg=f"{name} at length {s}")


def test_rope_learned_base(compile_mlir):
    art = compile_mlir(rope_module("f32", 2, 64, None, "rotate_half", 0, None, False,
                                   learned=True))
    rng = np.random.default_rng(11)
    for base in (100.0, 10000.0, 1.0e6):
        x = rng.standard_normal((2, 2, 37, 64)).astype(np.float32)
        pos = np.arange(37, dtype=np.int64)
        (y,) = art.call("f", x, pos, np.array(base, dtype=np.float32))
        R.assert_close(y, R.rope(x, pos, base=base), "f32", err_msg=f"base {base}")


def test_rope_long_positions(compile_mlir):
    """Angles at positions near 10^6 stay accurate: the angle is formed in
    f64 before cos/sin."""
    art = compile_mlir(rope_module("f32", 1, 128, None, "rotate_half", 10000.0, None, False))
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 1, 8, 128)).astype(np.float32)
    pos = (np.arange(8) + 999_990).astype(np.int64)
    (y,) = art.call("f", x, pos)
    R.assert_close(y, R.rope(x, pos), "f32")


@pytest.mark.parametrize("dtype,d,pairs", [
    ("f32", 64, [(0, 1), (2, 63), (5, 9), (9, 5), (1, 0)]),
    ("f32", 80, [(i, 79 - i) for i in range(32)]),
    ("bf16", 64, [(3, 4), (10, 50)]),
    ("f64", 96, [(0, 95), (47, 48), (0, 48)]),
])
def test_givens(compile_mlir, dtype, d, pairs):
    n = len(pairs)
    xt = f"tensor<2x3x?x{d}x{dtype}>"
    at = f"tensor<{n}x{dtype}>"
    pair_text = ", ".join(f"({i}, {j})" for i, j in pairs)
    art = compile_mlir(
        f"func.func @f(%x: {xt}, %t: {at}) -> {xt} {{\n"
        f"  %0 = rotor.givens %x, %t pairs [{pair_text}] : {xt}, {at}\n"
        f"  return %0 : {xt}\n}}\n")
    rng = np.random.default_rng(d + n)
    for s in LENGTHS[:4]:
        x, xf = prepare(rng.standard_normal((2, 3, s, d)), dtype)
        t, tf = prepare(rng.uniform(-np.pi, np.pi, n), dtype)
        (y,) = art.call("f", x, t)
        R.assert_close(as_f64(y), R.givens(xf, tf, pairs), dtype, reduction=d,
                       err_msg=f"givens at length {s}")


@pytest.mark.parametrize("dtype,d", [("f32", 64), ("f32", 80), ("bf16", 128), ("f64", 96)])
def test_rotate(compile_mlir, dtype, d):
    xt = f"tensor<2x?x{d}x{dtype}>"
    rt = f"tensor<{d}x{d}x{dtype}>"
    art = compile_mlir(
        f"func.func @f(%x: {xt}, %r: {rt}) -> {xt} {{\n"
        f"  %0 = rotor.rotate %x, %r : {xt}, {rt}\n"
        f"  return %0 : {xt}\n}}\n")
    rng = np.random.default_rng(d)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    r, rf = prepare(q, dtype)
    for s in LENGTHS[:4]:
        x, xf = prepare(rng.standard_normal((2, s, d)), dtype)
        (y,) = art.call("f", x, r)
        R.assert_close(as_f64(y), R.rotate(xf, rf), dtype, reduction=d,
                       err_msg=f"rotate at length {s}")


CHAINS = [
    # name, dtype, D, steps (("givens", pairs) or ("rotate",)), rows per head
    ("givens_rotate_f32", "f32", 64, [("givens", [(0, 1), (2, 63), (5, 9)]), ("rotate",)]),
    ("givens_rotate_bf16", "bf16", 128,
     [("givens", [(2 * i, 2 * i + 1 + (i % 3) * 2) for i in range(32)]), ("rotate",)]),
    ("rotate_rotate_f64", "f64", 96, [("rotate",), ("rotate",)]),
    ("rotate_givens_f32", "f32", 80, [("rotate",), ("givens", [(7, 70), (0, 79)])]),
    ("three_f32", "f32", 64, [("givens", [(1, 2)]), ("rotate",), ("rotate",)]),
]


@pytest.mark.parametrize("case", CHAINS, ids=[c[0] for c in CHAINS])
def test_rotation_chain(compile_mlir, case):
    """Givens chains and rotation matrices in a row, which
    rotor-compose-rotations multiplies into one D x D matrix (the IR is
    checked for a single product over x), against the reference applying
    them one by one; learned angles and matrices, dynamic length."""
    name, dtype, d, steps = case
    xt = f"tensor<2x3x?x{d}x{dtype}>"
    rt = f"tensor<{d}x{d}x{dtype}>"
    args, body, value = [f"%x: {xt}"], [], "%x"
    for k, step in enumerate(steps):
        if step[0] == "givens":
            at = f"tensor<{len(step[1])}x{dtype}>"
            args.append(f"%a{k}: {at}")
            pairs = ", ".join(f"({i}, {j})" for i, j in step[1])
            body.append(f"  %y{k} = rotor.givens {value}, %a{k} pairs [{pairs}] : {xt}, {at}")
        else:
            args.append(f"%r{k}: {rt}")
            body.append(f"  %y{k} = rotor.rotate {value}, %r{k} : {xt}, {rt}")
        value = f"%y{k}"
    text = (f"func.func @f({', '.join(args)}) -> {xt} {{\n" + "\n".join(body) +
            f"\n  return {value} : {xt}\n}}\n")
    opt = subprocess.run([compile_mlir.rotorc, "-", "-emit=opt", "-q"], input=text,
                         capture_output=True, text=True, check=True).stdout
    over_x = [line for line in opt.splitlines() if "rotor." in line and f": {xt}, " in line]
    assert len(over_x) == 1 and "rotor.rotate %arg0" in over_x[0], \
        f"not composed into one product:\n{opt}"
    art = compile_mlir(text)
    rng = np.random.default_rng(d + len(steps))
    params, params_f = [], []
    for step in steps:
        if step[0] == "givens":
            p, pf = prepare(rng.uniform(-np.pi, np.pi, len(step[1])), dtype)
        else:
            q, _ = np.linalg.qr(rng.standard_normal((d, d)))
            p, pf = prepare(q, dtype)
        params.append(p)
        params_f.append(pf)
    for s in LENGTHS[:4]:
        x, xf = prepare(rng.standard_normal((2, 3, s, d)), dtype)
        (y,) = art.call("f", x, *params)
        ref = xf
        for step, pf in zip(steps, params_f):
            ref = R.givens(ref, pf, step[1]) if step[0] == "givens" else R.rotate(ref, pf)
        # A chain of k maps: each rounds (or, composed, its matrix does).
        R.assert_close(as_f64(y), ref, dtype, reduction=d * len(steps),
                       err_msg=f"{name} at length {s}")
