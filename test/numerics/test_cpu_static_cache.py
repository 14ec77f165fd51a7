"""Static KV caches on the CPU: rotor.cache_write and rotor.attention with
query_start against the float64 reference (rotor_ref.cache_write,
rotor_ref.attention_static).

The caches are compiled with a dynamic capacity and run at several
capacities and positions: inside the cache, at its last row, partly past its
end, wholly past it and negative, so that the rule "rows outside the cache
are dropped" is exercised from both sides. The rows of the caches past the
existing keys hold NaN: attention that read one of them would return NaN.

Tolerances (rotor_ref.tolerances): f32 2e-5 (atol scaled by sqrt of the
number of keys), bf16 2e-2 on inputs rounded to bf16; cache_write is exact.
"""

from __future__ import annotations

import numpy as np
import pytest

import rotor_ref as R
from rotor_runtime import BF16
from test_cpu_attention import as_f64, mask_attr, prepare


def cache_write_module(dtype, shape_u, shape_c, axis, start_shape):
    ut = f"tensor<{'x'.join(map(str, shape_u))}x{dtype}>"
    ct = f"tensor<{'x'.join(map(str, shape_c))}x{dtype}>"
    st = f"tensor<{'x'.join(map(str, start_shape))}{'x' if start_shape else ''}i64>"
    return (f"func.func @f(%u: {ut}, %c: {ct}, %p: {st}) -> {ct} {{\n"
            f"  %r = rotor.cache_write %u into %c at %p {{axis = {axis} : i64}}"
            f" : {ut} into {ct}, {st}\n"
            f"  return %r : {ct}\n}}\n")


@pytest.mark.parametrize("dtype", ["f32", "bf16", "i64"])
def test_cache_write(compile_mlir, dtype):
    art = compile_mlir(cache_write_module(dtype, [2, 3, "?", 5], [2, 3, "?", 5], 2, [1]))
    rng = np.random.default_rng(5)
    for capacity, rows, start in [(9, 1, 0), (9, 1, 8), (9, 3, 4), (9, 3, 7),
                                  (9, 3, 9), (9, 3, 40), (9, 3, -1), (9, 3, -3),
                                  (9, 3, -7), (1, 1, 0), (6, 6, 0), (0, 2, 0),
                                  (9, 0, 2), (9, 2, 2**62)]:
        raw_c = rng.standard_normal((2, 3, capacity, 5)) * 4
        raw_u = rng.standard_normal((2, 3, rows, 5)) * 4
        if dtype == "i64":
            c, u = raw_c.astype(np.int64), raw_u.astype(np.int64)
            cf, uf = c, u
        else:
            c, cf = prepare(raw_c, dtype)
            u, uf = prepare(raw_u, dtype)
        (out,) = art.call("f", u, c, np.array([start], dtype=np.int64))
        got = out if dtype == "i64" else as_f64(out)
        want = R.cache_write(uf, cf, start, 2)
        assert np.array_equal(got, want), f"capacity {capacity} rows {rows} start {start}"


def test_cache_write_other_axis_scalar_start(compile_mlir):
    """Axis 1 of a rank-3 cache (a conv-like state), start as a 0-D tensor."""
    art = compile_mlir(cache_write_module("f32", [2, "?", 4], [2, "?", 4], 1, []))
    rng = np.random.default_rng(6)
    for capacity, rows, start in [(7, 2, 3), (7, 2, 6), (7, 4, -2)]:
        c = rng.standard_normal((2, capacity, 4)).astype(np.float32)
        u = rng.standard_normal((2, rows, 4)).astype(np.float32)
        (out,) = art.call("f", u, c, np.array(start, dtype=np.int64))
        assert np.array_equal(out, R.cache_write(u, c, start, 1))


