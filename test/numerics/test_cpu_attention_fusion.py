"""Attention fusions and specializations on the CPU against the float64
reference of the unfused ops.

Each module is written unfused (rotor.rope on q and k, then rotor.attention);
rotorc fuses the ropes into the attention kernel (rotor-fuse-attention-rope),
which rotates q and k tiles as it loads them, and simplifies the masks
(rotor-specialize-masks). Every case runs with both ropes fused, with only the
queries' rope fused (rotorc's default), with the fusion off, and on one
thread: all must match the reference of the original ops. The dilation
relayout and the GQA packing run on and off the same way.

Sizes are awkward: head dims 64/80/96/128, partial rotary, GQA ratios 1 to 8,
odd lengths, positions (S) and (B, S), offsets up to 10^6 (angles formed in
f64), every rope scaling kind, a learned base, more keys than queries.

Tolerances (rotor_ref.tolerances): f32 rtol/atol 2e-5 scaled by
sqrt(reduction) on atol, bf16 2e-2 (inputs rounded to bf16, compared to the
reference on the rounded inputs), f64 1e-10.
"""

from __future__ import annotations

import numpy as np
import pytest

import rotor_ref as R
from test_cpu_attention import as_f64, mask_attr, prepare

LENGTHS = [1, 7, 37, 130]

PIPELINES = [("--fuse-key-rope=true",), (), ("--fusion=false",)]
PIPELINE_IDS = ["fused", "queries-only", "unfused"]
# One thread (the sequential kernel) for a few cases of each test.
SEQUENTIAL = ("--fuse-key-rope=true", "--parallel=false")


def scaling_attr(s):
    if not s:
        return None
    parts = [f"kind = {s['kind']}"]
    for key in ("factor", "beta_fast", "beta_slow", "low_freq_factor", "high_freq_factor"):
        if key in s:
            parts.append(f"{key} = {float(s[key])}")
    if "original_max_position" in s:
        parts.append(f"original_max_position = {s['original_max_position']}")
    return "#rotor.rope_scaling<" + ", ".join(parts) + ">"


def rope_module(dtype, hq, hkv, d, mask, rope, *, batch_positions=False,
                learned=False, return_keys=False):
    qt = f"tensor<2x{hq}x?x{d}x{dtype}>"
    kt = f"tensor<2x{hkv}x?x{d}x{dtype}>"
    pt = "tensor<2x?xi64>" if batch_positions else "tensor<?xi64>"
    attrs = []
    if rope.get("layout", "rotate_half") != "rotate_half":
        attrs.append(f"layout = #rotor.rope_layout<{rope['layout']}>")
    if rope.get("rotary_dim"):
        attrs.append(f"rotary_dim = {rope['rotary_dim']} : i64")
    if not learned:
        attrs.append(f"base = {float(rope.get('base', 10000.0))} : f64")
    if rope.get("scaling"):
        attrs.append(f"scaling = {scaling_attr(rope['scaling'])}")
    attr_text = " {" + ", ".join(attrs) + "}" if attrs else ""
    base_arg = ", %b: tensor<f32>" if learned else ""
    base_use = " base(%b : tensor<f32>)" if learned else ""
    results = f"{qt}, {kt}" if return_keys else qt
    names = "%o, %kr" if return_keys else "%o"
    return (f"func.func @f(%q: {qt}, %k: {kt}, %v: {kt}, %pq: {pt}, %pk: {pt}{base_arg})"
            f" -> ({results}) {{\n"
            f"  %qr = rotor.rope %q, %pq{base_use}{attr_text} : {qt}, {pt}\n"
            f"  %kr = rotor.rope %k, %pk{base_use}{attr_text} : {kt}, {pt}\n"
            f"  %o = rotor.attention %qr, %kr, %v {{mask = {mask_attr(mask)}}} : {qt}, {kt}, {kt}\n"
            f"  return {names} : {results}\n}}\n")


