#!/usr/bin/env python3
"""GPU attention benchmark, run on the device machine in one call: Rotor's
compiled artifact next to PyTorch FlexAttention and SDPA (cuDNN and Flash
backends) on the patterns of /work/shared/anchors.md, same inputs, same run.

Rotor's time is the device time of its kernels (CUDA events around each
plan step, ROTOR_CUDA_PROFILE=1), median over repeated calls; the peers are
timed with triton.testing.do_bench (median). FLOPs count the allowed
(query, key) pairs only: 4·B·Hq·D·pairs. Each pattern's Rotor output is
also compared with FlexAttention's.

Usage: attention_bench.py BENCH.rotor --rotor-run PATH [--out FILE.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from patterns import B, D, HKV, HQ, PATTERNS, S, entry_name, mask_mod, visible_pairs  # noqa: E402


def do_bench(fn):
    import triton.testing
    return triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median")


def save_bf16(path, t):
    np.save(path, np.ascontiguousarray(
        t.detach().contiguous().view(torch.int16).cpu().numpy().view(np.uint16)))


def rotor_time(rotor_run, art, entry, inputs, repeat=20, outputs=1):
    """Median device time (ms) of the entry's kernels, and its output (its
    outputs, a list, when `outputs` > 1)."""
    with tempfile.TemporaryDirectory() as tmp:
        args = []
        for name, t in inputs.items():
            p = os.path.join(tmp, f"{name}.npy")
            if t.dtype == torch.bfloat16:
                save_bf16(p, t)
            else:
                np.save(p, np.ascontiguousarray(t.cpu().numpy()))
            args.append(f"--input={name}={p}")
        out = os.path.join(tmp, "out.npy" if outputs == 1 else "out")
        env = dict(os.environ, ROTOR_CUDA_PROFILE="1")
        r = subprocess.run([rotor_run, art, f"--entry={entry}", "--device=cuda", *args, "--bf16-as-u2",
                            f"--repeat={repeat}", "-o", out],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        times = [float(m) for m in re.findall(
            r"rotor-cuda-profile: entry \S+: ([0-9.]+) ms", r.stderr)]
        if outputs == 1:
            results = [np.load(out)]
        else:
            results = [np.load(os.path.join(out, f))
                       for f in sorted(os.listdir(out)) if f.endswith(".npy")]
    if not times:
        raise RuntimeError("no profile lines:\n" + r.stderr[-2000:])
    steady = times[1:] if len(times) > 2 else times
    outs = [torch.from_numpy(x.view(np.int16)).view(torch.bfloat16) for x in results]
    return statistics.median(steady), (outs[0] if outputs == 1 else outs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("artifact")
    ap.add_argument("--rotor-run", required=True)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    torch.manual_seed(0)
    dev = "cuda"
    q = torch.randn(B, HQ, S, D, device=dev, dtype=torch.bfloat16)
    k = torch.randn(B, HKV, S, D, device=dev, dtype=torch.bfloat16)
    v = torch.randn(B, HKV, S, D, device=dev, dtype=torch.bfloat16)
    # One compiled graph per mask and per grad mode: past Dynamo's default
    # recompile limit (8) flex_attention would silently run eagerly (and its
    # dense backward needs S x S memory).
    from torch import _dynamo
    for knob in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                 "accumulated_recompile_limit"):
        if hasattr(_dynamo.config, knob):
            setattr(_dynamo.config, knob, 256)
    flex = torch.compile(flex_attention, dynamic=False)

    rows = []
    for name, mask in PATTERNS.items():
        pairs = visible_pairs(name)
        flops = 4.0 * B * HQ * D * pairs
        res = {"pattern": name, "pairs": pairs}
        bm = create_block_mask(mask_mod(name), None, None, S, S, device=dev)
        res["flex"] = do_bench(lambda: flex(q, k, v, block_mask=bm, enable_gqa=True))
        ref = flex(q, k, v, block_mask=bm, enable_gqa=True)
        if name == "full causal":
            for backend, key in ((SDPBackend.CUDNN_ATTENTION, "cudnn"),
                                 (SDPBackend.FLASH_ATTENTION, "flash")):
                try:
                    with sdpa_kernel(backend):
                        fn = lambda: F.scaled_dot_product_attention(  # noqa: E731
                            q, k, v, is_causal=True, enable_gqa=True)
                        fn()
                        res[key] = do_bench(fn)
                except Exception as e:  # noqa: BLE001
                    print(f"{key}: unavailable ({e})", file=sys.stderr)
        try:
            ms, out = rotor_time(args.rotor_run, args.artifact, entry_name(name),
                                 {"q": q, "k": k, "v": v})
            res["rotor"] = ms
            res["max_err_vs_flex"] = float((out.float().to(dev) - ref.float()).abs().max())
        except Exception as e:  # noqa: BLE001
            print(f"rotor {name}: {e}", file=sys.stderr)
        for key in ("rotor", "flex", "cudnn", "flash"):
            if key in res:
                res[key + "_tflops"] = flops / (res[key] * 1e-3) / 1e12
        rows.append(res)
        print(res, flush=True)

    lines = [
        "| pattern | Rotor ms | Rotor TFLOP/s | FlexAttention ms (TFLOP/s) | "
        "Rotor / Flex | cuDNN ms (TFLOP/s) | Rotor / cuDNN | Flash ms (TFLOP/s) | "
        "Rotor / Flash | max |Rotor − Flex| |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(r, key):
        if key not in r:
            return "–"
        return f"{r[key]:.3f} ({r[key + '_tflops']:.0f})"

    def ratio(r, key):
        if key not in r or "rotor" not in r:
            return "–"
        return f"{r[key] / r['rotor']:.2f}×"

    for r in rows:
        lines.append(
            f"| {r['pattern']} | {r.get('rotor', float('nan')):.3f} | "
            f"{r.get('rotor_tflops', float('nan')):.0f} | {cell(r, 'flex')} | "
            f"{ratio(r, 'flex')} | {cell(r, 'cudnn')} | {ratio(r, 'cudnn')} | "
            f"{cell(r, 'flash')} | {ratio(r, 'flash')} | "
            f"{r.get('max_err_vs_flex', float('nan')):.3g} |")
    # Forward + backward (a training step's attention): FLOPs 4·D per
    # visible pair forward and 10·D backward (FlashAttention's count: the
    # backward recomputes q·kᵀ), from the unmasked pairs only.
    lines += ["", "Forward + backward (FLOPs = 14·B·Hq·D·visible pairs):", "",
              "| pattern | Rotor ms | Rotor TFLOP/s | FlexAttention ms (TFLOP/s) | "
              "Rotor / Flex | cuDNN ms (TFLOP/s) | Rotor / cuDNN | Flash ms (TFLOP/s) | "
              "Rotor / Flash | max rel. err dq/dk/dv vs Flex |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    do = torch.randn(B, HQ, S, D, device=dev, dtype=torch.bfloat16)
    for name in PATTERNS:
        flops = 14.0 * B * HQ * D * visible_pairs(name)
        res = {}
        qg, kg, vg = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
        bm = create_block_mask(mask_mod(name), None, None, S, S, device=dev)

        def flex_fb():
            o = flex(qg, kg, vg, block_mask=bm, enable_gqa=True)
            return torch.autograd.grad(o, (qg, kg, vg), do)

        res["flex"] = do_bench(flex_fb)
        ref = flex_fb()
        if name == "full causal":
            for backend, key in ((SDPBackend.CUDNN_ATTENTION, "cudnn"),
                                 (SDPBackend.FLASH_ATTENTION, "flash")):
                try:
                    with sdpa_kernel(backend):
                        def sdpa_fb():
                            o = F.scaled_dot_product_attention(
                                qg, kg, vg, is_causal=True, enable_gqa=True)
                            return torch.autograd.grad(o, (qg, kg, vg), do)
                        sdpa_fb()
                        res[key] = do_bench(sdpa_fb)
                except Exception as e:  # noqa: BLE001
                    print(f"{key} fwd+bwd: unavailable ({e})", file=sys.stderr)
        try:
            ms, outs = rotor_time(args.rotor_run, args.artifact, "fb_" + entry_name(name),
                                  {"q": q, "k": k, "v": v, "do": do}, outputs=3)
            res["rotor"] = ms
            errs = []
            for got, want in zip(outs, ref):
                want = want.float()
                errs.append(float((got.float().to(dev) - want).abs().max()
                                  / want.abs().max().clamp_min(1e-30)))
            res["err"] = max(errs)
        except Exception as e:  # noqa: BLE001
            print(f"rotor fwd+bwd {name}: {e}", file=sys.stderr)
        for key in ("rotor", "flex", "cudnn", "flash"):
            if key in res:
                res[key + "_tflops"] = flops / (res[key] * 1e-3) / 1e12
        print({"fwd+bwd": name, **res}, flush=True)
        lines.append(
            f"| {name} | {res.get('rotor', float('nan')):.3f} | "
            f"{res.get('rotor_tflops', float('nan')):.0f} | {cell(res, 'flex')} | "
            f"{ratio(res, 'flex')} | {cell(res, 'cudnn')} | {ratio(res, 'cudnn')} | "
            f"{cell(res, 'flash')} | {ratio(res, 'flash')} | {res.get('err', float('nan')):.3g} |")
    # RoPE and the Givens block (anchors.md "other pieces").
    extra = []
    pos = torch.arange(S, device=dev, dtype=torch.int64)
    inv = 1.0 / (500000.0 ** (torch.arange(0, D, 2, device=dev, dtype=torch.float64) / D))
    ang = pos[:, None].double() * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1).to(torch.bfloat16)
    sin = torch.cat([ang.sin(), ang.sin()], -1).to(torch.bfloat16)

    def rope_eager(x):
        x1, x2 = x[..., : D // 2], x[..., D // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    rope_compiled = torch.compile(rope_eager)
    nbytes = 2 * q.numel() * q.element_size()  # read + write
    try:
        ms, out = rotor_time(args.rotor_run, args.artifact, "rope_only",
                             {"q": q, "positions": pos})
        err = float((out.float().to(dev) - rope_eager(q).float()).abs().max())
        t_e = do_bench(lambda: rope_eager(q))
        t_c = do_bench(lambda: rope_compiled(q))
        extra.append(f"| standalone RoPE (q) | {ms:.3f} ms, {nbytes / ms / 1e9:.2f} TB/s | "
                     f"eager {t_e:.3f} ms ({t_e / ms:.1f}×), torch.compile {t_c:.3f} ms "
                     f"({t_c / ms:.2f}×) | max err vs eager {err:.3g} |")
    except Exception as e:  # noqa: BLE001
        print(f"rope: {e}", file=sys.stderr)
    try:
        # RoPE on q and k, then sliding-window GQA attention, end to end
        # (anchors.md: target <= 0.55 ms; the peer is compiled RoPE, then
        # FlexAttention).
        wname = "sliding window W=1024"
        bm = create_block_mask(mask_mod(wname), None, None, S, S, device=dev)
        ms, out = rotor_time(args.rotor_run, args.artifact, "rope_window",
                             {"q": q, "k": k, "v": v, "positions": pos})
        peer = lambda: flex(rope_compiled(q), rope_compiled(k), v,  # noqa: E731
                            block_mask=bm, enable_gqa=True)
        err = float((out.float().to(dev) - peer().float()).abs().max())
        t_p = do_bench(peer)
        flops = 4.0 * B * HQ * D * visible_pairs(wname)
        extra.append(f"| RoPE (q, k) + sliding window W=1024 | {ms:.3f} ms, "
                     f"{flops / (ms * 1e-3) / 1e12:.0f} TFLOP/s | compiled RoPE + "
                     f"FlexAttention {t_p:.3f} ms ({t_p / ms:.2f}×) | "
                     f"max err vs peer {err:.3g} |")
    except Exception as e:  # noqa: BLE001
        print(f"rope + window: {e}", file=sys.stderr)
    try:
        pairs = [(2 * i, 2 * i + 1 + (i % 3) * 2) for i in range(32)]
        angles = torch.randn(32, device=dev).to(torch.bfloat16)
        rot = torch.linalg.qr(torch.randn(D, D, device=dev, dtype=torch.float64))[0]
        rot = rot.to(torch.bfloat16)

        def givens_eager(x):
            x = x.clone()
            for (i, j), t in zip(pairs, angles.float()):
                c, s_ = torch.cos(t), torch.sin(t)
                xi, xj = x[..., i].float(), x[..., j].float()
                x[..., i] = (xi * c - xj * s_).to(x.dtype)
                x[..., j] = (xi * s_ + xj * c).to(x.dtype)
            return x @ rot

        ms, out = rotor_time(args.rotor_run, args.artifact, "givens_block",
                             {"q": q, "angles": angles, "rotation": rot})
        ref = givens_eager(q)
        err = float((out.float().to(dev) - ref.float()).abs().max())
        t_e = do_bench(lambda: givens_eager(q))
        extra.append(f"| Givens block (32 rotations + 128×128 R) | {ms:.3f} ms | "
                     f"eager {t_e:.3f} ms ({t_e / ms:.1f}×) | max err vs eager {err:.3g} |")
    except Exception as e:  # noqa: BLE001
        print(f"givens: {e}", file=sys.stderr)
    if extra:
        lines += ["", "| piece | Rotor | peers (peer time / Rotor time) | check |",
                  "|---|---|---|---|"] + extra

    header = (f"Device: {torch.cuda.get_device_name()}; PyTorch {torch.__version__}; "
              f"{datetime.date.today().isoformat()}. Shape: B={B}, Hq={HQ}, Hkv={HKV}, "
              f"S={S}, D={D}, bf16. Ratios are peer time / Rotor time (> 1: Rotor faster).")
    text = header + "\n\n" + "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
