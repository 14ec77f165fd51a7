"""Float64 NumPy reference implementation of the ops of the ``rotor`` dialect.

Every function converts its floating-point inputs to ``float64`` and returns
``float64`` results, so a compiled kernel (in any precision) can be compared
against it with :func:`tolerances` / :func:`assert_close`. The semantics follow
the op descriptions in ``dialects/include/rotor/Dialect/Rotor/RotorOps.td``
(and the attributes in ``RotorBase.td``); where those leave a detail open the
docstring says which convention is used (Hugging Face ``transformers`` for
RoPE scaling and the T5 relative position bias, PyTorch for layouts).

Only NumPy and the standard library are used. ``test_reference.py`` checks
each function here against naive loop formulations, closed forms and
identities.

Conventions
-----------
* Attention tensors are (batch, heads, seq, head_dim).
* Integer "floor" operations (``//``, ``%``) are Python's floor semantics.
* Invalid arguments raise ``ValueError``; the reference never silently wraps
  an out-of-range index (NumPy would for negative ones).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Optional, Tuple

import numpy as np

__all__ = [
    # position embeddings and rotations
    "rope", "rope_frequencies", "givens", "givens_matrix", "rotate",
    "sinusoidal_embedding",
    # attention
    "attention", "mask_matrix", "relative_position_bucket",
    # linear layers, embeddings, convolutions
    "linear", "embedding", "conv1d",
    # normalization
    "rms_norm", "layer_norm", "l2_normalize",
    # elementwise
    "add", "mul", "relu", "sigmoid", "silu", "gelu", "swiglu", "softmax",
    # head layout
    "split_heads", "merge_heads",
    # losses
    "cross_entropy",
    # comparison helpers
    "tolerances", "assert_close", "bf16_round", "f16_round",
    "finite_difference_grad",
]


def _f64(x) -> np.ndarray:
    """``x`` as a float64 ndarray (a copy only when a conversion is needed)."""
    return np.asarray(x, dtype=np.float64)


# =============================================================================
# Rotary position embedding (RoPE)
# =============================================================================

ROPE_SCALING_KINDS = ("none", "linear", "dynamic_ntk", "yarn", "llama3")

_ROPE_SCALING_DEFAULTS = {
    "kind": "none",
    "factor": 1.0,
    "original_max_position": 0,
    "beta_fast": 32.0,
    "beta_slow": 1.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "attention_factor": 0.0,
}


def _rope_scaling_params(scaling: Optional[Mapping]) -> dict:
    """The scaling dict with defaults filled in (``None`` -> kind ``none``)."""
    params = dict(_ROPE_SCALING_DEFAULTS)
    if scaling is None:
        return params
    unknown = set(scaling) - set(_ROPE_SCALING_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown rope scaling keys: {sorted(unknown)}")
    params.update(scaling)
    if params["kind"] not in ROPE_SCALING_KINDS:
        raise ValueError(f"unknown rope scaling kind {params['kind']!r}")
    # The constraints of the op verifier (RopeScalingAttr::verify).
    kind = params["kind"]
    if kind == "none":
        return params
    if params["factor"] < 1.0:
        raise ValueError(f"rope scaling factor must be >= 1, got {params['factor']}")
    if kind in ("dynamic_ntk", "yarn", "llama3") and params["original_max_position"] <= 0:
        raise ValueError(f"{kind} rope scaling needs original_max_position > 0")
    if kind == "yarn" and not params["beta_fast"] > params["beta_slow"] > 0:
        raise ValueError("yarn rope scaling needs beta_fast > beta_slow > 0")
    if kind == "llama3" and not params["high_freq_factor"] > params["low_freq_factor"] > 0:
        raise ValueError("llama3 rope scaling needs high_freq_factor > low_freq_factor > 0")
    if params["attention_factor"] < 0:
        raise ValueError("attention_factor must be >= 0 (0 selects the default)")
    return params


def rope_frequencies(rotary_dim: int, base=10000.0,
                     scaling: Optional[Mapping] = None,
                     seq_len: Optional[int] = None) -> Tuple[np.ndarray, float]:
    """Inverse frequencies and cos/sin multiplier of RoPE.

    Returns ``(inv_freq, attention_factor)`` with ``inv_freq`` of shape
    (rotary_dim / 2,). Unscaled, with ``R = rotary_dim``::

        inv_freq[i] = base ** (-2 i / R),      i = 0 .. R/2 - 1

    and ``attention_factor = 1``. ``scaling`` (a dict, see :func:`rope`)
    adjusts them as Hugging Face ``transformers.modeling_rope_utils`` does:

    * ``linear``: ``inv_freq / factor`` (HF ``_compute_linear_scaling_rope_
      parameters``; the same as dividing the positions by ``factor``).
    * ``dynamic_ntk``: with ``L = seq_len`` (the largest position + 1) and
      ``M = original_max_position``, if ``L > M`` the base becomes
      ``base * (factor * L / M - (factor - 1)) ** (R / (R - 2))``; otherwise it
      is unchanged (HF ``_compute_dynamic_ntk_parameters`` plus the dynamic
      update, which restores the original frequencies for ``L <= M``).
    * ``yarn`` (HF ``_compute_yarn_parameters``, ``truncate=True``)::

          corr(n)  = R * ln(M / (2 pi n)) / (2 ln base)
          low      = max(floor(corr(beta_fast)), 0)
          high     = min(ceil(corr(beta_slow)), R - 1)
          ramp[i]  = clip((i - low) / (high - low), 0, 1)   (high += 0.001
                                                             if high == low)
          extra    = 1 - ramp
          inv_freq = inv_freq / factor * (1 - extra) + inv_freq * extra

      and ``attention_factor`` is the given one, or when 0,
      ``0.1 ln(factor) + 1`` (1 when ``factor <= 1``). As in HF, ``low`` is
      clamped only from below and ``high`` only from above.
    * ``llama3`` (HF ``_compute_llama3_parameters``), with
      ``wavelen = 2 pi / inv_freq``, ``lo_w = M / low_freq_factor`` and
      ``hi_w = M / high_freq_factor``::

          wavelen > lo_w  -> inv_freq / factor                 (low freq)
          wavelen < hi_w  -> inv_freq                          (high freq)
          otherwise       -> (1 - s) inv_freq / factor + s inv_freq,
                             s = (M / wavelen - low_freq_factor)
                                 / (high_freq_factor - low_freq_factor)

    ``attention_factor`` is 1 for every kind but ``yarn``. ``base`` may be a
    Python number or a 0-d array (a learned base).
    """
    if rotary_dim <= 0 or rotary_dim % 2:
        raise ValueError(f"rotary_dim must be even and positive, got {rotary_dim}")
    base = float(np.asarray(base, dtype=np.float64))
    p = _rope_scaling_params(scaling)
    kind, factor = p["kind"], float(p["factor"])
    half = rotary_dim // 2
    exponents = np.arange(0, rotary_dim, 2, dtype=np.float64) / rotary_dim

    if kind == "dynamic_ntk":
        if seq_len is None:
            raise ValueError("dynamic_ntk rope scaling needs seq_len")
        orig = p["original_max_position"]
        if seq_len > orig:
            base = base * ((factor * seq_len / orig) - (factor - 1.0)) ** (
                rotary_dim / (rotary_dim - 2))

    inv_freq = base ** (-exponents)
    attention_factor = 1.0

    if kind == "linear":
        inv_freq = inv_freq / factor
    elif kind == "yarn":
        orig = p["original_max_position"]

        def correction_dim(num_rotations):
            return (rotary_dim * math.log(orig / (num_rotations * 2 * math.pi))) \
                / (2 * math.log(base))

        low = max(math.floor(correction_dim(p["beta_fast"])), 0)
        high = min(math.ceil(correction_dim(p["beta_slow"])), rotary_dim - 1)
        if low == high:
            high += 0.001
        ramp = np.clip((np.arange(half, dtype=np.float64) - low) / (high - low),
                       0.0, 1.0)
        extrapolation_factor = 1.0 - ramp
        interpolation = inv_freq / factor
        inv_freq = interpolation * (1.0 - extrapolation_factor) \
            + inv_freq * extrapolation_factor
        attention_factor = float(p["attention_factor"])
        if attention_factor == 0.0:
            attention_factor = 1.0 if factor <= 1.0 else 0.1 * math.log(factor) + 1.0
    elif kind == "llama3":
        orig = p["original_max_position"]
        lff, hff = float(p["low_freq_factor"]), float(p["high_freq_factor"])
        wavelen = 2 * math.pi / inv_freq
        low_freq_wavelen = orig / lff
        high_freq_wavelen = orig / hff
        smooth = (orig / wavelen - lff) / (hff - lff)
        smoothed = (1.0 - smooth) * inv_freq / factor + smooth * inv_freq
        is_low = wavelen > low_freq_wavelen
        is_high = wavelen < high_freq_wavelen
        inv_freq = np.where(is_low, inv_freq / factor,
                            np.where(is_high, inv_freq, smoothed))
    return inv_freq, attention_factor


def rope(x, positions, base=10000.0, rotary_dim: Optional[int] = None,
         layout: str = "rotate_half", scaling: Optional[Mapping] = None) -> np.ndarray:
    """Rotary position embedding of ``x`` (B, H, S, D).

    ``positions`` has shape (S,) or (B, S). With ``R = rotary_dim`` (default
    D, even) and ``inv_freq, a = rope_frequencies(R, base, scaling, L)``
    (``L = max(positions) + 1``), the angle of pair ``i`` at position ``p`` is
    ``t = p * inv_freq[i]`` and the pair ``(u, w)`` becomes::

        (a (u cos t - w sin t),  a (w cos t + u sin t))

    where the pairs are

    * ``layout='rotate_half'`` (Llama / GPT-NeoX): ``(x[i], x[i + R/2])``;
    * ``layout='interleaved'`` (GPT-J): ``(x[2i], x[2i + 1])``.

    Features ``>= R`` pass through unchanged (not multiplied by ``a``).
    ``a`` (the YaRN attention factor) is 1 except for ``yarn`` scaling.
    ``scaling`` is ``None`` or a dict with keys ``kind`` (``none``,
    ``linear``, ``dynamic_ntk``, ``yarn``, ``llama3``), ``factor=1``,
    ``original_max_position=0``, ``beta_fast=32``, ``beta_slow=1``,
    ``low_freq_factor=1``, ``high_freq_factor=4``, ``attention_factor=0``.
    """
    x = _f64(x)
    if x.ndim != 4:
        raise ValueError(f"rope input must be (B, H, S, D), got shape {x.shape}")
    B, _, S, D = x.shape
    R = D if rotary_dim is None else int(rotary_dim)
    if R <= 0 or R % 2 or R > D:
        raise ValueError(f"rotary_dim must be even and in (0, {D}], got {R}")
    pos = np.asarray(positions)
    if pos.shape not in ((S,), (B, S)):
        raise ValueError(f"positions must have shape ({S},) or ({B}, {S}), "
                         f"got {pos.shape}")
    seq_len = int(np.max(pos)) + 1 if pos.size else 0
    inv_freq, attention_factor = rope_frequencies(R, base, scaling, seq_len)

    angles = pos.astype(np.float64)[..., None] * inv_freq  # (..., S, R/2)
    if pos.ndim == 2:
        angles = angles[:, None]                           # (B, 1, S, R/2)
    cos = np.cos(angles) * attention_factor
    sin = np.sin(angles) * attention_factor

    half = R // 2
    if layout == "rotate_half":
        idx_a = np.arange(half)
        idx_b = idx_a + half
    elif layout == "interleaved":
        idx_a = np.arange(0, R, 2)
        idx_b = idx_a + 1
    else:
        raise ValueError(f"unknown rope layout {layout!r}")
    a, b = x[..., idx_a], x[..., idx_b]
    out = x.copy()
    out[..., idx_a] = a * cos - b * sin
    out[..., idx_b] = b * cos + a * sin
    return out


# =============================================================================
# Givens rotations, rotations, sinusoidal embedding
# =============================================================================

def _givens_pairs(pairs, dim: int) -> np.ndarray:
    """``pairs`` (a list of (i, j), or the flat [i0, j0, i1, j1, ...] of the
    op's attribute) as an (N, 2) int array, validated against ``dim``."""
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if arr.size and (arr.min() < 0 or arr.max() >= dim):
        raise ValueError(f"givens pair index out of range [0, {dim})")
    if np.any(arr[:, 0] == arr[:, 1]):
        raise ValueError("a givens pair must name two distinct features")
    return arr


def givens(x, angles, pairs) -> np.ndarray:
    """Product of Givens rotations on the last dimension of ``x``.

    For ``k = 0 .. N-1`` in order, with ``(i, j) = pairs[k]`` and
    ``t = angles[k]``::

        y[i] = x[i] cos t - x[j] sin t
        y[j] = x[i] sin t + x[j] cos t

    (other features unchanged; the next rotation acts on ``y``). Equals
    ``x @ givens_matrix(D, angles, pairs)``.
    """
    y = _f64(x).copy()
    angles = _f64(angles).reshape(-1)
    prs = _givens_pairs(pairs, y.shape[-1])
    if len(angles) != len(prs):
        raise ValueError(f"{len(angles)} angles for {len(prs)} pairs")
    for (i, j), t in zip(prs, angles):
        c, s = math.cos(t), math.sin(t)
        xi, xj = y[..., i].copy(), y[..., j].copy()
        y[..., i] = xi * c - xj * s
        y[..., j] = xi * s + xj * c
    return y


def givens_matrix(dim: int, angles, pairs) -> np.ndarray:
    """The D x D matrix ``M = G_0 G_1 ... G_{N-1}`` with
    ``givens(x, angles, pairs) == x @ M``.

    ``G_k`` is the identity except ``G[i, i] = G[j, j] = cos t``,
    ``G[i, j] = sin t`` and ``G[j, i] = -sin t`` (row-vector convention).
    """
    angles = _f64(angles).reshape(-1)
    prs = _givens_pairs(pairs, dim)
    if len(angles) != len(prs):
        raise ValueError(f"{len(angles)} angles for {len(prs)} pairs")
    m = np.eye(dim)
    for (i, j), t in zip(prs, angles):
        g = np.eye(dim)
        c, s = math.cos(t), math.sin(t)
        g[i, i] = g[j, j] = c
        g[i, j] = s
        g[j, i] = -s
        m = m @ g
    return m


def rotate(x, rotation) -> np.ndarray:
    """``x @ rotation`` over the last dimension: ``y[..., n] = sum_m x[..., m]
    R[m, n]`` with ``R`` of shape (D, D)."""
    x, r = _f64(x), _f64(rotation)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] != x.shape[-1]:
        raise ValueError(f"rotation must be {x.shape[-1]}x{x.shape[-1]}, "
                         f"got {r.shape}")
    return x @ r


