#!/usr/bin/env python3
"""Times one training step (forward, backward, clip_grad_norm_, AdamW) of a
decoder in tokens/s: PyTorch eager and torch.compile on transformers' model of
a config.json, and, in the same run, `rotor-run train --device=cuda` on a
train artifact compiled from the same config (rotorc --train, f32; see
bench/train/prepare_gpu.sh).

    train_bench.py --config bench/train/decoder-8l-1024.json \\
        [--batch 8 --seq 1024] [--steps 20 --warmup 5] \\
        [--precision bf16,f32,tf32] [--modes eager,compile] \\
        [--rotor-artifact DIR --rotor-run PATH/rotor-run] \\
        [--markdown OUT.md] [--json OUT.json]

Precisions (PyTorch):
  f32   float32 weights and math, TF32 off: the same arithmetic as Rotor's
        training artifacts (rotorc --train compiles float32: the trainer
        trains f32 parameters, docs/training.md);
  tf32  float32 weights, TF32 tensor-core matmuls;
  bf16  float32 master weights, torch.autocast(bfloat16) (the usual mixed
        precision).
Each configuration is timed after `--warmup` untimed steps (which include
torch.compile's compilation) over `--steps` steps, with CUDA synchronization
around the timed loop; peak memory is reported. AdamW is torch's fused CUDA
implementation (lr 1e-4, weight decay 0.01 on matrices), clipping at 1.0.
Attention is transformers' "sdpa" implementation (the sliding window becomes a
mask).

Rotor is timed from its own metrics log: the seconds of the steps after the
warmup steps (the entry call and the update; the parameters and AdamW's
state stay on the GPU). Its data is rotor-run train's copy task, PyTorch's
random tokens: the same number of tokens per step, so the throughputs
compare, but the losses do not. If the artifact is missing, has no
weights file, or rotor-run fails, that is reported and the PyTorch numbers
are kept. An artifact without weights.safetensors (too large to carry to
the GPU machine) gets the PyTorch model's initial weights written into it,
under the same Hugging Face names.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(msg, flush=True)


def build_model(torch, config_path, device):
    """transformers' model of the config (seeded init), sdpa attention."""
    from torch_train import hf_model
    torch.manual_seed(0)
    return hf_model(config_path, "sdpa", device)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def time_torch(torch, args, precision, mode):  # noqa: C901
    """tokens/s of `mode` (eager|compile) at `precision`, or an error text."""
    device = args.device
    cuda = device == "cuda"
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")
    model, cfg = build_model(torch, args.config, device)
    model.train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, fused=cuda)
    fwd = torch.compile(model) if mode == "compile" else model
    vocab = cfg["vocab_size"]
    gen = torch.Generator(device="cpu").manual_seed(1)
    batches = [torch.randint(0, vocab, (args.batch, args.seq), generator=gen)
               .to(device) for _ in range(4)]

    def step(ids):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16,
                            enabled=precision == "bf16"):
            loss = fwd(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for i in range(args.warmup):
        step(batches[i % len(batches)])
    sync()
    warm_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(args.steps):
        loss = step(batches[i % len(batches)])
    sync()
    seconds = time.perf_counter() - start
    result = {
        "system": "pytorch", "mode": mode, "precision": precision,
        "tokens_per_s": args.batch * args.seq * args.steps / seconds,
        "step_ms": 1000 * seconds / args.steps,
        "warmup_s": warm_s,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "final_loss": float(loss.item()),
        "params": count_params(model),
    }
    del model, opt, fwd
    if cuda:
        torch.cuda.empty_cache()
    return result


def find_rotor_run(given):
    candidates = [given] if given else [
        "/tmp/rotor-rt/bin/rotor-run", "build-rt/bin/rotor-run",
        "build/bin/rotor-run"]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def artifact_precision(art):
    """"f32", or "bf16"/"f16" for a 16-bit model (whose train_step takes f32
    master weights): the dtype of the forward entry's weights."""
    with open(os.path.join(art, "manifest.json")) as f:
        manifest = json.load(f)
    forward = next((e for e in manifest["entries"] if e["name"] == "forward"), None)
    dtypes = {i["dtype"] for i in (forward or {"inputs": []})["inputs"][1:]}
    return "bf16" if "bf16" in dtypes else "f16" if "f16" in dtypes else "f32"


def time_rotor(torch, args, art):
    """rotor-run train --device=cuda on the artifact; a result or an error."""
    base = {"system": "rotor", "mode": f"rotor-run train --device={args.device}",
            "precision": "f32"}
    if not art or not os.path.isfile(os.path.join(art, "manifest.json")):
        return {**base, "error": f"no artifact at '{art}' (run "
                "bench/train/prepare_gpu.sh where MLIR is, carry .device/train)"}
    precision = artifact_precision(art)
    if precision != "f32":
        base["precision"] = f"{precision} (f32 master weights)"
    exe = find_rotor_run(args.rotor_run)
    if not exe:
        return {**base, "error": "rotor-run not found (build the runtime: "
                "test/gpu/device_run.sh ... build, or pass --rotor-run)"}
    weights = os.path.join(art, "weights.safetensors")
    if not os.path.exists(weights):
        log(f"writing the PyTorch model's initial weights to {weights}")
        model, _ = build_model(torch, args.config, "cpu")
        from torch_train import save_weights
        save_weights(model, weights, {"f32": torch.float32, "bf16": torch.bfloat16,
                                      "f16": torch.float16}[precision])
        del model
    steps = args.warmup + args.steps
    with tempfile.TemporaryDirectory() as tmp:
        metrics = os.path.join(tmp, "rotor.jsonl")
        cmd = [exe, "train", art, f"--device={args.device}", "--task=copy",
               f"--steps={steps}", f"--batch={args.batch}", f"--seq={args.seq}",
               "--lr=1e-4", "--warmup=0", "--schedule=constant", "--clip=1",
               "--quiet", "--log", metrics]
        log("$ " + " ".join(cmd))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=args.rotor_timeout)
        except subprocess.TimeoutExpired:
            return {**base, "error": f"timed out after {args.rotor_timeout} s"}
        except OSError as e:
            return {**base, "error": f"cannot run {exe}: {e}"}
        if proc.returncode != 0:
            tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-5:]
            return {**base, "error": f"exit {proc.returncode}: " + " / ".join(tail)}
        try:
            with open(metrics) as f:
                rows = [json.loads(line) for line in f if line.strip()]
        except (OSError, ValueError) as e:
            return {**base, "error": f"unreadable metrics log: {e}"}
    timed = rows[args.warmup:]
    if not timed:
        return {**base, "error": "no timed steps in the metrics log"}
    seconds = sum(r["seconds"] for r in timed)
    tokens = sum(r["tokens"] for r in timed)
    return {**base, "tokens_per_s": tokens / seconds,
            "step_ms": 1000 * seconds / len(timed),
            "warmup_s": sum(r["seconds"] for r in rows[:args.warmup]),
            "peak_gib": None, "final_loss": rows[-1]["loss"]}


