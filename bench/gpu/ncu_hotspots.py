#!/usr/bin/env python3
"""Prints the SASS instructions with the most warp-stall samples from an
Nsight Compute source page exported as CSV (ncu --import R --page source
--csv --print-source sass), with the stall reasons that dominate each.

    bench/gpu/ncu_hotspots.py NAME-sass.csv [--top N]
"""
import argparse
import csv
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    with open(args.csv, newline="") as f:
        lines = [l for l in f if l.strip() and not l.startswith("==")]
    rows = list(csv.reader(lines))
    if not rows:
        sys.exit("empty CSV")
    head = rows[0]
    body = [r for r in rows[1:] if len(r) == len(head)]

    def col(*needles):
        for i, h in enumerate(head):
            if all(n.lower() in h.lower() for n in needles):
                return i
        return None

    src = col("source")
    addr = col("address")
    total = col("warp stall sampling (all")
    if total is None:
        total = col("stall sampling")
    reasons = [i for i, h in enumerate(head)
               if h.lower().startswith("stall_") or "stall reason" in h.lower()]
    print("columns:", len(head), "rows:", len(body), "total col:",
          head[total] if total is not None else None)

    def num(x):
        try:
            return float(x.replace(",", ""))
        except ValueError:
            return 0.0

    if total is None:
        print("\n".join(head))
        return
    all_samples = sum(num(r[total]) for r in body) or 1.0
    # The whole kernel's samples by stall reason.
    by_reason = sorted(((sum(num(r[i]) for r in body), head[i]) for i in reasons),
                       reverse=True)
    print("stall reasons over the kernel: " + ", ".join(
        f"{n.split('(')[0].strip()} {100 * v / all_samples:.1f}%"
        for v, n in by_reason[:12] if v > 0))
    ranked = sorted(body, key=lambda r: -num(r[total]))[:args.top]
    for r in ranked:
        s = num(r[total])
        why = sorted(((num(r[i]), head[i]) for i in reasons), reverse=True)[:3]
        why = ", ".join(f"{n.split('(')[0].strip()} {v:.0f}" for v, n in why if v > 0)
        print(f"{100 * s / all_samples:5.1f}%  {r[addr] if addr is not None else '':>8}  "
              f"{(r[src] if src is not None else '')[:70]:70}  {why}")


if __name__ == "__main__":
    main()