CASES = [
    # name, dtype, hq, hkv, d, mask, rope, options
    ("causal_d64", "f32", 4, 2, 64, {"causal": True}, {}, {}),
    ("partial_interleaved_d80", "f32", 8, 1, 80, {"causal": True, "window_left": 9},
     {"rotary_dim": 32, "layout": "interleaved"}, {"batch_positions": True}),
    ("yarn_learned_d96", "f32", 7, 7, 96, {"causal": True, "chunk": 11},
     {"scaling": {"kind": "yarn", "factor": 4.0, "original_max_position": 64}},
     {"learned": True}),
    ("llama3_far_d128", "f32", 8, 1, 128, {"causal": True, "window_left": 20, "global_": 3},
     {"base": 500000.0, "scaling": {"kind": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0, "original_max_position": 8192}},
     {"offset": 1_000_000}),
    ("dynamic_ntk_f64", "f64", 2, 2, 64, {"causal": True},
     {"rotary_dim": 48, "scaling": {"kind": "dynamic_ntk", "factor": 2.0,
                                    "original_max_position": 16}}, {}),
    ("linear_bf16_d128", "bf16", 8, 2, 128, {"causal": True, "window_left": 20},
     {"scaling": {"kind": "linear", "factor": 2.0}}, {}),
    ("bidirectional_gqa8", "f32", 8, 1, 64, {}, {"layout": "interleaved"},
     {"batch_positions": True, "offset": 4097}),
    ("keys_returned", "f32", 4, 2, 64, {"causal": True}, {}, {"return_keys": True}),
]


ROPE_RUNS = [(flags, case) for flags in PIPELINES for case in CASES] + \
    [(SEQUENTIAL, case) for case in CASES if case[0] in ("partial_interleaved_d80",
                                                         "yarn_learned_d96")]
ROPE_IDS = [f"{case[0]}-{PIPELINE_IDS[PIPELINES.index(flags)] if flags in PIPELINES else 'sequential'}"
            for flags, case in ROPE_RUNS]


@pytest.mark.parametrize("flags,case", ROPE_RUNS, ids=ROPE_IDS)
def test_rope_attention(compile_mlir, flags, case):
    name, dtype, hq, hkv, d, mask, rope, opts = case
    learned = opts.get("learned", False)
    batch_positions = opts.get("batch_positions", False)
    return_keys = opts.get("return_keys", False)
    art = compile_mlir(rope_module(dtype, hq, hkv, d, mask, rope, learned=learned,
                                   batch_positions=batch_positions,
                                   return_keys=return_keys), *flags)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    base = rope.get("base", 10000.0)
    if learned:
        base = np.float32(rng.uniform(5000.0, 20000.0))
    ref_rope = dict(base=float(base), rotary_dim=rope.get("rotary_dim"),
                    layout=rope.get("layout", "rotate_half"), scaling=rope.get("scaling"))
    offset = opts.get("offset", 0)
    # (Sq, Sk): prefill lengths, then decoding after a prefix.
    shapes = [(s, s) for s in LENGTHS] + [(1, 37), (3, 40)]
    for sq, sk in shapes:
        q, qf = prepare(rng.standard_normal((2, hq, sq, d)), dtype)
        k, kf = prepare(rng.standard_normal((2, hkv, sk, d)), dtype)
        v, vf = prepare(rng.standard_normal((2, hkv, sk, d)), dtype)
        pk = np.arange(sk, dtype=np.int64) + offset
        if batch_positions:
            pk = np.stack([pk, pk + 5])
        pq = pk[..., sk - sq:]
        inputs = [q, k, v, np.ascontiguousarray(pq), np.ascontiguousarray(pk)]
        if learned:
            inputs.append(np.array(base, dtype=np.float32))
        outs = art.call("f", *inputs)
        qr = R.rope(qf, pq, **ref_rope)
        kr = R.rope(kf, pk, **ref_rope)
        ref = R.attention(qr, kr, vf, mask=mask)
        R.assert_close(as_f64(outs[0]), ref, dtype, reduction=max(sk, d),
                       err_msg=f"{name} ({' '.join(flags)}) at {sq}x{sk}")
        if return_keys:
            R.assert_close(as_f64(outs[1]), kr, dtype, reduction=d,
                           err_msg=f"{name} rotated keys at {sq}x{sk}")


@pytest.mark.parametrize("flags", [(), ("--specialize-masks=false",)],
                         ids=["specialized", "as-written"])
