"""Whole decoder models on the CPU against the float64 model reference.

For the tiny Hugging Face style configs examples/models/{llama,mistral,qwen2}.json
(Llama 3 rope scaling with tied embeddings; Mistral with a 16-token sliding
window; Qwen2 with YaRN, q/k/v biases, tied embeddings and a 32-token window
on layers >= max_window_layers = 2), each test

1. draws random weights with model_ref.init_weights (projection and
   embedding matrices scaled up from std 0.02 to 0.16, so that attention is
   far from uniform and a wrong mask or rotation shows in the logits),
   rounds them to f32 and writes them to a .safetensors file;
2. compiles the config with ``rotorc CONFIG.json --weights W.safetensors
   --dtype=f32 -o OUT`` (docs/model-artifacts.md);
3. runs the artifact's entries through the runtime, every weight passed as an
   input (in the manifest's input order, looked up by its HF name), and
   compares with model_ref evaluated in float64 on the same f32 weights.

Checks: ``forward`` logits at lengths 1 to 70, beyond the sliding windows (and
in bf16, to statistical bounds);
``prefill`` logits equal to ``forward``'s; greedy generation through
``prefill`` and ``decode`` (the KV caches fed back step by step, well past
the windows) giving the tokens of model_ref.generate_greedy, which recomputes
every step from scratch, and each step's logits within tolerance.

Tolerance (f32 artifacts): |logit - ref| <= 1e-4 + 1e-4 |ref|, with logits of
magnitude ~1-5. That is ~1,700 f32 units of roundoff (2^-24): each layer
sums 64 to 176 products per linear output and up to S terms per attention
output, and the errors compound over 2 to 4 layers and the final norm; the
errors measured are ~1e-6 to 1e-5. Greedy tokens must match exactly, except
that a step where the reference's best two logits are within that tolerance
of each other may pick either (generation is then compared up to that step
only).
"""

from __future__ import annotations

import json
import os
import subprocess
import zlib

import numpy as np
import pytest

import model_ref as M
import safetensors_io as st
from rotor_runtime import BF16

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples", "models")
MODELS = ["llama", "mistral", "qwen2"]

RTOL = ATOL = 1e-4
# Matrices (projections, embedding, lm_head) scaled from std 0.02 to 0.16.
WEIGHT_SCALE = 8.0


def load_config(name: str) -> dict:
    with open(os.path.join(EXAMPLES, name + ".json")) as f:
        return json.load(f)


def model_weights(config: dict, seed: int) -> dict:
    """f32 weights with HF names (see the module docstring)."""
    w = M.init_weights(config, seed=seed, dtype="f64")
    return {k: ((v * WEIGHT_SCALE) if "norm" not in k else v).astype(np.float32)
            for k, v in w.items()}


def bf16_weights(weights: dict) -> dict:
    """`weights` rounded to bfloat16 (as BF16 bit patterns for the runtime)."""
    return {k: BF16.from_float(v) for k, v in weights.items()}


def as_f64(weights: dict) -> dict:
    return {k: v.to_float() if isinstance(v, BF16) else v.astype(np.float64)
            for k, v in weights.items()}


class Model:
    """A compiled model artifact, its manifest and its weights."""

    def __init__(self, name, config, weights, artifact, manifest):
        self.name, self.config, self.weights = name, config, weights
        self.ref_weights = as_f64(weights)
        self.artifact, self.manifest = artifact, manifest
        self.entries = {e["name"]: e for e in manifest["entries"]}

    def call(self, entry: str, named: dict) -> dict:
        """Calls `entry` with `named` inputs plus the weights, ordered as the
        manifest lists the entry's inputs; returns the outputs by name."""
        spec = self.entries[entry]
        inputs = []
        for arg in spec["inputs"]:
            n = arg["name"]
            if n in named:
                inputs.append(named[n])
            elif n in self.weights:
                inputs.append(self.weights[n])
            else:
                raise KeyError(f"{self.name}: no value for input {n!r} of {entry}")
        outs = self.artifact.call(entry, *inputs)
        return dict(zip([o["name"] for o in spec["outputs"]], outs))


