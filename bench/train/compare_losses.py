#!/usr/bin/env python3
"""Compares the per-step losses (and gradient norms) of two training runs
logged as JSON lines in rotor-run train's --log format: Rotor's and the
PyTorch reference's (bench/train/torch_train.py) on the same initial weights,
batches and optimizer settings.

    compare_losses.py ROTOR.jsonl TORCH.jsonl [--steps K] [--rtol R]
        [--growth G] [--markdown OUT.md] [--note TEXT ...]

Prints a table per step (rotor, torch, absolute and relative difference of
the loss, relative difference of the gradient norm) and exits with status 1
if one of the first K steps differs by more than the tolerance

    rtol(k) = R * G**(k - 1)          (k = 1, 2, ... the step)

in the loss or in the gradient norm, if the learning rates differ (beyond
printing precision), or if either log lacks one of those steps (status 2
for unreadable input).

The defaults (K = 40, R = 1e-5, G = 1.05) are for float32 on both sides. At
step 1 the two compute the same function of the same numbers in different
summation orders (f32 rounding, 6e-8 per operation, a few hundred
operations deep): relative differences of 1e-7 to 1e-6 are expected, R is
ten times that. Each update then carries the rounding differences of the
gradients into the weights, and Adam divides by sqrt(v), which turns tiny
differences in small gradient components into differences of up to the
learning rate; so the allowed difference grows geometrically with the step:
G = 1.05 gives 6.7e-5 at step 40 and 1.3e-3 at step 100. That stays below
the effect of a wrong setting: on the copy task (bench/results/
train-vs-torch-cpu.md) a learning-rate schedule off by one warmup step fails
at step 1, clipping at 0.9 instead of 1 at step 10, beta2 = 0.998 instead of
0.999 at step 6, eps = 1e-7 instead of 1e-8 at step 16, no weight decay
instead of 0.01 at step 40, while the two correct runs agree to 1e-6 over
100 steps. When the loss approaches zero with a high learning rate, the
runs drift apart (the dynamics near the optimum are chaotic): check the
steps before that (K), the table shows the others unchecked.
"""

import argparse
import json
import math
import os
import sys


def read_log(path):
    """{step: row} of a JSON-lines metrics log."""
    rows = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
                step = int(row["step"])
                loss = row["loss"]
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{number}: not a metrics row ({e})")
            if step in rows:
                raise ValueError(f"{path}:{number}: step {step} appears twice")
            rows[step] = {"loss": None if loss is None else float(loss),
                          "grad_norm": row.get("grad_norm"),
                          "lr": row.get("lr")}
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def rel(a, b):
    if a is None or b is None:
        return math.inf
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def fmt(x, spec=".9g"):
    return "-" if x is None else format(x, spec)


def compare(rotor, torch_rows, steps, rtol, growth):
    """Rows of (step, checked, rotor loss, torch loss, abs, rel, grad rel,
    tolerance, ok) for the common steps, and the list of failures."""
    table, failures = [], []
    for k in range(1, steps + 1):
        for name, rows in (("rotor", rotor), ("torch", torch_rows)):
            if k not in rows:
                failures.append(f"step {k}: missing from the {name} log")
    for k in sorted(set(rotor) & set(torch_rows)):
        a, b = rotor[k], torch_rows[k]
        tol = rtol * growth ** (k - 1)
        r_loss = rel(a["loss"], b["loss"])
        r_grad = (rel(a["grad_norm"], b["grad_norm"])
                  if a["grad_norm"] is not None or b["grad_norm"] is not None
                  else 0.0)
        checked = k <= steps
        ok = r_loss <= tol and r_grad <= tol
        if checked and a["lr"] is not None and b["lr"] is not None \
                and rel(a["lr"], b["lr"]) > 1e-8:
            ok = False
            failures.append(f"step {k}: learning rate {a['lr']} vs {b['lr']}: "
                            "the runs use different schedules")
        if checked and not ok:
            failures.append(f"step {k}: loss {fmt(a['loss'])} vs "
                            f"{fmt(b['loss'])} (rel {r_loss:.2e}), grad norm "
                            f"rel {r_grad:.2e}, tolerance {tol:.2e}")
        absd = (abs(a["loss"] - b["loss"])
                if a["loss"] is not None and b["loss"] is not None else None)
        table.append((k, checked, a["loss"], b["loss"], absd, r_loss, r_grad,
                      tol, ok))
    return table, failures