def sinusoidal_embedding(positions, freqs) -> np.ndarray:
    """Shape ``positions.shape + (2F,)``:
    ``[sin(p f_0) .. sin(p f_{F-1}), cos(p f_0) .. cos(p f_{F-1})]``."""
    p = _f64(positions)[..., None]
    f = _f64(freqs)
    if f.ndim != 1:
        raise ValueError("freqs must be 1-D")
    return np.concatenate([np.sin(p * f), np.cos(p * f)], axis=-1)


# =============================================================================
# Attention
# =============================================================================

_MASK_DEFAULTS = {"causal": False, "window_left": None, "window_right": None,
                  "dilation": 1, "chunk": None, "global_": 0}


def _mask_params(mask: Optional[Mapping]) -> dict:
    """The mask dict with defaults filled in (``global`` is accepted as an
    alias of ``global_``); ``None`` is the full mask."""
    params = dict(_MASK_DEFAULTS)
    if mask is None:
        return params
    mask = dict(mask)
    if "global" in mask:
        if "global_" in mask:
            raise ValueError("give only one of 'global' and 'global_'")
        mask["global_"] = mask.pop("global")
    unknown = set(mask) - set(_MASK_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown mask keys: {sorted(unknown)}")
    params.update(mask)
    if params["dilation"] < 1:
        raise ValueError("mask dilation must be >= 1")
    if params["chunk"] is not None and params["chunk"] < 1:
        raise ValueError("mask chunk must be >= 1")
    for key in ("window_left", "window_right"):
        if params[key] is not None and params[key] < 0:
            raise ValueError(f"mask {key} must be >= 0")
    if params["global_"] < 0:
        raise ValueError("mask global must be >= 0")
    return params


def mask_matrix(sq: int, sk: int, mask: Optional[Mapping] = None) -> np.ndarray:
    """Boolean (Sq, Sk) matrix of visible (query, key) pairs.

    Queries are aligned to the end of the keys: query ``i`` is at position
    ``p = i + Sk - Sq`` and key ``j`` at ``j``; ``d = p - j``,
    ``n = dilation``, ``G = global_``. Visible iff::

        (not causal or j <= p) and (
            j < G or 0 <= p < G or (
                d % n == 0
                and (window_left  is None or  d // n <= window_left)
                and (window_right is None or -d // n <= window_right)
                and (chunk is None or p // chunk == j // chunk)))

    with Python floor semantics for ``//`` and ``%`` (``d // n`` is exact
    wherever it matters, as ``d % n == 0`` is required; C++ truncating
    division gives the same matrix, see below).

    When ``Sq > Sk`` the first ``Sq - Sk`` queries have ``p < 0``: they are
    not among the first ``G`` tokens (positions ``0 .. G-1``), so the window,
    dilation and chunk rules apply to them as to any query, with floor
    division (as ``MaskAttr::isVisible`` and the kernels use).
    """
    m = _mask_params(mask)
    p = np.arange(sq, dtype=np.int64)[:, None] + (sk - sq)
    j = np.arange(sk, dtype=np.int64)[None, :]
    d = p - j
    n = m["dilation"]
    local = (d % n) == 0
    if m["window_left"] is not None:
        local &= (d // n) <= m["window_left"]
    if m["window_right"] is not None:
        local &= ((-d) // n) <= m["window_right"]
    if m["chunk"] is not None:
        local &= (p // m["chunk"]) == (j // m["chunk"])
    g = m["global_"]
    visible = local | (j < g) | ((p >= 0) & (p < g))
    if m["causal"]:
        visible &= j <= p
    return np.broadcast_to(visible, (sq, sk)).copy()


def relative_position_bucket(relative_position, bidirectional: bool,
                             num_buckets: int, max_distance: int) -> np.ndarray:
    """T5's bucket of ``relative_position = key_pos - query_pos``.

    As Hugging Face ``T5Attention._relative_position_bucket``::

        ret = 0
        if bidirectional:
            num_buckets //= 2
            ret += (rel > 0) * num_buckets
            n = |rel|
        else:
            n = -min(rel, 0)
        max_exact = num_buckets // 2
        if n < max_exact: ret += n
        else: ret += min(max_exact + trunc(ln(n / max_exact)
                                           / ln(max_distance / max_exact)
                                           * (num_buckets - max_exact)),
                         num_buckets - 1)

    HF evaluates the logarithm in float32; this uses float64. The two agree
    on every bucket for the usual settings (test_reference checks
    num_buckets 16..128, max_distance 64..1000, |relative position| <= 1100).
    Raises ``ValueError`` where the formula is undefined
    (``max_exact == 0`` or ``max_distance <= max_exact``).
    """
    rel = np.asarray(relative_position, dtype=np.int64)
    ret = np.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        ret = ret + (rel > 0).astype(np.int64) * num_buckets
        n = np.abs(rel)
    else:
        n = -np.minimum(rel, 0)
    max_exact = num_buckets // 2
    if max_exact < 1 or max_distance <= max_exact:
        raise ValueError(f"T5 bucketing is undefined for num_buckets="
                         f"{num_buckets} (after halving), max_distance="
                         f"{max_distance}")
    is_small = n < max_exact
    n_large = np.maximum(n, max_exact).astype(np.float64)  # avoids log(0)
    large = max_exact + np.trunc(
        np.log(n_large / max_exact) / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)).astype(np.int64)
    large = np.minimum(large, num_buckets - 1)
    return ret + np.where(is_small, n, large)


def relative_bias_buckets(sq: int, sk: int, mask: Optional[Mapping], num_buckets: int,
                          max_distance: int) -> np.ndarray:
    """(Sq, Sk) bucket of each (query, key) pair of :func:`attention`'s
    relative bias: ``relative_position_bucket(j - p, bidirectional=not
    causal, ...)`` with query ``i`` at position ``p = i + Sk - Sq``."""
    rel = np.arange(sk)[None, :] - (np.arange(sq)[:, None] + sk - sq)
    return relative_position_bucket(rel, not _mask_params(mask)["causal"], num_buckets,
                                    max_distance)


def attention(q, k, v, mask: Optional[Mapping] = None, scale: Optional[float] = None,
              softcap: Optional[float] = None, bias=None, bias_max_distance: int = 128,
              return_lse: bool = False):
    """Scaled dot-product attention with GQA, structured masks, softcap and a
    T5 relative position bias.

    Shapes: ``q`` (B, Hq, Sq, D), ``k`` (B, Hkv, Sk, D), ``v`` (B, Hkv, Sk,
    Dv), ``Hq % Hkv == 0``; query head ``h`` uses kv head
    ``h // (Hq // Hkv)``. With ``p = i + Sk - Sq``::

        s[h, i, j] = scale * sum_d q[h, i, d] k[h', j, d]  (scale = 1/sqrt(D)
                                                            by default)
        s = c * tanh(s / c)                                 (if softcap c)
        s += bias[h, bucket(j - p)]                         (if bias given;
              bucket = relative_position_bucket(., bidirectional=not causal,
                                                num_buckets, bias_max_distance))
        out[h, i] = sum_{j visible} exp(s_ij) v[h', j] / sum_{j visible} exp(s_ij)
        lse[h, i] = ln sum_{j visible} exp(s_ij)

    ``visible = mask_matrix(Sq, Sk, mask)``. A row with no visible key gives
    ``out = 0`` and ``lse = -inf``. Returns ``out`` (B, Hq, Sq, Dv), or
    ``(out, lse)`` with ``lse`` (B, Hq, Sq) when ``return_lse``.
    """
    q, k, v = _f64(q), _f64(k), _f64(v)
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError("query, key and value must be 4-D")
    B, Hq, Sq, D = q.shape
    Bk, Hkv, Sk, Dk = k.shape
    if Bk != B or v.shape[:3] != (B, Hkv, Sk) or Dk != D:
        raise ValueError(f"incompatible shapes q {q.shape}, k {k.shape}, "
                         f"v {v.shape}")
    if Hkv == 0 or Hq % Hkv:
        raise ValueError(f"{Hq} query heads not divisible by {Hkv} kv heads")
    group = Hq // Hkv
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)

    qg = q.reshape(B, Hkv, group, Sq, D)
    s = np.einsum("bhgid,bhjd->bhgij", qg, k).reshape(B, Hq, Sq, Sk) * scale
    if softcap is not None:
        c = float(softcap)
        s = c * np.tanh(s / c)
    m = _mask_params(mask)
    if bias is not None:
        table = _f64(bias)
        if table.ndim != 2 or table.shape[0] != Hq:
            raise ValueError(f"bias table must be ({Hq}, num_buckets), got "
                             f"{table.shape}")
        buckets = relative_bias_buckets(Sq, Sk, m, table.shape[1], bias_max_distance)
        s = s + table[:, buckets][None]                    # (1, Hq, Sq, Sk)

    visible = mask_matrix(Sq, Sk, m)
    s = np.where(visible, s, -np.inf)
    row_max = np.max(s, axis=-1, keepdims=True) if Sk else \
        np.full(s.shape[:-1] + (1,), -np.inf)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    e = np.exp(s - row_max)                                # 0 where masked
    denom = np.sum(e, axis=-1, keepdims=True)
    vg = v.reshape(B, Hkv, 1, Sk, v.shape[-1])
    num = np.einsum("bhgij,bhgje->bhgie", e.reshape(B, Hkv, group, Sq, Sk), vg)
    num = num.reshape(B, Hq, Sq, v.shape[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(denom > 0, num / np.where(denom > 0, denom, 1.0), 0.0)
        lse = (row_max + np.log(denom))[..., 0]
    if return_lse:
        return out, lse
    return out


def static_cache_keys(query_start: int, sq: int, capacity: int) -> int:
    """The number of existing keys of attention with ``query_start``:
    ``clamp(query_start + Sq, 0, Sk)`` (rotor.attention's description)."""
    return max(0, min(int(query_start) + sq, capacity))


def attention_static(q, k_cache, v_cache, query_start: int, **kwargs):
    """rotor.attention with ``query_start``: plain attention over the first
    ``static_cache_keys(query_start, Sq, Sk)`` rows of the caches (the rest
    never read), queries aligned to the end of those rows."""
    n = static_cache_keys(query_start, q.shape[2], k_cache.shape[2])
    return attention(q, k_cache[:, :, :n], v_cache[:, :, :n], **kwargs)


def cache_write(update, cache, start: int, axis: int) -> np.ndarray:
    """rotor.cache_write: ``cache`` with row ``start + s`` along ``axis``
    replaced by row ``s`` of ``update``, rows outside the cache dropped."""
    out = np.array(cache, copy=True)
    capacity = cache.shape[axis]
    for s in range(update.shape[axis]):
        row = int(start) + s
        if 0 <= row < capacity:
            dst = [slice(None)] * cache.ndim
            src = [slice(None)] * cache.ndim
            dst[axis], src[axis] = row, s
            out[tuple(dst)] = update[tuple(src)]
    return out


# =============================================================================
# Linear layers, embeddings, convolutions
# =============================================================================

def linear(x, w, b=None) -> np.ndarray:
    """``y[..., n] = sum_k x[..., k] w[n, k] + b[n]`` (``x @ w.T + b``; ``w``
    in the PyTorch (N, K) layout)."""
    x, w = _f64(x), _f64(w)
    if w.ndim != 2 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"weight {w.shape} does not fit input {x.shape}")
    y = x @ w.T
    if b is not None:
        y = y + _f64(b)
    return y


def embedding(ids, table) -> np.ndarray:
    """``out[p, :] = table[ids[p], :]``; shape ``ids.shape + (H,)``. Ids
    outside ``[0, V)`` raise ``ValueError`` (no negative wrap-around)."""
    ids = np.asarray(ids)
    table = _f64(table)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError("ids must be integers")
    if ids.size and (ids.min() < 0 or ids.max() >= table.shape[0]):
        raise ValueError(f"ids out of range [0, {table.shape[0]})")
    return table[ids]


def conv1d(x, w, b=None, groups: int = 1, padding: str = "causal") -> np.ndarray:
    """1-D cross-correlation along the sequence, PyTorch ``nn.Conv1d`` weights.

    ``x`` (B, S, Cin), ``w`` (Cout, Cin/groups, K), ``b`` (Cout). With
    ``xpad`` the input padded by ``left`` zeros before and ``right`` after
    (``causal``: ``left = K-1, right = 0``; ``same``:
    ``left = (K-1)//2, right = K-1-left``), ``g = o // (Cout/groups)`` and
    ``Cg = Cin/groups``::

        out[b, t, o] = bias[o] + sum_{c < Cg} sum_{k < K}
                       w[o, c, k] * xpad[b, t + k, g*Cg + c]

    The output is (B, S, Cout).
    """
    x, w = _f64(x), _f64(w)
    if x.ndim != 3 or w.ndim != 3:
        raise ValueError("conv1d input and weight must be 3-D")
    B, S, cin = x.shape
    cout, cg, K = w.shape
    if groups < 1 or cin % groups or cout % groups or cg != cin // groups:
        raise ValueError(f"weight {w.shape} does not fit input {x.shape} with "
                         f"{groups} groups")
    if padding == "causal":
        left = K - 1
    elif padding == "same":
        left = (K - 1) // 2
    else:
        raise ValueError(f"unknown padding {padding!r}")
    xpad = np.pad(x, ((0, 0), (left, K - 1 - left), (0, 0)))
    # windows[b, t, c, k] = xpad[b, t + k, c]
    windows = np.lib.stride_tricks.sliding_window_view(xpad, K, axis=1)
    og = cout // groups
    out = np.empty((B, S, cout))
    for g in range(groups):
        win = windows[:, :, g * cg:(g + 1) * cg, :]        # (B, S, Cg, K)
        out[:, :, g * og:(g + 1) * og] = np.einsum(
            "bsck,ock->bso", win, w[g * og:(g + 1) * og])
    if b is not None:
        out = out + _f64(b)
    return out


# =============================================================================
# Normalization
# =============================================================================

def rms_norm(x, w, eps: float = 1e-6) -> np.ndarray:
    """``x / sqrt(mean(x^2, -1) + eps) * w`` over the last dimension."""
    x = _f64(x)
    ms = np.mean(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(ms + eps) * _f64(w)


def layer_norm(x, w, b=None, eps: float = 1e-5) -> np.ndarray:
    """``(x - mu) / sqrt(var + eps) * w + b`` over the last dimension, with
    ``mu = mean(x)`` and the biased ``var = mean((x - mu)^2)``."""
    x = _f64(x)
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps) * _f64(w)
    if b is not None:
        y = y + _f64(b)
    return y


def l2_normalize(x, eps: float = 1e-12) -> np.ndarray:
    """``x / max(||x||_2, eps)`` over the last dimension
    (``torch.nn.functional.normalize(x, dim=-1, eps=eps)``)."""
    x = _f64(x)
    norm = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    return x / np.maximum(norm, eps)


# =============================================================================
# Elementwise ops and activations
# =============================================================================

def add(a, b) -> np.ndarray:
    """``a + b`` with NumPy broadcasting."""
    return _f64(a) + _f64(b)


def mul(a, b) -> np.ndarray:
    """``a * b`` with NumPy broadcasting."""
    return _f64(a) * _f64(b)


def relu(x) -> np.ndarray:
    """``max(x, 0)``."""
    return np.maximum(_f64(x), 0.0)


def sigmoid(x) -> np.ndarray:
    """``1 / (1 + exp(-x))``, evaluated as ``1/(1+e)`` for ``x >= 0`` and
    ``e/(1+e)`` for ``x < 0`` with ``e = exp(-|x|)`` (no overflow, full
    relative accuracy in both tails)."""
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def silu(x) -> np.ndarray:
    """``x * sigmoid(x)``."""
    x = _f64(x)
    return x * sigmoid(x)


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x, approximate: str = "none") -> np.ndarray:
    """``approximate='none'``: ``x/2 (1 + erf(x / sqrt 2))``;
    ``approximate='tanh'``: ``x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.
    """
    x = _f64(x)
    if approximate == "none":
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi)
                                        * (x + 0.044715 * x ** 3)))
    raise ValueError(f"unknown gelu approximation {approximate!r}")


