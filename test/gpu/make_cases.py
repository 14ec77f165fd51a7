#!/usr/bin/env python3
"""Builds the GPU numerics cases: compiles rotor IR for the CUDA target here
(rotorc needs MLIR; the device machine has none) and stores, per case, the
inputs and the float64 NumPy reference outputs (test/numerics/rotor_ref.py,
independent of the code under test). test/gpu/run_cases.py runs them on the
GPU through the runtime and compares with the references and with PyTorch.

All op cases are entries of one module, so one nvcc run compiles every
kernel. Sizes are awkward on purpose: odd and non-multiple-of-tile sequence
lengths, head dims 64/80/96/128, GQA ratios 1..8, windows and chunks that do
not divide the length, dilation, global tokens, decode shapes (Sq < Sk).

Usage: make_cases.py --rotorc build/bin/rotorc --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "numerics"))
sys.path.insert(0, HERE)

import rotor_ref as R  # noqa: E402
import grad_ref as G  # noqa: E402
from rotor_runtime import BF16  # noqa: E402
from test_cpu_attention import attention_module, mask_attr  # noqa: E402

RNG = np.random.default_rng(20261122)


def rounded(x, dtype):
    """(kernel input, f64 copy of what the kernel sees)."""
    x = np.asarray(x, dtype=np.float64)
    if dtype == "f32":
        return x.astype(np.float32), x.astype(np.float32).astype(np.float64)
    if dtype == "f64":
        return x, x
    if dtype == "bf16":
        b = BF16.from_float(x)
        return b, b.to_float()
    if dtype == "f16":
        h = x.astype(np.float16)
        return h, h.astype(np.float64)
    raise ValueError(dtype)


class Cases:
    def __init__(self):
        self.funcs = []
        self.cases = []

    def add(self, name, func_text, inputs, expected, tol, torch=None):
        """`func_text` defines @NAME; `inputs` kernel arrays; `expected`
        f64 arrays; `tol` (rtol, atol) per output."""
        self.funcs.append(func_text.replace("@f(", f"@{name}("))
        self.cases.append({"name": name, "inputs": inputs,
                           "expected": expected, "tol": tol, "torch": torch})


def attention_cases(c: Cases):
    configs = [
        # name, dtype, B, hq, hkv, d, sq, sk, mask, extras
        ("attn_causal_d128_gqa4", "bf16", 2, 8, 2, 128, 257, 257,
         {"causal": True}, {}),
        ("attn_window31_d64", "bf16", 1, 4, 4, 64, 100, 100,
         {"causal": True, "window_left": 31}, {}),
        ("attn_dilated_d80_gqa7", "bf16", 1, 7, 1, 80, 77, 77,
         {"causal": True, "window_left": 16, "dilation": 2}, {}),
        ("attn_chunk24_d96_f16", "f16", 2, 6, 3, 96, 101, 101,
         {"causal": True, "chunk": 24}, {}),
        ("attn_hybrid_d128", "bf16", 1, 4, 2, 128, 129, 129,
         {"causal": True, "window_left": 32, "global_": 4}, {}),
        ("attn_full_softcap_lse_d64", "bf16", 2, 4, 2, 64, 63, 63,
         {}, {"softcap": 30.0, "lse": True}),
        ("attn_decode_window40", "bf16", 2, 8, 2, 64, 1, 99,
         {"causal": True, "window_left": 40}, {"static_q": True}),
        ("attn_bias_f32_d64", "f32", 1, 4, 2, 64, 45, 45,
         {"causal": True}, {"buckets": 16, "max_distance": 64}),
        # A bf16 table (a bf16 model's relative_bias.weight): widened to f32
        # on the device before the tensor-core kernel reads it.
        ("attn_bias_bf16_table_d128_gqa4", "bf16", 1, 8, 2, 128, 133, 133,
         {"causal": True, "window_left": 70}, {"buckets": 32, "max_distance": 100,
                                               "bias_dtype": "bf16"}),
        ("attn_prefix_sq5_sk300", "bf16", 1, 4, 1, 128, 5, 300,
         {"causal": True}, {}),
        ("attn_causal_gqa8_s1000", "bf16", 1, 8, 1, 128, 1000, 1000,
         {"causal": True}, {}),
        ("attn_masked_rows", "bf16", 1, 2, 2, 64, 40, 40,
         {"causal": True, "window_left": 3, "dilation": 4}, {"sq_gt": True}),
    ]
    for name, dt, b, hq, hkv, d, sq, sk, mask, ex in configs:
        if ex.get("sq_gt"):
            sq, sk = 40, 25  # early queries see no key: rows of zeros
        text = attention_module(dt, hq, hkv, d, d, mask,
                                softcap=ex.get("softcap"),
                                buckets=ex.get("buckets"),
                                max_distance=ex.get("max_distance", 128),
                                lse=ex.get("lse", False),
                                dyn_q=str(sq) if ex.get("static_q") else "?",
                                batch=b, bias_dtype=ex.get("bias_dtype", "f32"))
        q, q64 = rounded(RNG.standard_normal((b, hq, sq, d)), dt)
        k, k64 = rounded(RNG.standard_normal((b, hkv, sk, d)), dt)
        v, v64 = rounded(RNG.standard_normal((b, hkv, sk, d)), dt)
        inputs = [q, k, v]
        bias = None
        if ex.get("buckets"):
            bias, bias64 = rounded(RNG.standard_normal((hq, ex["buckets"])),
                                   ex.get("bias_dtype", "f32"))
            inputs.append(bias)
        out = R.attention(q64, k64, v64, mask=mask, softcap=ex.get("softcap"),
                          bias=None if bias is None else bias64,
                          bias_max_distance=ex.get("max_distance", 128),
                          return_lse=ex.get("lse", False))
        outs = list(out) if ex.get("lse") else [out]
        tol = [R.tolerances(dt, d) for _ in outs]
        if ex.get("lse"):
            tol[1] = R.tolerances("f32", d) if dt == "f32" else (2e-2, 5e-2)
        torch = None
        if not ex.get("buckets") and not ex.get("softcap"):
            torch = {"kind": "attention", "mask": mask}
        c.add(name, text, inputs, outs, tol, torch)


def static_cache_cases(c: Cases):
    """Static KV caches: rotor.cache_write in place, and attention with
    query_start over caches whose rows past the existing keys hold NaN (a
    kernel that read one would return NaN): one decoding query (the CUDA-core
    kernel) and a chunk of queries (tensor cores)."""
    from test_cpu_static_cache import cache_write_module, static_attention_module
    for name, dt, hq, hkv, d, sq, cap, start, mask in [
            ("attn_static_decode_bf16", "bf16", 8, 2, 128, 1, 120, 77,
             {"causal": True, "window_left": 31}),
            ("attn_static_chunk_f16", "f16", 4, 1, 64, 37, 300, 150, {"causal": True}),
            ("attn_static_full_f32", "f32", 6, 3, 80, 1, 64, 63, {"causal": True})]:
        text = static_attention_module(dt, hq, hkv, d, mask, sq)
        n = R.static_cache_keys(start, sq, cap)
        kraw = RNG.standard_normal((2, hkv, cap, d))
        vraw = RNG.standard_normal((2, hkv, cap, d))
        kraw[:, :, n:] = np.nan
        vraw[:, :, n:] = np.nan
        q, q64 = rounded(RNG.standard_normal((2, hq, sq, d)), dt)
        k, k64 = rounded(kraw, dt)
        v, v64 = rounded(vraw, dt)
        ref = R.attention_static(q64, k64, v64, start, mask=mask)
        c.add(name, text, [q, k, v, np.array([start], np.int64)], [ref],
              [R.tolerances(dt, d)], {"kind": "attention_static", "mask": mask,
                                      "start": start})
    for dt, rows, cap, start in [("bf16", 1, 90, 61), ("f32", 3, 40, 38)]:
        text = cache_write_module(dt, [2, 4, rows, 64], [2, 4, "?", 64], 2, [1])
        u, u64 = rounded(RNG.standard_normal((2, 4, rows, 64)), dt)
        cache, c64 = rounded(RNG.standard_normal((2, 4, cap, 64)), dt)
        c.add(f"cache_write_{dt}", text, [u, cache, np.array([start], np.int64)],
              [R.cache_write(u64, c64, start, 2)], [(0.0, 0.0)])


def op_cases(c: Cases):
    # rope: partial rotary with llama3 scaling, positions far out.
    for name, dt, layout, scaling_attr, scaling in [
        ("rope_llama3_partial_f32", "f32", "rotate_half",
         "#rotor.rope_scaling<kind = llama3, factor = 8.0, original_max_position = 256, "
         "low_freq_factor = 1.0, high_freq_factor = 4.0>",
         {"kind": "llama3", "factor": 8.0, "original_max_position": 256,
          "low_freq_factor": 1.0, "high_freq_factor": 4.0}),
        ("rope_yarn_interleaved_bf16", "bf16", "interleaved",
         "#rotor.rope_scaling<kind = yarn, factor = 4.0, original_max_position = 512>",
         {"kind": "yarn", "factor": 4.0, "original_max_position": 512}),
    ]:
        rotary = 48 if dt == "f32" else 64
        t = f"tensor<2x3x?x64x{dt}>"
        text = (f"func.func @f(%x: {t}, %p: tensor<?xi64>) -> {t} {{\n"
                f"  %y = rotor.rope %x, %p {{base = 10000.0 : f64, rotary_dim = {rotary} : i64, "
                f"layout = #rotor.rope_layout<{layout}>, scaling = {scaling_attr}}} : {t}, tensor<?xi64>\n"
                f"  return %y : {t}\n}}\n")
        x, x64 = rounded(RNG.standard_normal((2, 3, 37, 64)), dt)
        p = (np.arange(37) * 27027 + 999000).astype(np.int64)
        ref = R.rope(x64, p, base=10000.0, rotary_dim=rotary,
                     layout=layout, scaling=scaling)
        c.add(name, text, [x, p], [ref], [R.tolerances(dt, 4)])

    # givens chain with learned angles; rotate with a matrix.
    pairs = [(0, 5), (3, 7), (10, 63), (5, 10), (1, 2)]
    t = "tensor<3x?x64xf32>"
    pairs_text = ", ".join(f"({i}, {j})" for i, j in pairs)
    text = (f"func.func @f(%x: {t}, %a: tensor<5xf32>) -> {t} {{\n"
            f"  %y = rotor.givens %x, %a pairs [{pairs_text}] : {t}, tensor<5xf32>\n"
            f"  return %y : {t}\n}}\n")
    x = RNG.standard_normal((3, 11, 64)).astype(np.float32)
    a = RNG.standard_normal(5).astype(np.float32)
    c.add("givens_f32", text, [x, a],
          [R.givens(x.astype(np.float64), a.astype(np.float64), pairs)],
          [R.tolerances("f32", 10)])

    t = "tensor<2x?x64xbf16>"
    text = (f"func.func @f(%x: {t}, %r: tensor<64x64xbf16>) -> {t} {{\n"
            f"  %y = rotor.rotate %x, %r : {t}, tensor<64x64xbf16>\n"
            f"  return %y : {t}\n}}\n")
    x, x64 = rounded(RNG.standard_normal((2, 19, 64)), "bf16")
    r, r64 = rounded(np.linalg.qr(RNG.standard_normal((64, 64)))[0], "bf16")
    c.add("rotate_bf16", text, [x, r], [R.rotate(x64, r64)],
          [R.tolerances("bf16", 64)])

    # linear + bias + residual (fused by rotor-fuse-linear), f32 and bf16.
    for dt in ("f32", "bf16"):
        t, ot = f"tensor<2x?x96x{dt}>", f"tensor<2x?x80x{dt}>"
        text = (f"func.func @f(%x: {t}, %w: tensor<80x96x{dt}>, %b: tensor<80x{dt}>, "
                f"%r: {ot}) -> {ot} {{\n"
                f"  %y = rotor.linear %x, %w bias(%b : tensor<80x{dt}>) : {t}, tensor<80x96x{dt}>\n"
                f"  %s = rotor.silu %y : {ot}\n"
                f"  %z = rotor.add %s, %r : {ot}, {ot}\n"
                f"  return %z : {ot}\n}}\n")
        x, x64 = rounded(RNG.standard_normal((2, 13, 96)), dt)
        w, w64 = rounded(RNG.standard_normal((80, 96)) * 0.1, dt)
        b, b64 = rounded(RNG.standard_normal(80), dt)
        res, res64 = rounded(RNG.standard_normal((2, 13, 80)), dt)
        ref = R.add(R.silu(R.linear(x64, w64, b64)), res64)
        c.add(f"linear_silu_residual_{dt}", text, [x, w, b, res], [ref],
              [R.tolerances(dt, 96)], {"kind": "linear_silu_residual"})

    # norms and softmax
    t = "tensor<3x?x200xbf16>"
    text = (f"func.func @f(%x: {t}, %w: tensor<200xbf16>) -> {t} {{\n"
            f"  %y = rotor.rms_norm %x, %w {{epsilon = 1.0e-5 : f64}} : {t}, tensor<200xbf16>\n"
            f"  return %y : {t}\n}}\n")
    x, x64 = rounded(RNG.standard_normal((3, 17, 200)), "bf16")
    w, w64 = rounded(RNG.standard_normal(200), "bf16")
    c.add("rms_norm_bf16", text, [x, w], [R.rms_norm(x64, w64, 1e-5)],
          [R.tolerances("bf16")], {"kind": "rms_norm", "eps": 1e-5})
    t = "tensor<?x130xf32>"
    text = (f"func.func @f(%x: {t}, %w: tensor<130xf32>, %b: tensor<130xf32>) -> {t} {{\n"
            f"  %y = rotor.layer_norm %x, %w bias(%b : tensor<130xf32>) : {t}, tensor<130xf32>\n"
            f"  %z = rotor.l2_normalize %y : {t}\n"
            f"  %s = rotor.softmax %z : {t}\n"
            f"  return %y, %s : {t}, {t}\n}}\n").replace("-> " + t, f"-> ({t}, {t})")
    x = RNG.standard_normal((21, 130)).astype(np.float32)
    w = RNG.standard_normal(130).astype(np.float32)
    b = RNG.standard_normal(130).astype(np.float32)
    y = R.layer_norm(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
    s = R.softmax(R.l2_normalize(y))
    c.add("layer_norm_l2_softmax_f32", text, [x, w, b], [y, s],
          [R.tolerances("f32", 130), R.tolerances("f32", 130)])

    # embedding, gelu, mul with broadcasting, swiglu
    t = "tensor<2x?x48xf32>"
    text = (f"func.func @f(%ids: tensor<2x?xi64>, %tab: tensor<50x48xf32>, %g: tensor<48xf32>) -> {t} {{\n"
            f"  %e = rotor.embedding %ids, %tab : tensor<2x?xi64>, tensor<50x48xf32>\n"
            f"  %a = rotor.gelu %e {{approximate = #rotor.gelu_approximation<tanh>}} : {t}\n"
            f"  %m = rotor.mul %a, %g : {t}, tensor<48xf32>\n"
            f"  %s = rotor.swiglu %m, %e : {t}\n"
            f"  return %s : {t}\n}}\n")
    ids = RNG.integers(0, 50, size=(2, 9)).astype(np.int64)
    tab = RNG.standard_normal((50, 48)).astype(np.float32)
    g = RNG.standard_normal(48).astype(np.float32)
    e = R.embedding(ids, tab.astype(np.float64))
    ref = R.swiglu(R.mul(R.gelu(e, "tanh"), g.astype(np.float64)), e)
    c.add("embedding_gelu_mul_swiglu_f32", text, [ids, tab, g], [ref],
          [R.tolerances("f32", 4)])

    # conv1d (depthwise, causal) and sinusoidal embedding
    t = "tensor<2x?x32xf32>"
    text = (f"func.func @f(%x: {t}, %w: tensor<32x1x4xf32>, %p: tensor<?xf32>, "
            f"%fr: tensor<16xf32>) -> ({t}, tensor<?x32xf32>) {{\n"
            f"  %y = rotor.conv1d %x, %w {{groups = 32 : i64}} : {t}, tensor<32x1x4xf32>\n"
            f"  %s = rotor.sinusoidal_embedding %p, %fr : tensor<?xf32>, tensor<16xf32>\n"
            f"  return %y, %s : {t}, tensor<?x32xf32>\n}}\n")
    x = RNG.standard_normal((2, 23, 32)).astype(np.float32)
    w = RNG.standard_normal((32, 1, 4)).astype(np.float32)
    p = (np.arange(23) * 3.5).astype(np.float32)
    fr = RNG.random(16).astype(np.float32)
    c.add("conv1d_sinusoidal_f32", text, [x, w, p, fr],
          [R.conv1d(x.astype(np.float64), w.astype(np.float64), groups=32),
           R.sinusoidal_embedding(p.astype(np.float64), fr.astype(np.float64))],
          [R.tolerances("f32", 4), R.tolerances("f32", 4)])

    # split/merge heads and cross entropy
    t = "tensor<2x?x96xbf16>"
    text = (f"func.func @f(%x: {t}, %logits: tensor<2x?x33xf32>, %labels: tensor<2x?xi64>) "
            f"-> (tensor<2x3x?x32xbf16>, tensor<f32>) {{\n"
            f"  %h = rotor.split_heads %x into 3 heads : {t}\n"
            f"  %l = rotor.cross_entropy %logits, %labels : tensor<2x?x33xf32>, tensor<2x?xi64>\n"
            f"  return %h, %l : tensor<2x3x?x32xbf16>, tensor<f32>\n}}\n")
    x, x64 = rounded(RNG.standard_normal((2, 11, 96)), "bf16")
    logits = RNG.standard_normal((2, 11, 33)).astype(np.float32) * 3
    labels = RNG.integers(0, 33, size=(2, 11)).astype(np.int64)
    labels[0, 3] = labels[1, 7] = -100
    c.add("split_heads_cross_entropy", text, [x, logits, labels],
          [R.split_heads(x64, 3),
           np.asarray(R.cross_entropy(logits.astype(np.float64), labels))],
          [(0, 0), R.tolerances("f32", 33)])


def grad_cases(c: Cases):
    """The backward ops of a training step (rotor-autodiff's output), each
    against grad_ref.py's float64 derivative formulas."""
    # attention_grad: the forward's output and LSE come from the reference.
    configs = [
        # name, dtype, B, hq, hkv, d, sq, sk, mask, softcap
        ("attn_grad_causal_f32_gqa2", "f32", 2, 4, 2, 64, 77, 77, {"causal": True}, None),
        ("attn_grad_window_bf16_gqa4", "bf16", 1, 8, 2, 128, 129, 129,
         {"causal": True, "window_left": 40}, None),
        ("attn_grad_chunk_f16_d96", "f16", 1, 3, 3, 96, 101, 101,
         {"causal": True, "chunk": 24}, None),
        ("attn_grad_hybrid_bf16_d80_gqa8", "bf16", 1, 8, 1, 80, 90, 90,
         {"causal": True, "window_left": 16, "global_": 4}, None),
        ("attn_grad_dilated_f32", "f32", 1, 2, 1, 64, 45, 45,
         {"causal": True, "window_left": 12, "dilation": 2}, None),
        ("attn_grad_full_softcap_f32_sq_lt_sk", "f32", 1, 4, 2, 64, 33, 70, {}, 20.0),
        ("attn_grad_causal_bf16_s1000", "bf16", 1, 4, 1, 128, 1000, 1000,
         {"causal": True}, None),
        # Relative bias tables (buckets, max distance, table dtype): the
        # kernels accumulate dbias in f32, rounded after for a bf16 table.
        ("attn_grad_bias_f32", "f32", 1, 4, 2, 64, 70, 70, {"causal": True}, None,
         (16, 64, "f32")),
        ("attn_grad_bias_bf16_table_gqa4", "bf16", 2, 4, 1, 128, 133, 133,
         {"causal": True, "window_left": 70}, None, (32, 100, "bf16")),
        ("attn_grad_bias_f16_full_softcap", "f16", 1, 4, 4, 64, 57, 57, {}, 15.0,
         (24, 40, "f16")),
    ]
    for name, dt, b, hq, hkv, d, sq, sk, mask, softcap, *bias_spec in configs:
        tq, tk = f"tensor<{b}x{hq}x{sq}x{d}x{dt}>", f"tensor<{b}x{hkv}x{sk}x{d}x{dt}>"
        tl = f"tensor<{b}x{hq}x{sq}xf32>"
        attrs = []
        if mask:
            attrs.append("mask = " + mask_attr(mask))
        if softcap:
            attrs.append(f"softcap = {softcap} : f64")
        q, q64 = rounded(RNG.standard_normal((b, hq, sq, d)), dt)
        k, k64 = rounded(RNG.standard_normal((b, hkv, sk, d)), dt)
        v, v64 = rounded(RNG.standard_normal((b, hkv, sk, d)), dt)
        args, results, bias_text, kw = "", f"{tq}, {tk}, {tk}", "", {}
        bias_inputs = []
        if bias_spec:
            buckets, max_distance, bdt = bias_spec[0]
            tt = f"tensor<{hq}x{buckets}x{bdt}>"
            attrs.append(f"bias_max_distance = {max_distance} : i64")
            args, results = f", %t: {tt}", results + f", {tt}"
            bias_text = f" bias(%t : {tt})"
            table, table64 = rounded(RNG.standard_normal((hq, buckets)), bdt)
            bias_inputs = [table]
            kw = {"bias": table64, "bias_max_distance": max_distance}
        attr = ("{" + ", ".join(attrs) + "}") if attrs else ""
        names = "%dq, %dk, %dv" + (", %db" if bias_spec else "")
        arrow = f" -> {tt}" if bias_spec else ""
        text = (f"func.func @f(%q: {tq}, %k: {tk}, %v: {tk}, %o: {tq}, %lse: {tl}, %do: {tq}"
                f"{args}) -> ({results}) {{\n"
                f"  {names} = rotor.attention_grad %q, %k, %v, %o, %lse, %do{bias_text} {attr}\n"
                f"      : {tq}, {tk}, {tk}, {tq}, {tl}{arrow}\n"
                f"  return {names} : {results}\n}}\n")
        o_ref, lse_ref = R.attention(q64, k64, v64, mask=mask, softcap=softcap,
                                     return_lse=True, **kw)
        o, o64 = rounded(o_ref, dt)
        lse = np.asarray(lse_ref, dtype=np.float32)
        do, do64 = rounded(RNG.standard_normal((b, hq, sq, d)), dt)
        ref = G.attention_grad(q64, k64, v64, o64, lse.astype(np.float64), do64,
                               mask=mask, softcap=softcap, **kw)
        visible = int(R.mask_matrix(sq, sk, mask).sum(-1).max())
        tol = [R.tolerances(dt, max(d, visible)) for _ in ref]
        if bias_spec:
            # dbias sums the f32 score cotangents of every (query, key) pair
            # of a bucket across the batch (up to B·Sq·Sk terms), then rounds
            # to the table's type: f32 sums (10x margin), the table's rtol.
            tol[3] = (R.tolerances(bias_spec[0][2])[0],
                      10 * R.tolerances("f32", b * sq * sk)[1])
        c.add(name, text, [q, k, v, o, lse, do] + bias_inputs, list(ref), tol,
              {"kind": "attention_grad", "mask": mask, "softcap": softcap}
              if not bias_spec else None)

    # rope_base_grad (a learned rope base): against central differences of
    # the f64 rope reference in the base.
    for name, dt, layout, rotary, scaling_attr, scaling in [
            ("rope_base_grad_f32", "f32", "rotate_half", 48, "", None),
            ("rope_base_grad_bf16_interleaved_linear", "bf16", "interleaved", 64,
             ", scaling = #rotor.rope_scaling<kind = linear, factor = 2.0>",
             {"kind": "linear", "factor": 2.0})]:
        t = f"tensor<2x3x?x64x{dt}>"
        text = (f"func.func @f(%x: {t}, %dy: {t}, %p: tensor<?xi64>, %b: tensor<f32>) -> tensor<f32> {{\n"
                f"  %g = rotor.rope_base_grad %x, %dy, %p base(%b : tensor<f32>) "
                f"{{rotary_dim = {rotary} : i64, layout = #rotor.rope_layout<{layout}>{scaling_attr}}} "
                f": {t}, tensor<?xi64>\n"
                f"  return %g : tensor<f32>\n}}\n")
        x, x64 = rounded(RNG.standard_normal((2, 3, 29, 64)), dt)
        dy, dy64 = rounded(RNG.standard_normal((2, 3, 29, 64)), dt)
        p = (np.arange(29) * 7 + 3).astype(np.int64)
        base = np.array(523.0, np.float32)

        def loss(b):
            return float((R.rope(x64, p, base=b, rotary_dim=rotary, layout=layout,
                                 scaling=scaling) * dy64).sum())
        h = 1e-3 * float(base)
        ref = np.array((loss(float(base) + h) - loss(float(base) - h)) / (2 * h))
        c.add(name, text, [x, dy, p, base], [ref], [(1e-4, 1e-6)])

    # cross_entropy_grad (f32 and bf16 logits, ignored labels).
    for dt in ("f32", "bf16"):
        tl = f"tensor<2x?x33x{dt}>"
        text = (f"func.func @f(%x: {tl}, %y: tensor<2x?xi64>, %g: tensor<f32>) -> {tl} {{\n"
                f"  %d = rotor.cross_entropy_grad %x, %y, %g : {tl}, tensor<2x?xi64>, tensor<f32>\n"
                f"  return %d : {tl}\n}}\n")
        x, x64 = rounded(RNG.standard_normal((2, 11, 33)) * 3, dt)
        labels = RNG.integers(0, 33, size=(2, 11)).astype(np.int64)
        labels[0, 3] = labels[1, 7] = -100
        g = np.asarray(0.75, dtype=np.float32)
        c.add(f"cross_entropy_grad_{dt}", text, [x, labels, g],
              [G.cross_entropy_grad(x64, labels, 0.75)], [R.tolerances(dt, 33)])

    # rms_norm_grad (bf16).
    t = "tensor<3x?x200xbf16>"
    text = (f"func.func @f(%x: {t}, %w: tensor<200xbf16>, %dy: {t}) -> ({t}, tensor<200xbf16>) {{\n"
            f"  %dx, %dw = rotor.rms_norm_grad %x, %w, %dy {{epsilon = 1.0e-5 : f64}} : {t}, tensor<200xbf16>\n"
            f"  return %dx, %dw : {t}, tensor<200xbf16>\n}}\n")
    x, x64 = rounded(RNG.standard_normal((3, 17, 200)), "bf16")
    w, w64 = rounded(RNG.standard_normal(200), "bf16")
    dy, dy64 = rounded(RNG.standard_normal((3, 17, 200)), "bf16")
    dx_ref, dw_ref = G.rms_norm_grad(x64, w64, dy64, 1e-5)
    c.add("rms_norm_grad_bf16", text, [x, w, dy], [dx_ref, dw_ref],
          [R.tolerances("bf16", 200), R.tolerances("bf16", 51)])

    # embedding_grad: repeated ids and one out of range; f32 and bf16 tables.
    for dt in ("f32", "bf16"):
        tg = f"tensor<2x?x48x{dt}>"
        text = (f"func.func @f(%ids: tensor<2x?xi64>, %dy: {tg}) -> tensor<50x48x{dt}> {{\n"
                f"  %d = rotor.embedding_grad %ids, %dy : tensor<2x?xi64>, {tg} -> tensor<50x48x{dt}>\n"
                f"  return %d : tensor<50x48x{dt}>\n}}\n")
        ids = RNG.integers(0, 12, size=(2, 29)).astype(np.int64)
        ids[1, 5] = 50
        dy, dy64 = rounded(RNG.standard_normal((2, 29, 48)), dt)
        c.add(f"embedding_grad_{dt}", text, [ids, dy], [G.embedding_grad(ids, dy64, 50)],
              [R.tolerances(dt, 8)])

    # linear_weight_grad and the input cotangent x · W through a transpose.
    for dt in ("f32", "bf16"):
        tg, tx = f"tensor<2x?x80x{dt}>", f"tensor<2x?x96x{dt}>"
        text = (f"func.func @f(%dy: {tg}, %x: {tx}, %w: tensor<80x96x{dt}>) "
                f"-> (tensor<80x96x{dt}>, {tx}) {{\n"
                f"  %dw = rotor.linear_weight_grad %dy, %x : {tg}, {tx}\n"
                f"  %e = tensor.empty() : tensor<96x80x{dt}>\n"
                f"  %wt = linalg.transpose ins(%w : tensor<80x96x{dt}>) "
                f"outs(%e : tensor<96x80x{dt}>) permutation = [1, 0]\n"
                f"  %dx = rotor.linear %dy, %wt : {tg}, tensor<96x80x{dt}>\n"
                f"  return %dw, %dx : tensor<80x96x{dt}>, {tx}\n}}\n")
        dy, dy64 = rounded(RNG.standard_normal((2, 13, 80)), dt)
        x, x64 = rounded(RNG.standard_normal((2, 13, 96)), dt)
        w, w64 = rounded(RNG.standard_normal((80, 96)) * 0.1, dt)
        c.add(f"linear_grads_{dt}", text, [dy, x, w],
              [G.linear_weight_grad(dy64, x64), dy64 @ w64],
              [R.tolerances(dt, 26), R.tolerances(dt, 80)])

    # activation_grad, every activation; transposed rope (rope's backward).
    t = "tensor<?x70xf32>"
    outs, body, refs = [], "", []
    x = RNG.standard_normal((9, 70)).astype(np.float32) * 3
    dy = RNG.standard_normal((9, 70)).astype(np.float32)
    for i, act in enumerate(("relu", "silu", "gelu", "gelu_tanh")):
        body += (f"  %d{i} = rotor.activation_grad %x, %dy "
                 f"{{activation = #rotor.activation<{act}>}} : {t}\n")
        outs.append(f"%d{i}")
        refs.append(G.activation_grad(x, dy, act))
    text = (f"func.func @f(%x: {t}, %dy: {t}) -> ({', '.join([t] * 4)}) {{\n{body}"
            f"  return {', '.join(outs)} : {', '.join([t] * 4)}\n}}\n")
    c.add("activation_grads_f32", text, [x, dy], refs, [R.tolerances("f32", 4)] * 4)

    t = "tensor<2x3x?x64xf32>"
    text = (f"func.func @f(%x: {t}, %p: tensor<?xi64>) -> {t} {{\n"
            f"  %y = rotor.rope %x, %p {{base = 10000.0 : f64, rotary_dim = 48 : i64, transpose}} "
            f": {t}, tensor<?xi64>\n"
            f"  return %y : {t}\n}}\n")
    x = RNG.standard_normal((2, 3, 37, 64)).astype(np.float32)
    p = (np.arange(37) * 131 + 7).astype(np.int64)
    c.add("rope_transpose_f32", text, [x, p],
          [R.rope(x.astype(np.float64), -p, base=10000.0, rotary_dim=48)],
          [R.tolerances("f32", 4)])


MODELS = [
    # config, dtype, compare with transformers
    ("llama", "f32", True),
    ("llama", "bf16", True),
    ("mistral", "bf16", True),
    ("qwen2", "f32", True),
    ("dilated", "bf16", False),
    ("chunked", "bf16", False),
    ("hybrid", "bf16", False),
    ("givens", "f32", False),
    ("relbias", "f32", False),
    ("relbias", "bf16", False),
    ("conv", "f32", False),
    ("sinusoidal", "f32", False),
    ("learned_base", "f32", False),
    ("layernorm_gelu", "f32", False),
]


def weight_dtypes(rotorc: str, config: str, dtype: str) -> dict:
    """The safetensors dtype of each weight of the model, read off the
    `forward` entry's signature (-emit=rotor)."""
    import re
    text = subprocess.run([rotorc, config, f"--dtype={dtype}", "-emit=rotor"],
                          check=True, capture_output=True, text=True).stdout
    sig = next(line for line in text.splitlines() if "func.func @forward" in line)
    names = {"f32": "F32", "bf16": "BF16", "f16": "F16", "f64": "F64"}
    return {m.group(2): names[m.group(1)] for m in re.finditer(
        r'tensor<[0-9x?]*?x?(f32|bf16|f16|f64)> \{rotor.name = "([^"]+)"', sig)}


def build_models(rotorc: str, out: str, cuda_compile: str):
    """Each example model with random weights, compiled for the GPU and
    (single-threaded, portable) for the CPU, whose outputs the GPU's are
    compared with on the device; Llama/Mistral/Qwen2 also with transformers."""
    root = os.path.join(HERE, "..", "..")
    models = []
    for name, dtype, hf in MODELS:
        d = os.path.join(out, "models", f"{name}-{dtype}")
        os.makedirs(d, exist_ok=True)
        config = os.path.join(root, "examples", "models", f"{name}.json")
        weights = os.path.join(d, "model.safetensors")
        common = [config, f"--dtype={dtype}", "-q"]
        if hf:
            # random_weights.py models plain Llama/Mistral/Qwen2 only; the
            # variants run on seeded random inputs (rotor-run --random-inputs).
            subprocess.run([sys.executable, os.path.join(root, "scripts", "random_weights.py"),
                            config, weights, "--seed", "7"], check=True)
            common += ["--weights", weights]
        if hf and dtype != "f32":
            import safetensors_io
            tensors = safetensors_io.load(weights)
            dtypes = weight_dtypes(rotorc, config, dtype)
            safetensors_io.save(weights, tensors,
                                dtypes={k: v for k, v in dtypes.items() if k in tensors})
        with open(config) as f:
            cfg = json.load(f)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=1)
        subprocess.run([rotorc, *common, "--target=cuda", f"--cuda-compile={cuda_compile}",
                        "-o", os.path.join(d, "cuda.rotor")], check=True)
        subprocess.run([rotorc, *common, "--parallel=false",
                        "-o", os.path.join(d, "cpu.rotor")], check=True)
        entry = {"name": name, "dtype": dtype, "dir": f"models/{name}-{dtype}",
                 "hf": hf, "vocab": cfg["vocab_size"]}
        if dtype == "bf16" and not hf:
            # The f32 build of the same model: the reference of the bf16
            # runs on random weights (run_cases.py).
            entry["f32_dir"] = f"models/{name}-f32"
            ref = os.path.join(out, entry["f32_dir"], "cpu.rotor")
            if (name, "f32", hf) not in MODELS:
                subprocess.run([rotorc, config, "--dtype=f32", "-q", "--parallel=false",
                                "-o", ref], check=True)
        models.append(entry)
        print(f"model {name} ({dtype}) built", flush=True)
    with open(os.path.join(out, "models.json"), "w") as f:
        json.dump(models, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rotorc", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cuda-compile", default="auto")
    ap.add_argument("--no-models", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    c = Cases()
    attention_cases(c)
    static_cache_cases(c)
    op_cases(c)
    grad_cases(c)
    mlir = os.path.join(args.out, "ops.mlir")
    with open(mlir, "w") as f:
        f.write("\n".join(c.funcs))
    subprocess.run([args.rotorc, mlir, "--target=cuda", "-q",
                    f"--cuda-compile={args.cuda_compile}",
                    "-o", os.path.join(args.out, "ops.rotor")], check=True)
    meta = []
    arrays = {}
    for case in c.cases:
        entry = {"name": case["name"], "tol": case["tol"],
                 "torch": case["torch"], "inputs": [], "outputs": []}
        for i, x in enumerate(case["inputs"]):
            key = f"{case['name']}.in{i}"
            if isinstance(x, BF16):
                arrays[key] = x.bits
                entry["inputs"].append("bf16")
            else:
                arrays[key] = np.asarray(x)
                entry["inputs"].append(str(np.asarray(x).dtype))
        for j, y in enumerate(case["expected"]):
            arrays[f"{case['name']}.out{j}"] = np.asarray(y, dtype=np.float64)
            entry["outputs"].append(j)
        meta.append(entry)
    np.savez_compressed(os.path.join(args.out, "cases.npz"), **arrays)
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{len(meta)} cases in {args.out}")
    if not args.no_models:
        build_models(args.rotorc, args.out, args.cuda_compile)


if __name__ == "__main__":
    main()
