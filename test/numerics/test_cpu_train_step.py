"""The training entry of a whole tiny model: rotorc CONFIG --train builds
train_step(input_ids, labels, params...) -> (loss, grads...) (TRAIN_ABI in
docs/autodiff.md). Checked on examples/models/llama.json (GQA, llama3 rope
scaling, tied embeddings, SwiGLU, two layers) compiled with layer
checkpointing:

* the loss equals the float64 cross-entropy of `forward`'s logits
  (f32 tolerance: rtol 1e-5);
* the gradients of a few random coordinates of several parameters match
  central finite differences of the loss. The model is f32, so the
  difference quotient carries the loss's rounding error (~1e-7 |L| / h):
  with h = 1e-2 the check is |fd - grad| <= 3e-2 |grad| + 2e-4.
  (Every rule is checked at 1e-6 in f64 in test_cpu_grad.py.)
"""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from test_cpu_models import load_config, model_weights


def compile_train_step(compile_mlir, tmp_path, model):
    """examples/models/MODEL.json compiled with --train (f32, layer
    checkpointing): the artifact and train_step's manifest entry."""
    import json
    cpath = os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                         "models", f"{model}.json")
    out = str(tmp_path / f"{model}.rotor")
    proc = subprocess.run([compile_mlir.rotorc, cpath, "--train", "--dtype=f32",
                           "--train-checkpoint=layers", "-o", out, "-q"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    entry = next(e for e in manifest["entries"] if e["name"] == "train_step")
    return compile_mlir.runtime.load(out), entry


def check_loss_against_forward(art, ids, labels, params, loss):
    """The loss equals the float64 cross-entropy of `forward`'s logits."""
    (logits,) = art.call("forward", ids, *params)
    z = logits.astype(np.float64)
    lse = np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1)) + z.max(-1)
    mask = labels != -100
    picked = np.take_along_axis(z, np.where(mask, labels, 0)[..., None], -1)[..., 0]
    ref = float(((lse - picked) * mask).sum() / mask.sum())
    np.testing.assert_allclose(float(loss), ref, rtol=1e-5)


def check_finite_differences(art, ids, labels, params, grads, names, checked, rng,
                             what, min_gradient=0.0):
    """The gradients of the parameters `checked` at their largest and two
    random coordinates against central differences of the loss (h = 1e-2,
    |fd - grad| <= 3e-2 |grad| + 2e-4); each gradient's largest magnitude
    must exceed `min_gradient` (so that the check is not vacuous)."""
    one = np.array(1.0, dtype=np.float32)

    def loss_at(ps):
        return float(art.call("train_step", ids, labels, *ps, one)[0])

    h = 1e-2
    for name in checked:
        i = names.index(name)
        g = grads[i]
        assert g.shape == params[i].shape and g.dtype == np.float32
        assert np.abs(g).max() > min_gradient, f"{what}: {name}: gradient {np.abs(g).max()}"
        coords = [np.unravel_index(int(np.argmax(np.abs(g))), g.shape)]
        coords += [np.unravel_index(int(c), g.shape) for c in rng.choice(g.size, 2)]
        for idx in coords:
            plus = [p.copy() for p in params]
            minus = [p.copy() for p in params]
            plus[i][idx] += h
            minus[i][idx] -= h
            fd = (loss_at(plus) - loss_at(minus)) / (2 * h)
            assert abs(fd - float(g[idx])) <= 3e-2 * abs(float(g[idx])) + 2e-4, (
                f"{what}: {name}{idx}: gradient {g[idx]}, finite difference {fd}")


def test_llama_train_step(compile_mlir, tmp_path):
    config = load_config("llama")
    art, entry = compile_train_step(compile_mlir, tmp_path, "llama")
    weights = model_weights(config, seed=5)
    names = [i["name"] for i in entry["inputs"][2:-1]]
    # The optional loss_scale input (TRAIN_ABI), last: f32 0-D.
    assert entry["inputs"][-1]["name"] == "loss_scale"
    assert entry["inputs"][-1]["dtype"] == "f32" and entry["inputs"][-1]["shape"] == []
    assert [o["name"] for o in entry["outputs"]] == ["loss"] + ["grad." + n for n in names]
    params = [weights[n] for n in names]

    rng = np.random.default_rng(3)
    ids = rng.integers(0, config["vocab_size"], size=(2, 7)).astype(np.int64)
    labels = np.concatenate([ids[:, 1:], np.full((2, 1), -100)], axis=1).astype(np.int64)
    one = np.array(1.0, dtype=np.float32)
    loss, *grads = art.call("train_step", ids, labels, *params, one)
    assert len(grads) == len(params)
    # loss_scale scales the gradients, not the loss.
    scale = np.array(1024.0, dtype=np.float32)
    scaled_loss, *scaled = art.call("train_step", ids, labels, *params, scale)
    assert float(scaled_loss) == float(loss)
    for g, sg in zip(grads, scaled):
        np.testing.assert_allclose(sg, 1024.0 * g, rtol=1e-5, atol=1e-6 * np.abs(sg).max())

    check_loss_against_forward(art, ids, labels, params, loss)
    checked = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
               "model.layers.0.self_attn.k_proj.weight", "model.layers.1.input_layernorm.weight",
               "model.layers.1.mlp.down_proj.weight", "model.norm.weight"]
    check_finite_differences(art, ids, labels, params, grads, names, checked, rng, "llama")


