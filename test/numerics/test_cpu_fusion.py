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
