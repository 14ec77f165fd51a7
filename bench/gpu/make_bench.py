#!/usr/bin/env python3
"""Compiles the GPU benchmark's artifact here (rotorc needs MLIR): one entry
per attention pattern of bench/gpu/patterns.py, bf16, dynamic sequence
length, plus a RoPE + sliding-window attention block.

Usage: make_bench.py --rotorc build/bin/rotorc --out DIR
"""

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from patterns import B, D, HKV, HQ, PATTERNS, entry_name, mlir_mask  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rotorc", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    qt = f"tensor<{B}x{HQ}x?x{D}xbf16>"
    kt = f"tensor<{B}x{HKV}x?x{D}xbf16>"
    funcs = []
    for name, m in PATTERNS.items():
        funcs.append(
            f"func.func @{entry_name(name)}(%q: {qt} {{rotor.name = \"q\"}}, "
            f"%k: {kt} {{rotor.name = \"k\"}}, %v: {kt} {{rotor.name = \"v\"}}) -> {qt} {{\n"
            f"  %o = rotor.attention %q, %k, %v {{mask = {mlir_mask(m)}}} : {qt}, {kt}, {kt}\n"
            f"  return %o : {qt}\n}}\n")
    funcs.append(
        f"func.func @rope_window(%q: {qt} {{rotor.name = \"q\"}}, %k: {kt} {{rotor.name = \"k\"}}, "
        f"%v: {kt} {{rotor.name = \"v\"}}, %p: tensor<?xi64> {{rotor.name = \"positions\"}}) -> {qt} {{\n"
        f"  %qr = rotor.rope %q, %p {{base = 500000.0 : f64}} : {qt}, tensor<?xi64>\n"
        f"  %kr = rotor.rope %k, %p {{base = 500000.0 : f64}} : {kt}, tensor<?xi64>\n"
        f"  %o = rotor.attention %qr, %kr, %v {{mask = "
        f"{mlir_mask(PATTERNS['sliding window W=1024'])}}} : {qt}, {kt}, {kt}\n"
        f"  return %o : {qt}\n}}\n")
    # Forward + backward of each pattern, as a training step runs them: the
    # forward with its log-sum-exp, then rotor.attention_grad.
    for name, m in PATTERNS.items():
        lt = f"tensor<{B}x{HQ}x?xf32>"
        funcs.append(
            f"func.func @fb_{entry_name(name)}(%q: {qt} {{rotor.name = \"q\"}}, "
            f"%k: {kt} {{rotor.name = \"k\"}}, %v: {kt} {{rotor.name = \"v\"}}, "
            f"%do: {qt} {{rotor.name = \"do\"}}) -> ({qt}, {kt}, {kt}) {{\n"
            f"  %o, %lse = rotor.attention %q, %k, %v return_lse {{mask = {mlir_mask(m)}}} "
            f": {qt}, {kt}, {kt}\n"
            f"  %dq, %dk, %dv = rotor.attention_grad %q, %k, %v, %o, %lse, %do "
            f"{{mask = {mlir_mask(m)}}} : {qt}, {kt}, {kt}, {qt}, {lt}\n"
            f"  return %dq, %dk, %dv : {qt}, {kt}, {kt}\n}}\n")
    # Standalone RoPE of q (2, 32, 8192, 128), and the design's Givens block:
    # 32 Givens rotations with learned angles then an orthogonal 128x128 R.
    funcs.append(
        f"func.func @rope_only(%q: {qt} {{rotor.name = \"q\"}}, "
        f"%p: tensor<?xi64> {{rotor.name = \"positions\"}}) -> {qt} {{\n"
        f"  %r = rotor.rope %q, %p {{base = 500000.0 : f64}} : {qt}, tensor<?xi64>\n"
        f"  return %r : {qt}\n}}\n")
    pairs = ", ".join(f"({2 * i}, {2 * i + 1 + (i % 3) * 2})" for i in range(32))
    funcs.append(
        f"func.func @givens_block(%q: {qt} {{rotor.name = \"q\"}}, "
        f"%a: tensor<32xbf16> {{rotor.name = \"angles\"}}, "
        f"%r: tensor<{D}x{D}xbf16> {{rotor.name = \"rotation\"}}) -> {qt} {{\n"
        f"  %g = rotor.givens %q, %a pairs [{pairs}] : {qt}, tensor<32xbf16>\n"
        f"  %y = rotor.rotate %g, %r : {qt}, tensor<{D}x{D}xbf16>\n"
        f"  return %y : {qt}\n}}\n")
    src = os.path.join(args.out, "bench.mlir")
    with open(src, "w") as f:
        f.write("\n".join(funcs))
    subprocess.run([args.rotorc, src, "--target=cuda", "-q",
                    "-o", os.path.join(args.out, "bench.rotor")], check=True)


if __name__ == "__main__":
    main()
