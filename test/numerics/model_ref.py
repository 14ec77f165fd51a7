"""Float64 NumPy reference of the Hugging Face Llama, Mistral and Qwen2
decoder-only language models.

Driven by a Hugging Face ``config.json`` dict and a dict of weights with the
Hugging Face parameter names, it follows the semantics of
``transformers.models.{llama,mistral,qwen2}.modeling_*`` (eager attention,
no padding, positions ``0 .. S-1``), written out directly with NumPy in
float64: it deliberately shares no model math with ``rotor_ref.py`` so the two
check each other.

    logits = forward(config, weights, input_ids)           # (B, S, V)
    weights = init_weights(config, seed=0, dtype="f32")    # random, HF names
    tokens = generate_greedy(config, weights, prompt, 8)   # (B, S + 8)

The model (per layer ``l``, hidden states ``h`` of shape (B, S, H))::

    x   = rms_norm(h, input_layernorm)
    q   = x Wq^T (+bq),  k = x Wk^T (+bk),  v = x Wv^T (+bv)   split into heads
    q,k = rope(q), rope(k)
    k,v = repeat_kv(k), repeat_kv(v)          # query head h uses kv head h // (Hq/Hkv)
    a   = softmax(q k^T / sqrt(head_dim) + mask) v
    h   = h + merge_heads(a) Wo^T (+bo)
    x   = rms_norm(h, post_attention_layernorm)
    h   = h + (silu(x Wg^T) * (x Wu^T)) Wd^T
  logits = rms_norm(h, model.norm) W_lm^T     # W_lm = embed_tokens if tied

* ``rms_norm(x, w) = x / sqrt(mean(x^2) + eps) * w`` (``rms_norm_eps``).
* RoPE (``rotate_half`` layout): with ``R = int(head_dim *
  partial_rotary_factor)`` and ``inv_freq[i] = rope_theta^(-2i/R)``
  (``i < R/2``), the angle of feature ``i`` at position ``p`` is
  ``t = p inv_freq[i mod R/2]``, and the first ``R`` features ``y`` of a head
  become ``y cos t + rotate_half(y) sin t`` with ``rotate_half(y) =
  [-y[R/2:], y[:R/2]]``; features ``>= R`` pass through.
* ``rope_scaling`` (key ``rope_type``, or the legacy ``type``) as in
  ``transformers.modeling_rope_utils``: ``linear`` divides ``inv_freq`` by
  ``factor``; ``dynamic`` (dynamic NTK) replaces the base by
  ``base * (factor * L / M - (factor - 1)) ** (R / (R - 2))`` when the
  sequence length ``L = S`` exceeds ``M = max_position_embeddings``;
  ``llama3`` rescales by wavelength (``factor``, ``low_freq_factor``,
  ``high_freq_factor``, ``original_max_position_embeddings``); ``yarn``
  blends interpolated and original frequencies over a ramp between the
  ``beta_fast``/``beta_slow`` correction dimensions and multiplies cos and
  sin by its attention factor (``0.1 ln(factor) + 1`` by default).
* Mask: causal; with a sliding window ``W`` the query at position ``i`` sees
  the keys ``j`` with ``i - W < j <= i`` (``W`` keys, itself included).
  Mistral slides in every layer when ``sliding_window`` is not null; Qwen2 in
  the layers ``l >= max_window_layers`` (or those listed as
  ``"sliding_attention"`` in ``layer_types`` when the config gives it), and
  only when ``use_sliding_window`` is true and ``sliding_window`` not null
  (Qwen2Config sets ``sliding_window = None`` otherwise); Llama never.
* Biases: Llama has q/k/v/o biases when ``attention_bias`` and
  gate/up/down biases when ``mlp_bias``; Qwen2 always has q/k/v biases (never
  o); Mistral has none (as in HF, which ignores ``attention_bias`` there).

Only NumPy and the standard library are used (and ``rotor_ref.bf16_round``
to round random weights to bfloat16).
"""

from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

import rotor_ref  # bf16_round only; the model shares no math with it