@pytest.mark.parametrize("mask", [
    {"causal": True, "window_left": 300},             # window >= length: causal
    {"causal": True, "chunk": 64, "dilation": 2},      # chunk >= length
    {"causal": True, "window_left": 3, "global_": 64},  # every key global
    {"window_left": 100, "window_right": 100},         # no restriction at all
    {"causal": True, "window_left": 20},               # kept
], ids=["long_window", "long_chunk", "all_global", "unrestricted", "kept"])
def test_specialized_masks(compile_mlir, flags, mask):
    """Static lengths let rotor-specialize-masks rewrite the mask; the
    output must not change."""
    sq = sk = 61
    t = f"tensor<1x4x{sq}x64xf32>"
    art = compile_mlir(
        f"func.func @f(%q: {t}, %k: {t}, %v: {t}) -> {t} {{\n"
        f"  %o = rotor.attention %q, %k, %v {{mask = {mask_attr(mask)}}} : {t}, {t}, {t}\n"
        f"  return %o : {t}\n}}\n", *flags)
    rng = np.random.default_rng(sq)
    q, k, v = (rng.standard_normal((1, 4, sq, 64)).astype(np.float32) for _ in range(3))
    (o,) = art.call("f", q, k, v)
    ref = R.attention(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64),
                      mask=mask)
    R.assert_close(o, ref, "f32", reduction=sk, err_msg=str(mask))


def dilated_module(dtype, hq, hkv, d, mask, sq="?", sk="?"):
    qt = f"tensor<2x{hq}x{sq}x{d}x{dtype}>"
    kt = f"tensor<2x{hkv}x{sk}x{d}x{dtype}>"
    return (f"func.func @f(%q: {qt}, %k: {kt}, %v: {kt}) -> {qt} {{\n"
            f"  %o = rotor.attention %q, %k, %v {{mask = {mask_attr(mask)}}} : {qt}, {kt}, {kt}\n"
            f"  return %o : {qt}\n}}\n")


DILATED = [
    # name, dtype, hq, hkv, d, mask
    ("causal_d2_gqa2", "f32", 4, 2, 64, {"causal": True, "window_left": 6, "dilation": 2}),
    ("causal_d3_gqa8_d80", "f32", 8, 1, 80, {"causal": True, "window_left": 5, "dilation": 3}),
    ("causal_d4_nowindow", "f32", 2, 2, 96, {"causal": True, "dilation": 4}),
    ("causal_d2_bf16_d128", "bf16", 4, 1, 128, {"causal": True, "window_left": 20, "dilation": 2}),
    ("causal_d5_f64", "f64", 3, 3, 64, {"causal": True, "window_left": 3, "dilation": 5}),
    # Left alone (global tokens; non-causal with a dynamic key length).
    ("global_untouched", "f32", 4, 2, 64,
     {"causal": True, "window_left": 4, "dilation": 2, "global_": 3}),
    ("bidir_dynamic_untouched", "f32", 2, 2, 64,
     {"window_left": 3, "window_right": 2, "dilation": 3}),
]


DILATED_RUNS = [(flags, case) for flags in [(), ("--dilation-relayout=false",)]
                for case in DILATED] + \
    [(("--parallel=false",), case) for case in DILATED if case[0] == "causal_d3_gqa8_d80"]
DILATED_IDS = [f"{case[0]}-{'sequential' if '--parallel=false' in flags else 'direct' if flags else 'relayout'}"
               for flags, case in DILATED_RUNS]


@pytest.mark.parametrize("flags,case", DILATED_RUNS, ids=DILATED_IDS)
def test_dilation_relayout(compile_mlir, flags, case):
    name, dtype, hq, hkv, d, mask = case
    art = compile_mlir(dilated_module(dtype, hq, hkv, d, mask), *flags)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    # Prefill at lengths that are and are not multiples of the dilation,
    # decoding after a prefix, and more queries than keys.
    shapes = [(s, s) for s in LENGTHS] + [(1, 37), (3, 40), (6, 5)]
    for sq, sk in shapes:
        q, qf = prepare(rng.standard_normal((2, hq, sq, d)), dtype)
        k, kf = prepare(rng.standard_normal((2, hkv, sk, d)), dtype)
        v, vf = prepare(rng.standard_normal((2, hkv, sk, d)), dtype)
        (o,) = art.call("f", q, k, v)
        ref = R.attention(qf, kf, vf, mask=mask)
        R.assert_close(as_f64(o), ref, dtype, reduction=max(sk, d),
                       err_msg=f"{name} ({' '.join(flags)}) at {sq}x{sk}")


@pytest.mark.parametrize("flags", [(), ("--dilation-relayout=false",)],
                         ids=["relayout", "direct"])
