# Softmax cross-entropy of the reference backend, as in cpp/autograd/ops_loss.cpp: one loss per
# row, logsumexp(x_i) - x_i[t_i], and its gradient op g_i * (softmax(x_i) - onehot(t_i)), whose
# own rule is written with differentiable ops (so create_graph works through it).
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastgrad.reference.ops_elementwise import div, mul, scalar, sub
from fastgrad.reference.ops_index import take
from fastgrad.reference.ops_reduce import softmax, sum
from fastgrad.reference.ops_shape import reshape
from fastgrad.reference.tape import INT64, FnNode, RTensor, is_floating, make_node, wrap

Grads = Sequence[RTensor]


def _check(op: str, x: RTensor, t: RTensor) -> None:
    if not is_floating(x.dtype):
        raise TypeError(f"{op}: expected floating-point logits, got {x.data.dtype}")
    if t.dtype != INT64:
        raise TypeError(f"{op}: expected int64 class indices, got {t.data.dtype}")
    if x.ndim != 2 or t.ndim != 1 or t.shape[0] != x.shape[0]:
        raise ValueError(f"{op}: expected logits (M, C) and targets (M,), got shapes {x.shape} "
                         f"and {t.shape}")
    c = x.shape[1]
    if c == 0:
        raise ValueError(f"{op}: logits of shape {x.shape} have no classes")
    bad = np.flatnonzero((t.data < 0) | (t.data >= c))
    if bad.size:
        i = int(bad[0])
        raise IndexError(f"{op}: target {int(t.data[i])} at position {i} is out of range for "
                         f"logits of shape {x.shape} (classes 0 to {c - 1})")


def _lse(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]


def cross_entropy_rows(x: RTensor, t: RTensor) -> RTensor:
    """x (M, C) logits, t (M,) int64 targets -> (M,) losses logsumexp(x_i) - x_i[t_i]."""
    _check("cross_entropy", x, t)
    lse = _lse(x.data)
    rows = np.arange(x.shape[0])
    out = wrap(lse - x.data[rows, t.data], x.dtype)
    n = make_node("CrossEntropyBackward", _rule, [x, t], [out])
    if n is not None:
        n.save(x)
        n.save(t)
        n.save(wrap(lse, x.dtype))
    return out


def _rule(n: FnNode, g: Grads) -> list:
    x, t, lse = n.saved(0), n.saved(1), n.saved(2)
    return [cross_entropy_rows_backward(g[0], x, lse, t), None]


def cross_entropy_rows_backward(g: RTensor, x: RTensor, lse: RTensor, t: RTensor) -> RTensor:
    """g (M,) * (softmax(x) - onehot(t)) (M, C), with lse (M,) the forward's logsumexp."""
    op = "cross_entropy_backward"
    _check(op, x, t)
    m, _c = x.shape
    if g.dtype != x.dtype or lse.dtype != x.dtype:
        raise TypeError(f"{op}: dtypes of the gradient {g.data.dtype}, the logits "
                        f"{x.data.dtype} and lse {lse.data.dtype} differ")
    if g.shape != (m,) or lse.shape != (m,):
        raise ValueError(f"{op}: expected a gradient and lse of shape ({m},), got {g.shape} and "
                         f"{lse.shape}")
    d = np.exp(x.data - lse.data[:, None]) * g.data[:, None]
    d[np.arange(m), t.data] -= g.data
    out = wrap(d, x.dtype)
    n = make_node("CrossEntropyBackwardBackward", _backward_rule, [g, x, lse, t], [out])
    if n is not None:
        n.save(g)
        n.save(x)
        n.save(t)
    return out


def _backward_rule(n: FnNode, gout: Grads) -> list:
    # With P = softmax(x), u = gout * g[:, None]: d g = sum(gout * P, 1) - gout[i, t_i],
    # d x = P * (u - sum(u * P, 1)).
    g, x, t = n.saved(0), n.saved(1), n.saved(2)
    m, c = x.shape
    p = softmax(x, 1)
    dg = dx = None
    if n.needs_input_grad(0):
        pos = wrap(np.arange(m, dtype=np.int64) * c + t.data, INT64)
        dg = sub(sum(mul(gout[0], p), [1], False), take(gout[0], pos))
    if n.needs_input_grad(1):
        u = mul(gout[0], reshape(g, (m, 1)))
        dx = mul(p, sub(u, sum(mul(u, p), [1], True)))
    return [dg, dx, None, None]


# --- h1-nnfast: the reduction in the same call (issue 19), as in ops_loss.cpp ------------------
def cross_entropy_reduced(x: RTensor, t: RTensor, reduction: str) -> RTensor:
    """x (M, C), t (M,) -> () for "mean" (sum / M, M > 0) and "sum", (M,) for "none"."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got "
                         f"'{reduction}'")
    rows = cross_entropy_rows(x, t)
    if reduction == "none":
        return rows
    m = x.shape[0]
    if reduction == "mean" and m == 0:
        raise ValueError(f"cross_entropy: the mean over an empty batch of logits {x.shape}")
    s = sum(rows, [], False)
    return div(s, scalar(float(m), x.dtype)) if reduction == "mean" else s