# The attention variants whose rules are not on llama's path: Givens
# rotations of q/k with a learned rotation (givens.json), a depthwise causal
# convolution (conv.json), learned sinusoidal position embeddings with
# l2-normalized q/k (sinusoidal.json). model_ref.py does not model these
# configs, so the weights are drawn from the manifest's shapes, and the loss
# is checked against `forward`'s logits of the same artifact; the gradients
# of the variant's own parameters (and of a projection feeding them) against
# central finite differences, as above.
VARIANTS = [
    ("givens", ["model.layers.0.self_attn.givens.angles",
                "model.layers.1.self_attn.givens.angles",
                "model.layers.0.self_attn.rotation.weight",
                "model.layers.0.self_attn.q_proj.weight"]),
    ("conv", ["model.layers.0.self_attn.conv.weight",
              "model.layers.1.self_attn.conv.weight",
              "model.layers.0.input_layernorm.weight"]),
    ("sinusoidal", ["model.embed_positions.frequencies",
                    "model.embed_positions.proj.weight",
                    "model.layers.0.self_attn.k_proj.weight"]),
]


def variant_weights(inputs, rng):
    """Weights for the train_step inputs `inputs` (manifest entries): norms
    1 + 0.1 N(0, 1), angles U(-1, 1), frequencies U(0.05, 1), the rest
    0.1 N(0, 1)."""
    out = []
    for spec in inputs:
        name, shape = spec["name"], tuple(spec["shape"])
        if "norm" in name:
            w = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name.endswith("angles"):
            w = rng.uniform(-1.0, 1.0, size=shape)
        elif name.endswith("frequencies"):
            w = rng.uniform(0.05, 1.0, size=shape)
        else:
            w = 0.1 * rng.standard_normal(shape)
        out.append(w.astype(np.float32))
    return out


@pytest.mark.parametrize("model,checked", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_variant_train_step(compile_mlir, tmp_path, model, checked):
    art, entry = compile_train_step(compile_mlir, tmp_path, model)
    names = [i["name"] for i in entry["inputs"][2:-1]]
    rng = np.random.default_rng(11)
    params = variant_weights(entry["inputs"][2:-1], rng)
    vocab = entry["inputs"][2]["shape"][0]

    ids = rng.integers(0, vocab, size=(2, 9)).astype(np.int64)
    labels = np.concatenate([ids[:, 1:], np.full((2, 1), -100)], axis=1).astype(np.int64)
    loss, *grads = art.call("train_step", ids, labels, *params, np.array(1.0, dtype=np.float32))
    assert len(grads) == len(params)
    check_loss_against_forward(art, ids, labels, params, loss)
    check_finite_differences(art, ids, labels, params, grads, names, checked, rng, model,
                             min_gradient=1e-3)


def test_llama_train_step_bf16_master_weights(compile_mlir, tmp_path):
    """A bf16 model's train_step takes f32 master weights, rounds them to
    bf16 on entry and returns an f32 loss and f32 gradients: compared with
    the f32 model's train_step at the same (bf16-representable) weights,
    the loss agrees to bf16 accuracy and each gradient to a few percent of
    its largest entry (bf16 activations: 8-bit mantissas through two
    layers)."""
    import json
    cpath = os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                         "models", "llama.json")
    config = load_config("llama")
    arts = {}
    for dtype in ("f32", "bf16"):
        out = str(tmp_path / f"llama-{dtype}.rotor")
        proc = subprocess.run([compile_mlir.rotorc, cpath, "--train", f"--dtype={dtype}",
                               "-o", out, "-q"], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
        entry = next(e for e in manifest["entries"] if e["name"] == "train_step")
        arts[dtype] = (compile_mlir.runtime.load(out), entry)
    entry16 = arts["bf16"][1]
    # Every parameter input and gradient output is f32; forward stays bf16.
    assert all(i["dtype"] == "f32" for i in entry16["inputs"][2:])
    assert all(o["dtype"] == "f32" for o in entry16["outputs"])
    with open(os.path.join(tmp_path / "llama-bf16.rotor", "manifest.json")) as f:
        fwd = next(e for e in json.load(f)["entries"] if e["name"] == "forward")
    assert all(i["dtype"] == "bf16" for i in fwd["inputs"][1:])

    from rotor_ref import bf16_round
    names = [i["name"] for i in entry16["inputs"][2:-1]]
    weights = model_weights(config, seed=5)
    params = [bf16_round(np.asarray(weights[n], dtype=np.float64)).astype(np.float32)
              for n in names]
    rng = np.random.default_rng(4)
    ids = rng.integers(0, config["vocab_size"], size=(2, 9)).astype(np.int64)
    labels = np.concatenate([ids[:, 1:], np.full((2, 1), -100)], axis=1).astype(np.int64)
    one = np.array(1.0, dtype=np.float32)
    loss32, *g32 = arts["f32"][0].call("train_step", ids, labels, *params, one)
    loss16, *g16 = arts["bf16"][0].call("train_step", ids, labels, *params, one)
    assert abs(float(loss16) - float(loss32)) <= 2e-2 * abs(float(loss32))
    for name, a, b in zip(names, g16, g32):
        assert a.dtype == np.float32 and a.shape == b.shape
        scale = float(np.abs(b).max())
        err = float(np.abs(a - b).max())
        assert err <= 6e-2 * scale + 1e-6, f"{name}: max |bf16 - f32| {err:.3g} of {scale:.3g}"