def test_dilation_relayout_bidirectional_static(compile_mlir, flags):
    """Without causal the relayout needs a static key length divisible by the
    dilation (no padded key may be visible)."""
    mask = {"window_left": 4, "window_right": 2, "dilation": 3}
    art = compile_mlir(dilated_module("f32", 4, 2, 64, mask, sq=14, sk=42), *flags)
    rng = np.random.default_rng(42)
    q = rng.standard_normal((2, 4, 14, 64)).astype(np.float32)
    k = rng.standard_normal((2, 2, 42, 64)).astype(np.float32)
    v = rng.standard_normal((2, 2, 42, 64)).astype(np.float32)
    (o,) = art.call("f", q, k, v)
    ref = R.attention(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64),
                      mask=mask)
    R.assert_close(o, ref, "f32", reduction=42)


@pytest.mark.parametrize("flags", [(), ("--pack-gqa=false",)], ids=["packed", "per-head"])
@pytest.mark.parametrize("dtype,hq,hkv,d,dv,sq,mask,softcap", [
    ("f32", 8, 2, 64, 64, 1, {"causal": True}, None),     # decode: causal drops, packs
    ("f32", 7, 1, 80, 48, 1, {}, 30.0),                    # MQA, Dv != D, softcap
    ("bf16", 32, 8, 128, 128, 1, {"causal": True}, None),
    ("f64", 6, 2, 96, 96, 3, {}, None),                    # a few queries
    ("f32", 8, 1, 64, 64, 1, {"causal": True, "window_left": 5}, None),  # not packed
], ids=["decode_gqa4", "mqa7_softcap", "decode_bf16_d128", "three_queries_f64",
        "window_unpacked"])
def test_gqa_packing(compile_mlir, flags, dtype, hq, hkv, d, dv, sq, mask, softcap):
    qt = f"tensor<2x{hq}x{sq}x{d}x{dtype}>"
    kt = f"tensor<2x{hkv}x?x{d}x{dtype}>"
    vt = f"tensor<2x{hkv}x?x{dv}x{dtype}>"
    ot = f"tensor<2x{hq}x{sq}x{dv}x{dtype}>"
    attrs = []
    if mask:
        attrs.append(f"mask = {mask_attr(mask)}")
    if softcap:
        attrs.append(f"softcap = {softcap} : f64")
    attr_text = " {" + ", ".join(attrs) + "}" if attrs else ""
    art = compile_mlir(
        f"func.func @f(%q: {qt}, %k: {kt}, %v: {vt}) -> {ot} {{\n"
        f"  %o = rotor.attention %q, %k, %v{attr_text} : {qt}, {kt}, {vt}\n"
        f"  return %o : {ot}\n}}\n", *flags)
    rng = np.random.default_rng(hq * 100 + d)
    for sk in [sq, 7, 37, 130]:
        q, qf = prepare(rng.standard_normal((2, hq, sq, d)), dtype)
        k, kf = prepare(rng.standard_normal((2, hkv, sk, d)), dtype)
        v, vf = prepare(rng.standard_normal((2, hkv, sk, dv)), dtype)
        (o,) = art.call("f", q, k, v)
        ref = R.attention(qf, kf, vf, mask=mask, softcap=softcap)
        R.assert_close(as_f64(o), ref, dtype, reduction=max(sk, d),
                       err_msg=f"Sk {sk} ({' '.join(flags)})")


@pytest.mark.parametrize("flags", [(), ("--move-key-rotations=false",)],
                         ids=["moved", "as-written"])
@pytest.mark.parametrize("case", ["equal_chains", "key_chain", "key_rotate_chain",
                                  "query_chain_key_rotate"])
