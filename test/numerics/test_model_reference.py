"""Self-checks of the float64 model reference (model_ref.py) and of the
.safetensors reader/writer (safetensors_io.py). NumPy only, fast.

model_ref is checked by properties that hold for any correct decoder
(causality, batch independence, GQA = MHA with repeated kv heads, windows
that do not bind, tied embeddings), against a second, independent assembly
of the same model from rotor_ref's op references, and against logits that
Hugging Face transformers 5.23 produced (eager attention, with its float32
rotary tables, norms and softmax forced to float64; the model and
transformers then agree to ~1e-14) for three fixed configurations.

Run: python3 -m pytest -q test/numerics/test_model_reference.py
"""

from __future__ import annotations

import json
import os
import struct
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_ref as M  # noqa: E402
import rotor_ref as R  # noqa: E402
import safetensors_io as st  # noqa: E402

TIGHT = dict(rtol=1e-12, atol=1e-12)


def base(model_type, **kw):
    cfg = dict(model_type=model_type, hidden_size=32, intermediate_size=56,
               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
               vocab_size=41, max_position_embeddings=64)
    cfg.update(kw)
    return cfg


# Small configurations covering each model type and feature.
CONFIGS = {
    "llama": base("llama"),
    "llama_bias_mha": base("llama", num_key_value_heads=4, attention_bias=True, mlp_bias=True),
    "llama_headdim_partial": base("llama", head_dim=12, partial_rotary_factor=0.5,
                                  num_attention_heads=3, num_key_value_heads=1),
    "llama_linear": base("llama", rope_theta=500.0,
                         rope_scaling={"rope_type": "linear", "factor": 2.0}),
    "llama_dynamic": base("llama", max_position_embeddings=6,
                          rope_scaling={"type": "dynamic", "factor": 3.0}),
    "llama3": base("llama", rope_theta=50.0,
                   rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 16}),
    "qwen2_yarn": base("qwen2", rope_theta=1e4,
                       rope_scaling={"type": "yarn", "factor": 4.0,
                                     "original_max_position_embeddings": 32}),
    "mistral_window": base("mistral", sliding_window=3, num_key_value_heads=1),
    "qwen2": base("qwen2", tie_word_embeddings=True),
    "qwen2_window": base("qwen2", num_hidden_layers=3, use_sliding_window=True,
                         sliding_window=4, max_window_layers=1),
}


def weights_for(cfg, seed=0):
    """f64 weights, matrices scaled up so that attention is far from uniform
    (with the 0.02 init every softmax row would be nearly flat)."""
    w = M.init_weights(cfg, seed=seed, dtype="f64")
    return {k: (v * 10 if "proj" in k or "embed" in k or "lm_head" in k else v)
            for k, v in w.items()}


def ids_for(cfg, shape, seed=1):
    return np.random.default_rng(seed).integers(0, cfg["vocab_size"], size=shape)


# =============================================================================
# Configuration parsing and weights
# =============================================================================

def test_weight_names_and_shapes():
    c = CONFIGS
    w = M.init_weights(c["llama"], seed=0)
    assert w["model.embed_tokens.weight"].shape == (41, 32)
    assert w["model.layers.1.self_attn.k_proj.weight"].shape == (16, 32)
    assert w["model.layers.0.mlp.down_proj.weight"].shape == (32, 56)
    assert "lm_head.weight" in w and not any(k.endswith(".bias") for k in w)
    assert all(v.dtype == np.float32 for v in w.values())

    w = M.init_weights(c["llama_bias_mha"], seed=0)
    for p in ("q", "k", "v", "o"):
        assert f"model.layers.0.self_attn.{p}_proj.bias" in w
    for p in ("gate", "up", "down"):
        assert f"model.layers.1.mlp.{p}_proj.bias" in w

    w = M.init_weights(c["qwen2"], seed=0)
    assert {k for k in w if k.endswith(".bias")} == {
        f"model.layers.{l}.self_attn.{p}_proj.bias" for l in range(2) for p in "qkv"}
    assert "lm_head.weight" not in w

    w = M.init_weights(c["llama_headdim_partial"], seed=0)
    assert w["model.layers.0.self_attn.q_proj.weight"].shape == (36, 32)
    assert w["model.layers.0.self_attn.o_proj.weight"].shape == (32, 36)

    # Mistral has no biases even when asked (as in HF).
    w = M.init_weights(base("mistral", attention_bias=True), seed=0)
    assert not any(k.endswith(".bias") for k in w)


