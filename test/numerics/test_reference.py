"""Checks of the float64 reference (rotor_ref.py) against naive formulations.

Each vectorized reference is compared with an independent, deliberately
naive version (explicit Python loops over indices on tiny sizes, scalar
``math`` functions), with closed forms and with known identities, so that a
bug in the reference would be caught before kernels are checked against it.

Run: python3 -m pytest -q test/numerics
"""

import itertools
import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rotor_ref as ref  # noqa: E402

# Exact-arithmetic formulations compared in float64: only summation order and
# library rounding differ.
TIGHT = dict(rtol=1e-12, atol=1e-12)


def rng(seed=0):
    return np.random.default_rng(seed)


# =============================================================================
# RoPE
# =============================================================================

def naive_inv_freq(rotary_dim, base, scaling=None, seq_len=None):
    """Scalar, branch-per-entry version of the HF frequency computations."""
    s = dict(kind="none", factor=1.0, original_max_position=0, beta_fast=32.0,
             beta_slow=1.0, low_freq_factor=1.0, high_freq_factor=4.0,
             attention_factor=0.0)
    s.update(scaling or {})
    kind, factor, M = s["kind"], s["factor"], s["original_max_position"]
    R = rotary_dim
    base = float(base)
    if kind == "dynamic_ntk" and seq_len > M:
        base = base * ((factor * seq_len / M) - (factor - 1)) ** (R / (R - 2))
    out, attention = [], 1.0
    for i in range(R // 2):
        f = 1.0 / math.pow(base, (2 * i) / R)
        if kind == "linear":
            f = f / factor
        elif kind == "yarn":
            def corr(n):
                return (R * math.log(M / (n * 2 * math.pi))) / (2 * math.log(base))
            low = max(math.floor(corr(s["beta_fast"])), 0)
            high = min(math.ceil(corr(s["beta_slow"])), R - 1)
            if high == low:
                high = high + 0.001
            r = (i - low) / (high - low)
            r = 0.0 if r < 0 else (1.0 if r > 1 else r)
            keep = 1 - r  # extrapolation weight
            f = (f / factor) * (1 - keep) + f * keep
        elif kind == "llama3":
            wl = 2 * math.pi / f
            if wl < M / s["high_freq_factor"]:
                pass
            elif wl > M / s["low_freq_factor"]:
                f = f / factor
            else:
                sm = (M / wl - s["low_freq_factor"]) / (
                    s["high_freq_factor"] - s["low_freq_factor"])
                f = (1 - sm) * f / factor + sm * f
        out.append(f)
    if kind == "yarn":
        attention = s["attention_factor"] or (
            0.1 * math.log(factor) + 1 if factor > 1 else 1.0)
    return out, attention


def naive_rope(x, positions, base=10000.0, rotary_dim=None, layout="rotate_half",
               scaling=None):
    x = np.asarray(x, dtype=np.float64)
    B, H, S, D = x.shape
    R = rotary_dim or D
    pos = np.asarray(positions)
    pos2 = np.broadcast_to(pos, (B, S))
    seq_len = int(pos.max()) + 1
    inv, att = naive_inv_freq(R, float(np.asarray(base)), scaling, seq_len)
    y = x.copy()
    for b in range(B):
        for h in range(H):
            for s in range(S):
                p = int(pos2[b, s])
                for i in range(R // 2):
                    ia, ib = (i, i + R // 2) if layout == "rotate_half" else (2 * i, 2 * i + 1)
                    a, c = x[b, h, s, ia], x[b, h, s, ib]
                    t = p * inv[i]
                    y[b, h, s, ia] = att * (a * math.cos(t) - c * math.sin(t))
                    y[b, h, s, ib] = att * (c * math.cos(t) + a * math.sin(t))
    return y


SCALINGS = [
    None,
    dict(kind="none"),
    dict(kind="linear", factor=4.0),
    dict(kind="dynamic_ntk", factor=2.0, original_max_position=8),   # L > M
    dict(kind="dynamic_ntk", factor=2.0, original_max_position=64),  # L <= M
    dict(kind="yarn", factor=4.0, original_max_position=16),
    dict(kind="yarn", factor=8.0, original_max_position=32, beta_fast=16,
         beta_slow=2, attention_factor=1.3),
    dict(kind="llama3", factor=8.0, original_max_position=16,
         low_freq_factor=1.0, high_freq_factor=4.0),
]


@pytest.mark.parametrize("scaling", SCALINGS)
@pytest.mark.parametrize("layout", ["rotate_half", "interleaved"])
@pytest.mark.parametrize("rotary_dim", [None, 4])
@pytest.mark.parametrize("batched_positions", [False, True])
def test_rope_matches_loop(scaling, layout, rotary_dim, batched_positions):
    r = rng(1)
    x = r.standard_normal((2, 2, 5, 8))
    if batched_positions:
        pos = np.array([[0, 3, 7, 12, 20], [5, 6, 9, 1, 2]])
    else:
        pos = np.array([0, 3, 7, 12, 20])
    got = ref.rope(x, pos, base=100.0, rotary_dim=rotary_dim, layout=layout,
                   scaling=scaling)
    want = naive_rope(x, pos, base=100.0, rotary_dim=rotary_dim, layout=layout,
                      scaling=scaling)
    np.testing.assert_allclose(got, want, **TIGHT)


@pytest.mark.parametrize("scaling", SCALINGS[:3] + SCALINGS[5:])
def test_rope_frequencies_match_loop(scaling):
    for R in (2, 4, 16, 64, 128):
        for base in (10.0, 10000.0, 500000.0):
            inv, att = ref.rope_frequencies(R, base, scaling, seq_len=100)
            inv_n, att_n = naive_inv_freq(R, base, scaling, seq_len=100)
            np.testing.assert_allclose(inv, inv_n, rtol=1e-13, atol=0)
            assert att == pytest.approx(att_n, rel=1e-15)


def test_rope_closed_form_two_dims():
    # D = 2: inv_freq = [1]; x = (1, 0) at position p -> (cos p, sin p).
    x = np.zeros((1, 1, 4, 2))
    x[..., 0] = 1.0
    pos = np.array([0, 1, 5, 100])
    y = ref.rope(x, pos)
    np.testing.assert_allclose(y[0, 0, :, 0], np.cos(pos), **TIGHT)
    np.testing.assert_allclose(y[0, 0, :, 1], np.sin(pos), **TIGHT)
    # (0, 1) -> (-sin p, cos p)
    y = ref.rope(x[..., ::-1], pos)
    np.testing.assert_allclose(y[0, 0, :, 0], -np.sin(pos), **TIGHT)
    np.testing.assert_allclose(y[0, 0, :, 1], np.cos(pos), **TIGHT)


def test_rope_closed_form_four_dims_and_linear():
    # D = 4, base b: inv_freq = [1, b^-1/2]; rotate_half pairs (0, 2), (1, 3).
    base, p = 400.0, 7
    x = np.array([1.0, 1.0, 0.0, 0.0]).reshape(1, 1, 1, 4)
    y = ref.rope(x, [p], base=base)[0, 0, 0]
    t1 = p / 20.0
    np.testing.assert_allclose(y, [math.cos(p), math.cos(t1), math.sin(p),
                                   math.sin(t1)], **TIGHT)
    # Linear scaling = positions divided by the factor.
    y = ref.rope(x, [p], base=base, scaling=dict(kind="linear", factor=2.0))[0, 0, 0]
    np.testing.assert_allclose(y, [math.cos(p / 2), math.cos(t1 / 2),
                                   math.sin(p / 2), math.sin(t1 / 2)], **TIGHT)


def test_rope_position_zero_is_identity_and_passthrough():
    x = rng(2).standard_normal((2, 3, 4, 10))
    np.testing.assert_array_equal(ref.rope(x, np.zeros(4, int)), x)
    y = ref.rope(x, np.arange(4) * 3, rotary_dim=6)
    np.testing.assert_array_equal(y[..., 6:], x[..., 6:])
    assert not np.allclose(y[..., :6], x[..., :6])


@pytest.mark.parametrize("layout", ["rotate_half", "interleaved"])
@pytest.mark.parametrize("scaling", [None, dict(kind="yarn", factor=4.0,
                                                original_max_position=16)])
def test_rope_preserves_pair_norms(layout, scaling):
    x = rng(3).standard_normal((2, 2, 6, 12))
    R = 8
    y = ref.rope(x, np.array([0, 1, 2, 50, 1000, 77777]), rotary_dim=R,
                 layout=layout, scaling=scaling)
    _, att = ref.rope_frequencies(R, 10000.0, scaling, seq_len=77778)
    if layout == "rotate_half":
        ia, ib = np.arange(R // 2), np.arange(R // 2) + R // 2
    else:
        ia, ib = np.arange(0, R, 2), np.arange(1, R, 2)
    nx = np.hypot(x[..., ia], x[..., ib])
    ny = np.hypot(y[..., ia], y[..., ib])
    np.testing.assert_allclose(ny, att * nx, **TIGHT)


@pytest.mark.parametrize("layout", ["rotate_half", "interleaved"])
@pytest.mark.parametrize("scaling", [None, dict(kind="linear", factor=3.0),
                                     dict(kind="yarn", factor=4.0, original_max_position=16),
                                     dict(kind="llama3", factor=8.0, original_max_position=16)])
def test_rope_dot_product_depends_only_on_position_difference(layout, scaling):
    r = rng(4)
    D = 8
    u, w = r.standard_normal(D), r.standard_normal(D)
    pos = np.array([0, 1, 3, 4, 9, 17, 30])
    S = len(pos)
    q = np.broadcast_to(u, (1, 1, S, D))
    k = np.broadcast_to(w, (1, 1, S, D))

    def scores(offset):
        rq = ref.rope(q, pos + offset, layout=layout, scaling=scaling, base=50.0)
        rk = ref.rope(k, pos + offset, layout=layout, scaling=scaling, base=50.0)
        return rq[0, 0] @ rk[0, 0].T

    s0 = scores(0)
    for off in (1, 13, 1000):
        np.testing.assert_allclose(scores(off), s0, rtol=1e-9, atol=1e-9)
    # Equal differences give equal scores within one matrix: (4, 3) and (1, 0).
    assert s0[3, 2] == pytest.approx(s0[1, 0], rel=1e-12, abs=1e-12)
    # Difference 0 gives the plain dot product times the attention factor^2.
    _, att = ref.rope_frequencies(D, 50.0, scaling, seq_len=31)
    np.testing.assert_allclose(np.diag(s0), att ** 2 * (u @ w), **TIGHT)


@pytest.mark.parametrize("rotary_dim", [8, 6])
def test_rope_gptj_equals_llama_under_permutation(rotary_dim):
    # Interleaved pair i is (2i, 2i+1); rotate_half pair i is (i, i + R/2).
    # With perm = [0, 2, 4, .., 1, 3, 5, .., R, .., D-1],
    # rope_half(x[..., perm]) == rope_interleaved(x)[..., perm].
    R, D = rotary_dim, 8
    x = rng(5).standard_normal((2, 3, 5, D))
    pos = np.array([0, 2, 5, 11, 40])
    perm = np.concatenate([np.arange(0, R, 2), np.arange(1, R, 2), np.arange(R, D)])
    a = ref.rope(x[..., perm], pos, rotary_dim=R, layout="rotate_half")
    b = ref.rope(x, pos, rotary_dim=R, layout="interleaved")[..., perm]
    np.testing.assert_allclose(a, b, **TIGHT)


def test_rope_learned_base_and_batched_positions():
    x = rng(6).standard_normal((2, 2, 4, 8))
    pos = np.array([[0, 1, 2, 3], [10, 20, 30, 40]])
    y = ref.rope(x, pos, base=np.array(777.0))
    np.testing.assert_array_equal(y, ref.rope(x, pos, base=777.0))
    for b in range(2):
        np.testing.assert_allclose(y[b], ref.rope(x[b:b + 1], pos[b], base=777.0)[0],
                                   **TIGHT)


def test_rope_dynamic_ntk_closed_form():
    x = rng(7).standard_normal((1, 2, 4, 8))
    M, factor, D = 16, 2.0, 8
    scaling = dict(kind="dynamic_ntk", factor=factor, original_max_position=M)
    # L = max + 1 <= M: unchanged (including L == M, where the formula is 1).
    for pos in (np.array([0, 1, 2, 3]), np.array([0, 5, 9, 14]), np.array([0, 5, 9, 15])):
        np.testing.assert_allclose(ref.rope(x, pos, scaling=scaling),
                                   ref.rope(x, pos), **TIGHT)
    # L > M: base' = base * (factor L / M - (factor - 1))^(D / (D - 2)).
    pos = np.array([0, 7, 30, 39])
    L = 40
    base2 = 10000.0 * (factor * L / M - (factor - 1)) ** (D / (D - 2))
    np.testing.assert_allclose(ref.rope(x, pos, scaling=scaling),
                               ref.rope(x, pos, base=base2), **TIGHT)
    # L is the maximum over the whole (B, S) positions array.
    xb = np.concatenate([x, x])
    posb = np.array([[0, 1, 2, 3], [0, 7, 30, 39]])
    yb = ref.rope(xb, posb, scaling=scaling)
    np.testing.assert_allclose(yb[0], ref.rope(x, posb[0], base=base2)[0], **TIGHT)


def test_rope_yarn_known_correction_range():
    # dim 128, base 1e4, M = 4096, beta_fast 32, beta_slow 1:
    # corr(32) = 128 ln(4096 / (64 pi)) / (2 ln 1e4) = 20.94 -> low = 20
    # corr(1)  = 128 ln(4096 / (2 pi))  / (2 ln 1e4) = 45.03 -> high = 46
    R, factor = 128, 4.0
    scaling = dict(kind="yarn", factor=factor, original_max_position=4096)
    inv, att = ref.rope_frequencies(R, 10000.0, scaling)
    plain, _ = ref.rope_frequencies(R, 10000.0)
    np.testing.assert_array_equal(inv[:21], plain[:21])         # ramp = 0
    np.testing.assert_allclose(inv[46:], plain[46:] / factor, rtol=1e-15)
    i = np.arange(21, 46)
    ramp = (i - 20) / 26
    np.testing.assert_allclose(inv[21:46], plain[21:46] * (1 - ramp)
                               + plain[21:46] / factor * ramp, rtol=1e-14)
    assert att == pytest.approx(0.1 * math.log(4.0) + 1.0, rel=1e-15)
    # factor 1 -> attention factor 1; an explicit one wins.
    assert ref.rope_frequencies(R, 1e4, dict(scaling, factor=1.0))[1] == 1.0
    assert ref.rope_frequencies(R, 1e4, dict(scaling, attention_factor=0.7))[1] == 0.7


def test_rope_llama31_bands():
    # Llama 3.1: dim 128, base 5e5, factor 8, low 1, high 4, M = 8192:
    # wavelen < 2048 for i <= 28 (kept), > 8192 for i >= 35 (divided by 8).
    scaling = dict(kind="llama3", factor=8.0, original_max_position=8192,
                   low_freq_factor=1.0, high_freq_factor=4.0)
    inv, att = ref.rope_frequencies(128, 500000.0, scaling)
    plain, _ = ref.rope_frequencies(128, 500000.0)
    assert att == 1.0
    np.testing.assert_array_equal(inv[:29], plain[:29])
    np.testing.assert_allclose(inv[35:], plain[35:] / 8.0, rtol=1e-15)
    mid = slice(29, 35)
    assert np.all(inv[mid] < plain[mid]) and np.all(inv[mid] > plain[mid] / 8.0)
    # The smoothing weight decreases with wavelength and is in (0, 1).
    s = (inv[mid] - plain[mid] / 8) / (plain[mid] - plain[mid] / 8)
    assert np.all(np.diff(s) < 0) and np.all((s > 0) & (s < 1))


def test_rope_rejects_bad_arguments():
    x = np.zeros((1, 1, 3, 8))
    with pytest.raises(ValueError):
        ref.rope(x, [0, 1, 2], rotary_dim=5)
    with pytest.raises(ValueError):
        ref.rope(x, [0, 1, 2], rotary_dim=10)
    with pytest.raises(ValueError):
        ref.rope(x, [0, 1])
    with pytest.raises(ValueError):
        ref.rope(x, [0, 1, 2], layout="neox")
    with pytest.raises(ValueError):
        ref.rope(x, [0, 1, 2], scaling=dict(kind="yarn", factor=2.0))
    with pytest.raises(ValueError):
        ref.rope(x, [0, 1, 2], scaling=dict(kind="linear", factr=2.0))
    for bad in (dict(kind="linear", factor=0.5),
                dict(kind="yarn", factor=2.0, original_max_position=8, beta_fast=1,
                     beta_slow=1),
                dict(kind="llama3", factor=2.0, original_max_position=8,
                     low_freq_factor=4.0, high_freq_factor=1.0),
                dict(kind="yarn", factor=2.0, original_max_position=8,
                     attention_factor=-1.0)):
        with pytest.raises(ValueError):
            ref.rope(x, [0, 1, 2], scaling=bad)


# =============================================================================
# Givens rotations and rotate
# =============================================================================

def naive_givens(x, angles, pairs):
    y = [float(v) for v in x]
    for (i, j), t in zip(pairs, angles):
        yi, yj = y[i], y[j]
        y[i] = yi * math.cos(t) - yj * math.sin(t)
        y[j] = yi * math.sin(t) + yj * math.cos(t)
    return y


GIVENS_PAIRS = [(0, 1), (2, 5), (1, 2), (4, 0), (5, 3), (0, 1)]


def test_givens_matches_loop():
    r = rng(10)
    x = r.standard_normal((2, 3, 6))
    angles = r.uniform(-math.pi, math.pi, len(GIVENS_PAIRS))
    got = ref.givens(x, angles, GIVENS_PAIRS)
    for idx in np.ndindex(x.shape[:-1]):
        np.testing.assert_allclose(got[idx], naive_givens(x[idx], angles, GIVENS_PAIRS),
                                   **TIGHT)
    # The op's flat pair attribute is accepted too.
    flat = [v for p in GIVENS_PAIRS for v in p]
    np.testing.assert_array_equal(ref.givens(x, angles, flat), got)


def test_givens_single_rotation_closed_form():
    t = 0.3
    y = ref.givens(np.array([1.0, 0.0, 0.0]), [t], [(0, 2)])
    np.testing.assert_allclose(y, [math.cos(t), 0.0, math.sin(t)], **TIGHT)
    y = ref.givens(np.array([0.0, 0.0, 1.0]), [t], [(0, 2)])
    np.testing.assert_allclose(y, [-math.sin(t), 0.0, math.cos(t)], **TIGHT)


def test_givens_matrix_form_orthogonality_and_composition():
    r = rng(11)
    D = 6
    x = r.standard_normal((4, D))
    a1 = r.uniform(-3, 3, 3)
    a2 = r.uniform(-3, 3, 3)
    p1, p2 = GIVENS_PAIRS[:3], GIVENS_PAIRS[3:]
    m1 = ref.givens_matrix(D, a1, p1)
    m2 = ref.givens_matrix(D, a2, p2)
    m12 = ref.givens_matrix(D, np.concatenate([a1, a2]), p1 + p2)
    # Equality of the two forms.
    np.testing.assert_allclose(ref.givens(x, a1, p1), x @ m1, **TIGHT)
    np.testing.assert_allclose(ref.rotate(x, m12),
                               ref.givens(x, np.concatenate([a1, a2]), p1 + p2), **TIGHT)
    # Orthogonality, det 1.
    np.testing.assert_allclose(m12.T @ m12, np.eye(D), **TIGHT)
    assert np.linalg.det(m12) == pytest.approx(1.0, abs=1e-12)
    # Composition: applying p1 then p2 is the concatenated chain.
    np.testing.assert_allclose(m1 @ m2, m12, **TIGHT)
    np.testing.assert_allclose(ref.givens(ref.givens(x, a1, p1), a2, p2),
                               ref.givens(x, np.concatenate([a1, a2]), p1 + p2), **TIGHT)
    # Inverse: the reversed chain with negated angles undoes it.
    back = ref.givens(ref.givens(x, a1, p1), -a1[::-1], p1[::-1])
    np.testing.assert_allclose(back, x, **TIGHT)
    # Norm preservation and zero angles.
    np.testing.assert_allclose(np.linalg.norm(x @ m12, axis=-1),
                               np.linalg.norm(x, axis=-1), **TIGHT)
    np.testing.assert_array_equal(ref.givens(x, np.zeros(3), p1), x)


def test_givens_rejects_bad_pairs():
    with pytest.raises(ValueError):
        ref.givens(np.zeros(4), [0.1], [(1, 1)])
    with pytest.raises(ValueError):
        ref.givens(np.zeros(4), [0.1], [(0, 4)])
    with pytest.raises(ValueError):
        ref.givens(np.zeros(4), [0.1, 0.2], [(0, 1)])


def test_rotate_matches_loop_and_preserves_norm():
    r = rng(12)
    x = r.standard_normal((2, 3, 5))
    R = r.standard_normal((5, 5))
    got = ref.rotate(x, R)
    for idx in np.ndindex(x.shape[:-1]):
        for n in range(5):
            assert got[idx + (n,)] == pytest.approx(
                math.fsum(x[idx + (m,)] * R[m, n] for m in range(5)), abs=1e-12)
    Q, _ = np.linalg.qr(R)
    np.testing.assert_allclose(np.linalg.norm(ref.rotate(x, Q), axis=-1),
                               np.linalg.norm(x, axis=-1), **TIGHT)
    with pytest.raises(ValueError):
        ref.rotate(x, np.zeros((5, 4)))


# =============================================================================
# Attention: masks and T5 buckets
# =============================================================================

def naive_visible(i, j, sq, sk, causal=False, window_left=None, window_right=None,
                  dilation=1, chunk=None, global_=0):
    """The visibility rule exactly as written in the spec."""
    p = i + sk - sq
    d = p - j
    G = global_
    return (not causal or j <= p) and (
        j < G or 0 <= p < G or (
            d % dilation == 0
            and (window_left is None or d // dilation <= window_left)
            and (window_right is None or -d // dilation <= window_right)
            and (chunk is None or p // chunk == j // chunk)))


MASK_CONFIGS = [
    dict(causal=c, window_left=wl, window_right=wr, dilation=n, chunk=ch, global_=g)
    for c, wl, wr, n, ch, g in itertools.product(
        [False, True], [None, 0, 2, 5], [None, 0, 3], [1, 2, 3], [None, 1, 4],
        [0, 2])
    if not (c and wr not in (None, 0))
]


def test_mask_matrix_matches_rule_loop():
    for cfg in MASK_CONFIGS:
        for sq, sk in ((9, 9), (4, 11), (11, 4), (1, 7)):
            got = ref.mask_matrix(sq, sk, cfg)
            want = np.array([[naive_visible(i, j, sq, sk, **cfg) for j in range(sk)]
                             for i in range(sq)], dtype=bool)
            np.testing.assert_array_equal(got, want, err_msg=f"{cfg} {sq}x{sk}")


def test_mask_matrix_defaults_and_global_alias():
    assert ref.mask_matrix(3, 5).all()
    assert ref.mask_matrix(3, 5, None).shape == (3, 5)
    np.testing.assert_array_equal(ref.mask_matrix(6, 6, {"causal": True, "window_left": 1,
                                                         "global": 2}),
                                  ref.mask_matrix(6, 6, {"causal": True, "window_left": 1,
                                                         "global_": 2}))
    with pytest.raises(ValueError):
        ref.mask_matrix(3, 3, {"casual": True})


def test_mask_queries_before_the_first_key():
    # Sq > Sk: queries 0..Sq-Sk-1 sit at p < 0. They are not global tokens
    # (positions 0..G-1), so the local rules apply to them with floor
    # division; causal masks hide every key from them.
    m = ref.mask_matrix(11, 4, dict(chunk=4))
    assert not m[:7].any()                      # p in [-7, -1]: chunk -1 or -2
    np.testing.assert_array_equal(m[7:], np.ones((4, 4), bool))
    m = ref.mask_matrix(11, 4, dict(window_left=0, window_right=2))
    for i in range(11):
        p = i - 7
        for j in range(4):
            assert m[i, j] == (-2 <= p - j <= 0)
    assert not ref.mask_matrix(11, 4, dict(causal=True, global_=2))[:7].any()
    # a query at p < 0 with G > 0 still sees the global keys (non-causal)
    m = ref.mask_matrix(11, 4, dict(window_left=0, window_right=0, global_=2))
    assert m[:7, :2].all() and not m[:7, 2:].any()
    np.testing.assert_array_equal(ref.mask_matrix(6, 4, dict(chunk=2))[2:],
                                  np.kron(np.eye(2), np.ones((2, 2))).astype(bool))


N_ANCHOR = 24


def anchor(rule):
    return np.array([[rule(i, j) for j in range(N_ANCHOR)] for i in range(N_ANCHOR)])


@pytest.mark.parametrize("W", [1, 3, 7])
def test_mask_anchor_sliding_window(W):
    np.testing.assert_array_equal(
        ref.mask_matrix(N_ANCHOR, N_ANCHOR, dict(causal=True, window_left=W - 1)),
        anchor(lambda i, j: j <= i and i - j < W))


@pytest.mark.parametrize("W,d", [(2, 2), (5, 2), (2, 3), (4, 3)])
def test_mask_anchor_dilated_window(W, d):
    np.testing.assert_array_equal(
        ref.mask_matrix(N_ANCHOR, N_ANCHOR, dict(causal=True, window_left=W - 1, dilation=d)),
        anchor(lambda i, j: j <= i and (i - j) % d == 0 and i - j < W * d))


@pytest.mark.parametrize("C", [1, 4, 5])
def test_mask_anchor_chunked(C):
    np.testing.assert_array_equal(
        ref.mask_matrix(N_ANCHOR, N_ANCHOR, dict(causal=True, chunk=C)),
        anchor(lambda i, j: math.floor(i / C) == math.floor(j / C) and j <= i))


@pytest.mark.parametrize("W,G", [(3, 2), (1, 4)])
def test_mask_anchor_hybrid(W, G):
    np.testing.assert_array_equal(
        ref.mask_matrix(N_ANCHOR, N_ANCHOR, dict(causal=True, window_left=W - 1, global_=G)),
        anchor(lambda i, j: j <= i and (i - j < W or j < G)))


def naive_bucket(rel, bidirectional, num_buckets, max_distance):
    ret = 0
    if bidirectional:
        num_buckets //= 2
        if rel > 0:
            ret += num_buckets
        n = abs(rel)
    else:
        n = -min(rel, 0)
    max_exact = num_buckets // 2
    if n < max_exact:
        return ret + n
    large = max_exact + int(math.log(n / max_exact) / math.log(max_distance / max_exact)
                            * (num_buckets - max_exact))
    return ret + min(large, num_buckets - 1)


def test_relative_position_bucket_matches_loop():
    rel = np.arange(-300, 301)
    for nb, md, bi in itertools.product([4, 8, 32, 64], [16, 128], [False, True]):
        if md <= (nb // 2 if bi else nb) // 2:
            continue  # undefined (log of a ratio <= 1): the reference raises
        got = ref.relative_position_bucket(rel, bi, nb, md)
        want = [naive_bucket(int(r), bi, nb, md) for r in rel]
        np.testing.assert_array_equal(got, want, err_msg=f"{nb} {md} {bi}")
    with pytest.raises(ValueError):
        ref.relative_position_bucket(rel, True, 64, 16)
    with pytest.raises(ValueError):
        ref.relative_position_bucket(rel, True, 2, 128)


def test_relative_position_bucket_known_values():
    # T5 defaults: 32 buckets, max distance 128.
    b = lambda r, bi: int(ref.relative_position_bucket(np.array(r), bi, 32, 128))  # noqa
    # Bidirectional: 16 buckets per direction, 8 exact.
    assert [b(r, True) for r in (0, -1, -7, -8, -12, -16, -32, -64, -127, -128, -10**6)] == \
        [0, 1, 7, 8, 9, 10, 12, 14, 15, 15, 15]
    assert [b(r, True) for r in (1, 7, 8, 16, 10**6)] == [17, 23, 24, 26, 31]
    # Causal: the future is bucket 0; 16 exact, log(n/16)/log(8)*16.
    assert [b(r, False) for r in (5, 0, -5, -15, -16, -32, -64, -127, -500)] == \
        [0, 0, 5, 15, 16, 21, 26, 31, 31]


def test_relative_position_bucket_agrees_with_float32_hf_arithmetic():
    # HF evaluates the log in float32; the float64 reference must land in the
    # same bucket (at the exact boundaries n = max_exact * r^k too).
    rel = np.arange(-1100, 1101)
    for nb, md, bi in itertools.product([16, 32, 64, 128], [64, 128, 256, 1000],
                                        [False, True]):
        nbh = nb // 2 if bi else nb
        me = nbh // 2
        if md <= me:
            continue
        n = np.abs(rel) if bi else -np.minimum(rel, 0)
        n32 = np.maximum(n, me).astype(np.float32)
        v = (np.log(n32 / np.float32(me)) / np.float32(math.log(md / me))
             * np.float32(nbh - me))
        large = np.minimum(me + np.trunc(v).astype(np.int64), nbh - 1)
        want = np.where(n < me, n, large) + ((rel > 0) * nbh if bi else 0)
        np.testing.assert_array_equal(ref.relative_position_bucket(rel, bi, nb, md),
                                      want, err_msg=f"{nb} {md} {bi}")


# =============================================================================
# Attention: outputs
# =============================================================================

def dense_attention(q, k, v, mask=None, scale=None, softcap=None, bias=None,
                    max_distance=128):
    """Dense-matrix formulation: repeat kv heads, full score matrix, -inf mask."""
    B, Hq, Sq, D = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    kr = np.repeat(k, Hq // Hkv, axis=1)
    vr = np.repeat(v, Hq // Hkv, axis=1)
    s = (q @ kr.transpose(0, 1, 3, 2)) * (1 / math.sqrt(D) if scale is None else scale)
    if softcap:
        s = softcap * np.tanh(s / softcap)
    causal = bool(mask and mask.get("causal"))
    if bias is not None:
        for i in range(Sq):
            for j in range(Sk):
                bk = naive_bucket(j - (i + Sk - Sq), not causal, bias.shape[1], max_distance)
                s[:, :, i, j] += bias[:, bk]
    vis = np.array([[naive_visible(i, j, Sq, Sk, **(mask or {})) for j in range(Sk)]
                    for i in range(Sq)], dtype=bool)
    e = np.where(vis, np.exp(s), 0.0)          # scores are O(1): no shift needed
    den = e.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(den > 0, e / den, 0.0)
        lse = np.log(den[..., 0])
    return p @ vr, lse


ATTN_CASES = [
    # (B, Hq, Hkv, Sq, Sk, D, Dv, kwargs)
    (2, 4, 4, 5, 5, 8, 8, {}),
    (2, 4, 2, 5, 5, 8, 6, dict(mask=dict(causal=True))),
    (1, 6, 1, 3, 9, 4, 5, dict(mask=dict(causal=True, window_left=3))),           # MQA
    (1, 4, 2, 7, 7, 8, 8, dict(mask=dict(causal=True, window_left=2, dilation=2,
                                         global_=2))),
    (2, 2, 1, 6, 6, 8, 4, dict(mask=dict(chunk=3), scale=0.7)),
    (1, 4, 2, 6, 6, 8, 8, dict(mask=dict(window_left=1, window_right=2), softcap=2.5)),
    (1, 2, 2, 6, 8, 4, 4, dict(bias=True)),                                       # bidir
    (1, 4, 2, 6, 8, 4, 4, dict(mask=dict(causal=True), bias=True, softcap=1.5)),  # causal
    (1, 2, 1, 8, 5, 4, 4, dict(mask=dict(causal=True))),      # Sq > Sk: empty rows
]


@pytest.mark.parametrize("case", ATTN_CASES)
def test_attention_matches_dense(case):
    B, Hq, Hkv, Sq, Sk, D, Dv, kw = case
    r = rng(20)
    q = r.standard_normal((B, Hq, Sq, D))
    k = r.standard_normal((B, Hkv, Sk, D))
    v = r.standard_normal((B, Hkv, Sk, Dv))
    kw = dict(kw)
    if kw.pop("bias", False):
        kw["bias"] = r.standard_normal((Hq, 8))
        kw["bias_max_distance"] = 12
    out, lse = ref.attention(q, k, v, return_lse=True, **kw)
    want, want_lse = dense_attention(q, k, v, mask=kw.get("mask"), scale=kw.get("scale"),
                                     softcap=kw.get("softcap"), bias=kw.get("bias"),
                                     max_distance=kw.get("bias_max_distance", 128))
    assert out.shape == (B, Hq, Sq, Dv) and lse.shape == (B, Hq, Sq)
    np.testing.assert_allclose(out, want, **TIGHT)
    np.testing.assert_allclose(lse, want_lse, **TIGHT)
    np.testing.assert_array_equal(ref.attention(q, k, v, **kw), out)


def test_attention_matches_scalar_loops():
    r = rng(21)
    B, Hq, Hkv, Sq, Sk, D, Dv = 1, 4, 2, 4, 6, 3, 2
    q = r.standard_normal((B, Hq, Sq, D))
    k = r.standard_normal((B, Hkv, Sk, D))
    v = r.standard_normal((B, Hkv, Sk, Dv))
    mask = dict(causal=True, window_left=2)
    out, lse = ref.attention(q, k, v, mask=mask, return_lse=True, softcap=3.0, scale=0.9)
    for b, h, i in itertools.product(range(B), range(Hq), range(Sq)):
        hk = h // (Hq // Hkv)
        js = [j for j in range(Sk) if naive_visible(i, j, Sq, Sk, **mask)]
        sc = {}
        for j in js:
            s = 0.9 * math.fsum(q[b, h, i, d] * k[b, hk, j, d] for d in range(D))
            sc[j] = 3.0 * math.tanh(s / 3.0)
        z = math.fsum(math.exp(sc[j]) for j in js)
        assert lse[b, h, i] == pytest.approx(math.log(z), rel=1e-13)
        for e in range(Dv):
            o = math.fsum(math.exp(sc[j]) / z * v[b, hk, j, e] for j in js)
            assert out[b, h, i, e] == pytest.approx(o, rel=1e-12, abs=1e-13)


def test_attention_gqa_head_mapping():
    # Query head h must use kv head h // (Hq / Hkv): compare with single-head calls.
    r = rng(22)
    q = r.standard_normal((1, 6, 4, 4))
    k = r.standard_normal((1, 3, 4, 4))
    v = r.standard_normal((1, 3, 4, 4))
    out = ref.attention(q, k, v, mask=dict(causal=True))
    for h in range(6):
        g = h // 2
        one = ref.attention(q[:, h:h + 1], k[:, g:g + 1], v[:, g:g + 1], mask=dict(causal=True))
        np.testing.assert_allclose(out[:, h:h + 1], one, **TIGHT)


def test_attention_closed_forms():
    r = rng(23)
    S, D = 6, 4
    k = r.standard_normal((1, 1, S, D))
    v = r.standard_normal((1, 1, S, 3))
    q = r.standard_normal((1, 1, S, D))
    # Each query sees only itself: output is its own value row, lse its score.
    out, lse = ref.attention(q, k, v, mask=dict(causal=True, window_left=0),
                             return_lse=True)
    np.testing.assert_allclose(out, v, **TIGHT)
    np.testing.assert_allclose(lse[0, 0], np.sum(q * k, -1)[0, 0] / 2.0, **TIGHT)
    # Zero query: uniform weights, output = running mean of visible values.
    out, lse = ref.attention(np.zeros_like(q), k, v, mask=dict(causal=True),
                             return_lse=True)
    np.testing.assert_allclose(out[0, 0], np.cumsum(v[0, 0], 0) / np.arange(1, S + 1)[:, None],
                               **TIGHT)
    np.testing.assert_allclose(lse[0, 0], np.log(np.arange(1, S + 1)), **TIGHT)


def test_attention_empty_rows_and_bias_shift():
    r = rng(24)
    q = r.standard_normal((1, 2, 5, 4))
    k = r.standard_normal((1, 2, 3, 4))
    v = r.standard_normal((1, 2, 3, 4))
    # Sq > Sk with causal: the first Sq - Sk queries (p < 0) see no key.
    out, lse = ref.attention(q, k, v, mask=dict(causal=True), return_lse=True)
    np.testing.assert_array_equal(out[:, :, :2], 0.0)
    assert np.all(np.isneginf(lse[:, :, :2])) and np.all(np.isfinite(lse[:, :, 2:]))
    # A bias constant over the buckets leaves out unchanged and shifts lse.
    c = np.array([[0.5] * 8, [-2.0] * 8])
    out_b, lse_b = ref.attention(q, k, v, bias=c, return_lse=True)
    out_n, lse_n = ref.attention(q, k, v, return_lse=True)
    np.testing.assert_allclose(out_b, out_n, **TIGHT)
    np.testing.assert_allclose(lse_b - lse_n, np.array([0.5, -2.0])[None, :, None]
                               * np.ones((1, 2, 5)), **TIGHT)


def test_attention_softcap_and_stability():
    r = rng(25)
    q = r.standard_normal((1, 1, 4, 4)) * 30
    k = r.standard_normal((1, 1, 4, 4)) * 30
    v = r.standard_normal((1, 1, 4, 2))
    # Huge scores: no overflow, lse = max + log-sum of the rest.
    out, lse = ref.attention(q, k, v, return_lse=True)
    s = (q @ k.transpose(0, 1, 3, 2))[0, 0] / 2.0
    assert np.all(np.isfinite(out))
    m = s.max(-1)
    np.testing.assert_allclose(lse[0, 0], m + np.log(np.exp(s - m[:, None]).sum(-1)), **TIGHT)
    # A very large cap changes nothing measurable; a small one bounds scores.
    np.testing.assert_allclose(ref.attention(q, k, v, softcap=1e9), out, rtol=1e-9)
    _, lse_c = ref.attention(q, k, v, softcap=0.5, return_lse=True)
    assert np.all(lse_c <= 0.5 + math.log(4) + 1e-12)


# =============================================================================
# Linear, embedding, conv1d
# =============================================================================

def test_linear_matches_loop():
    r = rng(30)
    x = r.standard_normal((2, 3, 4))
    w = r.standard_normal((5, 4))
    b = r.standard_normal(5)
    got = ref.linear(x, w, b)
    nob = ref.linear(x, w)
    for idx in np.ndindex(2, 3):
        for n in range(5):
            s = math.fsum(x[idx + (kk,)] * w[n, kk] for kk in range(4))
            assert nob[idx + (n,)] == pytest.approx(s, abs=1e-13)
            assert got[idx + (n,)] == pytest.approx(s + b[n], abs=1e-13)


def test_embedding_matches_loop_and_rejects_out_of_range():
    r = rng(31)
    table = r.standard_normal((7, 3))
    ids = np.array([[0, 6, 2], [2, 2, 5]])
    got = ref.embedding(ids, table)
    assert got.shape == (2, 3, 3)
    for a, bb in np.ndindex(ids.shape):
        np.testing.assert_array_equal(got[a, bb], table[ids[a, bb]])
    for bad in ([-1], [7]):
        with pytest.raises(ValueError):
            ref.embedding(np.array(bad), table)


def naive_conv1d(x, w, b, groups, padding):
    B, S, cin = x.shape
    cout, cg, K = w.shape
    left = K - 1 if padding == "causal" else (K - 1) // 2
    og = cout // groups
    out = np.zeros((B, S, cout))
    for bb in range(B):
        for t in range(S):
            for o in range(cout):
                g = o // og
                acc = [] if b is None else [b[o]]
                for c in range(cg):
                    for kk in range(K):
                        src = t + kk - left          # xpad[t + kk] = x[t + kk - left]
                        if 0 <= src < S:
                            acc.append(w[o, c, kk] * x[bb, src, g * cg + c])
                out[bb, t, o] = math.fsum(acc)
    return out


@pytest.mark.parametrize("padding", ["causal", "same"])
@pytest.mark.parametrize("cin,cout,groups,K", [(4, 6, 1, 3), (4, 6, 2, 4), (6, 6, 6, 4),
                                                (6, 6, 6, 1), (3, 3, 3, 5)])
@pytest.mark.parametrize("with_bias", [False, True])
def test_conv1d_matches_loop(padding, cin, cout, groups, K, with_bias):
    r = rng(32)
    x = r.standard_normal((2, 7, cin))
    w = r.standard_normal((cout, cin // groups, K))
    b = r.standard_normal(cout) if with_bias else None
    got = ref.conv1d(x, w, b, groups=groups, padding=padding)
    assert got.shape == (2, 7, cout)
    np.testing.assert_allclose(got, naive_conv1d(x, w, b, groups, padding), **TIGHT)


def test_conv1d_single_channel_equals_numpy_correlate_and_is_causal():
    r = rng(33)
    x = r.standard_normal(9)
    w = r.standard_normal(4)
    got = ref.conv1d(x.reshape(1, 9, 1), w.reshape(1, 1, 4))[0, :, 0]
    np.testing.assert_allclose(got, np.correlate(np.concatenate([np.zeros(3), x]), w, "valid"),
                               **TIGHT)
    got_same = ref.conv1d(x.reshape(1, 9, 1), w.reshape(1, 1, 4), padding="same")[0, :, 0]
    np.testing.assert_allclose(got_same, np.correlate(np.concatenate([[0.0], x, [0, 0]]), w,
                                                      "valid"), **TIGHT)
    # Causality: changing x[t0] leaves outputs before t0 unchanged.
    x2 = x.copy()
    x2[5] += 1.0
    got2 = ref.conv1d(x2.reshape(1, 9, 1), w.reshape(1, 1, 4))[0, :, 0]
    np.testing.assert_array_equal(got2[:5], got[:5])
    assert np.all(got2[5:9] != got[5:9])


# =============================================================================
# Normalization
# =============================================================================

def test_norms_match_loops():
    r = rng(40)
    x = r.standard_normal((3, 4, 6)) * 3
    w = r.standard_normal(6)
    b = r.standard_normal(6)
    rms = ref.rms_norm(x, w, eps=1e-3)
    ln = ref.layer_norm(x, w, b, eps=1e-3)
    l2 = ref.l2_normalize(x)
    for idx in np.ndindex(3, 4):
        row = [float(v) for v in x[idx]]
        ms = math.fsum(v * v for v in row) / 6
        mu = math.fsum(row) / 6
        var = math.fsum((v - mu) ** 2 for v in row) / 6
        nrm = math.sqrt(math.fsum(v * v for v in row))
        for c in range(6):
            assert rms[idx + (c,)] == pytest.approx(row[c] / math.sqrt(ms + 1e-3) * w[c],
                                                    rel=1e-13, abs=1e-14)
            assert ln[idx + (c,)] == pytest.approx(
                (row[c] - mu) / math.sqrt(var + 1e-3) * w[c] + b[c], rel=1e-12, abs=1e-13)
            assert l2[idx + (c,)] == pytest.approx(row[c] / nrm, rel=1e-13)


def test_norm_identities():
    r = rng(41)
    x = r.standard_normal((5, 16)) * 4 + 2
    ones = np.ones(16)
    y = ref.layer_norm(x, ones, eps=0.0)
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-13)
    np.testing.assert_allclose(y.var(-1), 1.0, rtol=1e-13)
    np.testing.assert_allclose(ref.layer_norm(x, ones), ref.layer_norm(x, ones, None), **TIGHT)
    # rms_norm without eps gives unit root-mean-square; of a constant row, sign.
    y = ref.rms_norm(x, ones, eps=0.0)
    np.testing.assert_allclose(np.sqrt(np.mean(y * y, -1)), 1.0, rtol=1e-13)
    np.testing.assert_allclose(ref.rms_norm(np.full((2, 4), -3.0), ones[:4], eps=0.0), -1.0,
                               **TIGHT)
    # l2_normalize: unit norm; zero row stays zero; a tiny row is divided by eps.
    np.testing.assert_allclose(np.linalg.norm(ref.l2_normalize(x), axis=-1), 1.0, rtol=1e-14)
    np.testing.assert_array_equal(ref.l2_normalize(np.zeros((2, 3))), 0.0)
    tiny = np.array([3e-14, 4e-14])
    np.testing.assert_allclose(ref.l2_normalize(tiny), tiny / 1e-12, rtol=1e-15)
    np.testing.assert_allclose(ref.l2_normalize(tiny, eps=1e-15), [0.6, 0.8], rtol=1e-14)


# =============================================================================
# Elementwise ops and activations
# =============================================================================

def test_add_mul_broadcast_match_loops():
    r = rng(50)
    a = r.standard_normal((2, 1, 4))
    b = r.standard_normal((3, 1))
    s, p = ref.add(a, b), ref.mul(a, b)
    assert s.shape == p.shape == (2, 3, 4)
    for i, j, kk in np.ndindex(2, 3, 4):
        assert s[i, j, kk] == a[i, 0, kk] + b[j, 0]
        assert p[i, j, kk] == a[i, 0, kk] * b[j, 0]


def test_activations_match_scalar_formulas():
    xs = np.array([-40.0, -10.0, -3.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 1.0, 2.0, 7.0, 40.0])
    relu, silu, sig = ref.relu(xs), ref.silu(xs), ref.sigmoid(xs)
    gelu, gelu_t = ref.gelu(xs), ref.gelu(xs, approximate="tanh")
    up = np.linspace(-2, 2, len(xs))
    sw = ref.swiglu(xs, up)
    for i, x in enumerate(xs):
        s = 1 / (1 + math.exp(-x))
        assert relu[i] == max(x, 0.0)
        assert sig[i] == pytest.approx(s, rel=1e-15)
        assert silu[i] == pytest.approx(x * s, rel=1e-15, abs=1e-300)
        assert gelu[i] == pytest.approx(0.5 * x * (1 + math.erf(x / math.sqrt(2))),
                                        rel=1e-15, abs=1e-300)
        assert gelu_t[i] == pytest.approx(
            0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
            rel=1e-15, abs=1e-300)
        assert sw[i] == pytest.approx(x * s * up[i], rel=1e-15, abs=1e-300)


def test_activation_known_values_and_tails():
    # Phi(1) = 0.8413447460685429...
    assert ref.gelu(np.array(1.0)) == pytest.approx(0.8413447460685429, rel=1e-15)
    assert ref.gelu(np.array(-1.0)) == pytest.approx(-0.15865525393145707, rel=1e-14)
    assert float(ref.silu(np.array(0.0))) == 0.0
    # Tails: no overflow warnings, relative accuracy of sigmoid in the far left tail.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        x = np.array([-800.0, -700.0, 700.0, 800.0])
        np.testing.assert_allclose(ref.sigmoid(x[:2]), np.exp(x[:2]), rtol=1e-15)
        np.testing.assert_array_equal(ref.silu(x[2:]), x[2:])
    assert ref.sigmoid(np.array(-30.0)) == pytest.approx(math.exp(-30) / (1 + math.exp(-30)),
                                                         rel=1e-15)
    # The tanh approximation stays within 1e-3 of the exact GELU.
    x = np.linspace(-6, 6, 1001)
    assert np.max(np.abs(ref.gelu(x) - ref.gelu(x, "tanh"))) < 1e-3
    with pytest.raises(ValueError):
        ref.gelu(x, "sigmoid")


def test_softmax_matches_loop_and_identities():
    r = rng(51)
    x = r.standard_normal((3, 5)) * 4
    for axis in (-1, 0, 1):
        got = ref.softmax(x, axis=axis)
        xt = np.moveaxis(x, axis, -1)
        gt = np.moveaxis(got, axis, -1)
        for idx in np.ndindex(xt.shape[:-1]):
            z = math.fsum(math.exp(v) for v in xt[idx])
            np.testing.assert_allclose(gt[idx], [math.exp(v) / z for v in xt[idx]], **TIGHT)
        np.testing.assert_allclose(got.sum(axis), 1.0, **TIGHT)
    np.testing.assert_allclose(ref.softmax(x + 123.0), ref.softmax(x), **TIGHT)
    big = ref.softmax(np.array([1000.0, 1001.0, 999.0]))
    e = np.exp([-1.0, 0.0, -2.0])
    np.testing.assert_allclose(big, e / e.sum(), **TIGHT)


# =============================================================================
# Head layout, sinusoidal embedding, cross entropy
# =============================================================================

def test_split_merge_heads_index_mapping():
    B, S, H, D = 2, 3, 4, 5
    x = rng(60).standard_normal((B, S, H * D))
    y = ref.split_heads(x, H)
    assert y.shape == (B, H, S, D)
    for b, h, s, d in np.ndindex(B, H, S, D):
        assert y[b, h, s, d] == x[b, s, h * D + d]
    np.testing.assert_array_equal(ref.merge_heads(y), x)
    with pytest.raises(ValueError):
        ref.split_heads(x, 3)


def test_sinusoidal_embedding_matches_loop():
    pos = np.array([[0, 1, 5], [7, 100, 3]])
    freqs = np.array([1.0, 0.1, 0.01, 2.5])
    got = ref.sinusoidal_embedding(pos, freqs)
    assert got.shape == (2, 3, 8)
    for a, b in np.ndindex(pos.shape):
        p = int(pos[a, b])
        want = [math.sin(p * f) for f in freqs] + [math.cos(p * f) for f in freqs]
        np.testing.assert_allclose(got[a, b], want, **TIGHT)
    np.testing.assert_allclose(got[..., :4] ** 2 + got[..., 4:] ** 2, 1.0, **TIGHT)


def test_cross_entropy_matches_loop():
    r = rng(61)
    logits = r.standard_normal((2, 4, 6)) * 3
    labels = np.array([[0, 5, -100, 2], [3, -100, 1, 1]])
    got = ref.cross_entropy(logits, labels)
    terms = []
    for a, b in np.ndindex(labels.shape):
        if labels[a, b] == -100:
            continue
        row = logits[a, b]
        lse = math.log(math.fsum(math.exp(v) for v in row))
        terms.append(lse - row[labels[a, b]])
    assert got == pytest.approx(math.fsum(terms) / len(terms), rel=1e-13)
    # Custom ignore index, nothing counted, uniform logits, huge logits.
    assert ref.cross_entropy(logits, np.where(labels == -100, 0, labels), ignore_index=5) == \
        pytest.approx(ref.cross_entropy(logits, np.where(labels == -100, 0,
                                                         np.where(labels == 5, -100, labels))),
                      rel=1e-15)
    assert ref.cross_entropy(logits, np.full((2, 4), -100)) == 0.0
    assert ref.cross_entropy(np.zeros((3, 7)), np.array([0, 3, 6])) == pytest.approx(math.log(7))
    big = np.array([[1000.0, 0.0, 0.0]])
    assert ref.cross_entropy(big, np.array([0])) == pytest.approx(2 * math.exp(-1000), abs=1e-300)
    assert ref.cross_entropy(big, np.array([1])) == pytest.approx(1000.0, rel=1e-15)
    with pytest.raises(ValueError):
        ref.cross_entropy(big, np.array([3]))


# =============================================================================
# Comparison helpers
# =============================================================================

def test_tolerances():
    assert ref.tolerances(np.float64) == (1e-10, 1e-12)
    assert ref.tolerances("f32") == (2e-5, 2e-5)
    assert ref.tolerances(np.float32) == ref.tolerances("float32")
    assert ref.tolerances("bf16") == ref.tolerances("bfloat16") == (2e-2, 2e-2)
    assert ref.tolerances(np.float16) == (5e-3, 5e-3)
    rt, at = ref.tolerances("f32", reduction=4096)
    assert rt == 2e-5 and at == pytest.approx(2e-5 * 64)
    order = [ref.tolerances(d) for d in ("f64", "f32", "f16", "bf16")]
    assert order == sorted(order)
    # Each tolerance covers at least the final rounding to the format.
    x = rng(70).standard_normal(10000)
    for d, rnd in (("bf16", ref.bf16_round), ("f16", ref.f16_round),
                   ("f32", lambda v: v.astype(np.float32).astype(np.float64))):
        ref.assert_close(rnd(x), x, d)
    with pytest.raises(ValueError):
        ref.tolerances("int8")
    with pytest.raises(AssertionError):
        ref.assert_close(1.0 + 1e-3, 1.0, "f32")


def bf16_via_float32_bits(x32):
    """Textbook float32 -> bfloat16 round-to-nearest-even on the bit pattern."""
    bits = x32.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32).astype(np.float64)


def test_bf16_round_matches_bit_trick():
    r = rng(71)
    bits = r.integers(0, 2 ** 32, 200000, dtype=np.uint64).astype(np.uint32)
    x32 = bits.view(np.float32)
    x32 = x32[~np.isnan(x32)]
    np.testing.assert_array_equal(ref.bf16_round(x32.astype(np.float64)),
                                  bf16_via_float32_bits(x32))


def test_bf16_round_known_values():
    u = 2.0 ** -7  # ulp of bf16 at 1
    cases = {
        1.0 + u / 2: 1.0,                       # tie -> even (1.0)
        1.0 + 3 * u / 2: 1.0 + 2 * u,           # tie -> even (mantissa 2)
        1.0 + u / 2 + 2.0 ** -30: 1.0 + u,      # above the tie: no double rounding
        -(1.0 + u / 2 + 2.0 ** -30): -(1.0 + u),
        3.0e38: 2.996e38,
        3.4e38: math.inf,                       # above max + half ulp
        2.0 ** -133: 2.0 ** -133,               # smallest subnormal
        2.0 ** -135: 0.0,
        0.0: 0.0,
    }
    for x, want in cases.items():
        got = float(ref.bf16_round(np.array(x)))
        if x == 3.0e38:
            assert got == pytest.approx(want, rel=4e-3) and got == float(np.float32(got))
        else:
            assert got == want, (x, got, want)
    assert np.isnan(ref.bf16_round(np.array(np.nan)))
    assert ref.bf16_round(np.array(-np.inf)) == -np.inf
    # Rounding is idempotent.
    x = rng(72).standard_normal(1000)
    np.testing.assert_array_equal(ref.bf16_round(ref.bf16_round(x)), ref.bf16_round(x))


def test_f16_round_matches_numpy_cast():
    r = rng(73)
    x = np.concatenate([r.standard_normal(50000) * 10.0 ** r.integers(-9, 6, 50000),
                        [65504.0, 65519.99, 65520.0, 1e6, 2.0 ** -24, 2.0 ** -25,
                         2.0 ** -25 * 1.0000001, 1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11]])
    x = np.concatenate([x, -x])
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).astype(np.float64)
    np.testing.assert_array_equal(ref.f16_round(x), want)


def test_finite_difference_grad_on_known_functions():
    r = rng(74)
    x = r.standard_normal((3, 4))
    x0 = x.copy()

    def f(v):
        return np.sum(np.sin(v) * v ** 2)

    g = ref.finite_difference_grad(f, x)
    np.testing.assert_allclose(g, np.cos(x) * x ** 2 + 2 * x * np.sin(x), rtol=1e-8, atol=1e-8)
    np.testing.assert_array_equal(x, x0)       # input untouched
    A = r.standard_normal((5, 5))
    y = r.standard_normal(5)
    g = ref.finite_difference_grad(lambda v: 0.5 * v @ A @ v, y)
    np.testing.assert_allclose(g, 0.5 * (A + A.T) @ y, rtol=1e-8, atol=1e-8)
    # Scalar (0-d) input, e.g. a learned RoPE base: d/db of rope output.
    g = ref.finite_difference_grad(lambda b: float(b) ** 3, np.array(2.0), eps=1e-5)
    assert g.shape == () and float(g) == pytest.approx(12.0, rel=1e-9)