def test_move_key_rotations(compile_mlir, flags, case):
    """Key-side Givens chains (learned angles) and rotations applied to the
    queries instead; equal chains on both sides cancel."""
    hq, hkv, d, dtype = 8, 2, 64, "f32"
    qt = f"tensor<2x{hq}x?x{d}x{dtype}>"
    kt = f"tensor<2x{hkv}x?x{d}x{dtype}>"
    at, mt = "tensor<4xf32>", f"tensor<{d}x{d}xf32>"
    pairs = "[(0, 1), (5, 63), (1, 5), (10, 2)]"
    body = ""
    q, k = "%q", "%k"
    if case in ("equal_chains", "query_chain_key_rotate"):
        body += f"  %qg = rotor.givens %q, %t pairs {pairs} : {qt}, {at}\n"
        q = "%qg"
    if case in ("equal_chains", "key_chain", "key_rotate_chain"):
        body += f"  %kg = rotor.givens %k, %t pairs {pairs} : {kt}, {at}\n"
        k = "%kg"
    if case in ("key_rotate_chain", "query_chain_key_rotate"):
        body += f"  %kr = rotor.rotate {k}, %m : {kt}, {mt}\n"
        k = "%kr"
    art = compile_mlir(
        f"func.func @f(%q: {qt}, %k: {kt}, %v: {kt}, %t: {at}, %m: {mt}) -> {qt} {{\n{body}"
        f"  %o = rotor.attention {q}, {k}, %v {{mask = #rotor.mask<causal = true>}} : {qt}, {kt}, {kt}\n"
        f"  return %o : {qt}\n}}\n", *flags)
    rng = np.random.default_rng(len(case))
    theta = rng.uniform(-np.pi, np.pi, 4).astype(np.float32)
    m = (rng.standard_normal((d, d)) / np.sqrt(d)).astype(np.float32)
    pair_list = [(0, 1), (5, 63), (1, 5), (10, 2)]
    for s in LENGTHS:
        qa = rng.standard_normal((2, hq, s, d)).astype(np.float32)
        ka = rng.standard_normal((2, hkv, s, d)).astype(np.float32)
        va = rng.standard_normal((2, hkv, s, d)).astype(np.float32)
        (o,) = art.call("f", qa, ka, va, theta, m)
        qf, kf = qa.astype(np.float64), ka.astype(np.float64)
        if case in ("equal_chains", "query_chain_key_rotate"):
            qf = R.givens(qf, theta.astype(np.float64), pair_list)
        if case in ("equal_chains", "key_chain", "key_rotate_chain"):
            kf = R.givens(kf, theta.astype(np.float64), pair_list)
        if case in ("key_rotate_chain", "query_chain_key_rotate"):
            kf = R.rotate(kf, m.astype(np.float64))
        ref = R.attention(qf, kf, va.astype(np.float64), mask={"causal": True})
        R.assert_close(o, ref, dtype, reduction=max(s, d), err_msg=f"{case} at {s}")


# Query rotations fused into the attention kernel (rotor-fuse-attention-rotations):
# the Givens chain (learned angles) and the rotation matrix of the queries,
# after the queries' rope, applied to each query tile as it is loaded.
ROTATION_PIPELINES = [(), ("--fuse-rotations=false",), ("--fusion=false",),
                      ("--parallel=false",)]
ROTATION_PIPELINE_IDS = ["fused", "rotations-unfused", "unfused", "sequential"]

ROTATIONS = [
    # name, dtype, hq, hkv, d, mask, chain (applied to q in this order), pairs
    ("givens_d64", "f32", 4, 2, 64, {"causal": True}, ["givens"],
     [(0, 1), (5, 63), (1, 5), (10, 2), (0, 1)]),
    ("rotate_d80_mqa", "f32", 8, 1, 80, {"causal": True, "window_left": 9}, ["rotate"], []),
    ("givens_rotate_d96_gqa3", "f32", 6, 2, 96, {"causal": True, "chunk": 11},
     ["givens", "rotate"], [(95, 0), (3, 94), (40, 41)]),
    ("rope_givens_rotate_d128_gqa8", "f32", 8, 1, 128, {"causal": True, "window_left": 20},
     ["rope", "givens", "rotate"], [(0, 64), (1, 127), (63, 64)]),
    ("rope_givens_bidir_d64", "f32", 2, 2, 64, {"window_left": 7, "window_right": 3},
     ["rope", "givens"], [(i, 63 - i) for i in range(32)]),
    ("givens_rotate_bf16_d128", "bf16", 8, 2, 128, {"causal": True},
     ["givens", "rotate"], [(0, 1), (2, 3), (126, 127)]),
    ("givens_rotate_f64_d64", "f64", 3, 3, 64, {"causal": True, "window_left": 5},
     ["givens", "rotate"], [(7, 8), (8, 9)]),
    # Mismatched order: the outer givens fuses, the inner rotate stays.
    ("rotate_then_givens_d64", "f32", 4, 2, 64, {"causal": True}, ["rotate", "givens"],
     [(0, 1), (2, 3)]),
]