def test_init_weights_statistics_and_dtypes():
    cfg = base("llama", hidden_size=64, intermediate_size=128, vocab_size=500)
    w = M.init_weights(cfg, seed=3, dtype="f64")
    mats = np.concatenate([v.ravel() for k, v in w.items() if "norm" not in k])
    norms = np.concatenate([v.ravel() for k, v in w.items() if "norm" in k])
    assert abs(mats.std() - 0.02) < 0.001 and abs(mats.mean()) < 0.001
    assert abs(norms.mean() - 1.0) < 0.03 and abs(norms.std() - 0.1) < 0.02
    # Same seed, same weights; dtypes round the same draws.
    w2 = M.init_weights(cfg, seed=3, dtype="f64")
    assert all(np.array_equal(w[k], w2[k]) for k in w)
    assert not np.array_equal(w["model.norm.weight"],
                              M.init_weights(cfg, seed=4, dtype="f64")["model.norm.weight"])
    wb = M.init_weights(cfg, seed=3, dtype="bf16")
    wh = M.init_weights(cfg, seed=3, dtype="f16")
    for k in w:
        assert wb[k].dtype == np.float32 and wh[k].dtype == np.float16
        np.testing.assert_array_equal(wb[k], R.bf16_round(w[k]))
        np.testing.assert_array_equal(wh[k], R.f16_round(w[k]))


def test_config_errors():
    with pytest.raises(ValueError, match="model_type"):
        M.forward({"model_type": "gpt2"}, {}, [[0]])
    with pytest.raises(ValueError, match="hidden_size"):
        M.parse_config({"model_type": "llama"})
    with pytest.raises(ValueError, match="not supported"):
        M.parse_config(base("llama", rope_scaling={"rope_type": "longrope", "factor": 2.0}))
    with pytest.raises(ValueError, match="rotor"):
        M.parse_config(base("llama", rotor={"attention": {"kind": "chunked", "chunk": 4}}))
    with pytest.raises(ValueError, match="group"):
        M.parse_config(base("llama", num_key_value_heads=3))
    cfg = CONFIGS["llama"]
    w = M.init_weights(cfg, seed=0)
    with pytest.raises(ValueError, match="missing"):
        M.forward(cfg, {k: v for k, v in w.items() if k != "model.norm.weight"}, [[0]])
    with pytest.raises(ValueError, match="unexpected"):
        M.forward(cfg, dict(w, **{"model.layers.0.self_attn.q_proj.bias": np.zeros(32)}), [[0]])
    with pytest.raises(ValueError, match="shape"):
        M.forward(cfg, dict(w, **{"model.norm.weight": np.ones(31)}), [[0]])
    with pytest.raises(ValueError, match="range"):
        M.forward(cfg, w, [[41]])


def test_layer_windows():
    assert M.layer_windows(CONFIGS["llama"]) == [None, None]
    assert M.layer_windows(CONFIGS["mistral_window"]) == [3, 3]
    assert M.layer_windows(base("mistral", sliding_window=None)) == [None, None]
    assert M.layer_windows(base("mistral")) == [4096, 4096]  # HF default
    assert M.layer_windows(CONFIGS["qwen2_window"]) == [None, 4, 4]
    # Qwen2: no sliding unless use_sliding_window, whatever else is set.
    assert M.layer_windows(base("qwen2", sliding_window=4, max_window_layers=0)) == [None, None]
    assert M.layer_windows(base("qwen2", use_sliding_window=True, sliding_window=4,
                                layer_types=["sliding_attention", "full_attention"])) == [4, None]
    assert M.layer_windows(base("qwen2", use_sliding_window=True, sliding_window=4)) == \
        [None, None]  # max_window_layers defaults to 28