__all__ = ["MODEL_TYPES", "ModelConfig", "parse_config", "weight_shapes",
           "init_weights", "forward", "generate_greedy", "rope_frequencies",
           "layer_windows"]

MODEL_TYPES = ("llama", "mistral", "qwen2")

# Hugging Face defaults of the fields a config.json may leave out
# (Llama/Mistral/Qwen2Config.__init__).
_DEFAULTS = {
    "llama": dict(rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
                  max_position_embeddings=2048, hidden_act="silu"),
    "mistral": dict(rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
                    max_position_embeddings=4096 * 32, hidden_act="silu",
                    sliding_window=4096),
    "qwen2": dict(rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
                  max_position_embeddings=32768, hidden_act="silu",
                  use_sliding_window=False, sliding_window=4096, max_window_layers=28),
}


class ModelConfig:
    """The fields of a HF config that the model uses, with defaults applied."""

    def __init__(self, config: Mapping):
        c = dict(config)
        mt = c.get("model_type")
        if mt not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {mt!r}")
        self.model_type = mt
        if c.get("rotor"):
            raise ValueError("the 'rotor' section (Rotor's attention variants) is not "
                             "modelled here; only plain Llama/Mistral/Qwen2 configs")
        d = dict(_DEFAULTS[mt])
        d.update({k: v for k, v in c.items() if v is not None or k in ("sliding_window",
                                                                      "rope_scaling")})

        def need(key):
            if d.get(key) is None:
                raise ValueError(f"config lacks {key!r}")
            return d[key]

        self.hidden_size = int(need("hidden_size"))
        self.intermediate_size = int(need("intermediate_size"))
        self.num_layers = int(need("num_hidden_layers"))
        self.num_heads = int(need("num_attention_heads"))
        self.num_kv_heads = int(d.get("num_key_value_heads") or self.num_heads)
        self.vocab_size = int(need("vocab_size"))
        self.head_dim = int(d.get("head_dim") or self.hidden_size // self.num_heads)
        self.eps = float(d["rms_norm_eps"])
        self.tie = bool(d["tie_word_embeddings"])
        self.max_position_embeddings = int(d["max_position_embeddings"])
        if d["hidden_act"] != "silu":
            raise ValueError(f"hidden_act {d['hidden_act']!r} is not supported (silu only)")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"{self.num_heads} query heads do not group into "
                             f"{self.num_kv_heads} kv heads")

        # Rotary embedding: rope_theta, rope_scaling and partial_rotary_factor
        # (transformers 4.x), or the rope_parameters dict holding all three
        # (transformers 5).
        params = d.get("rope_parameters")
        scaling = dict(params if params is not None else d.get("rope_scaling") or {})
        self.rope_theta = float(scaling.pop("rope_theta", d["rope_theta"]))
        prf = float(scaling.pop("partial_rotary_factor", None)
                    or d.get("partial_rotary_factor") or 1.0)
        self.rotary_dim = int(self.head_dim * prf)
        if self.rotary_dim <= 0 or self.rotary_dim % 2 or self.rotary_dim > self.head_dim:
            raise ValueError(f"rotary dim {self.rotary_dim} (head_dim {self.head_dim} x "
                             f"partial_rotary_factor {prf}) must be even and in "
                             f"(0, head_dim]")
        kind = scaling.get("rope_type", scaling.get("type", "default"))
        self.rope_scaling = None
        if kind in ("linear", "dynamic", "llama3", "yarn"):
            s = dict(scaling)
            s["rope_type"] = kind
            if kind == "yarn":
                # transformers 5 (standardize_rope_params and
                # _compute_yarn_parameters): original_max_position_embeddings
                # defaults to the top-level field, else max_position_embeddings;
                # a missing factor to max_position_embeddings / original.
                s.setdefault("original_max_position_embeddings",
                             d.get("original_max_position_embeddings",
                                   self.max_position_embeddings))
                if s.get("factor") is None:
                    s["factor"] = (self.max_position_embeddings
                                   / s["original_max_position_embeddings"])
            if float(s.get("factor") or 0) <= 0:
                raise ValueError(f"{kind} rope scaling needs a positive factor")
            if kind == "llama3":
                for key in ("low_freq_factor", "high_freq_factor"):
                    if key not in s:
                        raise ValueError(f"llama3 rope scaling needs {key!r}")
                # transformers 5 falls back to max_position_embeddings.
                s.setdefault("original_max_position_embeddings",
                             d.get("original_max_position_embeddings",
                                   self.max_position_embeddings))
            self.rope_scaling = s
        elif kind != "default":
            raise ValueError(f"rope scaling type {kind!r} is not supported "
                             "(linear, dynamic, yarn, llama3)")

        # Biases.
        if mt == "llama":
            ab = bool(d.get("attention_bias", False))
            self.qkv_bias, self.o_bias = ab, ab
            self.mlp_bias = bool(d.get("mlp_bias", False))
        elif mt == "qwen2":
            self.qkv_bias, self.o_bias, self.mlp_bias = True, False, False
        else:
            self.qkv_bias, self.o_bias, self.mlp_bias = False, False, False

        # Sliding windows per layer (None = full causal attention).
        self.windows: List[Optional[int]] = [None] * self.num_layers
        window = d.get("sliding_window")
        if mt == "mistral":
            if window is not None:
                self.windows = [int(window)] * self.num_layers
        elif mt == "qwen2":
            # Qwen2Config: sliding_window counts only when use_sliding_window.
            if not d["use_sliding_window"]:
                window = None
            types = d.get("layer_types")
            if types is None:
                mwl = int(d["max_window_layers"])
                types = ["sliding_attention" if window is not None and i >= mwl
                         else "full_attention" for i in range(self.num_layers)]
            if len(types) != self.num_layers:
                raise ValueError(f"layer_types has {len(types)} entries for "
                                 f"{self.num_layers} layers")
            for i, t in enumerate(types):
                if t not in ("full_attention", "sliding_attention"):
                    raise ValueError(f"unknown layer type {t!r}")
                if t == "sliding_attention" and window is not None:
                    self.windows[i] = int(window)
        for w in self.windows:
            if w is not None and w < 1:
                raise ValueError(f"sliding_window must be >= 1, got {w}")


