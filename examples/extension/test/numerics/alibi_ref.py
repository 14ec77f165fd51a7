"""Float64 NumPy reference of alibi.attention.

Masks, tolerances and bf16 rounding come from Rotor's reference
(rotor_ref.py, installed in ROTOR_PYTHON_DIR), so that #rotor.mask means the
same here as for rotor.attention.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional

import numpy as np

import rotor_ref as R


def alibi_slopes(num_heads: int, max_bias: float = 8.0) -> np.ndarray:
    """The ALiBi slopes, as BLOOM's ``build_alibi_tensor`` computes them
    (with its 8 replaced by ``max_bias``): for the largest power of two
    ``n <= num_heads``, ``r^1 .. r^n`` with ``r = 2^(-max_bias / n)``, then
    the odd powers ``r2^1, r2^3, ...`` of ``r2 = 2^(-max_bias / 2n)`` for the
    remaining heads."""
    if num_heads < 1:
        raise ValueError("num_heads must be >= 1")
    n = 2 ** math.floor(math.log2(num_heads))
    ratio = 2.0 ** (-max_bias / n)
    slopes = [ratio ** p for p in range(1, n + 1)]
    finer = 2.0 ** (-max_bias / (2 * n))
    slopes += [finer ** p for p in range(1, 2 * (num_heads - n), 2)]
    return np.array(slopes, dtype=np.float64)


def _probabilities(q, k, mask, scale, slopes, max_bias):
    """The attention probabilities (B, Hq, Sq, Sk) of ``q`` against ``k``
    repeated to the query heads (rows without a visible key are 0), and
    the scale used."""
    B, Hq, Sq, D = q.shape
    _, Hkv, Sk, _ = k.shape
    if Hq % Hkv:
        raise ValueError(f"{Hq} query heads not divisible by {Hkv}")
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    slopes = alibi_slopes(Hq, max_bias) if slopes is None else \
        np.asarray(slopes, dtype=np.float64)
    kh = np.repeat(k, Hq // Hkv, axis=1)                 # (B, Hq, Sk, D)
    s = np.einsum("bhid,bhjd->bhij", q, kh) * scale
    p = np.arange(Sq)[:, None] + (Sk - Sq)
    distance = np.abs(p - np.arange(Sk)[None, :])        # (Sq, Sk)
    s = s - slopes[None, :, None, None] * distance[None, None]
    visible = R.mask_matrix(Sq, Sk, mask)
    s = np.where(visible, s, -np.inf)
    row_max = s.max(axis=-1, keepdims=True) if Sk else \
        np.full(s.shape[:-1] + (1,), -np.inf)
    e = np.exp(s - np.where(np.isfinite(row_max), row_max, 0.0))
    total = e.sum(axis=-1, keepdims=True)
    return np.where(total > 0, e / np.where(total > 0, total, 1.0), 0.0), scale


def _f64(*xs):
    return [np.asarray(x, dtype=np.float64) for x in xs]


def alibi_attention(q, k, v, mask: Optional[Mapping] = None,
                    scale: Optional[float] = None, slopes=None,
                    max_bias: float = 8.0) -> np.ndarray:
    """``softmax(scale q kᵀ - slope[h] |p - j|, masked) v`` with GQA
    (query head ``h`` uses kv head ``h // (Hq // Hkv)``), query ``i`` at
    position ``p = i + Sk - Sq``; rows without a visible key give 0."""
    q, k, v = _f64(q, k, v)
    probs, _ = _probabilities(q, k, mask, scale, slopes, max_bias)
    vh = np.repeat(v, q.shape[1] // k.shape[1], axis=1)
    return np.einsum("bhij,bhje->bhie", probs, vh)


def alibi_attention_vjp(q, k, v, dout, mask: Optional[Mapping] = None,
                        scale: Optional[float] = None, slopes=None,
                        max_bias: float = 8.0):
    """The vector-Jacobian product of :func:`alibi_attention`: the cotangents
    ``(dq, dk, dv)`` for the output cotangent ``dout``. The bias is constant,
    so this is the attention backward on the biased scores::

        dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP - rowsum(dP ⊙ P)),
        dQ = scale dS K,  dK = scale dSᵀ Q

    with dK and dV summed over the query heads of each key/value head. This
    is the rule a gradient of alibi.attention must implement
    (docs/extending.md, "Adding a gradient rule")."""
    q, k, v, dout = _f64(q, k, v, dout)
    B, Hq, _, _ = q.shape
    Hkv = k.shape[1]
    group = Hq // Hkv
    probs, scale = _probabilities(q, k, mask, scale, slopes, max_bias)
    kh, vh = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    dp = np.einsum("bhie,bhje->bhij", dout, vh)
    ds = probs * (dp - (dp * probs).sum(axis=-1, keepdims=True))
    dq = scale * np.einsum("bhij,bhjd->bhid", ds, kh)
    dk = scale * np.einsum("bhij,bhid->bhjd", ds, q)
    dv = np.einsum("bhij,bhie->bhje", probs, dout)

    def per_kv_head(x):
        return x.reshape(B, Hkv, group, *x.shape[2:]).sum(axis=2)

    return dq, per_kv_head(dk), per_kv_head(dv)