# =============================================================================
# Properties of the model
# =============================================================================

@pytest.mark.parametrize("name", list(CONFIGS))
def test_causality(name):
    """Changing token t changes no logits before t (and does change t's)."""
    cfg = CONFIGS[name]
    w = weights_for(cfg)
    ids = ids_for(cfg, (2, 9))
    ref = M.forward(cfg, w, ids)
    assert ref.shape == (2, 9, cfg["vocab_size"])
    for t in (0, 4, 8):
        alt = ids.copy()
        alt[:, t] = (alt[:, t] + 1 + t) % cfg["vocab_size"]
        out = M.forward(cfg, w, alt)
        np.testing.assert_array_equal(out[:, :t], ref[:, :t])
        assert np.all(np.max(np.abs(out[:, t] - ref[:, t]), axis=-1) > 1e-6)


@pytest.mark.parametrize("name", ["llama", "mistral_window", "qwen2_window"])
def test_batch_rows_independent(name):
    cfg = CONFIGS[name]
    w = weights_for(cfg)
    ids = ids_for(cfg, (3, 7))
    out = M.forward(cfg, w, ids)
    for b in range(3):
        np.testing.assert_allclose(M.forward(cfg, w, ids[b]), out[b], **TIGHT)


@pytest.mark.parametrize("name", ["llama", "llama_headdim_partial", "mistral_window",
                                  "qwen2_window"])
def test_gqa_equals_mha_with_repeated_kv(name):
    """Query head h uses kv head h // (Hq/Hkv): repeating each kv head's rows
    of k_proj/v_proj (and biases) that many times gives an MHA model with the
    same logits."""
    cfg = CONFIGS[name]
    c = M.parse_config(cfg)
    rep = c.num_heads // c.num_kv_heads
    assert rep > 1
    w = weights_for(cfg)
    mha_cfg = dict(cfg, num_key_value_heads=c.num_heads)
    mha = dict(w)
    for l in range(c.num_layers):
        for p in ("k", "v"):
            for kind in ("weight", "bias"):
                key = f"model.layers.{l}.self_attn.{p}_proj.{kind}"
                if key in w:
                    x = w[key].reshape(c.num_kv_heads, c.head_dim, *w[key].shape[1:])
                    mha[key] = np.repeat(x, rep, axis=0).reshape(
                        c.num_heads * c.head_dim, *w[key].shape[1:])
    ids = ids_for(cfg, (2, 8))
    np.testing.assert_allclose(M.forward(mha_cfg, mha, ids), M.forward(cfg, w, ids), **TIGHT)


@pytest.mark.parametrize("model_type", ["mistral", "qwen2"])
def test_window_at_least_seq_len_is_full_attention(model_type):
    S = 9
    extra = {} if model_type == "mistral" else dict(use_sliding_window=True,
                                                    max_window_layers=0)
    full_cfg = base(model_type, sliding_window=None, **extra)
    w = weights_for(full_cfg)
    ids = ids_for(full_cfg, (2, S))
    full = M.forward(full_cfg, w, ids)
    for W in (S, S + 1, 100):
        out = M.forward(base(model_type, sliding_window=W, **extra), w, ids)
        np.testing.assert_allclose(out, full, **TIGHT)
    # A window that binds changes the logits, but only from position W on.
    W = 4
    out = M.forward(base(model_type, sliding_window=W, **extra), w, ids)
    np.testing.assert_allclose(out[:, :W], full[:, :W], **TIGHT)
    assert np.max(np.abs(out[:, W:] - full[:, W:])) > 1e-3


def test_window_one_attends_to_itself_only():
    """With W = 1 every query sees only its own key, so attention returns the
    token's own value and RoPE cancels (q and k share the position): the
    logits at t are those of the 1-token sequence [ids[t]]."""
    cfg = base("mistral", sliding_window=1)
    w = weights_for(cfg)
    ids = ids_for(cfg, (1, 6))
    out = M.forward(cfg, w, ids)
    for t in range(6):
        np.testing.assert_allclose(out[0, t], M.forward(cfg, w, ids[:, t:t + 1])[0, 0], **TIGHT)


