"""The attention patterns of the GPU benchmark (/work/shared/anchors.md):
their rotor masks, FlexAttention mask_mods, and visible-pair counts.

Window semantics of the anchors: query i sees key j when j <= i and
i - j < W; dilated: also (i - j) mod d = 0 with i - j < W*d; chunked:
floor(i/C) = floor(j/C) and j <= i; hybrid: window or j < G. In rotor's
#rotor.mask these are window_left = W - 1 (in units of the dilation),
dilation d, chunk C, global G, all causal.
"""

import numpy as np

B, HQ, HKV, S, D = 2, 32, 8, 8192, 128
W, DIL, C, G = 1024, 2, 1024, 64

PATTERNS = {
    "full causal": {"causal": True},
    "sliding window W=1024": {"causal": True, "window_left": W - 1},
    "dilated window W=1024 d=2": {"causal": True, "window_left": W - 1, "dilation": DIL},
    "chunked local C=1024": {"causal": True, "chunk": C},
    "hybrid W=1024 + 64 global": {"causal": True, "window_left": W - 1, "global_": G},
}


def mask_mod(name):
    if name == "full causal":
        return lambda b, h, q, k: k <= q
    if name.startswith("sliding"):
        return lambda b, h, q, k: (k <= q) & (q - k < W)
    if name.startswith("dilated"):
        return lambda b, h, q, k: (k <= q) & (q - k < W * DIL) & ((q - k) % DIL == 0)
    if name.startswith("chunked"):
        return lambda b, h, q, k: (k <= q) & (q // C == k // C)
    if name.startswith("hybrid"):
        return lambda b, h, q, k: (k <= q) & ((q - k < W) | (k < G))
    raise KeyError(name)


def visible_pairs(name, s=S):
    """Allowed (query, key) pairs, counted row by row with the anchors'
    rules (independent of rotor's mask code)."""
    i = np.arange(s, dtype=np.int64)
    if name == "full causal":
        per_row = i + 1
    elif name.startswith("sliding"):
        per_row = np.minimum(i + 1, W)
    elif name.startswith("dilated"):
        per_row = np.minimum(i // DIL + 1, W)
    elif name.startswith("chunked"):
        per_row = i % C + 1
    elif name.startswith("hybrid"):
        window = np.minimum(i + 1, W)
        extra = np.clip(np.minimum(G, i + 1) - np.maximum(0, i - W + 1), 0, None)
        per_row = window + np.minimum(G, i + 1) - extra
    else:
        raise KeyError(name)
    return int(per_row.sum())


def mlir_mask(m):
    parts = []
    if m.get("causal"):
        parts.append("causal = true")
    if "window_left" in m:
        parts.append(f"window_left = {m['window_left']}")
    if m.get("dilation", 1) != 1:
        parts.append(f"dilation = {m['dilation']}")
    if "chunk" in m:
        parts.append(f"chunk = {m['chunk']}")
    if m.get("global_"):
        parts.append(f"global = {m['global_']}")
    return "#rotor.mask<" + ", ".join(parts) + ">"


def entry_name(name):
    return "attn_" + "".join(ch if ch.isalnum() else "_" for ch in name)
