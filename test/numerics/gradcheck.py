"""Gradient checks: the vector-Jacobian product computed by a function that
rotor-autodiff built, against central finite differences of the compiled
forward function, all in float64.

For a function f(x_0, ..., x_n) -> (y_0, ...), random cotangents w_j and the
scalar L(x) = sum_j <w_j, y_j(x)>, the gradient function returns dL/dx_i;
each checked coordinate e of x_i is compared with

    (L(x + h e) - L(x - h e)) / (2 h),      h = 1e-5 (scaled by |x_e|)

whose error is O(h^2 L''') + O(eps |L| / h), about 1e-10 for the values
here. The check is |fd - grad| <= rtol |grad| + atol, rtol = 1e-6 and
atol = 1e-8 max(1, |L|) (the rounding of L divided by h).
"""

from __future__ import annotations

import numpy as np

RTOL = 1e-6
ATOL = 1e-8
STEP = 1e-5


def _loss(art, inputs, cotangents):
    outs = art.call("f", *inputs)
    return sum(float(np.sum(o * w)) for o, w in zip(outs, cotangents))


def check_gradients(art, inputs, wrt, rng, max_coords=24, what=""):
    """Checks the gradients of `f` (entry "f_grad" of `art`) with respect to
    inputs[i] for i in `wrt` (indices of float64 inputs, in the order of the
    gradient results) at up to `max_coords` coordinates each (all when
    fewer)."""
    outs = art.call("f", *inputs)
    cotangents = [rng.standard_normal(o.shape) for o in outs]
    got = art.call("f_grad", *inputs, *cotangents)
    n_out = len(outs)
    # The same function, though not always the same operations: f may be
    # rewritten where f_grad keeps the intermediates its backward reads
    # (rotor-compose-rotations multiplies a chain's matrices first), so the
    # two agree to f64 rounding.
    for o, g in zip(outs, got[:n_out]):
        np.testing.assert_allclose(g, o, rtol=1e-12, atol=1e-13,
                                   err_msg=f"{what}: results of f_grad differ from f")
    grads = got[n_out:]
    assert len(grads) == len(wrt), f"{what}: {len(grads)} gradients for {len(wrt)} inputs"
    scale = max(1.0, abs(_loss(art, inputs, cotangents)))
    for i, grad in zip(wrt, grads):
        x = inputs[i]
        assert grad.shape == x.shape, f"{what}: gradient {i} has shape {grad.shape}, not {x.shape}"
        n = x.size
        coords = range(n) if n <= max_coords else rng.choice(n, max_coords, replace=False)
        for c in coords:
            idx = np.unravel_index(int(c), x.shape)
            h = STEP * max(1.0, abs(float(x[idx])))
            plus = [a.copy() for a in inputs]
            minus = [a.copy() for a in inputs]
            plus[i][idx] += h
            minus[i][idx] -= h
            fd = (_loss(art, plus, cotangents) - _loss(art, minus, cotangents)) / (2 * h)
            g = float(grad[idx])
            assert abs(fd - g) <= RTOL * abs(g) + ATOL * scale, (
                f"{what}: d/d input {i}{tuple(int(k) for k in idx)}: "
                f"gradient {g!r}, finite difference {fd!r}, "
                f"|diff| {abs(fd - g):.3e}")
