#!/usr/bin/env python3
"""Greedy decoding on the GPU machine: Rotor's static cache replayed as a
CUDA graph against the same static cache without graphs, Rotor's growing
cache, and transformers (eager, the same weights); tokens/s of the decode
steps and whether the tokens agree.

    bench/gpu/decode_bench.py --artifact .device/decode/decoder-bf16.rotor \\
        --config .device/decode/config.json --rotor-run RT/bin/rotor-run \\
        [--prompt-len 32] [--new-tokens 256] [--markdown OUT.md]

The artifact comes from bench/gpu/make_decode.sh without its weights file;
this script writes the same random weights into it first (random_weights.py,
seed 1, its default std 0.16, bf16).
"""

import argparse
import datetime
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")


def rotor_generate(rotor_run, artifact, prompt, new, extra, env=None):
    cmd = [rotor_run, "generate", artifact, "--device=cuda",
           "--prompt-ids=" + ",".join(map(str, prompt)), f"--max-new-tokens={new}", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})))
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()[-400:]}")
    ids = [int(x) for x in re.search(r"generated: ([0-9,]+)", r.stdout).group(1).split(",")]
    m = re.search(r"decode: (\d+) tokens in ([0-9.]+) ms", r.stdout)
    steps, ms = int(m.group(1)), float(m.group(2))
    replays = re.search(r"(\d+) steps replayed", r.stdout)
    return ids, steps / (ms / 1e3), int(replays.group(1)) if replays else None, r.stdout