def compile_model(compile_mlir, workdir: str, name: str, config: dict, weights: dict,
                  *flags: str):
    """rotorc CONFIG --weights W -o OUT -q FLAGS; returns (proc, OUT)."""
    wpath = os.path.join(workdir, f"{name}.safetensors")
    bf16 = {k for k, v in weights.items() if isinstance(v, BF16)}
    st.save(wpath, {k: v.to_float() if k in bf16 else v for k, v in weights.items()},
            dtypes={k: "BF16" for k in bf16})
    cpath = os.path.join(workdir, f"{name}.json")
    with open(cpath, "w") as f:
        json.dump(config, f)
    out = os.path.join(workdir, f"{name}.rotor")
    proc = subprocess.run([compile_mlir.rotorc, cpath, "--weights", wpath, "-o", out,
                           "-q", *flags], capture_output=True, text=True)
    return proc, out


def build_model(compile_mlir, tmp_path_factory, name: str, dtype: str) -> Model:
    config = load_config(name)
    weights = model_weights(config, seed=zlib.crc32(name.encode()))
    if dtype == "bf16":
        weights = bf16_weights(weights)
    workdir = str(tmp_path_factory.mktemp(f"model_{name}_{dtype}"))
    proc, out = compile_model(compile_mlir, workdir, name, config, weights, f"--dtype={dtype}")
    if proc.returncode != 0:
        raise AssertionError(f"rotorc failed on examples/models/{name}.json "
                             f"(--dtype={dtype}):\n{proc.stderr}")
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    return Model(name, config, weights, compile_mlir.runtime.load(out), manifest)


@pytest.fixture(scope="module", params=MODELS)
def model(request, compile_mlir, tmp_path_factory) -> Model:
    return build_model(compile_mlir, tmp_path_factory, request.param, "f32")


def token_ids(config, batch, length, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, config["vocab_size"], size=(batch, length), dtype=np.int64)


def assert_logits_close(actual, expected, what):
    assert actual.dtype == np.float32, f"{what}: logits are {actual.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual.astype(np.float64), expected, rtol=RTOL, atol=ATOL,
                               err_msg=what)


# =============================================================================
# The artifact's interface
# =============================================================================

def test_entries_take_weights_by_hf_name(model):
    """Every entry takes exactly the HF parameters as its weight inputs, with
    their shapes, in f32; forward takes input_ids (B, S), prefill returns
    one k and one v cache per layer, decode takes and returns them."""
    c = M.parse_config(model.config)
    shapes = M.weight_shapes(c)
    caches = [f"{kv}_cache.{l}" for l in range(c.num_layers) for kv in ("k", "v")]
    for entry, extra_in, extra_out in [("forward", [], []),
                                       ("prefill", [], caches),
                                       ("decode", caches, caches)]:
        spec = model.entries[entry]
        names = [a["name"] for a in spec["inputs"]]
        assert names[0] == "input_ids", entry
        assert spec["inputs"][0]["dtype"] == "i64" and len(spec["inputs"][0]["shape"]) == 2
        weight_inputs = [a for a in spec["inputs"] if a["name"] in shapes]
        assert sorted(a["name"] for a in weight_inputs) == sorted(shapes), entry
        for a in weight_inputs:
            assert a["dtype"] == "f32", (entry, a["name"])
            assert tuple(a["shape"]) == shapes[a["name"]], (entry, a["name"])
        others = [n for n in names[1:] if n not in shapes]
        assert sorted(others) == sorted(extra_in), entry
        outs = [o["name"] for o in spec["outputs"]]
        assert outs[0] == "logits" and spec["outputs"][0]["dtype"] == "f32", entry
        assert sorted(outs[1:]) == sorted(extra_out), entry
    cache_spec = next(o for o in model.entries["prefill"]["outputs"]
                      if o["name"] == "k_cache.0")
    assert cache_spec["shape"][1] == c.num_kv_heads and cache_spec["shape"][3] == c.head_dim