def parse_config(config) -> ModelConfig:
    return config if isinstance(config, ModelConfig) else ModelConfig(config)


def layer_windows(config) -> List[Optional[int]]:
    """The sliding window of each layer (None: full causal attention)."""
    return list(parse_config(config).windows)


# =============================================================================
# Weights
# =============================================================================

def weight_shapes(config) -> Dict[str, Tuple[int, ...]]:
    """Every parameter's HF name and shape, in the order of the HF module."""
    c = parse_config(config)
    H, I, D = c.hidden_size, c.intermediate_size, c.head_dim
    q, kv = c.num_heads * D, c.num_kv_heads * D
    shapes: Dict[str, Tuple[int, ...]] = {"model.embed_tokens.weight": (c.vocab_size, H)}
    for l in range(c.num_layers):
        p = f"model.layers.{l}."
        shapes[p + "self_attn.q_proj.weight"] = (q, H)
        if c.qkv_bias:
            shapes[p + "self_attn.q_proj.bias"] = (q,)
        shapes[p + "self_attn.k_proj.weight"] = (kv, H)
        if c.qkv_bias:
            shapes[p + "self_attn.k_proj.bias"] = (kv,)
        shapes[p + "self_attn.v_proj.weight"] = (kv, H)
        if c.qkv_bias:
            shapes[p + "self_attn.v_proj.bias"] = (kv,)
        shapes[p + "self_attn.o_proj.weight"] = (H, q)
        if c.o_bias:
            shapes[p + "self_attn.o_proj.bias"] = (H,)
        shapes[p + "mlp.gate_proj.weight"] = (I, H)
        if c.mlp_bias:
            shapes[p + "mlp.gate_proj.bias"] = (I,)
        shapes[p + "mlp.up_proj.weight"] = (I, H)
        if c.mlp_bias:
            shapes[p + "mlp.up_proj.bias"] = (I,)
        shapes[p + "mlp.down_proj.weight"] = (H, I)
        if c.mlp_bias:
            shapes[p + "mlp.down_proj.bias"] = (H,)
        shapes[p + "input_layernorm.weight"] = (H,)
        shapes[p + "post_attention_layernorm.weight"] = (H,)
    shapes["model.norm.weight"] = (H,)
    if not c.tie:
        shapes["lm_head.weight"] = (c.vocab_size, H)
    return shapes


