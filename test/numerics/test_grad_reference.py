"""The float64 backward references of test/gpu/grad_ref.py (what the GPU
cases compare the CUDA backward kernels with) against central finite
differences of the forward reference, rotor_ref.py."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "gpu"))

import grad_ref as G  # noqa: E402
import rotor_ref as R  # noqa: E402


def finite_difference(f, x, eps=1e-6):
    """d f / d x of a scalar function, element by element."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


ATTENTION = [
    # name, Hq, Hkv, Sq, Sk, D, mask, softcap, buckets, max_distance
    ("causal_gqa2", 4, 2, 5, 5, 3, {"causal": True}, None, 0, 0),
    ("window_sq_lt_sk", 2, 1, 4, 9, 3, {"causal": True, "window_left": 3}, None, 0, 0),
    ("hybrid_softcap", 2, 2, 7, 7, 4, {"causal": True, "window_left": 1, "global_": 2}, 1.5, 0, 0),
    ("bias_causal_gqa2", 4, 2, 6, 6, 3, {"causal": True}, None, 6, 8),
    ("bias_full_softcap", 2, 1, 5, 8, 3, {}, 2.0, 8, 6),
    ("bias_dilated", 2, 2, 9, 9, 2, {"causal": True, "window_left": 4, "dilation": 2}, None, 5, 16),
]


@pytest.mark.parametrize("name,hq,hkv,sq,sk,d,mask,softcap,buckets,maxd", ATTENTION,
                         ids=[a[0] for a in ATTENTION])
def test_attention_grad_matches_finite_differences(name, hq, hkv, sq, sk, d, mask,
                                                   softcap, buckets, maxd):
    rng = np.random.default_rng(len(name))
    q = rng.standard_normal((1, hq, sq, d))
    k = rng.standard_normal((1, hkv, sk, d))
    v = rng.standard_normal((1, hkv, sk, d))
    do = rng.standard_normal((1, hq, sq, d))
    bias = rng.standard_normal((hq, buckets)) if buckets else None
    kw = dict(mask=mask, softcap=softcap)
    if buckets:
        kw.update(bias=bias, bias_max_distance=maxd)

    def loss():
        return float((R.attention(q, k, v, **kw) * do).sum())

    o, lse = R.attention(q, k, v, return_lse=True, **kw)
    grads = G.attention_grad(q, k, v, o, lse, do, **kw)
    wrt = [q, k, v] + ([bias] if buckets else [])
    assert len(grads) == len(wrt)
    for label, x, g in zip("qkvb", wrt, grads):
        np.testing.assert_allclose(g, finite_difference(loss, x), rtol=1e-6, atol=1e-7,
                                   err_msg=f"{name}: d{label}")