def shown(table, steps):
    """The checked steps, then every 10th, 50th or 100th step after them."""
    last = table[-1][0] if table else 0
    out = []
    for row in table:
        k = row[0]
        if (k <= steps or k == last or (k <= 100 and k % 10 == 0)
                or (k <= 1000 and k % 50 == 0) or k % 500 == 0):
            out.append(row)
    return out


def markdown(table, steps, args, failures):
    lines = []
    lines.append("| step | rotor loss | torch loss | abs diff | rel diff | "
                 "grad norm rel diff | tolerance | |")
    lines.append("|---:|---:|---:|---:|---:|---:|---:|---|")
    for k, checked, a, b, absd, r, g, tol, ok in shown(table, steps):
        verdict = ("ok" if ok else "**FAIL**") if checked else "(not checked)"
        lines.append(f"| {k} | {fmt(a)} | {fmt(b)} | {fmt(absd, '.2e')} | "
                     f"{r:.2e} | {g:.2e} | {f'{tol:.2e}' if checked else '-'} "
                     f"| {verdict} |")
    checked = [row for row in table if row[1]]
    worst = max(checked, key=lambda row: row[5], default=None)
    summary = (f"Steps 1..{steps} checked against rtol(k) = {args.rtol:g} * "
               f"{args.growth:g}^(k-1) on the loss and the gradient norm: "
               + ("**all within tolerance**" if not failures else
                  f"**{len(failures)} failures**"))
    if worst:
        summary += (f"; the largest relative loss difference among them is "
                    f"{worst[5]:.2e} (step {worst[0]}), the largest relative "
                    f"gradient-norm difference "
                    f"{max(row[6] for row in checked):.2e}.")
    return summary, "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rotor", help="rotor-run train --log output (.jsonl)")
    ap.add_argument("torch", help="torch_train.py --log output (.jsonl)")
    ap.add_argument("--steps", type=int, default=40,
                    help="check the first K steps (default 40)")
    ap.add_argument("--rtol", type=float, default=1e-5,
                    help="relative tolerance at step 1 (default 1e-5)")
    ap.add_argument("--growth", type=float, default=1.05,
                    help="factor of the tolerance per step (default 1.05)")
    ap.add_argument("--markdown", help="write the result as markdown here")
    ap.add_argument("--title", default="Rotor vs PyTorch: training losses")
    ap.add_argument("--note", action="append", default=[],
                    help="a paragraph for the markdown (machine, command...)")
    args = ap.parse_args(argv)
    if args.steps < 1 or not args.rtol > 0 or not args.growth >= 1:
        print("compare_losses: error: --steps must be >= 1, --rtol > 0 and "
              "--growth >= 1", file=sys.stderr)
        return 2
    try:
        rotor = read_log(args.rotor)
        torch_rows = read_log(args.torch)
    except (OSError, ValueError) as e:
        print(f"compare_losses: error: {e}", file=sys.stderr)
        return 2
    table, failures = compare(rotor, torch_rows, args.steps, args.rtol,
                              args.growth)
    summary, md_table = markdown(table, args.steps, args, failures)
    print(f"{'step':>5} {'rotor':>14} {'torch':>14} {'abs diff':>10} "
          f"{'rel diff':>10} {'grad rel':>10} {'tol':>9}")
    for k, checked, a, b, absd, r, g, tol, ok in shown(table, args.steps):
        mark = ("" if ok else "  FAIL") if checked else "  (not checked)"
        tol_text = f"{tol:.2e}" if checked else "-"
        print(f"{k:>5} {fmt(a):>14} {fmt(b):>14} {fmt(absd, '.2e'):>10} "
              f"{r:>10.2e} {g:>10.2e} {tol_text:>9}{mark}")
    print(summary.replace("**", ""))
    for failure in failures:
        print(f"compare_losses: {failure}", file=sys.stderr)
    if args.markdown:
        text = f"# {args.title}\n\n"
        for note in args.note:
            text += note + "\n\n"
        text += summary + "\n\n" + md_table + "\n"
        tmp = args.markdown + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.markdown)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
