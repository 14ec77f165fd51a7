#!/usr/bin/env python3
"""Trains a Hugging Face model (transformers' LlamaForCausalLM, MistralForCausalLM,
... from a config.json as Rotor's frontend accepts it) exactly as `rotor-run
train` does, as a reference for Rotor's trainer (docs/training.md):

* the same initial weights: the .safetensors file given to `rotorc --weights`
  (the artifact's weights.safetensors is a copy of it);
* the same batches: the file `rotor-run train --dump-batches=FILE` writes
  (input_ids, labels: I64 (steps, batch, seq)), whose metadata also holds
  every option of the run (rotor.train.lr, ...), so the optimizer settings
  cannot differ: AdamW or SGD (torch.optim), the warmup + cosine schedule,
  clip_grad_norm_, and no weight decay for parameters of rank 0 and 1
  unless decay-all;
* the same loss: Rotor's labels[s] is the token position s predicts; Hugging
  Face shifts the labels inside the model (logits[s] against labels[s + 1]),
  so the model gets labels shifted right by one (the last column of Rotor's
  labels must be -100, which the synthetic tasks guarantee).

It writes one JSON line per step, in the format of rotor-run's --log (step,
loss, lr, grad_norm, loss_scale, skipped, tokens, seconds, tokens_per_s),
for bench/train/compare_losses.py.

    torch_train.py --config CONFIG.json --weights INIT.safetensors \\
        --batches BATCHES.safetensors --log torch.jsonl [--steps N] \\
        [--device cpu|cuda] [--threads N] [--export FINAL.safetensors]
        [--set NAME=VALUE ...]

Float32 throughout, TF32 off, eager attention, deterministic algorithms.
"""

import argparse
import json
import math
import os
import sys
import time

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

PREFIX = "rotor.train."


class RefError(Exception):
    """An input the reference cannot use; the message names it."""


def read_batches(path):
    """The batches and the run's options (rotor.train.* metadata)."""
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        keys = set(f.keys())
        for name in ("input_ids", "labels"):
            if name not in keys:
                raise RefError(f"{path}: no tensor '{name}' (write the file "
                               "with rotor-run train --dump-batches)")
        ids = f.get_tensor("input_ids")
        labels = f.get_tensor("labels")
    if ids.dtype != torch.int64 or ids.dim() != 3 or labels.shape != ids.shape \
            or labels.dtype != torch.int64:
        raise RefError(f"{path}: input_ids and labels must be I64 (steps, "
                       f"batch, seq) of one shape, got {ids.dtype} "
                       f"{tuple(ids.shape)} and {labels.dtype} "
                       f"{tuple(labels.shape)}")
    options = {k[len(PREFIX):]: v for k, v in meta.items() if k.startswith(PREFIX)}
    for name in ("steps", "optimizer", "lr", "min-lr", "warmup", "schedule",
                 "weight-decay", "beta1", "beta2", "eps", "momentum",
                 "dampening", "nesterov", "decay-all", "clip", "loss-scale",
                 "first_batch"):
        if name not in options:
            raise RefError(f"{path}: the metadata has no '{PREFIX}{name}'")
    if options["loss-scale"] != "none":
        raise RefError(f"{path}: the run uses loss-scale={options['loss-scale']}; "
                       "the f32 reference trains without loss scaling")
    if int(options["first_batch"]) != 0:
        raise RefError(f"{path}: the batches start at step "
                       f"{options['first_batch']} (a resumed run); the "
                       "reference starts from the initial weights")
    return ids, labels, options


def lr_at(t, options):
    """docs/training.md's schedule for the 0-based iteration t, in double."""
    lr, min_lr = float(options["lr"]), float(options["min-lr"])
    warmup, steps = int(options["warmup"]), int(options["steps"])
    if t < warmup:
        return lr * (t + 1) / warmup
    if options["schedule"] == "constant":
        return lr
    p = min(1.0, (t - warmup) / max(1, steps - warmup))
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * p)) / 2


def hf_labels(labels):
    """Rotor's labels (position s predicts labels[s]) as Hugging Face's
    (position s predicts labels[s + 1]): shifted right by one."""
    if bool((labels[:, -1] != -100).any()):
        raise RefError("the last position of a row has a label; Hugging "
                       "Face's shifted labels cannot express it")
    out = torch.full_like(labels, -100)
    out[:, 1:] = labels[:, :-1]
    return out


def hf_model(config_path, attn, device="cpu"):
    """transformers' causal LM for a config.json (as rotorc reads it), f32,
    with its own initialization; returns (model, the config as a dict)."""
    from transformers import AutoConfig, AutoModelForCausalLM
    with open(config_path) as f:
        cfg = json.load(f)
    if "model_type" not in cfg:
        raise RefError(f"{config_path}: no 'model_type'")
    kwargs = {k: v for k, v in cfg.items() if k not in ("torch_dtype", "dtype")}
    config = AutoConfig.for_model(**kwargs)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32,
                                             attn_implementation=attn)
    return model.to(device), cfg


def is_tied(model):
    return model.get_output_embeddings().weight is model.get_input_embeddings().weight


