#!/usr/bin/env python3
"""Runs the GPU numerics cases built by make_cases.py on the device machine.

For every op case: the CUDA artifact's output against the float64 NumPy
reference (tolerances per dtype, stated in cases.json), and, where the case
names one, against PyTorch on the GPU (SDPA with the rotor mask as a boolean
matrix, torch.nn.functional ops). For every model: the GPU's logits against
the CPU artifact's (same IR, the CPU backend's numerics are checked against
NumPy in CI) and, for Llama/Mistral/Qwen2, against transformers' modules
with the same weights; greedy generation through the KV cache against
recomputation.

Prints one PASS/FAIL line per check and exits non-zero on any failure.

Usage: run_cases.py CASES_DIR --runtime build/lib/librotor_runtime.so
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "numerics"))

import rotor_ref as R  # noqa: E402
from rotor_runtime import BF16, Runtime  # noqa: E402

CPU, CUDA = 0, 1
failures = []


def report(ok: bool, what: str, detail: str):
    print(f"{'PASS' if ok else 'FAIL'} {what}: {detail}", flush=True)
    if not ok:
        failures.append(what)


def f64(x):
    return x.to_float() if isinstance(x, BF16) else np.asarray(x, dtype=np.float64)


def compare(actual, expected, rtol, atol):
    a, e = f64(actual), f64(expected)
    if a.shape != e.shape:
        return False, f"shape {a.shape} != {e.shape}"
    bad = ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    err = np.abs(a - e)
    finite = np.isfinite(err)
    worst = float(err[finite].max()) if finite.any() else 0.0
    return (not bad.any(),
            f"max |err| {worst:.3g} (rtol {rtol:g}, atol {atol:.3g}), "
            f"{int(bad.sum())} of {a.size} outside")


def torch_check(case, inputs, outs):
    output = outs[0]
    import torch
    import torch.nn.functional as F
    spec = case["torch"]
    dev = "cuda"

    def t(x):
        if isinstance(x, BF16):
            return torch.from_numpy(x.to_float()).to(dev, torch.bfloat16)
        return torch.from_numpy(np.asarray(x)).to(dev)

    if spec["kind"] == "attention":
        q, k, v = (t(x) for x in inputs[:3])
        hq, hkv = q.shape[1], k.shape[1]
        k = k.repeat_interleave(hq // hkv, dim=1)
        v = v.repeat_interleave(hq // hkv, dim=1)
        sq, sk = q.shape[2], k.shape[2]
        mask = torch.from_numpy(R.mask_matrix(sq, sk, spec["mask"])).to(dev)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        # Rows without a visible key: PyTorch gives NaN, Rotor 0.
        ref = torch.where(mask.any(-1)[None, None, :, None], ref,
                          torch.zeros_like(ref))
        tol = (2e-2, 2e-2) if q.dtype != torch.float32 else (1e-4, 1e-4)
    elif spec["kind"] == "attention_static":
        # SDPA over the existing keys only (the rest of the caches is NaN).
        q, k, v = (t(x) for x in inputs[:3])
        n = R.static_cache_keys(spec["start"], q.shape[2], k.shape[2])
        k, v = k[:, :, :n], v[:, :, :n]
        hq, hkv = q.shape[1], k.shape[1]
        k = k.repeat_interleave(hq // hkv, dim=1)
        v = v.repeat_interleave(hq // hkv, dim=1)
        mask = torch.from_numpy(R.mask_matrix(q.shape[2], n, spec["mask"])).to(dev)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        ref = torch.where(mask.any(-1)[None, None, :, None], ref, torch.zeros_like(ref))
        tol = (2e-2, 2e-2) if q.dtype != torch.float32 else (1e-4, 1e-4)
    elif spec["kind"] == "rms_norm":
        x, w = t(inputs[0]), t(inputs[1])
        ref = F.rms_norm(x.float(), (x.shape[-1],), w.float(), spec["eps"])
        tol = (2e-2, 2e-2)
    elif spec["kind"] == "linear_silu_residual":
        x, w, b, r = (t(a) for a in inputs)
        ref = F.silu(F.linear(x.float(), w.float(), b.float())) + r.float()
        tol = (2e-2, 0.25) if x.dtype == torch.bfloat16 else (1e-4, 1e-3)
    elif spec["kind"] == "attention_grad":
        # Autograd of a plain float64 attention (GQA by repeating K/V, whose
        # gradients autograd sums back per group).
        q, k, v, _, _, do = (t(x).double() for x in inputs)
        q.requires_grad_(True)
        k.requires_grad_(True)
        v.requires_grad_(True)
        hq, hkv = q.shape[1], k.shape[1]
        kr = k.repeat_interleave(hq // hkv, dim=1)
        vr = v.repeat_interleave(hq // hkv, dim=1)
        sq, sk = q.shape[2], k.shape[2]
        mask = torch.from_numpy(R.mask_matrix(sq, sk, spec["mask"])).to(dev)
        s = (q @ kr.transpose(-1, -2)) / q.shape[-1] ** 0.5
        if spec.get("softcap"):
            s = spec["softcap"] * torch.tanh(s / spec["softcap"])
        p = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
        p = torch.nan_to_num(p, nan=0.0)
        (p @ vr).backward(do)
        for j, (name, got, ref) in enumerate(
                zip(("dq", "dk", "dv"), outs, (q.grad, k.grad, v.grad))):
            ok, detail = compare(got, ref.cpu().numpy(), *case["tol"][j])
            report(ok, f"{case['name']} {name} vs torch", detail)
        return
    else:
        return
    ok, detail = compare(output, ref.float().cpu().numpy(), *tol)
    report(ok, f"{case['name']} vs torch", detail)


def run_ops(rt, root, with_torch=True):
    with open(os.path.join(root, "cases.json")) as f:
        cases = json.load(f)
    arrays = np.load(os.path.join(root, "cases.npz"))
    t0 = time.time()
    art = rt.load(os.path.join(root, "ops.rotor"), CUDA)
    print(f"loaded ops.rotor on the GPU in {time.time() - t0:.2f} s", flush=True)
    for case in cases:
        inputs = []
        for i, kind in enumerate(case["inputs"]):
            a = arrays[f"{case['name']}.in{i}"]
            inputs.append(BF16(a) if kind == "bf16" else a)
        try:
            outs = art.call(case["name"], *inputs)
        except Exception as e:  # noqa: BLE001
            report(False, case["name"], f"call failed: {e}")
            continue
        for j in case["outputs"]:
            rtol, atol = case["tol"][j]
            ok, detail = compare(outs[j], arrays[f"{case['name']}.out{j}"], rtol, atol)
            report(ok, f"{case['name']} out{j}", detail)
        if with_torch and case.get("torch"):
            try:
                torch_check(case, inputs, outs)
            except Exception as e:  # noqa: BLE001
                report(False, f"{case['name']} vs torch", f"error: {e}")


def hf_logits(model_dir, dtype, ids):
    import torch
    from transformers import AutoModelForCausalLM
    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch_dtype,
                                                 attn_implementation="eager")
    model = model.to("cuda").eval()
    with torch.no_grad():
        out = model(torch.from_numpy(ids).to("cuda")).logits
    return out.float().cpu().numpy(), model


def run_models(root, rotor_run):
    path = os.path.join(root, "models.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        models = json.load(f)
    rng = np.random.default_rng(5)
    for m in models:
        d = os.path.join(root, m["dir"])
        what = f"model {m['name']} ({m['dtype']})"
        # bf16 models round activations after every op, at different
        # points in each implementation (transformers' eager modules round
        # more often than Rotor's fused kernels): logits are compared with a
        # tolerance of 5% of the largest logit; f32 ones to 1e-3.
        tol = (2e-2, 5e-2) if m["dtype"] == "bf16" else (1e-3, 1e-3)
        if not m["hf"] and m.get("f32_dir"):
            # A bf16 variant without weights: random weights of U(-1, 1)
            # make its activations grow layer after layer, and bf16's
            # rounding differs between the two backends by as much as it
            # differs from the exact result. Both run on the same
            # bf16-rounded inputs, the f32 build of the model on the same
            # values is the reference, and the GPU's error may be at most
            # twice the CPU backend's own.
            try:
                inputs = os.path.join(d, "inputs")
                write_random_inputs(os.path.join(d, "cpu.rotor", "manifest.json"), inputs)
                g = run_inputs(rotor_run, os.path.join(d, "cuda.rotor"), "cuda",
                               inputs + "-bf16.safetensors")
                c = run_inputs(rotor_run, os.path.join(d, "cpu.rotor"), "cpu",
                               inputs + "-bf16.safetensors")
                ref = run_inputs(rotor_run, os.path.join(root, m["f32_dir"], "cpu.rotor"),
                                 "cpu", inputs + "-f32.safetensors")
            except Exception as e:  # noqa: BLE001
                report(False, what, f"forward failed: {e}")
                continue
            for name in sorted(ref):
                eg, ec = rel_l2(g.get(name), ref[name]), rel_l2(c[name], ref[name])
                ok = eg <= 2 * ec + 1e-3
                report(ok, f"{what} GPU vs f32 reference {name}",
                       f"relative L2 error {eg:.3g}, the CPU backend's {ec:.3g} (bound: "
                       f"2x + 1e-3); GPU vs CPU max |err| "
                       f"{float(np.abs(f64(g[name]) - f64(c[name])).max()):.3g}")
            continue
        if not m["hf"]:
            # Variants without weights: every input (weights too) seeded
            # random, the same on both devices; every output compared.
            try:
                g = run_random(rotor_run, os.path.join(d, "cuda.rotor"), "cuda")
                c = run_random(rotor_run, os.path.join(d, "cpu.rotor"), "cpu")
            except Exception as e:  # noqa: BLE001
                report(False, what, f"forward failed: {e}")
                continue
            for name in sorted(c):
                scale = max(1.0, float(np.abs(c[name]).max()))
                ok, detail = compare(g.get(name), c[name], tol[0], tol[1] * scale)
                report(ok, f"{what} GPU vs CPU {name}", detail)
            continue
        ids = rng.integers(0, m["vocab"], size=(2, 23)).astype(np.int64)
        try:
            g = run_forward(rotor_run, os.path.join(d, "cuda.rotor"), "cuda", ids)
            c = run_forward(rotor_run, os.path.join(d, "cpu.rotor"), "cpu", ids)
        except Exception as e:  # noqa: BLE001
            report(False, what, f"forward failed: {e}")
            continue
        if m["dtype"] == "bf16":
            tol = (2e-2, 0.05 * float(np.abs(c).max()))
        ok, detail = compare(g, c, *tol)
        report(ok, f"{what} GPU vs CPU logits", detail)
        try:
            ref, _ = hf_logits(d, m["dtype"], ids)
            agree = float((ref.argmax(-1) == g.argmax(-1)).mean())
            ok, detail = compare(g, ref, *tol)
            detail += f"; argmax agrees at {agree:.1%} of positions"
            report(ok, f"{what} GPU vs transformers logits", detail)
        except Exception as e:  # noqa: BLE001
            report(False, f"{what} vs transformers", f"error: {e}")
        # Generation: the static cache (decode_static in a session, a
        # captured CUDA graph replayed from the third step), the same
        # without graphs, the growing cache, and recomputing every step.
        toks, replays = [], None
        modes = [([], {}), ([], {"ROTOR_CUDA_GRAPHS": "0"}), (["--cache=growing"], {}),
                 (["--recompute"], {})]
        for extra, env in modes:
            r = subprocess.run([rotor_run, "generate", os.path.join(d, "cuda.rotor"),
                                "--device=cuda", "--prompt-ids=1,5,9,14",
                                "--max-new-tokens=12", *extra],
                               capture_output=True, text=True, env=dict(os.environ, **env))
            # The generated ids (timing lines differ between the runs).
            toks.append(" ".join(line for line in r.stdout.strip().splitlines()
                                 if line.startswith("generated"))
                        if r.returncode == 0
                        else f"error {r.returncode}: {r.stderr.strip()[-300:]}")
            if replays is None:
                found = re.search(r"(\d+) steps replayed as a CUDA graph", r.stdout)
                replays = int(found.group(1)) if found else -1
        if not m["hf"]:
            continue
        ok = not any(t.startswith("error") for t in toks) and len(set(toks)) == 1
        report(ok, f"{what} GPU generation: static cache + graph, no graph, growing cache, "
               f"recompute", " | ".join(toks))
        # 11 decode steps: the first runs plainly, the second is captured.
        report(replays == 9, f"{what} GPU generation: decode steps replayed as a CUDA graph",
               f"{replays} of 11")


def run_forward(rotor_run, art, device, ids):
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "ids.npy"), ids)
        r = subprocess.run([rotor_run, art, "--entry=forward", f"--device={device}",
                            f"--input=input_ids={tmp}/ids.npy", "-o", f"{tmp}/logits.npy"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip()[-500:])
        return np.load(os.path.join(tmp, "logits.npy"))


def rel_l2(actual, expected) -> float:
    """||actual - expected|| / ||expected|| (inf for a missing output)."""
    if actual is None:
        return float("inf")
    a, e = f64(actual), f64(expected)
    return float(np.linalg.norm(a - e) / max(np.linalg.norm(e), 1e-30))


def write_random_inputs(manifest, prefix, seed=3):
    """Inputs of `forward` drawn like rotor-run --random-inputs (floats in
    [-1, 1), token ids in [0, 16), input_ids 2x19), floats rounded to
    bf16: PREFIX-bf16.safetensors (bf16 where the entry takes bf16) and
    PREFIX-f32.safetensors (the same values in f32)."""
    import safetensors_io
    with open(manifest) as f:
        entry = next(e for e in json.load(f)["entries"] if e["name"] == "forward")
    rng = np.random.default_rng(seed)
    values, dtypes = {}, {}
    for spec in entry["inputs"]:
        shape = [2, 19] if spec["name"] == "input_ids" else spec["shape"]
        if spec["dtype"] in ("i32", "i64"):
            values[spec["name"]] = rng.integers(0, 16, size=shape).astype(
                np.int64 if spec["dtype"] == "i64" else np.int32)
        else:
            values[spec["name"]] = R.bf16_round(
                rng.uniform(-1.0, 1.0, size=shape)).astype(np.float32)
            dtypes[spec["name"]] = spec["dtype"].upper()
    safetensors_io.save(prefix + "-bf16.safetensors", values, dtypes=dtypes)
    safetensors_io.save(prefix + "-f32.safetensors", values)


def run_forward_entry(rotor_run, art, device, *input_args):
    """Outputs of `forward` (rotor-run, by name) with the given input
    options."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([rotor_run, art, "--entry=forward", f"--device={device}",
                            *input_args, "-o", f"{tmp}/out"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip()[-500:])
        return {f[:-4]: np.load(os.path.join(tmp, "out", f))
                for f in os.listdir(os.path.join(tmp, "out"))}


def run_inputs(rotor_run, art, device, inputs):
    """Outputs of `forward` on the inputs of a .safetensors file."""
    return run_forward_entry(rotor_run, art, device, f"--inputs={inputs}")


def run_random(rotor_run, art, device):
    """Outputs of `forward` on seeded random inputs (ids within the
    vocabulary: rotor-run draws integers in [0, 16))."""
    return run_forward_entry(rotor_run, art, device, "--random-inputs", "--seed=3",
                             "--shape=input_ids=2x19")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--rotor-run", required=True)
    ap.add_argument("--no-torch", action="store_true",
                    help="skip the PyTorch comparisons (e.g. under compute-sanitizer, "
                         "whose racecheck also reports cuDNN's own kernels)")
    ap.add_argument("--ops-only", action="store_true",
                    help="skip the models (e.g. under compute-sanitizer)")
    args = ap.parse_args()
    rt = Runtime(args.runtime)
    run_ops(rt, args.root, with_torch=not args.no_torch)
    if not args.ops_only:
        run_models(args.root, args.rotor_run)
    print(f"{len(failures)} failures" + (": " + ", ".join(failures) if failures else ""))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
