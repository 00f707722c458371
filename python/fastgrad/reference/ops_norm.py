# Batch normalization (training mode) of the reference backend, as in cpp/autograd/ops_norm.cpp:
# batch_norm_train(x (N, C, *), weight, bias (C,) or None, eps) -> (y, mean, invstd). Forward in
# NumPy (statistics accumulated in float64); the rule recomputes the statistics from x with
# backend ops and writes the vector-Jacobian product with them, so create_graph works.
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fastgrad.reference.ops_elementwise import add, div, mul, scalar, sqrt, sub
from fastgrad.reference.ops_reduce import sum as _sum
from fastgrad.reference.ops_shape import reshape
from fastgrad.reference.tape import DTYPE_NAMES, FnNode, RTensor, is_floating, make_node, wrap

Grads = Sequence[RTensor]


def _rule(n: FnNode, g: Grads) -> list:
    x, w = n.saved(0), n.saved(1)
    (eps,) = n.args
    s = x.shape
    c = s[1]
    m = math.prod(s) // (s[0] * c) if s[0] and c else 0
    dims, dt = [0, 2], x.dtype
    x3, g3 = reshape(x, (s[0], c, m)), reshape(g[0], (s[0], c, m))
    inv_n = scalar(1.0 / (s[0] * m) if s[0] * m else math.inf, dt)
    xc = sub(x3, mul(_sum(x3, dims, True), inv_n))
    var = mul(_sum(mul(xc, xc), dims, True), inv_n)
    r = div(scalar(1.0, dt), sqrt(add(var, scalar(eps, dt))))
    xhat = mul(xc, r)
    sg, sgx = _sum(g3, dims, True), _sum(mul(g3, xhat), dims, True)
    dx = dw = db = None
    if n.needs_input_grad(0):
        k = mul(reshape(w, (1, c, 1)), r) if w is not None else r
        dx = reshape(mul(k, sub(sub(g3, mul(sg, inv_n)), mul(xhat, mul(sgx, inv_n)))), s)
    if n.needs_input_grad(1):
        dw = reshape(sgx, (c,))
    if n.needs_input_grad(2):
        db = reshape(sg, (c,))
    return [dx, dw, db]


def _check_vec(op: str, name: str, t: RTensor | None, x: RTensor) -> None:
    if t is None:
        return
    if t.dtype != x.dtype:
        raise TypeError(f"{op}: {name} is {DTYPE_NAMES[t.dtype]}, expected "
                        f"{DTYPE_NAMES[x.dtype]} like the input")
    if t.ndim != 1 or t.shape[0] != x.shape[1]:
        raise ValueError(f"{op}: {name} of shape {t.shape} does not match {x.shape[1]} channels "
                         f"of input of shape {x.shape}")


def batch_norm_train(x: RTensor, weight: RTensor | None, bias: RTensor | None,
                     eps: float) -> tuple[RTensor, RTensor, RTensor]:
    """(y, mean (C,), invstd (C,)) of x (N, C, *) with batch statistics over all dims but 1."""
    op = "batch_norm_train"
    if not is_floating(x.dtype):
        raise TypeError(f"{op}: expected a floating-point input, got {DTYPE_NAMES[x.dtype]}")
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input of at least 2 dims (N, C, *), got shape "
                         f"{x.shape}")
    _check_vec(op, "weight", weight, x)
    _check_vec(op, "bias", bias, x)
    if eps < 0:
        raise ValueError(f"{op}: expected eps >= 0, got {eps}")
    s = x.shape
    c = s[1]
    a = x.data.reshape(s[0], c, -1) if x.data.size else np.zeros((s[0], c, 0), x.data.dtype)
    cnt = a.shape[0] * a.shape[2]
    if cnt:
        a64 = a.astype(np.float64)
        mean = a64.mean(axis=(0, 2))
        var = ((a64 - mean[None, :, None]) ** 2).mean(axis=(0, 2))
        invstd = 1.0 / np.sqrt(var + eps)
    else:
        mean = invstd = np.full(c, np.nan)
    sc = invstd * (weight.data.astype(np.float64) if weight is not None else 1.0)
    sh = (bias.data.astype(np.float64) if bias is not None else 0.0) - mean * sc
    dt = x.data.dtype
    y = a * sc.astype(dt)[None, :, None] + sh.astype(dt)[None, :, None] if cnt else a.copy()
    out = wrap(np.ascontiguousarray(y).reshape(s), x.dtype)
    node = make_node("NativeBatchNormBackward", _rule, [x, weight, bias], [out], (float(eps),))
    if node is not None:
        node.save(x)
        node.save(weight)
    return out, wrap(mean, x.dtype), wrap(invstd, x.dtype)
