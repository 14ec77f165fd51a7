"""Tests of compare_losses.py (no PyTorch needed): synthetic logs within and
beyond the tolerance, unchecked steps, missing steps, schedules that differ,
malformed input, and the markdown result."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_losses  # noqa: E402


def write_log(path, losses, grad_norms=None, lrs=None, skip=()):
    with open(path, "w") as f:
        for i, loss in enumerate(losses):
            step = i + 1
            if step in skip:
                continue
            f.write(json.dumps({
                "step": step, "loss": loss,
                "lr": lrs[i] if lrs else 1e-3 * step,
                "grad_norm": grad_norms[i] if grad_norms else 1.5,
                "loss_scale": 1, "skipped": False, "tokens": 16,
                "seconds": 0.01, "tokens_per_s": 1600.0}) + "\n")
    return str(path)


BASE = [2.8 - 0.01 * k for k in range(60)]


def run(tmp_path, torch_losses, *extra, **log_args):
    rotor = write_log(tmp_path / "rotor.jsonl", BASE)
    torch = write_log(tmp_path / "torch.jsonl", torch_losses, **log_args)
    return compare_losses.main([rotor, torch, *extra])


def perturbed(step, rel):
    out = list(BASE)
    out[step - 1] *= 1 + rel
    return out


def test_identical_and_rounding_level_differences_pass(tmp_path, capsys):
    assert run(tmp_path, BASE) == 0
    assert run(tmp_path, [x * (1 + 5e-7) for x in BASE]) == 0
    assert "all within tolerance" in capsys.readouterr().out


def test_step_one_beyond_tolerance_fails(tmp_path, capsys):
    assert run(tmp_path, perturbed(1, 2e-5)) == 1
    err = capsys.readouterr().err
    assert "step 1: loss" in err and "tolerance 1.00e-05" in err


def test_tolerance_grows_per_step(tmp_path):
    # 1.5e-5 exceeds rtol(2) = 1.05e-5 but not rtol(10) = 1.55e-5.
    assert run(tmp_path, perturbed(2, 1.5e-5)) == 1
    assert run(tmp_path, perturbed(10, 1.5e-5)) == 0
    assert run(tmp_path, perturbed(10, 1.5e-5), "--growth=1") == 1
    assert run(tmp_path, perturbed(6, 1.5e-5), "--growth=1.1") == 0
    assert run(tmp_path, perturbed(2, 1.5e-5), "--rtol=2e-5") == 0


def test_steps_after_k_are_shown_not_checked(tmp_path, capsys):
    assert run(tmp_path, perturbed(41, 0.5)) == 0
    assert run(tmp_path, perturbed(41, 0.5), "--steps=41") == 1
    assert "(not checked)" in capsys.readouterr().out


def test_gradient_norm_is_checked(tmp_path):
    norms = [1.5] * 60
    norms[9] = 1.6
    assert run(tmp_path, BASE, grad_norms=norms) == 1


def test_missing_step_fails(tmp_path, capsys):
    assert run(tmp_path, BASE, skip=(7,)) == 1
    assert "step 7: missing from the torch log" in capsys.readouterr().err
    # A shorter run than K.
    assert run(tmp_path, BASE[:20]) == 1


def test_different_schedules_fail(tmp_path, capsys):
    assert run(tmp_path, BASE, lrs=[2e-3 * (k + 1) for k in range(60)]) == 1
    assert "different schedules" in capsys.readouterr().err


def test_malformed_input(tmp_path, capsys):
    rotor = write_log(tmp_path / "rotor.jsonl", BASE)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1, "loss": 2.8}\nnot json\n')
    assert compare_losses.main([rotor, str(bad)]) == 2
    assert "bad.jsonl:2: not a metrics row" in capsys.readouterr().err
    bad.write_text('{"step": 1, "loss": 2.8}\n{"step": 1, "loss": 2.8}\n')
    assert compare_losses.main([rotor, str(bad)]) == 2
    assert "step 1 appears twice" in capsys.readouterr().err
    assert compare_losses.main([rotor, str(tmp_path / "none.jsonl")]) == 2
    assert compare_losses.main([rotor, rotor, "--rtol=0"]) == 2


def test_markdown(tmp_path):
    md = tmp_path / "result.md"
    assert run(tmp_path, perturbed(3, 1e-6), "--markdown", str(md),
               "--note", "Machine: test.") == 0
    text = md.read_text()
    assert text.startswith("# Rotor vs PyTorch: training losses\n\nMachine: test.")
    assert "**all within tolerance**" in text
    assert "largest relative loss difference among them is 1.00e-06 (step 3)" in text
    assert "| 3 | 2.78 |" in text
    assert "| 50 |" in text and "(not checked)" in text
    assert not os.path.exists(str(md) + ".tmp")
    assert run(tmp_path, perturbed(3, 1e-3), "--markdown", str(md)) == 1
    assert "**1 failures**" in md.read_text()