def static_attention_module(dtype, hq, hkv, d, mask, sq, start_type="tensor<1xi64>"):
    qt = f"tensor<2x{hq}x{sq}x{d}x{dtype}>"
    kt = f"tensor<2x{hkv}x?x{d}x{dtype}>"
    return (f"func.func @f(%q: {qt}, %k: {kt}, %v: {kt}, %p: {start_type}) -> {qt} {{\n"
            f"  %o = rotor.attention %q, %k, %v query_start(%p : {start_type})"
            f" {{mask = {mask_attr(mask)}}} : {qt}, {kt}, {kt}\n"
            f"  return %o : {qt}\n}}\n")


STATIC_CASES = [
    # name, dtype, hq, hkv, d, mask, sq
    ("decode_causal_gqa4_d64", "f32", 8, 2, 64, {"causal": True}, 1),
    ("decode_window_gqa8_d128", "f32", 8, 1, 128, {"causal": True, "window_left": 6}, 1),
    ("decode_chunk_d80", "f32", 3, 3, 80, {"causal": True, "chunk": 5}, 1),
    ("decode_hybrid_d96", "f32", 6, 2, 96, {"causal": True, "window_left": 4, "global_": 3}, 1),
    ("decode_dilated_gqa3", "f32", 6, 2, 64, {"causal": True, "window_left": 5, "dilation": 2}, 1),
    ("chunked_prefill_3", "f32", 4, 1, 64, {"causal": True, "window_left": 7}, 3),
    ("chunked_prefill_17", "f32", 4, 2, 64, {"causal": True}, 17),
    ("decode_bf16_d128", "bf16", 8, 2, 128, {"causal": True}, 1),
    ("prefill_bf16_window", "bf16", 4, 2, 64, {"causal": True, "window_left": 9}, 5),
]


@pytest.mark.parametrize("name,dtype,hq,hkv,d,mask,sq", STATIC_CASES,
                         ids=[c[0] for c in STATIC_CASES])
def test_attention_query_start(compile_mlir, name, dtype, hq, hkv, d, mask, sq):
    art = compile_mlir(static_attention_module(dtype, hq, hkv, d, mask, sq))
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    for capacity, start in [(1, 0), (40, 0), (40, 11), (40, 39 - sq + 1), (37, 36),
                            (37, 50), (23, -2), (23, -sq - 4)]:
        q, qf = prepare(rng.standard_normal((2, hq, sq, d)), dtype)
        kraw = rng.standard_normal((2, hkv, capacity, d))
        vraw = rng.standard_normal((2, hkv, capacity, d))
        n = R.static_cache_keys(start, sq, capacity)
        # Rows past the existing keys are NaN: reading one poisons the output.
        kraw[:, :, n:] = np.nan
        vraw[:, :, n:] = np.nan
        k, kf = prepare(kraw, dtype)
        v, vf = prepare(vraw, dtype)
        (o,) = art.call("f", q, k, v, np.array([start], dtype=np.int64))
        ref = R.attention_static(qf, kf, vf, start, mask=mask)
        R.assert_close(as_f64(o), ref, dtype, reduction=max(n, 1),
                       err_msg=f"{name}: capacity {capacity}, start {start}")


def test_attention_query_start_i32_scalar(compile_mlir):
    """query_start as a 0-D i32 tensor."""
    art = compile_mlir(static_attention_module("f32", 2, 1, 64, {"causal": True}, 1,
                                               start_type="tensor<i32>"))
    rng = np.random.default_rng(9)
    q = rng.standard_normal((2, 2, 1, 64)).astype(np.float32)
    k = rng.standard_normal((2, 1, 30, 64)).astype(np.float32)
    v = rng.standard_normal((2, 1, 30, 64)).astype(np.float32)
    (o,) = art.call("f", q, k, v, np.array(12, dtype=np.int32))
    ref = R.attention_static(q.astype(np.float64), k.astype(np.float64),
                             v.astype(np.float64), 12, mask={"causal": True})
    R.assert_close(o, ref, "f32", reduction=13)
