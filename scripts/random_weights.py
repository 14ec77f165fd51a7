#!/usr/bin/env python3
"""Writes random weights with Hugging Face names for a Llama/Mistral/Qwen2
style config.json as a .safetensors file (f32), so that a model can be
compiled and run without downloading a checkpoint.

    scripts/random_weights.py CONFIG.json OUT.safetensors [--seed N]
        [--std S] [--dtype f32|bf16|f16]
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "numerics"))

import model_ref  # noqa: E402
import safetensors_io  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("output")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--std", type=float, default=0.16,
                        help="standard deviation of the matrices (the norm "
                             "weights stay near 1); small values make every "
                             "token equally likely")
    parser.add_argument("--dtype", choices=("f32", "bf16", "f16"), default="f32",
                        help="the stored dtype (default f32); a 16-bit model "
                             "compiled with --dtype=bf16/f16 needs its weights "
                             "in that dtype")
    args = parser.parse_args()
    try:
        with open(args.config) as f:
            config = json.load(f)
        weights = model_ref.init_weights(config, seed=args.seed, dtype="f32")
        # init_weights draws matrices with std 0.02; rescale them.
        for name, w in weights.items():
            if w.ndim == 2:
                weights[name] = (w * (args.std / 0.02)).astype(w.dtype)
    except (OSError, ValueError, KeyError) as e:
        print(f"random_weights: error: {args.config}: {e}", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    safetensors_io.save(args.output, weights, dtypes=args.dtype.upper()
                        if args.dtype != "f32" else None)
    print(f"random_weights: wrote {len(weights)} tensors to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
