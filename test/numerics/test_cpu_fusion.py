"""Fused linear epilogues (rotor-fuse-linear, on by default in rotorc) on the
CPU against the float64 reference of the unfused ops.

Each module is written unfused; rotorc fuses it (the activation, the
residual add, the SwiGLU pair) and the result must match the reference of
the original ops. Every case also runs with the fusion off and with the
threads off, which must give the same numerics. Tolerances:
rotor_ref.tolerances(dtype, reduction=K).
"""

from __future__ import annotations

import numpy as np
import pytest

import rotor_ref as R
from test_cpu_attention import as_f64, prepare

LENGTHS = [1, 7, 37, 257]


def t(shape, dtype):
    return "tensor<" + "x".join("?" if d is None else str(d) for d in shape) + f"x{dtype}>"


PIPELINES = [(), ("--fusion=false",), ("--parallel=false",)]
PIPELINE_IDS = ["fused", "unfused", "sequential"]


@pytest.mark.parametrize("flags", PIPELINES, ids=PIPELINE_IDS)
@pytest.mark.parametrize("dtype,k,n,act", [
    ("f32", 64, 96, "silu"), ("f32", 80, 130, "relu"), ("bf16", 128, 64, "gelu"),
    ("f32", 33, 70, "gelu_tanh"), ("f64", 48, 65, "none"),
])
def test_linear_activation_residual(compile_mlir, flags, dtype, k, n, act):
    xt, wt, bt, ht = t((2, None, k), dtype), t((n, k), dtype), t((n,), dtype), t((2, None, n), dtype)
    act_op = {"silu": "rotor.silu %0 : " + ht, "relu": "rotor.relu %0 : " + ht,
              "gelu": "rotor.gelu %0 : " + ht,
              "gelu_tanh": "rotor.gelu %0 {approximate = #rotor.gelu_approximation<tanh>} : " + ht,
              "none": None}[act]
    body = f"  %0 = rotor.linear %x, %w bias(%b : {bt}) : {xt}, {wt}\n"
    last = "%0"
    if act_op:
        body += f"  %1 = {act_op}\n"
        last = "%1"
    body += f"  %2 = rotor.add %h, {last} : {ht}, {ht}\n"
    art = compile_mlir(f"func.func @f(%x: {xt}, %w: {wt}, %b: {bt}, %h: {ht}) -> {ht} {{\n"
                       f"{body}  return %2 : {ht}\n}}\n", *flags)
    rng = np.random.default_rng(k + n)
    w, wf = prepare(rng.standard_normal((n, k)) / np.sqrt(k), dtype)
    b, bf = prepare(rng.standard_normal(n), dtype)
    for s in LENGTHS:
        x, xf = prepare(rng.standard_normal((2, s, k)), dtype)
        h, hf = prepare(rng.standard_normal((2, s, n)), dtype)
        (y,) = art.call("f", x, w, b, h)
        ref = R.linear(xf, wf, bf)
        ref = {"silu": R.silu, "relu": R.relu, "gelu": R.gelu,
               "gelu_tanh": lambda v: R.gelu(v, "tanh"), "none": lambda v: v}[act](ref)
        R.assert_close(as_f64(y), ref + hf, dtype, reduction=k,
                       err_msg=f"{act} at length {s}")


@pytest.mark.parametrize("flags", PIPELINES, ids=PIPELINE_IDS)
@pytest.mark.parametrize("dtype,k,n", [("f32", 64, 176), ("bf16", 96, 64), ("f32", 40, 33)])
def test_gate_up(compile_mlir, flags, dtype, k, n):
    xt, wt, ot = t((1, None, k), dtype), t((n, k), dtype), t((1, None, n), dtype)
    art = compile_mlir(
        f"func.func @f(%x: {xt}, %g: {wt}, %u: {wt}) -> {ot} {{\n"
        f"  %0 = rotor.linear %x, %g : {xt}, {wt}\n"
        f"  %1 = rotor.linear %x, %u : {xt}, {wt}\n"
        f"  %2 = rotor.swiglu %0, %1 : {ot}\n"
        f"  return %2 : {ot}\n}}\n", *flags)
    rng = np.random.default_rng(n)
    g, gf = prepare(rng.standard_normal((n, k)) / np.sqrt(k), dtype)
    u, uf = prepare(rng.standard_normal((n, k)) / np.sqrt(k), dtype)
    for s in LENGTHS:
        x, xf = prepare(rng.standard_normal((1, s, k)), dtype)
        (y,) = art.call("f", x, g, u)
        ref = R.swiglu(R.linear(xf, gf), R.linear(xf, uf))
        R.assert_close(as_f64(y), ref, dtype, reduction=k, err_msg=f"gate_up at length {s}")