def init_weights(config, seed: int = 0, dtype="f32") -> Dict[str, np.ndarray]:
    """Random weights with HF names and shapes: matrices, embeddings and
    biases ``0.02 * N(0, 1)``, norm weights ``1 + 0.1 * N(0, 1)``.

    ``dtype``: ``f64``/``f32``/``f16`` give arrays of that NumPy type;
    ``bf16`` gives float32 arrays whose values are bfloat16 numbers (rounded
    to nearest even), as :mod:`safetensors_io` stores them.
    """
    key = {"float64": "f64", "float32": "f32", "float16": "f16",
           "bfloat16": "bf16"}.get(str(np.dtype(dtype)) if not isinstance(dtype, str)
                                    else dtype, dtype)
    if key not in ("f64", "f32", "f16", "bf16"):
        raise ValueError(f"unsupported weight dtype {dtype!r}")
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in weight_shapes(config).items():
        if name.endswith("layernorm.weight") or name == "model.norm.weight":
            w = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            w = 0.02 * rng.standard_normal(shape)
        if key == "f64":
            out[name] = w
        elif key == "f32":
            out[name] = w.astype(np.float32)
        elif key == "f16":
            out[name] = w.astype(np.float16)
        else:
            out[name] = rotor_ref.bf16_round(w).astype(np.float32)
    return out


def _check_weights(c: ModelConfig, weights: Mapping) -> Dict[str, np.ndarray]:
    shapes = weight_shapes(c)
    extra = set(weights) - set(shapes)
    if c.tie:
        extra.discard("lm_head.weight")  # HF ties it to the embedding
    if extra:
        raise ValueError(f"unexpected weights: {sorted(extra)}")
    out = {}
    for name, shape in shapes.items():
        if name not in weights:
            raise ValueError(f"missing weight {name!r}")
        w = np.asarray(weights[name], dtype=np.float64)
        if w.shape != shape:
            raise ValueError(f"weight {name!r} has shape {w.shape}, expected {shape}")
        out[name] = w
    return out


# =============================================================================
# The model
# =============================================================================