@pytest.mark.parametrize("model_type", ["llama", "mistral", "qwen2"])
def test_tied_embeddings(model_type):
    cfg = base(model_type, tie_word_embeddings=True)
    w = weights_for(cfg)
    assert "lm_head.weight" not in w
    untied = dict(w, **{"lm_head.weight": w["model.embed_tokens.weight"].copy()})
    ids = ids_for(cfg, (2, 5))
    ref = M.forward(dict(cfg, tie_word_embeddings=False), untied, ids)
    np.testing.assert_array_equal(M.forward(cfg, w, ids), ref)
    # A checkpoint carrying lm_head.weight too is accepted; the tie wins.
    junk = dict(w, **{"lm_head.weight": np.zeros_like(w["model.embed_tokens.weight"])})
    np.testing.assert_array_equal(M.forward(cfg, junk, ids), ref)


def test_rope_frequencies_against_rotor_ref():
    """model_ref's HF frequency computations against rotor_ref's."""
    dyn = {"kind": "dynamic_ntk", "factor": 3.0, "original_max_position": 6}
    cases = [
        (CONFIGS["llama"], None, 9),
        (CONFIGS["llama_linear"], {"kind": "linear", "factor": 2.0}, 9),
        (CONFIGS["llama_dynamic"], dyn, 4),
        (CONFIGS["llama_dynamic"], dyn, 17),
        (CONFIGS["llama3"], {"kind": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position": 16}, 9),
        (CONFIGS["qwen2_yarn"], {"kind": "yarn", "factor": 4.0,
                                 "original_max_position": 32}, 9),
        (base("llama", rope_scaling={"rope_type": "yarn", "factor": 3.0, "beta_fast": 8,
                                     "beta_slow": 2, "attention_factor": 0.7},
              max_position_embeddings=40),
         {"kind": "yarn", "factor": 3.0, "original_max_position": 40, "beta_fast": 8.0,
          "beta_slow": 2.0, "attention_factor": 0.7}, 9),
    ]
    for cfg, scaling, L in cases:
        c = M.parse_config(cfg)
        expected, a = R.rope_frequencies(c.rotary_dim, c.rope_theta, scaling, L)
        inv, af = M.rope_frequencies(cfg, L)
        np.testing.assert_allclose(inv, expected, **TIGHT)
        assert af == pytest.approx(a, rel=1e-15)
    assert M.rope_frequencies(CONFIGS["qwen2_yarn"], 9)[1] == pytest.approx(
        0.1 * np.log(4.0) + 1)
    # Dynamic NTK leaves the frequencies alone up to max_position_embeddings.
    plain, _ = M.rope_frequencies(base("llama", max_position_embeddings=6), 6)
    np.testing.assert_allclose(M.rope_frequencies(CONFIGS["llama_dynamic"], 6)[0], plain,
                               **TIGHT)
    assert not np.allclose(M.rope_frequencies(CONFIGS["llama_dynamic"], 7)[0][1:], plain[1:])


def rotor_ref_forward(cfg, w, ids):
    """The same model assembled from rotor_ref's op references (a second,
    independent implementation of rope, GQA attention and the masks)."""
    c = M.parse_config(cfg)
    S = ids.shape[1]
    scaling = None
    if c.rope_scaling:
        s = c.rope_scaling
        kind = {"linear": "linear", "dynamic": "dynamic_ntk", "llama3": "llama3",
                "yarn": "yarn"}[s["rope_type"]]
        scaling = {"kind": kind, "factor": s["factor"]}
        if kind == "yarn":
            scaling["original_max_position"] = s["original_max_position_embeddings"]
            for key in ("beta_fast", "beta_slow", "attention_factor"):
                if key in s:
                    scaling[key] = s[key]
        if kind == "dynamic_ntk":
            scaling["original_max_position"] = c.max_position_embeddings
        if kind == "llama3":
            scaling.update(low_freq_factor=s["low_freq_factor"],
                           high_freq_factor=s["high_freq_factor"],
                           original_max_position=s["original_max_position_embeddings"])
    h = R.embedding(ids, w["model.embed_tokens.weight"])
    pos = np.arange(S)
    for l in range(c.num_layers):
        p = f"model.layers.{l}."
        x = R.rms_norm(h, w[p + "input_layernorm.weight"], c.eps)
        proj = {n: R.linear(x, w[p + f"self_attn.{n}_proj.weight"],
                            w.get(p + f"self_attn.{n}_proj.bias")) for n in "qkv"}
        q = R.split_heads(proj["q"], c.num_heads)
        k = R.split_heads(proj["k"], c.num_kv_heads)
        v = R.split_heads(proj["v"], c.num_kv_heads)
        q = R.rope(q, pos, c.rope_theta, c.rotary_dim, scaling=scaling)
        k = R.rope(k, pos, c.rope_theta, c.rotary_dim, scaling=scaling)
        mask = {"causal": True}
        if c.windows[l] is not None:
            mask["window_left"] = c.windows[l] - 1   # HF's W keys: i - W < j <= i
        a = R.attention(q, k, v, mask=mask)
        h = h + R.linear(R.merge_heads(a), w[p + "self_attn.o_proj.weight"],
                         w.get(p + "self_attn.o_proj.bias"))
        x = R.rms_norm(h, w[p + "post_attention_layernorm.weight"], c.eps)
        g = R.linear(x, w[p + "mlp.gate_proj.weight"], w.get(p + "mlp.gate_proj.bias"))
        u = R.linear(x, w[p + "mlp.up_proj.weight"], w.get(p + "mlp.up_proj.bias"))
        h = h + R.linear(R.swiglu(g, u), w[p + "mlp.down_proj.weight"],
                         w.get(p + "mlp.down_proj.bias"))
    h = R.rms_norm(h, w["model.norm.weight"], c.eps)
    return R.linear(h, w["model.embed_tokens.weight"] if c.tie else w["lm_head.weight"])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_against_rotor_ref_ops(name):
    cfg = CONFIGS[name]
    w = weights_for(cfg)
    ids = ids_for(cfg, (2, 11))
    np.testing.assert_allclose(M.forward(cfg, w, ids), rotor_ref_forward(cfg, w, ids),
                               rtol=1e-11, atol=1e-11)


# Logits from Hugging Face transformers 5.23 (LlamaForCausalLM,
# MistralForCausalLM, Qwen2ForCausalLM; eager attention; float32 rotary
# tables, norms and softmax forced to float64) on init_weights(cfg, seed=5,
# dtype="f64") with proj/embedding/lm_head weights scaled by 10 and
# ids[b, s] = (7 (11 b + s) + 3) % 61: logits[0, -1, :5] then logits[1, 4, -5:].
HF_GOLDEN = {
    "llama": (
        dict(model_type="llama", hidden_size=48, intermediate_size=80, num_hidden_layers=2,
             num_attention_heads=6, num_key_value_heads=2, vocab_size=61,
             max_position_embeddings=32, rope_theta=100.0, attention_bias=True,
             rope_scaling=dict(rope_type="llama3", factor=4.0, low_freq_factor=1.0,
                               high_freq_factor=4.0, original_max_position_embeddings=16)),
        [0.879575917131, -0.534842006953, 0.884027369832, 0.120754792962, -1.587054010254,
         -0.20225698832, -1.294999219633, -0.411837252727, -1.339137375246, -3.452058930807]),
    "mistral": (
        dict(model_type="mistral", hidden_size=48, intermediate_size=80, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=1, head_dim=16, vocab_size=61,
             max_position_embeddings=32, sliding_window=3),
        [0.790888756113, -0.360096419271, 2.460798335342, 0.700248470503, -0.152418948486,
         0.326544048303, 1.383472250666, 1.240138608059, -1.279968502479, 1.055514583274]),
    "qwen2": (
        dict(model_type="qwen2", hidden_size=48, intermediate_size=80, num_hidden_layers=3,
             num_attention_heads=4, num_key_value_heads=2, vocab_size=61,
             max_position_embeddings=8, use_sliding_window=True, sliding_window=4,
             max_window_layers=1, tie_word_embeddings=True,
             rope_scaling=dict(rope_type="dynamic", factor=2.0)),
        [-0.333329589664, 0.316880355854, -1.060776748038, -1.054551390335, 0.338950911848,
         0.769228248694, -0.403013418992, -0.149672261136, -0.875642578985, -1.272087989872]),
    "qwen2_yarn": (
        dict(model_type="qwen2", hidden_size=48, intermediate_size=80, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, vocab_size=61,
             max_position_embeddings=64, rope_theta=100.0,
             rope_scaling=dict(type="yarn", factor=3.0, beta_fast=8,
                               original_max_position_embeddings=16)),
        [-0.88952576019, 3.079270254888, 0.455465042296, -1.540684151014, 0.664562821212,
         0.076889277455, -0.673194923477, -2.323227137983, 0.20749208758, -0.584655781737]),
}


@pytest.mark.parametrize("name", list(HF_GOLDEN))
def test_against_hugging_face_logits(name):
    cfg, golden = HF_GOLDEN[name]
    w = M.init_weights(cfg, seed=5, dtype="f64")
    w = {k: (v * 10 if "proj" in k or "embed" in k or "lm_head" in k else v)
         for k, v in w.items()}
    ids = (np.arange(22).reshape(2, 11) * 7 + 3) % 61
    out = M.forward(cfg, w, ids)
    got = np.concatenate([out[0, -1, :5], out[1, 4, -5:]])
    np.testing.assert_allclose(got, golden, rtol=0, atol=2e-12)


def test_generate_greedy():
    cfg = CONFIGS["qwen2_window"]
    w = weights_for(cfg)
    prompt = ids_for(cfg, (2, 4))
    seq, logits = M.generate_greedy(cfg, w, prompt, 5, return_logits=True)
    assert seq.shape == (2, 9) and seq.dtype == np.int64 and logits.shape == (2, 5, 41)
    np.testing.assert_array_equal(seq[:, :4], prompt)
    # Each new token is the argmax of the last position's logits, and a
    # single forward over the final sequence reproduces every step's logits.
    np.testing.assert_array_equal(seq[:, 4:], np.argmax(logits, axis=-1))
    full = M.forward(cfg, w, seq)
    np.testing.assert_allclose(full[:, 3:8], logits, **TIGHT)
    one = M.generate_greedy(cfg, w, prompt[1], 5)
    np.testing.assert_array_equal(one, seq[1])
    np.testing.assert_array_equal(M.generate_greedy(cfg, w, prompt, 0), prompt)


# =============================================================================
# safetensors_io
# =============================================================================

def sample_tensors():
    rng = np.random.default_rng(0)
    return {
        "f64": rng.standard_normal((3, 5)),
        "f32": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "f16": rng.standard_normal((7,)).astype(np.float16),
        "i64": rng.integers(-2**62, 2**62, size=(4, 2)),
        "i32": rng.integers(-2**31, 2**31 - 1, size=(5,)).astype(np.int32),
        "scalar": np.float32(3.5),
        "empty": np.zeros((0, 4), np.float32),
        "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((4, 4)).astype(np.float32),
    }


def test_safetensors_round_trip_every_dtype(tmp_path):
    t = sample_tensors()
    path = str(tmp_path / "t.safetensors")
    st.save(path, t, metadata={"format": "pt", "note": "ünïcode"})
    back, meta = st.load_with_metadata(path)
    assert meta == {"format": "pt", "note": "ünïcode"}
    assert set(back) == set(t)
    for k, v in t.items():
        v = np.asarray(v)
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
        np.testing.assert_array_equal(back[k], v)
    assert os.listdir(tmp_path) == ["t.safetensors"]  # no temporary file left


def test_safetensors_layout(tmp_path):
    t = sample_tensors()
    image = st.encode(t)
    (n,) = struct.unpack("<Q", image[:8])
    assert (8 + n) % 8 == 0
    header = json.loads(image[8:8 + n])
    sizes = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2}
    for name, info in header.items():
        begin = info["data_offsets"][0]
        assert begin % sizes[info["dtype"]] == 0, name  # naturally aligned
    assert header["i32"]["dtype"] == "I32" and header["scalar"]["shape"] == []
    assert "__metadata__" not in header
    # Byte-exact little-endian data.
    b, e = header["f32"]["data_offsets"]
    assert image[8 + n + b:8 + n + e] == t["f32"].astype("<f4").tobytes()


def test_safetensors_bf16(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 7)) * 100
    x[0, :4] = [1.0 + 2**-8, 1.0 + 3 * 2**-8, -0.0, np.inf]   # ties to even, sign, inf
    path = str(tmp_path / "b.safetensors")
    st.save(path, {"w": x, "v": x.astype(np.float32)}, dtypes="bf16")
    back = st.load(path)
    for k in ("w", "v"):
        assert back[k].dtype == np.float32
        np.testing.assert_array_equal(back[k], R.bf16_round(x))
    assert back["w"][0, 0] == 1.0 and back["w"][0, 1] == 1.0 + 2**-6
    assert np.signbit(back["w"][0, 2])
    # The stored bits are the top 16 bits of the float32 pattern.
    image = st.encode({"w": np.array([1.0, -2.5, 3.140625])}, dtypes={"w": "BF16"})
    (n,) = struct.unpack("<Q", image[:8])
    bits = np.frombuffer(image[8 + n:], dtype="<u2")
    np.testing.assert_array_equal(bits, [0x3F80, 0xC020, 0x4049])
    # Mixed per-tensor dtypes; init_weights' bf16 weights survive exactly.
    w = M.init_weights(CONFIGS["qwen2"], seed=2, dtype="bf16")
    st.save(path, w, dtypes="bf16")
    back = st.load(path)
    assert all(np.array_equal(back[k], w[k]) for k in w)
    st.save(path, {"a": x, "b": x}, dtypes={"a": "F16"})
    back = st.load(path)
    assert back["a"].dtype == np.float16 and back["b"].dtype == np.float64


