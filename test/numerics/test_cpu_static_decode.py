"""decode_static (rotorc --static-cache=on) on the CPU: a decoding step over
fixed-capacity KV caches written in place at cache_position
(docs/model-artifacts.md), against the growing-cache `decode` entry of the
same artifact and, for Llama, the float64 model reference.

For every example model (every attention kind, conv states, sinusoidal
positions, Givens rotations, relative bias, a learned rope base, LayerNorm):
prefill a 7-token prompt, copy the caches into tensors of capacity 40 whose
other rows hold NaN (a step that read a row past its position would return
NaN), then run 20 steps of decode_static and of decode on the same tokens.
The logits must agree to 1e-5 (relative to the largest logit: both entries
do the same arithmetic on the same keys, only the caches' layout differs)
and the static caches must hold, row for row, what decode returns.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

import model_ref as M
from test_cpu_models import EXAMPLES, load_config, model_weights, token_ids

VARIANTS = ["llama", "mistral", "qwen2", "chunked", "hybrid", "dilated", "conv",
            "sinusoidal", "givens", "learned_base", "relbias", "layernorm_gelu"]
PROMPT, STEPS, CAPACITY, BATCH = 7, 20, 40, 2


def entries(manifest):
    return {e["name"]: e for e in manifest["entries"]}


def weights_for(config, manifest, name, rng):
    """The reference's weights for the HF models; random ones with the
    manifest's shapes for the variants (which model_ref does not cover)."""
    if name in ("llama", "mistral", "qwen2"):
        return model_weights(config, seed=5)
    w = {}
    for arg in entries(manifest)["forward"]["inputs"][1:]:
        shape = arg["shape"]
        if arg["name"].endswith("norm.weight"):
            value = 1.0 + 0.1 * rng.standard_normal(shape)
        elif arg["name"].endswith("rope.base"):
            value = 10000.0 * (1.0 + 0.1 * rng.standard_normal(shape))
        elif arg["name"].endswith("frequencies"):
            value = np.exp(-np.linspace(0, 8, int(np.prod(shape)))).reshape(shape)
        else:
            value = 0.15 * rng.standard_normal(shape)
        w[arg["name"]] = np.asarray(value, dtype=np.float32)
    return w


@pytest.mark.parametrize("name", VARIANTS)
def test_decode_static_matches_decode(compile_mlir, tmp_path, name):
    config = load_config(name)
    out = str(tmp_path / f"{name}.rotor")
    proc = subprocess.run([compile_mlir.rotorc, os.path.join(EXAMPLES, name + ".json"),
                           "--static-cache=on", "--dtype=f32", "-o", out, "-q"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    spec = entries(manifest)
    assert "decode_static" in spec, list(spec)
    art = compile_mlir.runtime.load(out)
    rng = np.random.default_rng(17)
    weights = weights_for(config, manifest, name, rng)

    def call(entry, named):
        inputs = [named[a["name"]] if a["name"] in named else weights[a["name"]]
                  for a in spec[entry]["inputs"]]
        return dict(zip([o["name"] for o in spec[entry]["outputs"]], art.call(entry, *inputs)))

    ids = token_ids(config, BATCH, PROMPT + STEPS, seed=23)
    pre = call("prefill", {"input_ids": ids[:, :PROMPT]})
    growing = {k: v for k, v in pre.items() if k != "logits"}
    static = {}
    for k, v in growing.items():
        if k.startswith(("k_cache", "v_cache")):
            full = np.full(v.shape[:2] + (CAPACITY,) + v.shape[3:], np.nan, np.float32)
            full[:, :, :PROMPT] = v
            static[k] = full
        else:
            static[k] = v  # conv states: fixed size already
    ref = M.forward(config, {k: v.astype(np.float64) for k, v in weights.items()}, ids) \
        if name == "llama" else None
    for t in range(PROMPT, PROMPT + STEPS):
        step = {"input_ids": ids[:, t:t + 1]}
        a = call("decode", dict(growing, **step))
        b = call("decode_static", dict(static, cache_position=np.array([t], np.int64), **step))
        scale = np.abs(a["logits"]).max()
        np.testing.assert_allclose(b["logits"], a["logits"], rtol=0, atol=1e-5 * scale,
                                   err_msg=f"{name} logits at position {t}")
        if ref is not None:
            np.testing.assert_allclose(b["logits"][:, 0].astype(np.float64), ref[:, t],
                                       rtol=1e-4, atol=1e-4, err_msg=f"{name} vs model_ref at {t}")
        growing = {k: v for k, v in a.items() if k != "logits"}
        static = {k: v for k, v in b.items() if k != "logits"}
        for k, v in growing.items():
            got = static[k][:, :, :t + 1] if k.startswith(("k_cache", "v_cache")) else static[k]
            np.testing.assert_array_equal(got, v, err_msg=f"{name} {k} at position {t}")
            if k.startswith(("k_cache", "v_cache")):
                assert np.isnan(static[k][:, :, t + 1:]).all(), f"{name} {k}: rows past {t} written"