# =============================================================================
# forward and prefill
# =============================================================================

@pytest.mark.parametrize("length", [1, 7, 37, 70])
def test_forward_logits(model, length):
    ids = token_ids(model.config, 2, length, seed=length)
    out = model.call("forward", {"input_ids": ids})
    ref = M.forward(model.config, model.ref_weights, ids)
    assert_logits_close(out["logits"], ref, f"{model.name} forward, length {length}")


def test_prefill_matches_forward(model):
    c = M.parse_config(model.config)
    ids = token_ids(model.config, 2, 23, seed=5)
    fwd = model.call("forward", {"input_ids": ids})["logits"]
    pre = model.call("prefill", {"input_ids": ids})
    np.testing.assert_allclose(pre["logits"], fwd, rtol=1e-6, atol=1e-6)
    for l in range(c.num_layers):
        for kv in ("k", "v"):
            cache = pre[f"{kv}_cache.{l}"]
            assert cache.shape == (2, c.num_kv_heads, 23, c.head_dim), (kv, l)
            assert cache.dtype == np.float32 and np.isfinite(cache).all()


def test_empty_prompt(model):
    """No tokens: forward and prefill give (B, 0, V) logits and empty caches;
    decode then starts from position 0 and matches forward on one token."""
    c = M.parse_config(model.config)
    empty = np.zeros((2, 0), dtype=np.int64)
    assert model.call("forward", {"input_ids": empty})["logits"].shape == (2, 0, c.vocab_size)
    pre = model.call("prefill", {"input_ids": empty})
    assert pre["logits"].shape == (2, 0, c.vocab_size)
    caches = {k: v for k, v in pre.items() if k != "logits"}
    for name, cache in caches.items():
        assert cache.shape == (2, c.num_kv_heads, 0, c.head_dim), name
    ids = token_ids(model.config, 2, 1, seed=3)
    out = model.call("decode", dict(caches, input_ids=ids))
    ref = M.forward(model.config, model.ref_weights, ids)
    assert_logits_close(out["logits"], ref, f"{model.name} decode after an empty prompt")


# =============================================================================
# Greedy generation through the KV cache
# =============================================================================

def compiled_greedy(model: Model, prompt: np.ndarray, steps: int):
    """prefill on the prompt, then `steps - 1` decode calls, each fed the
    previous step's caches and argmax token. Returns (tokens (B, steps),
    last-position logits per step (B, steps, V))."""
    c = M.parse_config(model.config)
    out = model.call("prefill", {"input_ids": prompt})
    caches = {k: v for k, v in out.items() if k != "logits"}
    logits = [out["logits"][:, -1, :]]
    tokens = [np.argmax(logits[-1], axis=-1).astype(np.int64)]
    for step in range(1, steps):
        out = model.call("decode", dict(caches, input_ids=tokens[-1][:, None]))
        assert out["logits"].shape == (prompt.shape[0], 1, c.vocab_size)
        length = prompt.shape[1] + step
        for k, v in out.items():
            if k != "logits":
                assert v.shape[2] == length, f"{k} holds {v.shape[2]} positions, not {length}"
        caches = {k: v for k, v in out.items() if k != "logits"}
        logits.append(out["logits"][:, 0, :])
        tokens.append(np.argmax(logits[-1], axis=-1).astype(np.int64))
    return np.stack(tokens, axis=1), np.stack(logits, axis=1)