def test_safetensors_write_errors():
    with pytest.raises(st.SafetensorsError, match="unsupported"):
        st.encode({"a": np.zeros(2, np.uint8)})
    with pytest.raises(st.SafetensorsError, match="integer"):
        st.encode({"a": np.zeros(2)}, dtypes="I32")
    with pytest.raises(st.SafetensorsError, match="out of range"):
        st.encode({"a": np.array([2**40])}, dtypes="I32")
    with pytest.raises(st.SafetensorsError, match="reserved"):
        st.encode({"__metadata__": np.zeros(1)})
    with pytest.raises(st.SafetensorsError, match="strings"):
        st.encode({"a": np.zeros(1)}, metadata={"k": 1})
    with pytest.raises(st.SafetensorsError, match="unknown"):
        st.encode({"a": np.zeros(1)}, dtypes={"b": "F32"})


def raw(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def make_image(header: dict, data: bytes) -> bytes:
    return raw(json.dumps(header).encode(), data)


GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]}}


def corrupt_cases():
    good = st.encode({"a": np.arange(6, dtype=np.float32).reshape(2, 3),
                      "b": np.arange(3, dtype=np.int64)})
    (n,) = struct.unpack("<Q", good[:8])
    d16 = bytes(16)

    def hdr(**changes):
        h = json.loads(json.dumps(GOOD))
        for name, entry in changes.items():
            if entry is None:
                h.pop(name)
            else:
                h[name] = entry
        return h

    return {
        "truncated_data": (good[:-1], "data section|cover|past"),
        "truncated_header": (good[:8 + n - 3], "past the end"),
        "short_file": (good[:5], "too short"),
        "empty_file": (b"", "too short"),
        "header_length_past_end": (struct.pack("<Q", len(good)) + good[8:], "past the end"),
        "header_length_huge": (struct.pack("<Q", 2**63) + good[8:], "limit"),
        "offsets_past_end": (make_image(hdr(b={"dtype": "I64", "shape": [1],
                                                "data_offsets": [8, 24]}), d16), "past"),
        "offsets_reversed": (make_image(hdr(b={"dtype": "I64", "shape": [0],
                                                "data_offsets": [16, 8]}), d16), "end before"),
        "offsets_negative": (make_image(hdr(a={"dtype": "F32", "shape": [2],
                                                "data_offsets": [-8, 0]}), d16), "non-negative"),
        "byte_count_mismatch": (make_image(hdr(a={"dtype": "F32", "shape": [3],
                                                   "data_offsets": [0, 8]}), d16), "needs 12"),
        "overlap": (make_image(hdr(b={"dtype": "F32", "shape": [2],
                                       "data_offsets": [4, 12]}), d16), "overlaps|cover"),
        "gap": (make_image(hdr(a={"dtype": "F32", "shape": [1],
                                   "data_offsets": [0, 4]}), d16), "gap"),
        "trailing_bytes": (make_image(GOOD, d16 + b"x"), "cover"),
        "unknown_dtype": (make_image(hdr(a={"dtype": "F8", "shape": [8],
                                             "data_offsets": [0, 8]}), d16), "dtype"),
        "bad_shape": (make_image(hdr(a={"dtype": "F32", "shape": [2.0],
                                         "data_offsets": [0, 8]}), d16), "shape"),
        "negative_dim": (make_image(hdr(a={"dtype": "F32", "shape": [-2],
                                            "data_offsets": [0, 8]}), d16), "shape"),
        "bool_dim": (make_image(hdr(a={"dtype": "F32", "shape": [True, 2],
                                        "data_offsets": [0, 8]}), d16), "shape"),
        "extra_field": (make_image(hdr(a={"dtype": "F32", "shape": [2], "data_offsets": [0, 8],
                                           "x": 1}), d16), "fields"),
        "missing_field": (make_image(hdr(a={"dtype": "F32", "shape": [2]}), d16), "fields"),
        "entry_not_object": (make_image(hdr(a=[1, 2]), d16), "not an object"),
        "metadata_not_strings": (make_image(dict(GOOD, __metadata__={"k": 1}), d16),
                                 "__metadata__"),
        "header_not_object": (raw(b"[]"), "'{'"),
        "header_not_json": (raw(b"{abc}"), "JSON"),
        "header_not_utf8": (raw(b"{\xff}"), "UTF-8"),
        "duplicate_key": (raw(b'{"a":{},"a":{}}'), "duplicate"),
        "nan_in_header": (raw(b'{"a":NaN}'), "non-finite"),
    }


@pytest.mark.parametrize("case", list(corrupt_cases()))
def test_safetensors_rejects_corrupt_files(tmp_path, case):
    image, message = corrupt_cases()[case]
    with pytest.raises(st.SafetensorsError, match=message):
        st.decode(image)
    path = str(tmp_path / "bad.safetensors")
    with open(path, "wb") as f:
        f.write(image)
    with pytest.raises(st.SafetensorsError):
        st.load(path)


def test_safetensors_accepts_unpadded_and_unordered(tmp_path):
    """Any valid layout reads, not only the writer's: no padding, tensors
    listed in an order different from their offsets."""
    data = np.array([1.5, -2.0], "<f4").tobytes() + np.array([7], "<i8").tobytes()
    header = {"b": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]},
              "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "__metadata__": {"x": "y"}}
    back, meta = st.decode(make_image(header, data))
    np.testing.assert_array_equal(back["a"], [1.5, -2.0])
    assert back["b"].tolist() == [7] and back["b"].dtype == np.int64
    assert meta == {"x": "y"}
    back, meta = st.decode(make_image({}, b""))
    assert back == {} and meta == {}