def save_weights(model, path, dtype=None):
    """The parameters under their Hugging Face names, f32 (or `dtype`, a
    torch dtype: a 16-bit model's artifact stores its weights in its type),
    atomically; with tied embeddings no lm_head.weight (as Rotor's export and
    transformers)."""
    state = {k: v.detach().to(dtype or torch.float32).cpu().contiguous()
             for k, v in model.state_dict().items()}
    if is_tied(model):
        state.pop("lm_head.weight", None)
    save_file(state, path + ".tmp", metadata={"format": "pt"})
    os.replace(path + ".tmp", path)


def build_model(config_path, weights_path, device, attn):
    model, _ = hf_model(config_path, attn)
    weights = load_file(weights_path)
    for name, tensor in weights.items():
        if tensor.dtype != torch.float32:
            weights[name] = tensor.float()
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [m for m in missing if not (is_tied(model) and m == "lm_head.weight")]
    if missing or unexpected:
        raise RefError(f"{weights_path}: does not match {config_path}: missing "
                       f"{missing}, unexpected {unexpected} (Rotor-only "
                       "parameters have no transformers counterpart)")
    return model.to(device)


def make_optimizer(model, options):
    decay_all = options["decay-all"] == "true"
    wd = float(options["weight-decay"])
    decay, no_decay = [], []
    for p in model.parameters():  # tied weights appear once
        (decay if decay_all or p.dim() >= 2 else no_decay).append(p)
    groups = [g for g in ({"params": decay, "weight_decay": wd},
                          {"params": no_decay, "weight_decay": 0.0})
              if g["params"]]
    lr0 = lr_at(0, options)
    if options["optimizer"] == "adamw":
        return torch.optim.AdamW(
            groups, lr=lr0, betas=(float(options["beta1"]), float(options["beta2"])),
            eps=float(options["eps"]), foreach=False)
    if options["optimizer"] == "sgd":
        return torch.optim.SGD(
            groups, lr=lr0, momentum=float(options["momentum"]),
            dampening=float(options["dampening"]),
            nesterov=options["nesterov"] == "true", foreach=False)
    raise RefError(f"unknown optimizer '{options['optimizer']}'")


def grad_norm(params):
    """The norm clip_grad_norm_ computes (for clip=0, where it is not called)."""
    norms = [torch.linalg.vector_norm(p.grad) for p in params if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)).item()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="the model's config.json")
    ap.add_argument("--weights", required=True,
                    help="initial weights (.safetensors, Hugging Face names)")
    ap.add_argument("--batches", required=True,
                    help="rotor-run train --dump-batches output")
    ap.add_argument("--log", required=True, help="metrics, JSON lines")
    ap.add_argument("--steps", type=int, default=0,
                    help="train only the first N steps (default: all batches)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--attn", default="eager",
                    help="attn_implementation (default eager)")
    ap.add_argument("--export", help="write the final weights (.safetensors)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override an option of the dump (e.g. eps=1e-6): "
                         "shows that the comparison notices a difference")
    args = ap.parse_args(argv)
    # Deterministic cuBLAS (torch.use_deterministic_algorithms on CUDA);
    # read when the first cuBLAS handle is made, after this.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        torch.manual_seed(0)
        if args.threads:
            torch.set_num_threads(args.threads)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        torch.use_deterministic_algorithms(True)
        ids, labels, options = read_batches(args.batches)
        for item in args.set:
            name, sep, value = item.partition("=")
            if not sep or name not in options:
                raise RefError(f"--set {item}: not NAME=VALUE with NAME one "
                               f"of {', '.join(sorted(options))}")
            options[name] = value
        steps = ids.shape[0] if args.steps <= 0 else min(args.steps, ids.shape[0])
        model = build_model(args.config, args.weights, args.device, args.attn)
        model.train()
        params = [p for p in model.parameters()]
        opt = make_optimizer(model, options)
        clip = float(options["clip"])
        tmp = args.log + ".tmp"
        with open(tmp, "w") as log:
            for t in range(steps):
                start = time.perf_counter()
                lr = lr_at(t, options)
                for group in opt.param_groups:
                    group["lr"] = lr
                x = ids[t].to(args.device)
                y = hf_labels(labels[t]).to(args.device)
                opt.zero_grad(set_to_none=True)
                loss = model(input_ids=x, labels=y).loss
                loss.backward()
                if clip > 0:
                    norm = torch.nn.utils.clip_grad_norm_(params, clip,
                                                          foreach=False).item()
                else:
                    norm = grad_norm(params)
                opt.step()
                value = loss.item()
                seconds = time.perf_counter() - start
                tokens = x.numel()
                if not math.isfinite(value):
                    raise RefError(f"step {t + 1}: the loss is {value}")
                log.write(json.dumps({
                    "step": t + 1, "loss": float(f"{value:.9g}"),
                    "lr": float(f"{lr:.9g}"), "grad_norm": float(f"{norm:.9g}"),
                    "loss_scale": 1, "skipped": False, "tokens": tokens,
                    "seconds": round(seconds, 6),
                    "tokens_per_s": round(tokens / seconds, 1)}) + "\n")
        os.replace(tmp, args.log)
        if args.export:
            save_weights(model, args.export)
    except (RefError, OSError, ValueError, KeyError) as e:
        print(f"torch_train: error: {e}", file=sys.stderr)
        return 1
    print(f"torch_train: {steps} steps, loss {json.loads(open(args.log).readline())['loss']}"
          f" at step 1; log in {args.log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
