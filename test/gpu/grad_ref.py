"""Float64 NumPy references of Rotor's backward ops, written from the
derivatives of the forward formulas (test/numerics/rotor_ref.py), not from
the kernels: the GPU cases of make_cases.py compare the CUDA backend's
backward kernels with these.
"""

from __future__ import annotations

import numpy as np

import rotor_ref as R


def cross_entropy_grad(logits, labels, grad_loss, ignore_index=-100):
    x = np.asarray(logits, dtype=np.float64)
    flat = x.reshape(-1, x.shape[-1])
    lab = np.asarray(labels).reshape(-1)
    counted = lab != ignore_index
    n = int(counted.sum())
    out = np.zeros_like(flat)
    if n:
        e = np.exp(flat - flat.max(-1, keepdims=True))
        p = e / e.sum(-1, keepdims=True)
        rows = np.nonzero(counted)[0]
        out[rows] = p[rows]
        out[rows, lab[rows]] -= 1.0
        out *= float(grad_loss) / n
    return out.reshape(x.shape)


def rms_norm_grad(x, w, dy, eps):
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    r = 1.0 / np.sqrt((x * x).mean(-1, keepdims=True) + eps)
    g = dy * w
    dx = r * (g - x * r * r * (g * x).mean(-1, keepdims=True))
    dw = (dy * x * r).reshape(-1, x.shape[-1]).sum(0)
    return dx, dw


def embedding_grad(ids, dy, vocab):
    ids = np.asarray(ids).reshape(-1)
    dy = np.asarray(dy, dtype=np.float64).reshape(ids.size, -1)
    out = np.zeros((vocab, dy.shape[1]))
    for p, i in enumerate(ids):
        if 0 <= i < vocab:
            out[i] += dy[p]
    return out


def linear_weight_grad(dy, x):
    dy = np.asarray(dy, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    return dy.reshape(-1, dy.shape[-1]).T @ x.reshape(-1, x.shape[-1])


def activation_grad(x, dy, act):
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    if act == "relu":
        d = (x > 0).astype(np.float64)
    elif act == "silu":
        s = R.sigmoid(x)
        d = s * (1 + x * (1 - s))
    elif act == "gelu":
        d = 0.5 * (1 + np.vectorize(__import__("math").erf)(x / np.sqrt(2))) + \
            x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
    elif act == "gelu_tanh":
        k = np.sqrt(2 / np.pi)
        u = k * (x + 0.044715 * x ** 3)
        t = np.tanh(u)
        d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
    else:
        d = np.ones_like(x)
    return dy * d


def attention_grad(q, k, v, o, lse, do, mask=None, scale=None, softcap=None,
                   bias=None, bias_max_distance=128):
    """dq, dk, dv of softmax(scale q kᵀ [softcapped] [+ bias], masked) v,
    with the probabilities recomputed from `lse`; GQA cotangents summed per
    group. With a relative bias table (Hq, buckets), also its cotangent: the
    score cotangents summed per (head, bucket)."""
    q, k, v, o, do = (np.asarray(a, dtype=np.float64) for a in (q, k, v, o, do))
    lse = np.asarray(lse, dtype=np.float64)
    b_, hq, sq, d = q.shape
    hkv, sk = k.shape[1], k.shape[2]
    group = hq // hkv
    scale = 1.0 / np.sqrt(d) if scale is None else scale
    visible = R.mask_matrix(sq, sk, mask)
    dq = np.zeros_like(q)
    dk = np.zeros_like(k)
    dv = np.zeros_like(v)
    if bias is not None:
        table = np.asarray(bias, dtype=np.float64)
        buckets = R.relative_bias_buckets(sq, sk, mask, table.shape[1], bias_max_distance)
        dbias = np.zeros_like(table)
    for b in range(b_):
        for h in range(hq):
            g = h // group
            raw = scale * q[b, h] @ k[b, g].T
            s = softcap * np.tanh(raw / softcap) if softcap else raw
            if bias is not None:
                s = s + table[h, buckets]
            finite = np.isfinite(lse[b, h])[:, None]
            with np.errstate(invalid="ignore", over="ignore"):
                p = np.where(visible & finite,
                             np.exp(s - np.where(finite, lse[b, h][:, None], 0)), 0.0)
            dv[b, g] += p.T @ do[b, h]
            dp = do[b, h] @ v[b, g].T
            delta = (do[b, h] * o[b, h]).sum(-1, keepdims=True)
            ds = p * (dp - delta)
            if bias is not None:
                np.add.at(dbias[h], buckets, ds)
            if softcap:
                ds = ds * (1 - np.tanh(raw / softcap) ** 2)
            dq[b, h] = scale * ds @ k[b, g]
            dk[b, g] += scale * ds.T @ q[b, h]
    if bias is not None:
        return dq, dk, dv, dbias
    return dq, dk, dv