def rotation_module(dtype, hq, hkv, d, mask, chain, pairs):
    qt = f"tensor<2x{hq}x?x{d}x{dtype}>"
    kt = f"tensor<2x{hkv}x?x{d}x{dtype}>"
    at, mt = f"tensor<{max(len(pairs), 1)}xf32>", f"tensor<{d}x{d}x{dtype}>"
    pair_text = "[" + ", ".join(f"({i}, {j})" for i, j in pairs) + "]"
    body, q = "", "%q"
    for step, op in enumerate(chain):
        if op == "rope":
            body += f"  %x{step} = rotor.rope {q}, %pq {{base = 10000.0 : f64}} : {qt}, tensor<?xi64>\n"
        elif op == "givens":
            body += f"  %x{step} = rotor.givens {q}, %t pairs {pair_text} : {qt}, {at}\n"
        else:
            body += f"  %x{step} = rotor.rotate {q}, %m : {qt}, {mt}\n"
        q = f"%x{step}"
    return (f"func.func @f(%q: {qt}, %k: {kt}, %v: {kt}, %pq: tensor<?xi64>, %t: {at},"
            f" %m: {mt}) -> {qt} {{\n{body}"
            f"  %o = rotor.attention {q}, %k, %v {{mask = {mask_attr(mask)}}} : {qt}, {kt}, {kt}\n"
            f"  return %o : {qt}\n}}\n")


def fused_rotor_ir(mlir, *flags):
    """The module after rotorc's rotor-level passes (-emit=opt)."""
    import os
    import subprocess
    import tempfile
    from conftest import _build_dir
    with tempfile.NamedTemporaryFile("w", suffix=".mlir", delete=False) as f:
        f.write(mlir)
    try:
        proc = subprocess.run([os.path.join(_build_dir(), "bin", "rotorc"), f.name,
                               "-emit=opt", "-q", *flags],
                              capture_output=True, text=True, check=True)
    finally:
        os.unlink(f.name)
    return proc.stdout


ROTATION_RUNS = [(flags, case) for flags in ROTATION_PIPELINES[:3] for case in ROTATIONS] + \
    [(ROTATION_PIPELINES[3], case) for case in ROTATIONS
     if case[0] in ("givens_d64", "givens_rotate_d96_gqa3")]
ROTATION_IDS = [f"{case[0]}-{ROTATION_PIPELINE_IDS[ROTATION_PIPELINES.index(flags)]}"
                for flags, case in ROTATION_RUNS]


@pytest.mark.parametrize("flags,case", ROTATION_RUNS, ids=ROTATION_IDS)
def test_query_rotation_attention(compile_mlir, flags, case):
    name, dtype, hq, hkv, d, mask, chain, pairs = case
    mlir = rotation_module(dtype, hq, hkv, d, mask, chain, pairs)
    # The fusion happens (or not) as the flags say.
    ir = fused_rotor_ir(mlir, *flags)
    fused = "--fuse-rotations=false" not in flags and "--fusion=false" not in flags
    if fused and chain[-1] == "givens":
        assert "givens_q(" in ir and ("rotate_q(" in ir) == (chain == ["givens", "rotate"])
    elif fused:
        assert "rotate_q(" in ir and ("givens_q(" in ir) == ("givens" in chain)
    else:
        assert "givens_q(" not in ir and "rotate_q(" not in ir
    if fused and "rope" in chain:
        assert "rope_q(" in ir and "rotor.rope" not in ir
    art = compile_mlir(mlir, *flags)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    theta = rng.uniform(-np.pi, np.pi, max(len(pairs), 1)).astype(np.float32)
    # A random orthogonal matrix (the design's use), rounded to the dtype.
    m, mf = prepare(np.linalg.qr(rng.standard_normal((d, d)))[0], dtype)
    for sq, sk in [(s, s) for s in LENGTHS] + [(1, 37), (3, 40)]:
        q, qf = prepare(rng.standard_normal((2, hq, sq, d)), dtype)
        k, kf = prepare(rng.standard_normal((2, hkv, sk, d)), dtype)
        v, vf = prepare(rng.standard_normal((2, hkv, sk, d)), dtype)
        pq = np.ascontiguousarray(np.arange(sk - sq, sk, dtype=np.int64))
        (o,) = art.call("f", q, k, v, pq, theta, m)
        for op in chain:
            if op == "rope":
                qf = R.rope(qf, pq, base=10000.0)
            elif op == "givens":
                qf = R.givens(qf, theta.astype(np.float64), pairs)
            else:
                qf = R.rotate(qf, mf)
        ref = R.attention(qf, kf, vf, mask=mask)
        R.assert_close(as_f64(o), ref, dtype, reduction=max(sk, d),
                       err_msg=f"{name} ({' '.join(flags)}) at {sq}x{sk}")