def render(results, args, header):
    lines = [header, "",
             "| system | mode | precision | tokens/s | ms/step | peak GiB | "
             "warmup s | note |", "|---|---|---|---:|---:|---:|---:|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['system']} | {r['mode']} | {r['precision']} | "
                         f"- | - | - | - | failed: {r['error']} |")
            continue
        peak = "-" if r.get("peak_gib") is None else f"{r['peak_gib']:.1f}"
        lines.append(f"| {r['system']} | {r['mode']} | {r['precision']} | "
                     f"{r['tokens_per_s']:,.0f} | {r['step_ms']:.1f} | {peak} | "
                     f"{r['warmup_s']:.1f} | loss {r['final_loss']:.4g} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "decoder-8l-1024.json"))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--precision", default="f32,tf32,bf16")
    ap.add_argument("--modes", default="eager,compile")
    ap.add_argument("--rotor-artifact", action="append",
                    help="train artifact (rotorc --train --target=cuda) of the "
                    "same config; repeat for several (e.g. f32 and bf16)")
    ap.add_argument("--rotor-run", help="rotor-run binary (default: found)")
    ap.add_argument("--rotor-timeout", type=int, default=900)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--device", default="cuda",
                    help="cuda (default); cpu only to try the script out")
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if args.batch < 1 or args.seq < 2 or args.steps < 1 or args.warmup < 0:
        print("train_bench: error: --batch >= 1, --seq >= 2, --steps >= 1, "
              "--warmup >= 0", file=sys.stderr)
        return 2
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        print("train_bench: error: no CUDA device", file=sys.stderr)
        return 1
    results = []
    if not args.no_torch:
        for precision in args.precision.split(","):
            for mode in args.modes.split(","):
                log(f"== pytorch {mode} {precision}")
                try:
                    r = time_torch(torch, args, precision, mode)
                except Exception as e:  # keep the other numbers
                    r = {"system": "pytorch", "mode": mode, "precision": precision,
                         "error": f"{type(e).__name__}: {str(e)[:300]}"}
                    if args.device == "cuda":
                        torch.cuda.empty_cache()
                log(json.dumps(r))
                results.append(r)
    for art in args.rotor_artifact or []:
        log(f"== rotor {art}")
        r = time_rotor(torch, args, art)
        log(json.dumps(r))
        results.append(r)
    with open(args.config) as f:
        cfg = json.load(f)
    device_name = (torch.cuda.get_device_name() if args.device == "cuda"
                   else f"{args.device} ({os.cpu_count()} cores)")
    header = (f"Model {os.path.basename(args.config)}: {cfg['num_hidden_layers']} "
              f"layers, hidden {cfg['hidden_size']}, {cfg['num_attention_heads']} "
              f"query / {cfg['num_key_value_heads']} key-value heads, head dim "
              f"{cfg.get('head_dim')}, sliding window {cfg.get('sliding_window')}, "
              f"vocab {cfg['vocab_size']}; batch {args.batch} x seq {args.seq} "
              f"= {args.batch * args.seq} tokens/step; {args.steps} timed steps "
              f"after {args.warmup}. {device_name}, torch "
              f"{torch.__version__}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.")
    text = render(results, args, header)
    print(text)
    if args.markdown:
        with open(args.markdown + ".tmp", "w") as f:
            f.write(text)
        os.replace(args.markdown + ".tmp", args.markdown)
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump({"config": cfg, "batch": args.batch, "seq": args.seq,
                       "results": results}, f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    return 0 if any("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