def swiglu(gate, up) -> np.ndarray:
    """``silu(gate) * up``."""
    return silu(gate) * _f64(up)


def softmax(x, axis: int = -1) -> np.ndarray:
    """``exp(x - max) / sum(exp(x - max))`` along ``axis``."""
    x = _f64(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


# =============================================================================
# Head layout
# =============================================================================

def split_heads(x, num_heads: int) -> np.ndarray:
    """(B, S, H*D) -> (B, H, S, D): ``out[b, h, s, d] = x[b, s, h*D + d]``."""
    x = _f64(x)
    B, S, F = x.shape
    if F % num_heads:
        raise ValueError(f"{F} features do not split into {num_heads} heads")
    return x.reshape(B, S, num_heads, F // num_heads).transpose(0, 2, 1, 3).copy()


def merge_heads(x) -> np.ndarray:
    """(B, H, S, D) -> (B, S, H*D), the inverse of :func:`split_heads`."""
    x = _f64(x)
    B, H, S, D = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, S, H * D)


# =============================================================================
# Losses
# =============================================================================

def cross_entropy(logits, labels, ignore_index: int = -100) -> np.float64:
    """Mean over positions with ``labels != ignore_index`` of
    ``logsumexp(logits[p, :]) - logits[p, labels[p]]``; 0 when no position
    counts. ``logits`` (..., V), ``labels`` (...). Other labels outside
    ``[0, V)`` raise ``ValueError``."""
    logits = _f64(logits)
    labels = np.asarray(labels)
    V = logits.shape[-1]
    if labels.shape != logits.shape[:-1]:
        raise ValueError(f"labels {labels.shape} do not fit logits {logits.shape}")
    flat = logits.reshape(-1, V)
    lab = labels.reshape(-1).astype(np.int64)
    keep = lab != ignore_index
    if np.any(keep & ((lab < 0) | (lab >= V))):
        raise ValueError(f"labels out of range [0, {V})")
    if not np.any(keep):
        return np.float64(0.0)
    rows = flat[keep]
    m = np.max(rows, axis=-1, keepdims=True)
    lse = m[:, 0] + np.log(np.sum(np.exp(rows - m), axis=-1))
    picked = rows[np.arange(len(rows)), lab[keep]]
    return np.float64(np.mean(lse - picked))


# =============================================================================
# Comparison helpers
# =============================================================================

_DTYPE_ALIASES = {
    "f64": "f64", "float64": "f64", "double": "f64",
    "f32": "f32", "float32": "f32", "float": "f32",
    "bf16": "bf16", "bfloat16": "bf16",
    "f16": "f16", "float16": "f16", "half": "f16",
}

# (rtol, atol) for reduction length 1, i.e. elementwise ops and short
# reductions (norms over a row are dominated by the final rounding too).
#   f64 : unit roundoff 1.1e-16; 1e-10 leaves room for ~1e6 ulps of
#         accumulated error (different summation orders, library exp/log).
#   f32 : unit roundoff 6e-8; 2e-5 is ~170 ulps: fast-math exp/tanh
#         (a few ulps) plus reassociated reductions.
#   bf16: 8 significant bits, unit roundoff 3.9e-3; 2e-2 is ~2.5 ulps at the
#         output: the final rounding plus one rounded intermediate
#         (e.g. probabilities cast to bf16 before the P.V product).
#   f16 : 11 significant bits, unit roundoff 4.9e-4; 5e-3 is ~5 ulps.
_BASE_TOLERANCES = {
    "f64": (1e-10, 1e-12),
    "f32": (2e-5, 2e-5),
    "bf16": (2e-2, 2e-2),
    "f16": (5e-3, 5e-3),
}


def _dtype_key(dtype) -> str:
    if isinstance(dtype, str):
        key = _DTYPE_ALIASES.get(dtype.lower())
    else:
        key = _DTYPE_ALIASES.get(np.dtype(dtype).name)
    if key is None:
        raise ValueError(f"no tolerances for dtype {dtype!r}")
    return key


def tolerances(dtype, reduction: int = 1) -> Tuple[float, float]:
    """``(rtol, atol)`` for comparing a kernel computing in ``dtype`` against
    this float64 reference, meant for ``|actual - ref| <= atol + rtol |ref|``
    (``np.allclose`` / :func:`assert_close`).

    Base values (``reduction=1``, elementwise ops and row-wise norms)::

        f64   1e-10 / 1e-12      f32   2e-5 / 2e-5
        bf16  2e-2  / 2e-2       f16   5e-3 / 5e-3

    ``dtype`` is a NumPy dtype or one of 'f64', 'f32', 'bf16', 'f16' (and
    their long names). ``reduction`` is the number of products summed into
    each output element (K of ``linear``, head_dim and Sk for ``attention``,
    Cin/groups*K for ``conv1d``). Rounding errors of a sum of ``n`` O(1)
    terms grow like a random walk, so ``atol`` is scaled by
    ``sqrt(reduction)``; ``rtol`` is not. Inputs are assumed O(1) (e.g.
    standard normal); scale ``atol`` by the input magnitude otherwise.
    Compare the kernel against the reference evaluated on the kernel's own
    rounded inputs (:func:`bf16_round`, :func:`f16_round`), so only the
    arithmetic, not the input quantization, is measured.
    """
    if reduction < 1:
        raise ValueError("reduction must be >= 1")
    rtol, atol = _BASE_TOLERANCES[_dtype_key(dtype)]
    return rtol, atol * math.sqrt(reduction)


def assert_close(actual, expected, dtype, reduction: int = 1, err_msg: str = ""):
    """Asserts ``|actual - expected| <= atol + rtol |expected|`` elementwise
    with ``tolerances(dtype, reduction)``; NaNs and infinities must match."""
    rtol, atol = tolerances(dtype, reduction)
    np.testing.assert_allclose(_f64(actual), _f64(expected), rtol=rtol,
                               atol=atol, equal_nan=True, err_msg=err_msg)


def _round_to_format(x, mantissa_bits: int, min_exp: int, max_value: float) -> np.ndarray:
    """Rounds float64 ``x`` once, to nearest with ties to even, to a binary
    format with ``mantissa_bits`` stored fraction bits, smallest normal
    exponent ``min_exp`` (gradual underflow below it) and largest finite
    value ``max_value``; values rounding past ``max_value`` become +-inf.
    The result is returned as float64 (exactly representable)."""
    x = _f64(x)
    _, e = np.frexp(x)                    # |x| = m 2^e, m in [0.5, 1)
    # The quantum (ulp) of the target format at x: 2^(exponent - mantissa).
    q = np.maximum(e - 1, min_exp) - mantissa_bits
    with np.errstate(invalid="ignore"):
        y = np.ldexp(np.rint(np.ldexp(x, -q)), q)   # rint: ties to even
    return np.where(np.abs(y) > max_value, np.copysign(np.inf, x), y)


_BF16_MAX = (2.0 - 2.0 ** -7) * 2.0 ** 127
_F16_MAX = 65504.0


def bf16_round(x) -> np.ndarray:
    """``x`` rounded to nearest (ties to even) bfloat16 and back to float64:
    8 significant bits, the exponent range of float32 (subnormals down to
    2^-133), overflow to +-inf. Rounds the float64 value directly (no double
    rounding through float32)."""
    return _round_to_format(x, 7, -126, _BF16_MAX)


def f16_round(x) -> np.ndarray:
    """``x`` rounded to nearest (ties to even) IEEE binary16 and back to
    float64: 11 significant bits, subnormals down to 2^-24, overflow above
    65504 (+ half an ulp) to +-inf."""
    return _round_to_format(x, 10, -14, _F16_MAX)


def finite_difference_grad(f: Callable[[np.ndarray], float], x, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function::

        g[idx] = (f(x + eps e_idx) - f(x - eps e_idx)) / (2 eps)

    in float64, one index at a time (``x`` is not modified). The truncation
    error is O(eps^2 f''') and the rounding error O(u |f| / eps); with the
    default eps=1e-6 expect ~1e-9 relative accuracy on smooth O(1)
    functions. For a vector-valued ``F``, pass
    ``lambda x: np.sum(F(x) * cotangent)`` to get the vector-Jacobian
    product.
    """
    x = _f64(x).copy()
    grad = np.empty_like(x)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    for idx in range(flat_x.size):
        orig = flat_x[idx]
        flat_x[idx] = orig + eps
        f_plus = float(f(x))
        flat_x[idx] = orig - eps
        f_minus = float(f(x))
        flat_x[idx] = orig
        flat_g[idx] = (f_plus - f_minus) / (2.0 * eps)
    return grad