def test_greedy_generation_through_kv_cache(model):
    """28 new tokens after a 12-token prompt: 40 positions, past Mistral's
    16-token and Qwen2's 32-token windows."""
    prompt, steps = token_ids(model.config, 2, 12, seed=11), 28
    tokens, logits = compiled_greedy(model, prompt, steps)
    ref_seq, ref_logits = M.generate_greedy(model.config, model.ref_weights, prompt, steps,
                                            return_logits=True)
    ref_tokens = ref_seq[:, prompt.shape[1]:]
    for b in range(prompt.shape[0]):
        for t in range(steps):
            what = f"{model.name} batch row {b}, step {t}"
            np.testing.assert_allclose(logits[b, t], ref_logits[b, t], rtol=RTOL, atol=ATOL,
                                       err_msg=what)
            if tokens[b, t] != ref_tokens[b, t]:
                # Only a near-tie may break differently; the sequences then
                # differ, so compare no further.
                row = ref_logits[b, t]
                gap = row[ref_tokens[b, t]] - row[tokens[b, t]]
                assert gap <= ATOL + RTOL * abs(row).max(), (
                    f"{what}: token {tokens[b, t]} instead of {ref_tokens[b, t]} "
                    f"(reference margin {gap:.3g})")
                break
    # The whole batch cannot hide behind near-ties.
    assert (tokens == ref_tokens).mean() > 0.9, (tokens, ref_tokens)


def test_decode_after_forward_prefix(model):
    """decode on prefill caches gives the logits that forward computes for
    the whole sequence at its last position (no argmax involved)."""
    ids = token_ids(model.config, 2, 45, seed=3)
    out = model.call("prefill", {"input_ids": ids[:, :40]})
    caches = {k: v for k, v in out.items() if k != "logits"}
    ref = M.forward(model.config, model.ref_weights, ids)
    for t in range(40, 45):
        out = model.call("decode", dict(caches, input_ids=ids[:, t:t + 1]))
        caches = {k: v for k, v in out.items() if k != "logits"}
        assert_logits_close(out["logits"][:, 0], ref[:, t], f"{model.name} decode at {t}")


@pytest.mark.parametrize("name", MODELS)
def test_forward_logits_bf16(compile_mlir, tmp_path_factory, name):
    """The same models in bfloat16 (weights and activations; logits f32),
    against the reference on the bf16-rounded weights. bf16 keeps 8
    significant bits (roundoff 2^-9 = 2e-3) and every layer rounds its
    activations, so the logits are held only to statistical bounds: mean
    |error| <= 4% of the reference's RMS and max |error| <= 8% of its largest
    magnitude (measured: ~1.5% and ~3.5%). A wrong window, rotation or bias
    errs by 20% to 100%."""
    model = build_model(compile_mlir, tmp_path_factory, name, "bf16")
    assert all(a["dtype"] == "bf16" for a in model.entries["forward"]["inputs"][1:])
    for length in (7, 70):
        ids = token_ids(model.config, 2, length, seed=length)
        out = model.call("forward", {"input_ids": ids})["logits"]
        assert out.dtype == np.float32 and np.isfinite(out).all()
        ref = M.forward(model.config, model.ref_weights, ids)
        err = np.abs(out - ref)
        what = f"{name} bf16 forward, length {length}"
        assert err.mean() <= 0.04 * np.sqrt(np.mean(ref ** 2)), (what, err.mean())
        assert err.max() <= 0.08 * np.abs(ref).max(), (what, err.max())


# =============================================================================
# Weights checked by rotorc
# =============================================================================

def test_rotorc_rejects_mismatched_weights(compile_mlir, tmp_path):
    config = load_config("qwen2")
    weights = model_weights(config, seed=1)
    bad_shape = dict(weights)
    bad_shape["model.layers.1.self_attn.k_proj.bias"] = np.zeros(7, np.float32)
    missing = {k: v for k, v in weights.items() if k != "model.layers.3.mlp.up_proj.weight"}
    for label, w, needle in [("shape", bad_shape, "model.layers.1.self_attn.k_proj.bias"),
                             ("missing", missing, "model.layers.3.mlp.up_proj.weight")]:
        proc, _ = compile_model(compile_mlir, str(tmp_path), f"bad_{label}", config, w,
                                "--dtype=f32")
        assert proc.returncode != 0, label
        assert needle in proc.stderr, (label, proc.stderr)