def rope_frequencies(config, seq_len: int) -> Tuple[np.ndarray, float]:
    """``(inv_freq, attention_factor)`` of the rotary embedding for a forward
    pass over positions ``0 .. seq_len-1`` (dynamic NTK depends on it):
    inverse frequencies of shape (R/2,) and the factor that multiplies cos
    and sin (1 except for YaRN)."""
    c = parse_config(config)
    R = c.rotary_dim
    base = c.rope_theta
    s = c.rope_scaling
    kind = s["rope_type"] if s else "default"
    if kind == "dynamic":
        M = c.max_position_embeddings
        L = max(seq_len, M)  # HF: at or below M the original frequencies
        f = float(s["factor"])
        base = base * ((f * L / M) - (f - 1.0)) ** (R / (R - 2.0))
    inv = np.array([1.0 / base ** ((2 * i) / R) for i in range(R // 2)])
    attention_factor = 1.0
    if kind == "linear":
        inv = inv / float(s["factor"])
    elif kind == "llama3":
        f = float(s["factor"])
        lo, hi = float(s["low_freq_factor"]), float(s["high_freq_factor"])
        old = float(s["original_max_position_embeddings"])
        out = np.empty_like(inv)
        for i, fr in enumerate(inv):
            wavelen = 2.0 * math.pi / fr
            if wavelen < old / hi:          # high frequency: kept
                out[i] = fr
            elif wavelen > old / lo:        # low frequency: interpolated
                out[i] = fr / f
            else:                           # in between: smooth blend
                smooth = (old / wavelen - lo) / (hi - lo)
                out[i] = (1.0 - smooth) * fr / f + smooth * fr
        inv = out
    elif kind == "yarn":
        # transformers' _compute_yarn_parameters.
        f = float(s["factor"])
        old = float(s["original_max_position_embeddings"])
        beta_fast = float(s.get("beta_fast") or 32)
        beta_slow = float(s.get("beta_slow") or 1)

        def mscale(scale, m=1.0):
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

        attention_factor = s.get("attention_factor")
        if attention_factor is None:
            if s.get("mscale") and s.get("mscale_all_dim"):
                attention_factor = (mscale(f, float(s["mscale"]))
                                    / mscale(f, float(s["mscale_all_dim"])))
            else:
                attention_factor = mscale(f)
        attention_factor = float(attention_factor)

        def correction_dim(rotations):
            return R * math.log(old / (rotations * 2 * math.pi)) / (2 * math.log(base))

        low, high = correction_dim(beta_fast), correction_dim(beta_slow)
        if s.get("truncate", True):
            low, high = math.floor(low), math.ceil(high)
        low, high = max(low, 0), min(high, R - 1)
        if low == high:
            high += 0.001
        out = np.empty_like(inv)
        for i, fr in enumerate(inv):
            ramp = min(max((i - low) / (high - low), 0.0), 1.0)
            extrapolation = 1.0 - ramp   # weight of the original frequency
            out[i] = (fr / f) * (1.0 - extrapolation) + fr * extrapolation
        inv = out
    return inv, attention_factor


def _rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x * (1.0 / np.sqrt(np.mean(np.square(x), axis=-1, keepdims=True) + eps)) * w


def _silu(x: np.ndarray) -> np.ndarray:
    # x * sigmoid(x), with sigmoid(x) = (1 + tanh(x/2)) / 2 (no overflow).
    return x * 0.5 * (1.0 + np.tanh(0.5 * x))


def _apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, R: int) -> np.ndarray:
    """x (B, heads, S, D); cos, sin (S, R)."""
    rot, rest = x[..., :R], x[..., R:]
    half = R // 2
    rotated_half = np.concatenate([-rot[..., half:], rot[..., :half]], axis=-1)
    return np.concatenate([rot * cos + rotated_half * sin, rest], axis=-1)


def _linear(x, w, b=None):
    y = np.einsum("...k,nk->...n", x, w)
    return y if b is None else y + b


def _layer(c: ModelConfig, W: Dict[str, np.ndarray], l: int, h: np.ndarray,
           cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    B, S, _ = h.shape
    p = f"model.layers.{l}."
    nh, nkv, D = c.num_heads, c.num_kv_heads, c.head_dim

    x = _rms_norm(h, W[p + "input_layernorm.weight"], c.eps)
    q = _linear(x, W[p + "self_attn.q_proj.weight"], W.get(p + "self_attn.q_proj.bias"))
    k = _linear(x, W[p + "self_attn.k_proj.weight"], W.get(p + "self_attn.k_proj.bias"))
    v = _linear(x, W[p + "self_attn.v_proj.weight"], W.get(p + "self_attn.v_proj.bias"))
    q = q.reshape(B, S, nh, D).transpose(0, 2, 1, 3)
    k = k.reshape(B, S, nkv, D).transpose(0, 2, 1, 3)
    v = v.reshape(B, S, nkv, D).transpose(0, 2, 1, 3)
    q = _apply_rope(q, cos, sin, c.rotary_dim)
    k = _apply_rope(k, cos, sin, c.rotary_dim)
    # repeat_kv: kv head g serves query heads g*n_rep .. g*n_rep + n_rep-1.
    n_rep = nh // nkv
    k = np.repeat(k, n_rep, axis=1)
    v = np.repeat(v, n_rep, axis=1)

    scores = np.einsum("bhid,bhjd->bhij", q, k) * (D ** -0.5)
    i = np.arange(S)[:, None]
    j = np.arange(S)[None, :]
    visible = j <= i
    window = c.windows[l]
    if window is not None:
        visible &= j > i - window
    scores = np.where(visible, scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)  # the diagonal is visible
    e = np.exp(scores)
    probs = e / e.sum(axis=-1, keepdims=True)
    a = np.einsum("bhij,bhjd->bhid", probs, v)
    a = a.transpose(0, 2, 1, 3).reshape(B, S, nh * D)
    h = h + _linear(a, W[p + "self_attn.o_proj.weight"], W.get(p + "self_attn.o_proj.bias"))

    x = _rms_norm(h, W[p + "post_attention_layernorm.weight"], c.eps)
    gate = _linear(x, W[p + "mlp.gate_proj.weight"], W.get(p + "mlp.gate_proj.bias"))
    up = _linear(x, W[p + "mlp.up_proj.weight"], W.get(p + "mlp.up_proj.bias"))
    return h + _linear(_silu(gate) * up, W[p + "mlp.down_proj.weight"],
                       W.get(p + "mlp.down_proj.bias"))


def forward(config, weights: Mapping, input_ids) -> np.ndarray:
    """Logits (B, S, V) in float64 of ``input_ids`` (B, S) (a 1-D sequence
    is taken as one batch row and gives (S, V)) at positions 0 .. S-1."""
    c = parse_config(config)
    W = _check_weights(c, weights)
    ids = np.asarray(input_ids)
    squeeze = ids.ndim == 1
    if squeeze:
        ids = ids[None]
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"input_ids must be integers of shape (B, S), got "
                         f"{ids.dtype} {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= c.vocab_size):
        raise ValueError(f"input_ids out of range [0, {c.vocab_size})")
    B, S = ids.shape

    inv, attention_factor = rope_frequencies(c, S)
    freqs = np.arange(S, dtype=np.float64)[:, None] * inv[None, :]   # (S, R/2)
    emb = np.concatenate([freqs, freqs], axis=-1)                       # (S, R)
    cos, sin = np.cos(emb) * attention_factor, np.sin(emb) * attention_factor

    h = W["model.embed_tokens.weight"][ids]
    for l in range(c.num_layers):
        h = _layer(c, W, l, h, cos, sin)
    h = _rms_norm(h, W["model.norm.weight"], c.eps)
    head = W["model.embed_tokens.weight"] if c.tie else W["lm_head.weight"]
    logits = _linear(h, head)
    return logits[0] if squeeze else logits


def generate_greedy(config, weights: Mapping, prompt_ids, max_new_tokens: int,
                    return_logits: bool = False):
    """Greedy decoding: ``max_new_tokens`` times, run :func:`forward` on the
    whole sequence so far (no cache) and append the argmax (the first index
    of the largest logit, as ``torch.argmax``) of the last position's
    logits. No end-of-sequence stop. Returns the prompt followed by the new
    tokens, (B, S + N) int64 (1-D in, 1-D out); with ``return_logits`` also
    the last-position logits of each step, (B, N, V) (or (N, V)).
    """
    c = parse_config(config)
    W = _check_weights(c, weights)
    ids = np.asarray(prompt_ids, dtype=np.int64)
    squeeze = ids.ndim == 1
    if squeeze:
        ids = ids[None]
    if ids.ndim != 2 or ids.shape[1] == 0:
        raise ValueError(f"prompt_ids must be (B, S) with S >= 1, got {ids.shape}")
    steps = []
    for _ in range(max_new_tokens):
        last = forward(c, W, ids)[:, -1, :]
        steps.append(last)
        ids = np.concatenate([ids, np.argmax(last, axis=-1)[:, None]], axis=1)
    logits = np.stack(steps, axis=1) if steps else np.zeros((ids.shape[0], 0, c.vocab_size))
    if squeeze:
        ids, logits = ids[0], logits[0]
    return (ids, logits) if return_logits else ids