# RMS norm in the prologue of the linear kernels that consume it (the norm
# weight multiplied into the packed weights, the row scale applied to the
# accumulators): q/k/v-like projections with a bias on one, the SwiGLU pair,
# and a kernel with both a prologue and an epilogue. Odd sizes: K not a
# multiple of the vector width, N not a multiple of the feature block.
@pytest.mark.parametrize("flags", PIPELINES, ids=PIPELINE_IDS)
@pytest.mark.parametrize("dtype,k,n", [
    ("f32", 64, 96), ("bf16", 128, 70), ("f32", 33, 130), ("f64", 80, 65),
])
def test_norm_prologue_projections(compile_mlir, flags, dtype, k, n):
    xt, gt = t((2, None, k), dtype), t((k,), dtype)
    wt, bt, yt = t((n, k), dtype), t((n,), dtype), t((2, None, n), dtype)
    wt2, yt2 = t((k, k), dtype), t((2, None, k), dtype)
    art = compile_mlir(
        f"func.func @f(%x: {xt}, %g: {gt}, %wq: {wt2}, %wk: {wt}, %wv: {wt}, %bv: {bt})"
        f" -> ({yt2}, {yt}, {yt}) {{\n"
        f"  %n = rotor.rms_norm %x, %g {{epsilon = 1.0e-05 : f64}} : {xt}, {gt}\n"
        f"  %q = rotor.linear %n, %wq : {xt}, {wt2}\n"
        f"  %k = rotor.linear %n, %wk : {xt}, {wt}\n"
        f"  %v = rotor.linear %n, %wv bias(%bv : {bt}) : {xt}, {wt}\n"
        f"  return %q, %k, %v : {yt2}, {yt}, {yt}\n}}\n", *flags)
    rng = np.random.default_rng(3 * k + n)
    g, gf = prepare(1.0 + 0.5 * rng.standard_normal(k), dtype)
    wq, wqf = prepare(rng.standard_normal((k, k)) / np.sqrt(k), dtype)
    wk, wkf = prepare(rng.standard_normal((n, k)) / np.sqrt(k), dtype)
    wv, wvf = prepare(rng.standard_normal((n, k)) / np.sqrt(k), dtype)
    bv, bvf = prepare(rng.standard_normal(n), dtype)
    for s in LENGTHS:
        # Rows of very different scales: the per-row normalization matters.
        scale = np.exp(rng.uniform(-3, 3, size=(2, s, 1)))
        x, xf = prepare(scale * rng.standard_normal((2, s, k)), dtype)
        q, kk, v = art.call("f", x, g, wq, wk, wv, bv)
        normed = R.rms_norm(xf, gf, 1e-5)
        for got, ref, name in [(q, R.linear(normed, wqf), "q"),
                               (kk, R.linear(normed, wkf), "k"),
                               (v, R.linear(normed, wvf, bvf), "v")]:
            R.assert_close(as_f64(got), ref, dtype, reduction=k,
                           err_msg=f"{name} at length {s}")


@pytest.mark.parametrize("flags", PIPELINES, ids=PIPELINE_IDS)
@pytest.mark.parametrize("dtype,k,n", [("f32", 64, 176), ("bf16", 96, 64), ("f32", 40, 33)])
def test_norm_prologue_gate_up(compile_mlir, flags, dtype, k, n):
    xt, gt = t((1, None, k), dtype), t((k,), dtype)
    wt, ot = t((n, k), dtype), t((1, None, n), dtype)
    art = compile_mlir(
        f"func.func @f(%x: {xt}, %s: {gt}, %g: {wt}, %u: {wt}) -> {ot} {{\n"
        f"  %n = rotor.rms_norm %x, %s {{epsilon = 1.0e-06 : f64}} : {xt}, {gt}\n"
        f"  %0 = rotor.linear %n, %g : {xt}, {wt}\n"
        f"  %1 = rotor.linear %n, %u : {xt}, {wt}\n"
        f"  %2 = rotor.swiglu %0, %1 : {ot}\n"
        f"  return %2 : {ot}\n}}\n", *flags)
    rng = np.random.default_rng(7 * n + k)
    sv, sf = prepare(1.0 + 0.5 * rng.standard_normal(k), dtype)
    g, gf = prepare(rng.standard_normal((n, k)) / np.sqrt(k), dtype)
    u, uf = prepare(rng.standard_normal((n, k)) / np.sqrt(k), dtype)
    for s in LENGTHS:
        x, xf = prepare(rng.standard_normal((1, s, k)) * 4.0, dtype)
        (y,) = art.call("f", x, sv, g, u)
        normed = R.rms_norm(xf, sf, 1e-6)
        ref = R.swiglu(R.linear(normed, gf), R.linear(normed, uf))
        R.assert_close(as_f64(y), ref, dtype, reduction=k,
                       err_msg=f"norm gate_up at length {s}")


@pytest.mark.parametrize("flags", PIPELINES, ids=PIPELINE_IDS)
@pytest.mark.parametrize("dtype,k,n", [("f32", 72, 100), ("bf16", 64, 64)])
def test_norm_prologue_with_epilogue(compile_mlir, flags, dtype, k, n):
    xt, gt, wt, bt, ht = (t((3, None, k), dtype), t((k,), dtype), t((n, k), dtype),
                          t((n,), dtype), t((3, None, n), dtype))
    art = compile_mlir(
        f"func.func @f(%x: {xt}, %s: {gt}, %w: {wt}, %b: {bt}, %h: {ht}) -> {ht} {{\n"
        f"  %n = rotor.rms_norm %x, %s {{epsilon = 1.0e-05 : f64}} : {xt}, {gt}\n"
        f"  %0 = rotor.linear %n, %w bias(%b : {bt}) : {xt}, {wt}\n"
        f"  %1 = rotor.silu %0 : {ht}\n"
        f"  %2 = rotor.add %h, %1 : {ht}, {ht}\n"
        f"  return %2 : {ht}\n}}\n", *flags)
    rng = np.random.default_rng(k * n)
    sv, sf = prepare(1.0 + 0.5 * rng.standard_normal(k), dtype)
    w, wf = prepare(rng.standard_normal((n, k)) / np.sqrt(k), dtype)
    b, bf = prepare(rng.standard_normal(n), dtype)
    for s in LENGTHS:
        x, xf = prepare(rng.standard_normal((3, s, k)) * 0.01, dtype)
        h, hf = prepare(rng.standard_normal((3, s, n)), dtype)
        (y,) = art.call("f", x, sv, w, b, h)
        ref = R.silu(R.linear(R.rms_norm(xf, sf, 1e-5), wf, bf)) + hf
        R.assert_close(as_f64(y), ref, dtype, reduction=k,
                       err_msg=f"norm + epilogue at length {s}")
