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


def alibi_attention(q, k, v, mask: Optional[Mapping] = None,
                    scale: Optional[float] = None, slopes=None,
                    max_bias: float = 8.0) -> np.ndarray:
    """``softmax(scale q kᵀ - slope[h] |p - j|, masked) v`` with GQA
    (query head ``h`` uses kv head ``h // (Hq // Hkv)``), query ``i`` at
    position ``p = i + Sk - Sq``; rows without a visible key give 0."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    B, Hq, Sq, D = q.shape
    _, Hkv, Sk, _ = k.shape
    if Hq % Hkv:
        raise ValueError(f"{Hq} query heads not divisible by {Hkv}")
    group = Hq // Hkv
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    slopes = alibi_slopes(Hq, max_bias) if slopes is None else \
        np.asarray(slopes, dtype=np.float64)

    kh = np.repeat(k, group, axis=1)                     # (B, Hq, Sk, D)
    vh = np.repeat(v, group, axis=1)
    s = np.einsum("bhid,bhjd->bhij", q, kh) * scale
    p = np.arange(Sq)[:, None] + (Sk - Sq)
    distance = np.abs(p - np.arange(Sk)[None, :])        # (Sq, Sk)
    s = s - slopes[None, :, None, None] * distance[None, None]
    visible = R.mask_matrix(Sq, Sk, mask)
    s = np.where(visible, s, -np.inf)
    out = np.zeros((B, Hq, Sq, v.shape[-1]))
    rows = visible.any(axis=1)                            # (Sq,)
    if rows.any():
        sv = s[:, :, rows]
        e = np.exp(sv - sv.max(axis=-1, keepdims=True))
        out[:, :, rows] = np.einsum("bhij,bhje->bhie", e, vh) / \
            e.sum(axis=-1)[..., None]
    return out