def hf_model(config_path, weights_path, dtype):
    import torch
    import transformers
    from safetensors.torch import load_file
    config = transformers.AutoConfig.from_pretrained(os.path.dirname(config_path))
    model = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
    state = load_file(weights_path)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if "rotary" not in m]
    if missing or unexpected:
        raise RuntimeError(f"weights: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.to(dtype).cuda().eval()


def regret(model, prompt, tokens):
    """Teacher-forced check of greedy tokens against a reference model: the
    largest gap (over the steps) between the reference's best logit and its
    logit for the token chosen, and the share of steps where the token is
    the reference's argmax. Greedy runs that differ only by rounding pick
    near-ties: their gaps stay as small as the reference's own rounding."""
    import torch
    with torch.no_grad():
        ids = torch.tensor([prompt + tokens[:-1]], device="cuda")
        logits = model(ids).logits[0, len(prompt) - 1:].float()
        chosen = logits.gather(1, torch.tensor(tokens, device="cuda")[:, None])[:, 0]
        gap = logits.max(dim=1).values - chosen
    return gap.max().item(), (gap == 0).float().mean().item()


def hf_generate(config_path, weights_path, prompt, new):
    import torch
    model = hf_model(config_path, weights_path, torch.bfloat16)
    ids = torch.tensor([prompt], device="cuda")
    out = model.generate(ids, max_new_tokens=new, do_sample=False, min_new_tokens=new)
    torch.cuda.synchronize()
    # Timed: a prefill alone, then the whole generation; decode = the rest.
    with torch.no_grad():
        t0 = time.perf_counter()
        model(ids)
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        out = model.generate(ids, max_new_tokens=new, do_sample=False, min_new_tokens=new)
        torch.cuda.synchronize()
        t2 = time.perf_counter()
    decode_s = (t2 - t1) - (t1 - t0)
    return out[0, len(prompt):].tolist(), (new - 1) / decode_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--artifact", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--rotor-run", required=True)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--markdown")
    args = ap.parse_args()
    weights = os.path.join(args.artifact, "weights.safetensors")
    if not os.path.exists(weights):
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "random_weights.py"),
                        args.config, weights, "--seed=1", "--dtype=bf16"],
                       check=True, capture_output=True)
    vocab = 32000
    prompt = [(7919 * i + 13) % vocab for i in range(args.prompt_len)]
    new = args.new_tokens
    rows = []
    runs = {}
    for name, extra, env in [
            ("Rotor static cache + CUDA graph", [], None),
            ("Rotor static cache, no graph", [], {"ROTOR_CUDA_GRAPHS": "0"}),
            ("Rotor growing cache (host tensors)", ["--cache=growing"], None)]:
        rotor_generate(args.rotor_run, args.artifact, prompt, 8, extra, env)  # warm-up
        ids, tps, replays, _ = rotor_generate(args.rotor_run, args.artifact, prompt, new,
                                              extra, env)
        runs[name] = ids
        rows.append((name, tps, replays))
        print(f"{name:40s} {tps:9.1f} tokens/s  replays {replays}", flush=True)
    base = runs["Rotor static cache + CUDA graph"]
    same = {k: v == base for k, v in runs.items()}
    hf = None
    try:
        hf_ids, hf_tps = hf_generate(args.config, weights, prompt, new)
        agree = sum(a == b for a, b in zip(hf_ids, base)) / new
        first = next((i for i, (a, b) in enumerate(zip(hf_ids, base)) if a != b), new)
        hf = (hf_tps, agree, first)
        print(f"{'transformers eager (bf16)':40s} {hf_tps:9.1f} tokens/s  "
              f"agreement {agree:.1%}, first difference at token {first}", flush=True)
    except Exception as e:  # noqa: BLE001
        print(f"transformers failed: {e}", flush=True)
    import torch
    # Every run's tokens, teacher-forced through transformers in f32.
    regrets = {}
    try:
        ref = hf_model(args.config, weights, torch.float32)
        seqs = dict(runs)
        if hf:
            seqs["transformers eager (bf16, same weights)"] = hf_ids
        for name, ids in seqs.items():
            regrets[name] = regret(ref, prompt, ids)
            print(f"{name:40s} f32 reference: max logit gap {regrets[name][0]:.4f}, "
                  f"argmax at {regrets[name][1]:.1%} of steps", flush=True)
        del ref
    except Exception as e:  # noqa: BLE001
        print(f"teacher-forced check failed: {e}", flush=True)
    cell = (lambda n: f"{regrets[n][0]:.3f} ({regrets[n][1]:.0%})" if n in regrets else "-")
    device = torch.cuda.get_device_name()
    lines = [
        "# Greedy decoding on the GPU: static cache + CUDA graph",
        "",
        f"Device: {device}; {datetime.date.today()}; bench/train/decoder-8l-1024.json "
        f"(8 layers, hidden 1024, GQA 16/4, window 256, vocabulary 32000) in bf16, "
        f"batch 1, a {args.prompt_len}-token prompt, {new} new tokens (tokens/s of the "
        f"{new - 1} decode steps, host to host: each step uploads the token and downloads "
        f"the logits). Greedy decoding with random weights meets near-ties, where "
        f"rounding (bf16 sums in another order) picks the other token and the runs part; "
        f"the last column feeds each run's tokens through transformers in f32 and gives "
        f"the largest gap between that reference's best logit and its logit for the "
        f"token chosen (and how often the token is its argmax).",
        "",
        "Command: `bench/gpu/make_decode.sh` here, then on the device `python3 "
        "bench/gpu/decode_bench.py --artifact .device/decode/decoder-bf16.rotor --config "
        ".device/decode/config.json --rotor-run RT/bin/rotor-run`.",
        "",
        "| mode | decode tokens/s | vs growing cache | graph replays | same tokens as the graph "
        "| f32 reference: max logit gap (argmax share) |",
        "|---|---|---|---|---|---|"]
    growing = rows[2][1]
    for name, tps, replays in rows:
        agree = sum(a == b for a, b in zip(runs[name], base)) / new
        lines.append(f"| {name} | {tps:.1f} | {tps / growing:.2f}x | "
                     f"{'-' if replays is None else replays} | "
                     f"{'all' if same[name] else f'{agree:.0%}'} | {cell(name)} |")
    if hf:
        name = "transformers eager (bf16, same weights)"
        lines.append(f"| {name} | {hf[0]:.1f} | "
                     f"{hf[0] / growing:.2f}x | - | {hf[1]:.0%} of tokens (first "
                     f"difference at token {hf[2]}) | {cell(name)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    # The graph replays the same kernels as the plain static-cache run: the
    # tokens must be the same. The growing cache runs another attention
    # kernel (bf16 sums in another order), so near-ties may break apart.
    return 0 if same["Rotor static cache, no graph"] else 1


if __name__ == "__main__":
    sys.exit(main())
